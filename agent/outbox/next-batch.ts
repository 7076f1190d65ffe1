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
 * Cost: the ids in flight are mostly the oldest of their table. Among a table's first k + 1 ids,
 * where k is how many ids in flight belong to that table, at least one is not in flight, so those
 * ids are fetched in ONE statement (no bodies read) and the first one not in flight is found in
 * JavaScript; rows are then read, raw, from there by primary key. The cost of a batch grows with
 * the records it returns and the ids in flight, not with the backlog (bench/outbox-ingest.ts).
 */
import type { RecordKind, StoredRecord } from '../records.js';
import { SEND_ORDER } from './schema.js';
import type { Statements } from './statements.js';
import type { BatchOptions } from './types.js';

export type { BatchOptions } from './types.js';

export function readBatch(
  stmts: Statements,
  boots: ReadonlyMap<number, string>,
  depth: readonly number[],
  options: BatchOptions,
): StoredRecord[] {
  const out: StoredRecord[] = [];
  if (!(options.maxRecords >= 1)) return out;
  const exclude = options.exclude;
  const excluded = excludedPerTable(exclude);
  let bootRef: number | undefined;
  let bytes = 0;
  const minPriority = options.minPriority ?? 0;
  for (const p of SEND_ORDER) {
    if (p < minPriority) break;
    if (depth[p] === 0) continue;
    const table = stmts.tables[p]!;
    let start: number | undefined;
    if (excluded[p] === 0) {
      start = -1;
    } else {
      for (const id of table.headIds.all(excluded[p]! + 1)) {
        if (!exclude!.has(id)) {
          start = id;
          break;
        }
      }
    }
    if (start === undefined) continue;
    for (const [id, ref, seq, kind, ts, data] of table.rowsFrom.iterate(start)) {
      if (exclude !== undefined && exclude.has(id)) continue;
      if (bootRef === undefined) bootRef = ref;
      const size = data.length;
      if (ref !== bootRef || (out.length > 0 && bytes + size > options.maxBytes)) return out;
      out.push({ id, boot: boots.get(ref) ?? '', seq, kind: kind as RecordKind, ts, priority: p, data, bytes: size });
      bytes += size;
      if (out.length >= options.maxRecords) return out;
    }
  }
  return out;
}

/** How many excluded ids belong to each table (the priority is an id's low two bits). */
function excludedPerTable(exclude: ReadonlySet<number> | undefined): number[] {
  const counts = [0, 0, 0, 0];
  if (exclude !== undefined) {
    for (const id of exclude) {
      const p = id % 4;
      if (p >= 0 && p <= 3) counts[p]!++;
    }
  }
  return counts;
}
