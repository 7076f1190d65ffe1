/**
 * Opening the outbox file: integrity check, corrupt files moved aside, pragmas, migrations.
 *
 * Integrity is checked with `PRAGMA quick_check`, not `integrity_check`. Both walk every b-tree
 * page (structure, cell bounds, free list, pages used twice or never); `integrity_check` also
 * verifies that every index entry matches its row and that UNIQUE holds, which costs a lookup per
 * row per index: on a board's eMMC with a backlog of a million records that is minutes of start-up,
 * quick_check is seconds (one sequential read). What quick_check misses (an index out of step with
 * its table) cannot lose records: the tables are read by primary key and the ts index only
 * chooses what to evict by age.
 *
 * A file that is not a database, is truncated, fails quick_check, holds something else, is at a
 * schema version newer than this agent knows (unless the migration that made it says older agents
 * may use it: `Migration.readableBy`, for an OTA rollback), or fails a migration is MOVED aside with its -wal and -shm (kept for analysis) and a fresh
 * outbox is created: a corrupt file must never crash-loop the agent. Errors that a fresh file would
 * not cure (a missing folder, no permission, the file locked by another process) throw OUTBOX_OPEN.
 */
import { existsSync, renameSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Clock } from '../../core/clock.js';
import { asTcuError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { latestVersion, readSchemaVersion, readableBy, runMigrations, type Migration } from './schema.js';

export type Synchronous = 'OFF' | 'NORMAL' | 'FULL';

interface OpenReportBase {
  path: string;
  /** The schema version the outbox now has. */
  schemaVersion: number;
  /** Records waiting after open. */
  depth: number;
  /** How long quick_check took (0 for a new file). */
  checkMs: number;
}

/** What happened at open, for the agent to turn into an event record. */
export type OpenReport = OpenReportBase &
  (
    | { outcome: 'created' }
    | { outcome: 'opened' }
    | { outcome: 'migrated'; fromVersion: number }
    | { outcome: 'corrupt'; corrupt: { movedTo: string; reason: string } }
  );

export interface DatabaseSettings {
  path: string;
  synchronous: Synchronous;
  /** Pages the WAL may hold before an automatic checkpoint. */
  walAutocheckpointPages: number;
  /** The WAL file is truncated to this after a checkpoint. */
  walSizeLimitBytes: number;
  /** SQLite `max_page_count`, when set. */
  pageLimit?: number;
  migrations: readonly Migration[];
  clock: Clock;
  logger: Logger;
}

export interface OpenedDatabase {
  db: Database.Database;
  outcome: 'created' | 'opened' | 'migrated';
  fromVersion: number;
  schemaVersion: number;
  checkMs: number;
  corrupt?: { movedTo: string; reason: string };
}

/** SQLite result codes that mean "this file is damaged", as opposed to "we may not use it". */
const CORRUPT_CODES = /^SQLITE_(CORRUPT|NOTADB|FORMAT|IOERR_SHORT_READ|IOERR_READ|RANGE)/;

class CorruptFile extends Error {}

function sqliteCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}

function corruptionReason(err: unknown): string | undefined {
  if (err instanceof CorruptFile) return err.message;
  const code = sqliteCode(err);
  if (code !== undefined && CORRUPT_CODES.test(code)) return `${code}: ${(err as Error).message}`;
  return undefined;
}

function applyPragmas(db: Database.Database, s: DatabaseSettings): void {
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (mode !== 'wal') throw new Error(`journal_mode WAL refused (got ${String(mode)})`);
  db.pragma(`synchronous = ${s.synchronous}`);
  db.pragma(`wal_autocheckpoint = ${Math.max(1, Math.floor(s.walAutocheckpointPages))}`);
  db.pragma(`journal_size_limit = ${Math.max(0, Math.floor(s.walSizeLimitBytes))}`);
  db.pragma('cache_size = -4096');
  if (s.pageLimit !== undefined) db.pragma(`max_page_count = ${Math.floor(s.pageLimit)}`);
}

interface Checked {
  /** No pages yet: a new or empty file. */
  isNew: boolean;
  version: number;
  checkMs: number;
}

