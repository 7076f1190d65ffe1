/** Records, temporary folders and outboxes for the outbox tests and benchmarks. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Clock } from '../../core/clock.js';
import { openOutbox, type OutboxOptions } from '../../agent/outbox/index.js';
import type { Priority, RecordInput } from '../../agent/records.js';

import { mulberry32 } from '../../core/random.js';

export const prng = mulberry32;

/** A `signals` record with `values` signal values, like a collector's sample of one message set. */
export function signalRecord(i: number, options: { priority?: Priority; ts?: number; values?: number } = {}): RecordInput {
  const body: Record<string, unknown> = {};
  const n = options.values ?? 20;
  for (let k = 0; k < n; k++) body[`Msg${k % 4}.Signal${k}`] = k % 3 === 0 ? (i * 7 + k) % 256 : ((i + k) % 1000) / 8;
  return { kind: 'signals', ts: options.ts ?? 1_700_000_000_000 + i * 100, priority: options.priority ?? 1, body };
}

/** Priorities drawn 40 % low, 30 % normal, 20 % high, 10 % critical. */
export function mixedPriority(random: () => number): Priority {
  const x = random();
  return x < 0.4 ? 0 : x < 0.7 ? 1 : x < 0.9 ? 2 : 3;
}

export interface TempDir {
  dir: string;
  path(name: string): string;
  cleanup(): void;
}

export function tempDir(prefix = 'tcu-outbox-'): TempDir {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, path: (name) => join(dir, name), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function open(path: string, clock: Clock, overrides: Partial<OutboxOptions> = {}): ReturnType<typeof openOutbox> {
  return openOutbox({ path, bootId: 'boot-a', maxBytes: 64 * 1024 * 1024, synchronous: 'NORMAL', clock, ...overrides });
}

/** The ids in each priority's table, read with a connection of the test's own. */
export function idsByPriority(path: string): number[][] {
  const db = new Database(path, { readonly: true });
  try {
    return [0, 1, 2, 3].map((p) => db.prepare<[], number>(`SELECT id FROM records_${p} ORDER BY id`).pluck().all());
  } finally {
    db.close();
  }
}

/**
 * `PRAGMA integrity_check` (the full one) of a file, on a read-only connection of the test's own:
 * it reads a hot WAL but leaves the files as they are (no checkpoint, no WAL deleted at close).
 */
export function integrityCheck(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    return (db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check).join('; ');
  } finally {
    db.close();
  }
}
