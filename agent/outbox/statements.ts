/** Every statement the outbox runs more than once, prepared once at open. */
import type Database from 'better-sqlite3';
import type { Priority } from '../records.js';
import { PRIORITY_LEVELS, recordsTable } from './schema.js';

export interface RowOut {
  id: number;
  boot_ref: number;
  seq: number;
  kind: string;
  ts: number;
  data: Buffer;
}

/** Statements on one priority's table. */
export interface TableStatements {
  insert: Database.Statement<[number, number, number, string, number, Uint8Array]>;
  /** Ids oldest first (plucked): finding the first id not in flight without reading bodies. */
  ids: Database.Statement<[], number>;
  /** Whole rows from an id on, oldest first. */
  rowsFrom: Database.Statement<[number], RowOut>;
  /** Deletes one row, returning its byte count (plucked), or nothing when it is gone. */
  deleteOne: Database.Statement<[number], number>;
  /** The oldest rows as raw [id, bytes], at most LIMIT of them. */
  oldest: Database.Statement<[number], [number, number]>;
  /** Deletes the prefix up to and including an id. */
  deleteThrough: Database.Statement<[number]>;
  /** Count and bytes of the rows observed before a timestamp. */
  aged: Database.Statement<[number], { n: number; b: number }>;
  deleteAged: Database.Statement<[number]>;
  /** Smallest ts (plucked), null when empty. */
  minTs: Database.Statement<[], number | null>;
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
    ids: db.prepare<[], number>(`SELECT id FROM ${t} ORDER BY id`).pluck(),
    rowsFrom: db.prepare<[number], RowOut>(`SELECT id, boot_ref, seq, kind, ts, data FROM ${t} WHERE id >= ? ORDER BY id`),
    deleteOne: db.prepare<[number], number>(`DELETE FROM ${t} WHERE id = ? RETURNING length(data)`).pluck(),
    oldest: db.prepare<[number], [number, number]>(`SELECT id, length(data) FROM ${t} ORDER BY id LIMIT ?`).raw(),
    deleteThrough: db.prepare(`DELETE FROM ${t} WHERE id <= ?`),
    aged: db.prepare<[number], { n: number; b: number }>(`SELECT count(*) AS n, total(length(data)) AS b FROM ${t} WHERE ts < ?`),
    deleteAged: db.prepare(`DELETE FROM ${t} WHERE ts < ?`),
    minTs: db.prepare<[], number | null>(`SELECT min(ts) FROM ${t}`).pluck(),
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
