/**
 * Fixtures for outbox tests: `outboxFixture()`, a fresh temporary folder and FakeClock per test
 * with every outbox it opened closed after the test; reading what an outbox file holds with a
 * connection of the test's own (`storedRecords`, `lastSeqs`); and a small real disk (a tmpfs) for
 * full-disk tests, with `canMountTmpfs()` deciding whether those run.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { decode } from 'cbor-x';
import { afterEach, beforeEach } from 'vitest';
import type { OpenReport, OutboxOptions } from '../../agent/outbox/index.js';
import type { Outbox } from '../../agent/outbox/types.js';
import { FakeClock } from './fake-clock.js';
import { open, tempDir, type TempDir } from './outbox-records.js';

export interface OutboxFixture {
  /** This test's temporary folder (removed after the test). */
  readonly tmp: TempDir;
  /** This test's clock, at 1_700_000_000_000 when the test starts. */
  readonly clock: FakeClock;
  /** A file name in the test's folder. */
  path(name: string): string;
  /** Opens an outbox at `path` (boot "boot-a", 64 MiB cap, NORMAL: `open` of outbox-records.ts, on the test's clock); closed after the test. */
  open(path: string, overrides?: Partial<OutboxOptions>): { outbox: Outbox; report: OpenReport };
  /** Closes `outbox` after the test (one opened some other way). */
  track<T extends Outbox>(outbox: T): T;
}

/**
 * Registers `beforeEach`/`afterEach` in the calling test file (call it at its top level): each
 * test gets a new folder and clock; after it, the outboxes it opened are closed, then the folder
 * is removed.
 */
export function outboxFixture(): OutboxFixture {
  let tmp: TempDir | undefined;
  let clock: FakeClock | undefined;
  const opened: Outbox[] = [];
  const current = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('outboxFixture: used outside a test');
    return value;
  };
  beforeEach(() => {
    tmp = tempDir();
    clock = new FakeClock();
  });
  afterEach(() => {
    try {
      for (const o of opened.splice(0)) o.close();
    } finally {
      tmp?.cleanup();
      tmp = undefined;
    }
  });
  const fixture: OutboxFixture = {
    get tmp() {
      return current(tmp);
    },
    get clock() {
      return current(clock);
    },
    path: (name) => current(tmp).path(name),
    open: (path, overrides = {}) => {
      const r = open(path, current(clock), overrides);
      opened.push(r.outbox);
      return r;
    },
    track: (outbox) => {
      opened.push(outbox);
      return outbox;
    },
  };
  return fixture;
}

// ---------------------------------------------------------------- what a file holds

export interface StoredRow {
  boot: string;
  seq: number;
  priority: number;
  kind: string;
  ts: number;
  /** The record's body, decoded from its wire form (without seq, ts and kind). */
  body: Record<string, unknown>;
}

/**
 * Every record waiting in an outbox file, per priority in commit order (lowest priority first),
 * read on a read-only connection of the test's own (safe while an agent has the file open).
 */
export function storedRecords(path: string): StoredRow[] {
  const db = new Database(path, { readonly: true });
  try {
    return [0, 1, 2, 3].flatMap((p) =>
      db
        .prepare<[], { boot: string; seq: number; kind: string; ts: number; data: Buffer }>(
          `SELECT b.boot AS boot, r.seq AS seq, r.kind AS kind, r.ts AS ts, r.data AS data FROM records_${p} r JOIN boots b ON b.ref = r.boot_ref ORDER BY r.id`,
        )
        .all()
        .map(({ data, ...row }) => {
          const { seq: _seq, ts: _ts, kind: _kind, ...body } = decode(data) as Record<string, unknown>;
          return { ...row, priority: p, body };
        }),
    );
  } finally {
    db.close();
  }
}

/** The last seq committed per boot id (the outbox's `boots` table). */
export function lastSeqs(path: string): Map<string, number> {
  const db = new Database(path, { readonly: true });
  try {
    return new Map(db.prepare<[], { boot: string; last_seq: number }>('SELECT boot, last_seq FROM boots').all().map((r) => [r.boot, r.last_seq]));
  } finally {
    db.close();
  }
}

// ---------------------------------------------------------------- a small real disk

/** Why this process cannot mount a tmpfs, or undefined when it can (tried once, with a 64 KiB one). */
function mountProblem(): string | undefined {
  if (process.platform !== 'linux') return `mounting a tmpfs needs Linux (this is ${process.platform})`;
  const dir = mkdtempSync(join(tmpdir(), 'tcu-tmpfs-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const uid = process.getuid?.();
    const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim();
    const why = uid !== 0 ? `not root (uid ${uid})` : (stderr || (err as Error).message);
    rmSync(dir, { recursive: true, force: true });
    return `cannot mount a tmpfs: ${why}`;
  }
  execFileSync('umount', [dir]);
  rmSync(dir, { recursive: true, force: true });
  return undefined;
}

/**
 * Tests that mount a tmpfs call this at collection time, like `hasProgram`: where mounting is not
 * possible (not root, no permission in a container, not Linux) the test is skipped with a message
 * naming the reason; with TCU_REQUIRE_SYSTEM_TESTS=1 (CI) that fails the run instead.
 */
export function canMountTmpfs(): boolean {
  const problem = mountProblem();
  if (problem === undefined) return true;
  if (process.env['TCU_REQUIRE_SYSTEM_TESTS'] === '1') throw new Error(`${problem}, and TCU_REQUIRE_SYSTEM_TESTS=1 requires it`);
  console.warn(`skipping: ${problem}`);
  return false;
}

export interface SmallDisk {
  /** The mount point. */
  dir: string;
  path(name: string): string;
  /** Bytes free on it now (statfs). */
  freeBytes(): number;
  /** Unmounts (lazily if something still holds a file open) and removes the mount point; safe to call twice. */
  unmount(): void;
}

/** Mounts a tmpfs of `size` (mount's syntax: "3m", "512k") on a new temporary folder. */
export function mountTmpfs(size: string): SmallDisk {
  const dir = mkdtempSync(join(tmpdir(), 'tcu-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  let mounted = true;
  return {
    dir,
    path: (name) => join(dir, name),
    freeBytes: () => {
      const fs = statfsSync(dir);
      return fs.bavail * fs.bsize;
    },
    unmount: () => {
      if (!mounted) return;
      try {
        execFileSync('umount', [dir], { stdio: ['ignore', 'ignore', 'pipe'] });
      } catch {
        execFileSync('umount', ['-l', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
      }
      mounted = false;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
