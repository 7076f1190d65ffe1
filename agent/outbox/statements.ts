/** Every statement the outbox runs more than once, prepared once at open. */
import type Database from 'better-sqlite3';
import type { Priority } from '../records.js';
import { PRIORITY_LEVELS, recordsTable } from './schema.js';

/** A row as read for sending, raw: [id, boot_ref, seq, kind, ts, data]. */
export type RowOut = [number, number, number, string, number, Buffer];

/** Statements on one priority's table. */
export interface TableStatements {
  insert: Database.Statement<[number, number, number, string, number, Uint8Array]>;
  /** The oldest LIMIT ids (plucked): finding the first id not in flight without reading bodies. */
  headIds: Database.Statement<[number], number>;
  /** Whole rows from an id on, oldest first, raw. */
  rowsFrom: Database.Statement<[number], RowOut>;
  /** Deletes one row, returning its byte count (plucked), or nothing when it is gone. */
  deleteOne: Database.Statement<[number], number>;
  /** Deletes the rows with ids in [from, to], returning each as raw [id, bytes]. */
  deleteRange: Database.Statement<[number, number], [number, number]>;
  /** The oldest rows as raw [id, bytes], at most LIMIT of them. */
  oldest: Database.Statement<[number], [number, number]>;
  /** Deletes the prefix up to and including an id. */
  deleteThrough: Database.Statement<[number]>;
  /** The oldest rows as raw [id, bytes, ts], at most LIMIT of them (age limits). */
  oldestWithTs: Database.Statement<[number], [number, number, number]>;
  /** The ts of the oldest record, by commit order (plucked); nothing when empty. */
  firstTs: Database.Statement<[], number>;
}

export interface Statements {
  tables: readonly TableStatements[];
  addCounters: Database.Statement<[number, number, number, Priority]>;
  counters: Database.Statement<[], { priority: number; depth: number; bytes: number; evicted: number }>;
  setMeta: Database.Statement<[string, number | null]>;
  getMeta: Database.Statement<[string], unknown>;
  setBootSeq: Database.Statement<[number, number]>;
  pageCount: Database.Statement<[], number>;
  freelistCount: Database.Statement<[], number>;
}

function tableStatements(db: Database.Database, p: Priority): TableStatements {
  const t = recordsTable(p);
  return {
    insert: db.prepare(`INSERT INTO ${t} (id, boot_ref, seq, kind, ts, data) VALUES (?, ?, ?, ?, ?, ?)`),
    headIds: db.prepare<[number], number>(`SELECT id FROM ${t} ORDER BY id LIMIT ?`).pluck(),
    rowsFrom: db.prepare<[number], RowOut>(`SELECT id, boot_ref, seq, kind, ts, data FROM ${t} WHERE id >= ? ORDER BY id`).raw(),
    deleteOne: db.prepare<[number], number>(`DELETE FROM ${t} WHERE id = ? RETURNING length(data)`).pluck(),
    deleteRange: db.prepare<[number, number], [number, number]>(`DELETE FROM ${t} WHERE id BETWEEN ? AND ? RETURNING id, length(data)`).raw(),
    oldest: db.prepare<[number], [number, number]>(`SELECT id, length(data) FROM ${t} ORDER BY id LIMIT ?`).raw(),
    deleteThrough: db.prepare(`DELETE FROM ${t} WHERE id <= ?`),
    oldestWithTs: db.prepare<[number], [number, number, number]>(`SELECT id, length(data), ts FROM ${t} ORDER BY id LIMIT ?`).raw(),
    firstTs: db.prepare<[], number>(`SELECT ts FROM ${t} ORDER BY id LIMIT 1`).pluck(),
  };
}

export function prepareStatements(db: Database.Database): Statements {
  return {
    tables: PRIORITY_LEVELS.map((p) => tableStatements(db, p)),
    addCounters: db.prepare(`UPDATE counters SET depth = depth + ?, bytes = bytes + ?, evicted = evicted + ? WHERE priority = ?`),
    counters: db.prepare(`SELECT priority, depth, bytes, evicted FROM counters ORDER BY priority`),
    setMeta: db.prepare(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`),
    getMeta: db.prepare<[string], unknown>(`SELECT value FROM meta WHERE key = ?`).pluck(),
    setBootSeq: db.prepare(`UPDATE boots SET last_seq = ? WHERE ref = ?`),
    pageCount: db.prepare<[], number>('PRAGMA page_count').pluck(),
    freelistCount: db.prepare<[], number>('PRAGMA freelist_count').pluck(),
  };
}
