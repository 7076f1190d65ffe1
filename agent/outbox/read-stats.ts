/**
 * `tcu-agent status`: the outbox's figures read from its file while the agent may be running.
 *
 * The file is opened read-only. In WAL mode a reader never blocks the writer, and the reads here
 * are O(1) (persisted counters, four index look-ups), so the read transaction that holds back a
 * checkpoint lasts microseconds. An absent file gives `undefined` and is not created. (When the
 * agent is not running, SQLite may leave an empty -wal and -shm beside the file: a WAL reader
 * needs them, and a read-only connection cannot remove them. The agent's next open does.)
 */
import { existsSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { TcuError, asTcuError } from '../../core/errors.js';
import type { Priority } from '../records.js';
import { PRIORITY_LEVELS, readSchemaVersion, recordsTable } from './schema.js';
import type { OutboxStats } from './types.js';

function fileSize(path: string): number {
  return statSync(path, { throwIfNoEntry: false })?.size ?? 0;
}

export function readOutboxStats(path: string): OutboxStats | undefined {
  if (!existsSync(path)) return undefined;
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout: 1000 });
  } catch (err) {
    throw asTcuError(err, 'OUTBOX_OPEN', `cannot open the outbox ${path} to read`);
  }
  try {
    return db.transaction(() => {
      const version = readSchemaVersion(db);
      if (typeof version !== 'number') throw new TcuError('OUTBOX_CORRUPT', `${path}: ${version.notOutbox}`);
      if (version === 0) return undefined;
      const evicted: Record<Priority, number> = { 0: 0, 1: 0, 2: 0, 3: 0 };
      let depth = 0;
      let bytes = 0;
      const counters = db.prepare<[], { priority: Priority; depth: number; bytes: number; evicted: number }>(
        'SELECT priority, depth, bytes, evicted FROM counters',
      );
      for (const c of counters.iterate()) {
        depth += c.depth;
        bytes += c.bytes;
        evicted[c.priority] = c.evicted;
      }
      let oldestTs: number | null = null;
      for (const p of PRIORITY_LEVELS) {
        const ts = db.prepare<[], number | null>(`SELECT ts FROM ${recordsTable(p)} ORDER BY id LIMIT 1`).pluck().get();
        if (typeof ts === 'number' && (oldestTs === null || ts < oldestTs)) oldestTs = ts;
      }
      const meta = db.prepare<[string], unknown>('SELECT value FROM meta WHERE key = ?').pluck();
      const last = meta.get('last_upload_ts');
      return {
        depth,
        bytes,
        fileBytes: fileSize(path) + fileSize(`${path}-wal`),
        oldestTs,
        evicted,
        lastUploadTs: typeof last === 'number' ? last : null,
        delivered: Number(meta.get('delivered') ?? 0),
      };
    })();
  } catch (err) {
    throw asTcuError(err, 'OUTBOX_IO', `cannot read the outbox ${path}`);
  } finally {
    db.close();
  }
}
