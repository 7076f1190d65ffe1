/**
 * The outbox's SQLite schema and its migrations.
 *
 * Records live in one table per priority (`records_0` .. `records_3`), not in one table with a
 * priority column. Sending takes the oldest records of the highest priority and eviction the
 * oldest of the lowest, so with a table per priority both always delete a *prefix* of a b-tree:
 * whole pages come free, new rows reuse them, and `incremental_vacuum` hands them back to the
 * file system. In one mixed table the same deletes leave holes scattered over every page, and the
 * file no longer tracks the byte cap.
 *
 * A record's id carries its priority in the low two bits (`id = n * 4 + priority`, n counting
 * commits): ids are unique across the tables, grow in commit order and tell `acknowledge` which
 * table to delete from. The boot id (a UUID) is stored once in `boots`, referenced by `boot_ref`.
 *
 * `meta` holds `schema_version`, `next_n` (the id counter), `delivered` and `last_upload_ts`;
 * `counters` holds, per priority, the depth and bytes waiting and the evictions since creation,
 * kept in the same transactions as the rows they count, so `tcu-agent status` reads them in O(1).
 */
import type Database from 'better-sqlite3';
import type { Priority } from '../records.js';

export const SCHEMA_VERSION = 2;
export const PRIORITY_LEVELS: readonly Priority[] = [0, 1, 2, 3];
/** Highest first: the order `nextBatch` walks the tables in. */
export const SEND_ORDER: readonly Priority[] = [3, 2, 1, 0];

export function recordsTable(priority: Priority): string {
  return `records_${priority}`;
}

/** One step of the schema. `up` runs inside a transaction with the version update. */
export interface Migration {
  from: number;
  to: number;
  description: string;
  /**
   * The oldest schema version whose agent can still use the file after this step (an additive
   * change keeps older agents working); `to` by default. An agent rolled back by OTA opens a file
   * newer than it knows when this says it may, instead of setting the backlog aside.
   */
  readableBy?: number;
  up(db: Database.Database): void;
}

function createVersion1(db: Database.Database): void {
  db.exec(`
    CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value ANY) STRICT;
    CREATE TABLE boots (ref INTEGER PRIMARY KEY, boot TEXT NOT NULL UNIQUE, last_seq INTEGER NOT NULL) STRICT;
    CREATE TABLE counters (
      priority INTEGER PRIMARY KEY, depth INTEGER NOT NULL, bytes INTEGER NOT NULL, evicted INTEGER NOT NULL
    ) STRICT;
  `);
  for (const p of PRIORITY_LEVELS) {
    const t = recordsTable(p);
    db.exec(`
      CREATE TABLE ${t} (
        id INTEGER PRIMARY KEY, boot_ref INTEGER NOT NULL, seq INTEGER NOT NULL,
        kind TEXT NOT NULL, ts NUMERIC NOT NULL, data BLOB NOT NULL
      );
      CREATE INDEX ${t}_ts ON ${t}(ts);
      INSERT INTO counters (priority, depth, bytes, evicted) VALUES (${p}, 0, 0, 0);
    `);
  }
  db.exec(`INSERT INTO meta (key, value) VALUES ('next_n', 1), ('delivered', 0), ('last_upload_ts', NULL)`);
}

/**
 * Version 2 drops the `ts` indexes. Records are committed in the order they were observed, so the
 * age limit walks a table in id order instead (eviction.ts); the index cost every insert and
 * every delete, and with timestamps out of commit order each delete touched scattered index pages
 * (a 1,000,000-record drain ran 4x slower). Older agents still use the file: they only lose speed.
 */
function dropTsIndexes(db: Database.Database): void {
  for (const p of PRIORITY_LEVELS) db.exec(`DROP INDEX IF EXISTS ${recordsTable(p)}_ts`);
}

/** The shipped migrations: version 0 is an empty file. */
export const MIGRATIONS: readonly Migration[] = [
  { from: 0, to: 1, description: 'records per priority, boots, counters, meta', up: createVersion1 },
  { from: 1, to: 2, description: 'drop the ts indexes (age limits walk commit order)', readableBy: 1, up: dropTsIndexes },
];

export function latestVersion(migrations: readonly Migration[]): number {
  return migrations.reduce((v, m) => Math.max(v, m.to), 0);
}

/**
 * The version of the file: 0 when it has no tables at all, the `meta.schema_version` otherwise.
 * Returns a reason string instead when the file holds tables but is not an outbox.
 */
/** `meta.readable_by`: the oldest schema version whose agent may use this file (default: its own). */
export function readableBy(db: Database.Database, version: number): number {
  const v = db.prepare<[], unknown>(`SELECT value FROM meta WHERE key = 'readable_by'`).pluck().get();
  return typeof v === 'number' && Number.isInteger(v) ? v : version;
}

export function readSchemaVersion(db: Database.Database): number | { notOutbox: string } {
  const tables = db
    .prepare<[], string>(`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
    .pluck()
    .all();
  if (tables.length === 0) return 0;
  if (!tables.includes('meta')) return { notOutbox: `not an outbox database (tables: ${tables.slice(0, 5).join(', ')})` };
  const v = db.prepare<[], unknown>(`SELECT value FROM meta WHERE key = 'schema_version'`).pluck().get();
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    return { notOutbox: `the meta table has no valid schema_version (${String(v)})` };
  }
  return v;
}

/**
 * Runs the migrations from `from` up to the latest, each in its own transaction together with its
 * `schema_version` update, so a power cut leaves the file at one version or the next.
 */
export function runMigrations(db: Database.Database, migrations: readonly Migration[], from: number): number {
  let version = from;
  const target = latestVersion(migrations);
  while (version < target) {
    const step = migrations.find((m) => m.from === version);
    if (!step) throw new Error(`no migration from schema version ${version}`);
    db.transaction(() => {
      step.up(db);
      const set = db.prepare(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`);
      set.run('schema_version', step.to);
      set.run('readable_by', step.readableBy ?? step.to);
    })();
    version = step.to;
  }
  return version;
}
