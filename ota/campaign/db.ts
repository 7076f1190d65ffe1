/**
 * The OTA state store: one SQLite file (default `<state-dir>/ota.db`) holding the campaign, its
 * transitions and their report flags, the boot state, the software inventory and the audit log, so
 * one transaction can commit an update (inventory, boot state, campaign, audit) all at once.
 *
 * `synchronous=FULL` with the WAL journal: a transaction that returned is on disk (the WAL is
 * fsynced at every commit), and a power cut at any instant leaves the last committed state. WAL
 * rather than DELETE because `tcu-agent inventory` (and any other reader) reads while the agent
 * writes without either waiting for the other, and a commit costs one fsync of the WAL instead of
 * the rollback journal's several (journal, database, folder). The file holds a few hundred rows, so
 * the WAL's checkpoints cost nothing.
 *
 * Schema changes are additive only (new tables, new nullable columns, triggers): after a rollback
 * the previous agent opens a file a newer agent wrote. `user_version` records the schema's version:
 *
 *   1  the tables
 *   2  the audit log made append-only in SQLite itself: triggers refuse any UPDATE or DELETE of an
 *      `audit` row, an INSERT that is not the next seq (INSERT OR REPLACE would overwrite a row
 *      without a DELETE trigger firing), any DELETE of `audit_head`, an `audit_head` update
 *      that is not the next row's (seq + 1, that row's hash), and an `audit_head` INSERT that is
 *      not the last row's (seq and hash of MAX(seq)): INSERT OR REPLACE deletes the head without a
 *      DELETE trigger firing, so without it plain SQL could set any head. The append's upsert
 *      passes both (its INSERT names the row just appended, its UPDATE moves by one); on an empty
 *      log there is no head row (the genesis hash is implied). Created (IF NOT EXISTS) at every
 *      open, so a file of version 1 (or a version-2 file from an agent without `audit_head_insert`)
 *      gets them when a newer agent opens it. They stop ordinary SQL, a bug or a tool
 *      writing the file; someone who can rewrite the file can drop them (the chain and the head
 *      hash reported to the cloud catch that).
 */
import Database from 'better-sqlite3';
import { TcuError } from '../../core/errors.js';

export const SCHEMA_VERSION = 2;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS campaigns (
  ord INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  state TEXT NOT NULL,
  data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS transitions (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  campaign TEXT NOT NULL,
  from_state TEXT NOT NULL,
  to_state TEXT NOT NULL,
  event TEXT NOT NULL,
  details TEXT NOT NULL,
  at INTEGER NOT NULL,
  reported INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS transitions_unreported ON transitions (seq) WHERE reported = 0;
CREATE TABLE IF NOT EXISTS boot_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS inventory (
  ecu TEXT PRIMARY KEY,
  data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  campaign TEXT,
  event TEXT NOT NULL,
  details TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_head (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  seq INTEGER NOT NULL,
  hash TEXT NOT NULL
);
`;

/** Version 2: the audit log append-only (see above). */
const APPEND_ONLY_AUDIT = `
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: a row cannot be changed'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: a row cannot be deleted'); END;
CREATE TRIGGER IF NOT EXISTS audit_next_only BEFORE INSERT ON audit
WHEN NEW.seq IS NOT (SELECT COALESCE(MAX(seq), 0) + 1 FROM audit)
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: a row goes only after the last one'); END;
CREATE TRIGGER IF NOT EXISTS audit_head_no_delete BEFORE DELETE ON audit_head
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: its head cannot be deleted'); END;
CREATE TRIGGER IF NOT EXISTS audit_head_forward BEFORE UPDATE ON audit_head
WHEN NEW.id IS NOT OLD.id OR NEW.seq IS NOT OLD.seq + 1 OR NEW.hash IS NOT (SELECT hash FROM audit WHERE seq = NEW.seq)
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: its head moves only to the next row'); END;
CREATE TRIGGER IF NOT EXISTS audit_head_insert BEFORE INSERT ON audit_head
WHEN NEW.seq IS NOT (SELECT MAX(seq) FROM audit) OR NEW.hash IS NOT (SELECT hash FROM audit WHERE seq = NEW.seq)
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: its head is written only as the last row'); END;
`;

export type OtaDatabase = Database.Database;

function stateError(message: string, path: string, cause: unknown): TcuError {
  const text = cause instanceof Error ? cause.message : String(cause);
  return new TcuError('OTA_STATE', `${message}: ${text}`, { cause, details: { path } });
}

/** Opens (creating when missing) the OTA state store for writing. Failures are OTA_STATE. */
export function openOtaDatabase(path: string): OtaDatabase {
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { timeout: 5000 });
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw new Error(`journal_mode WAL refused (got ${String(mode)})`);
    db.pragma('synchronous = FULL');
    db.exec(SCHEMA);
    db.exec(APPEND_ONLY_AUDIT);
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version < SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
    return db;
  } catch (err) {
    db?.close();
    throw stateError(`cannot open the OTA state store ${path}`, path, err);
  }
}

/** Opens the store read-only (for `tcu-agent inventory`); null when there is no store yet. */
export function openOtaDatabaseReadOnly(path: string): OtaDatabase | null {
  try {
    return new Database(path, { readonly: true, fileMustExist: true, timeout: 5000 });
  } catch (err) {
    if ((err as { code?: unknown }).code === 'SQLITE_CANTOPEN') return null;
    throw stateError(`cannot read the OTA state store ${path}`, path, err);
  }
}

/** Runs `fn` in one transaction; SQLite errors become OTA_STATE (a TcuError thrown inside passes through). */
export function inTransaction<T>(db: OtaDatabase, fn: () => T): T {
  try {
    return db.transaction(fn).immediate();
  } catch (err) {
    if (err instanceof TcuError) throw err;
    throw stateError('the OTA state store could not be written', db.name, err);
  }
}
