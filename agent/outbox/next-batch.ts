/**
 * Choosing the next records to send.
 *
 * The order is the global one: highest priority first, then oldest (commit order). Ids in flight
 * (`exclude`) are skipped. A batch is the records of ONE boot, the boot of the first record
 * chosen (one publish carries one boot id): it ends at the first record, in that order, of another
 * boot, so a batch never overtakes a more important record of another boot. It also ends at
 * `maxRecords`, or before `maxBytes` of data would be exceeded, but holds at least one record
 * whenever one is waiting, even one larger than `maxBytes` alone (the uplink decides).
 *
 * Cost: the ids in flight are mostly the oldest of their table, so each table is first stepped
 * through by id only (no bodies read) to the first id not in flight; rows are then read from there
 * by primary key. With a million records waiting and 15,000 in flight a batch of 500 takes a few
 * milliseconds (bench/outbox-ingest.ts).
 */
import type { Priority, RecordKind, StoredRecord } from '../records.js';
import { SEND_ORDER } from './schema.js';
import type { Statements } from './statements.js';

export interface BatchOptions {
  maxRecords: number;
  maxBytes: number;
  exclude?: ReadonlySet<number>;
}

export function readBatch(
  stmts: Statements,
  boots: ReadonlyMap<number, string>,
  depth: readonly number[],
  options: BatchOptions,
): StoredRecord[] {
  const out: StoredRecord[] = [];
  if (!(options.maxRecords >= 1)) return out;
  const exclude = options.exclude;
  let bootRef: number | undefined;
  let bytes = 0;
  for (const p of SEND_ORDER) {
    if (depth[p] === 0) continue;
    const table = stmts.tables[p]!;
    let start: number | undefined;
    for (const id of table.ids.iterate()) {
      if (exclude === undefined || !exclude.has(id)) {
        start = id;
        break;
      }
    }
    if (start === undefined) continue;
    for (const row of table.rowsFrom.iterate(start)) {
      if (exclude !== undefined && exclude.has(row.id)) continue;
      if (bootRef === undefined) bootRef = row.boot_ref;
      const size = row.data.length;
      if (row.boot_ref !== bootRef || (out.length > 0 && bytes + size > options.maxBytes)) return out;
      out.push({
        id: row.id,
        boot: boots.get(row.boot_ref) ?? '',
        seq: row.seq,
        kind: row.kind as RecordKind,
        ts: row.ts,
        priority: p as Priority,
        data: row.data,
        bytes: size,
      });
      bytes += size;
      if (out.length >= options.maxRecords) return out;
    }
  }
  return out;
}