/**
 * Checks the file on a READ-ONLY connection: closing it never checkpoints the WAL into a damaged
 * file nor deletes the WAL, so a file found corrupt is moved aside exactly as it was.
 */
function check(s: DatabaseSettings): Checked {
  if (!existsSync(s.path)) return { isNew: true, version: 0, checkMs: 0 };
  const db = new Database(s.path, { readonly: true, fileMustExist: true, timeout: 5000 });
  try {
    const t0 = s.clock.monotonic();
    // Reading page_count reads the header: "file is not a database" surfaces here.
    if (db.pragma('page_count', { simple: true }) === 0) return { isNew: true, version: 0, checkMs: 0 };
    const rows = db.pragma('quick_check(5)') as { quick_check: string }[];
    const checkMs = s.clock.monotonic() - t0;
    if (rows.length !== 1 || rows[0]?.quick_check !== 'ok') {
      throw new CorruptFile(`quick_check: ${rows.map((r) => r.quick_check).join('; ')}`);
    }
    const version = readSchemaVersion(db);
    if (typeof version !== 'number') throw new CorruptFile(version.notOutbox);
    const target = latestVersion(s.migrations);
    if (version > target && readableBy(db, version) > target) {
      throw new CorruptFile(`schema version ${version} is newer than this agent knows (${target})`);
    }
    return { isNew: false, version, checkMs };
  } finally {
    db.close();
  }
}

function attempt(s: DatabaseSettings): OpenedDatabase {
  const checked = check(s);
  const db = new Database(s.path, { timeout: 5000 });
  try {
    // Must precede the first table: a file created without it can only change by a full VACUUM.
    if (checked.isNew) db.pragma('auto_vacuum = INCREMENTAL');
    applyPragmas(db, s);
    const found = checked.version;
    let version = found;
    try {
      if (found < latestVersion(s.migrations)) version = runMigrations(db, s.migrations, found);
    } catch (err) {
      if (sqliteCode(err) !== undefined && corruptionReason(err) === undefined) throw err;
      throw new CorruptFile(`migration from schema version ${found} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    const outcome = found === 0 ? 'created' : found < version ? 'migrated' : 'opened';
    return { db, outcome, fromVersion: found, schemaVersion: version, checkMs: checked.checkMs };
  } catch (err) {
    db.close();
    throw err;
  }
}

function timestampTag(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace('.', '');
}

/**
 * Moves the file and its -wal and -shm to `<path>.corrupt-<timestamp>` (the -wal keeps its
 * suffix, so SQLite opens the moved file with its WAL). Returns the new path.
 */
export function moveAside(path: string, nowMs: number): string {
  let target = `${path}.corrupt-${timestampTag(nowMs)}`;
  for (let n = 1; existsSync(target); n++) target = `${path}.corrupt-${timestampTag(nowMs)}-${n}`;
  for (const suffix of ['-wal', '-shm']) {
    if (existsSync(path + suffix)) renameSync(path + suffix, target + suffix);
  }
  if (existsSync(path)) renameSync(path, target);
  return target;
}

/** Opens (creating, migrating or replacing a corrupt file as needed). Throws only OUTBOX_OPEN. */
export function openDatabase(s: DatabaseSettings): OpenedDatabase {
  let reason: string | undefined;
  try {
    return attempt(s);
  } catch (err) {
    reason = corruptionReason(err);
    if (reason === undefined) throw asTcuError(err, 'OUTBOX_OPEN', `cannot open the outbox ${s.path}`);
  }
  let movedTo: string;
  try {
    movedTo = moveAside(s.path, s.clock.now());
  } catch (err) {
    throw asTcuError(err, 'OUTBOX_OPEN', `the outbox ${s.path} is corrupt (${reason}) and cannot be moved aside`);
  }
  s.logger.warn(
    { code: 'OUTBOX_CORRUPT', path: s.path, movedTo, reason, bytes: statSync(movedTo, { throwIfNoEntry: false })?.size },
    'the outbox file is corrupt: moved aside, starting a fresh outbox',
  );
  try {
    return { ...attempt(s), corrupt: { movedTo, reason } };
  } catch (err) {
    throw asTcuError(err, 'OUTBOX_OPEN', `cannot create a fresh outbox at ${s.path} after moving a corrupt one aside`);
  }
}

