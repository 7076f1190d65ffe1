/**
 * Deleting what the broker acknowledged.
 *
 * One publish carries a run of records that `nextBatch` read in id order from one table, so the
 * acknowledged ids of a table usually cover every row between their smallest and largest id. Such
 * a run is deleted with ONE range statement instead of a statement per row (a statement costs a
 * few microseconds of round trip; at a million records that is most of the drain time).
 *
 * A range may only ever delete acknowledged rows: a record still in flight or never sent must stay.
 * The range delete runs in a savepoint and returns every id it removed; if one of them was not
 * acknowledged (a row between two acknowledged ids that is still in flight, for example after a
 * failed publish was re-sent in another batch), the savepoint is rolled back and that table's ids
 * are deleted one by one. Ids that are already gone (evicted while in flight, acknowledged twice)
 * are skipped either way.
 */
import type Database from 'better-sqlite3';
import type { Priority } from '../records.js';
import type { Tally } from './eviction.js';
import type { TableStatements } from './statements.js';

class NotAllAcknowledged extends Error {}

/** Acknowledged ids grouped by table (the priority is the id's low two bits), each sorted. */
function groupByTable(ids: readonly number[]): Map<Priority, number[]> {
  const groups = new Map<Priority, number[]>();
  for (const id of ids) {
    if (!Number.isSafeInteger(id) || id < 0) continue;
    const p = (id % 4) as Priority;
    let group = groups.get(p);
    if (group === undefined) groups.set(p, (group = []));
    group.push(id);
  }
  for (const group of groups.values()) group.sort((a, b) => a - b);
  return groups;
}

/**
 * Deletes `ids` (inside the caller's transaction), adding the depth and bytes removed to `tally`.
 * Returns how many rows were deleted.
 */
export function deleteAcknowledged(db: Database.Database, tables: readonly TableStatements[], ids: readonly number[], tally: Tally): number {
  let deleted = 0;
  const note = (p: Priority, bytes: number): void => {
    tally.depth[p]! -= 1;
    tally.bytes[p]! -= bytes;
    deleted++;
  };
  for (const [p, group] of groupByTable(ids)) {
    const table = tables[p]!;
    let removed: [number, number][] | undefined;
    if (group.length > 1) {
      const wanted = new Set(group);
      try {
        removed = db.transaction(() => {
          const rows = table.deleteRange.all(group[0]!, group[group.length - 1]!);
          for (const [id] of rows) if (!wanted.has(id)) throw new NotAllAcknowledged();
          return rows;
        })();
      } catch (err) {
        if (!(err instanceof NotAllAcknowledged)) throw err;
        removed = undefined;
      }
    }
    if (removed !== undefined) {
      for (const [, bytes] of removed) note(p, bytes);
      continue;
    }
    for (const id of group) {
      const bytes = table.deleteOne.get(id);
      if (bytes !== undefined) note(p, bytes);
    }
  }
  return deleted;
}
