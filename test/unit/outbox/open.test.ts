import { closeSync, copyFileSync, existsSync, openSync, readFileSync, readdirSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { openOutbox, type Migration } from '../../../agent/outbox/index.js';
import { MIGRATIONS, latestVersion } from '../../../agent/outbox/schema.js';

/** The schema version this agent ships; the synthetic migrations below go one past it. */
const SHIPPED = latestVersion(MIGRATIONS);
import { isTcuError } from '../../../core/errors.js';
import { outboxFixture } from '../../helpers/outbox-fixture.js';
import { integrityCheck, open, prng, signalRecord } from '../../helpers/outbox-records.js';

const fx = outboxFixture();

/** A closed outbox with `n` records in it, about 420 bytes each. */
function filledOutbox(path: string, n: number): void {
  const { outbox } = open(path, fx.clock);
  for (let i = 0; i < n; i += 500) outbox.append(Array.from({ length: Math.min(500, n - i) }, (_, k) => signalRecord(i + k, { priority: ((i + k) % 4) as 0 })));
  outbox.close();
}

function randomBytes(n: number, seed: number): Buffer {
  const random = prng(seed);
  return Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
}

/** Opens a damaged file: it must be moved aside (intact) and a working outbox started. */
function expectMovedAside(path: string, reasonPattern: RegExp): void {
  const original = readFileSync(path);
  const { outbox, report } = fx.open(path);
  expect(report.outcome).toBe('corrupt');
  if (report.outcome !== 'corrupt') return;
  expect(report.corrupt.reason).toMatch(reasonPattern);
  expect(report.corrupt.movedTo).toMatch(/\.corrupt-\d{8}T\d{9}Z$/);
  expect(readFileSync(report.corrupt.movedTo).equals(original)).toBe(true);
  expect(report.depth).toBe(0);
  expect(outbox.append([signalRecord(1)])[0]!.seq).toBe(1);
  expect(outbox.stats().depth).toBe(1);
  expect(integrityCheck(path)).toBe('ok');
}

describe('open', () => {
  it('reports created, then opened with the depth and how long the check took', () => {
    const path = fx.path('o.db');
    const first = fx.open(path);
    expect(first.report).toMatchObject({ outcome: 'created', schemaVersion: SHIPPED, depth: 0, path });
    first.outbox.append([signalRecord(1), signalRecord(2)]);
    first.outbox.close();
    const second = fx.open(path, { bootId: 'boot-b' });
    expect(second.report).toMatchObject({ outcome: 'opened', schemaVersion: SHIPPED, depth: 2 });
    expect(second.report.checkMs).toBeGreaterThanOrEqual(0);
    const db = new Database(path, { readonly: true });
    expect(db.pragma('auto_vacuum', { simple: true })).toBe(2); // incremental
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('moves a file of random bytes aside', () => {
    const path = fx.path('o.db');
    writeFileSync(path, randomBytes(64 * 1024, 1));
    expectMovedAside(path, /SQLITE_NOTADB/);
  });

  it('moves aside a valid outbox whose middle pages were overwritten with garbage', () => {
    const path = fx.path('o.db');
    filledOutbox(path, 3000);
    const pages = statSync(path).size / 4096;
    expect(pages).toBeGreaterThan(100);
    const fd = openSync(path, 'r+');
    writeSync(fd, randomBytes(8 * 4096, 2), 0, 8 * 4096, Math.floor(pages / 2) * 4096);
    closeSync(fd);
    expectMovedAside(path, /quick_check|SQLITE_CORRUPT/);
  });

  it('moves aside a truncated file', () => {
    const path = fx.path('o.db');
    filledOutbox(path, 3000);
    truncateSync(path, Math.floor(statSync(path).size / 2 / 4096) * 4096 + 1000);
    expectMovedAside(path, /quick_check|SQLITE_CORRUPT/);
  });

  it('takes an empty file (a power cut while it was being created) as a new outbox', () => {
    const path = fx.path('o.db');
    writeFileSync(path, '');
    const { outbox, report } = fx.open(path);
    expect(report.outcome).toBe('created');
    expect(outbox.append([signalRecord(1)])).toHaveLength(1);
  });

  it('drops a WAL frame that fails its checksum (a torn write), keeping every commit before it', () => {
    const live = fx.path('live.db');
    const { outbox } = open(live, fx.clock);
    const first = outbox.append(Array.from({ length: 50 }, (_, i) => signalRecord(i)));
    outbox.append(Array.from({ length: 50 }, (_, i) => signalRecord(50 + i)));
    // The files as a power cut would leave them: the second commit only in the WAL.
    const path = fx.path('o.db');
    copyFileSync(live, path);
    copyFileSync(`${live}-wal`, `${path}-wal`);
    const wal = readFileSync(`${path}-wal`);
    wal[wal.length - 100] = wal[wal.length - 100]! ^ 0xff; // inside the last frame, the commit frame
    writeFileSync(`${path}-wal`, wal);
    const reopened = fx.open(path, { bootId: 'boot-b' });
    expect(reopened.report.outcome).toBe('opened');
    const left = reopened.outbox.nextBatch({ maxRecords: 1000, maxBytes: 1e9 });
    expect(left.map((r) => r.seq)).toEqual(first.map((r) => r.seq));
    expect(reopened.outbox.stats().depth).toBe(50); // the counters rolled back with the rows
    expect(integrityCheck(path)).toBe('ok');
  });

  it('moves the -wal and -shm along with the file', () => {
    const path = fx.path('o.db');
    writeFileSync(path, randomBytes(10_000, 3));
    writeFileSync(`${path}-wal`, 'wal');
    writeFileSync(`${path}-shm`, 'shm');
    const { report } = fx.open(path);
    expect(report.outcome).toBe('corrupt');
    if (report.outcome !== 'corrupt') return;
    expect(readFileSync(`${report.corrupt.movedTo}-wal`, 'utf8')).toBe('wal');
    expect(existsSync(`${report.corrupt.movedTo}-shm`)).toBe(true); // an index SQLite rebuilds: not evidence
  });

  it('moves aside a database that is not an outbox, or is newer than this agent', () => {
    const foreign = fx.path('foreign.db');
    const db = new Database(foreign);
    db.exec('CREATE TABLE photos (id INTEGER PRIMARY KEY)');
    db.close();
    expectMovedAside(foreign, /not an outbox/);

    const newer = fx.path('newer.db');
    filledOutbox(newer, 10);
    const db2 = new Database(newer);
    db2.prepare(`UPDATE meta SET value = 9 WHERE key IN ('schema_version', 'readable_by')`).run();
    db2.close();
    expectMovedAside(newer, new RegExp(`schema version 9 is newer than this agent knows \\(${SHIPPED}\\)`));
  });

  it('throws OUTBOX_OPEN (not a fresh file) when the folder is missing', () => {
    let caught: unknown;
    try {
      open(fx.path('missing/o.db'), fx.clock);
    } catch (err) {
      caught = err;
    }
    expect(isTcuError(caught, 'OUTBOX_OPEN')).toBe(true);
    expect(existsSync(fx.path('missing'))).toBe(false);
  });
});

describe('migrations', () => {
  const toNext: Migration = {
    from: SHIPPED,
    to: SHIPPED + 1,
    description: 'synthetic: a column for the uplink topic',
    up: (db) => {
      for (const p of [0, 1, 2, 3]) db.exec(`ALTER TABLE records_${p} ADD COLUMN topic TEXT`);
    },
  };

  it('migrates a database at an older version, keeping its records and counters', () => {
    const path = fx.path('o.db');
    const { outbox } = open(path, fx.clock);
    const stored = outbox.append([signalRecord(1, { priority: 3 }), signalRecord(2, { priority: 0 })]);
    outbox.acknowledge([stored[0]!.id], 99);
    const before = outbox.stats();
    outbox.close();

    const migrated = openOutbox({ path, bootId: 'boot-b', maxBytes: 1e8, clock: fx.clock, migrations: [...MIGRATIONS, toNext] });
    fx.track(migrated.outbox);
    expect(migrated.report).toMatchObject({ outcome: 'migrated', fromVersion: SHIPPED, schemaVersion: SHIPPED + 1, depth: 1 });
    expect({ ...migrated.outbox.stats(), fileBytes: 0 }).toEqual({ ...before, fileBytes: 0 });
    const [left] = migrated.outbox.nextBatch({ maxRecords: 10, maxBytes: 1e6 });
    expect(left).toMatchObject({ seq: 2, boot: 'boot-a', priority: 0 });
    expect(Buffer.from(left!.data)).toEqual(Buffer.from(stored[1]!.data));
    migrated.outbox.append([signalRecord(3)]);
    migrated.outbox.close();

    const db = new Database(path, { readonly: true });
    expect(db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).pluck().get()).toBe(SHIPPED + 1);
    expect(db.prepare('SELECT count(*) FROM pragma_table_info(?) WHERE name = ?').pluck().get('records_1', 'topic')).toBe(1);
    db.close();
    const again = openOutbox({ path, bootId: 'boot-c', maxBytes: 1e8, clock: fx.clock, migrations: [...MIGRATIONS, toNext] });
    fx.track(again.outbox);
    expect(again.report.outcome).toBe('opened');
  });

  it('opens a newer file an older agent may use (an OTA rollback after an additive migration)', () => {
    const path = fx.path('o.db');
    const v2 = openOutbox({ path, bootId: 'boot-a', maxBytes: 1e8, clock: fx.clock, migrations: [...MIGRATIONS, { ...toNext, readableBy: SHIPPED }] });
    v2.outbox.append([signalRecord(1)]);
    v2.outbox.close();
    const rolledBack = fx.open(path, { bootId: 'boot-b' });
    expect(rolledBack.report).toMatchObject({ outcome: 'opened', schemaVersion: SHIPPED + 1, depth: 1 });
    expect(rolledBack.outbox.append([signalRecord(2)])).toHaveLength(1);
    expect(rolledBack.outbox.nextBatch({ maxRecords: 10, maxBytes: 1e6 })).toHaveLength(1); // one boot per batch
  });

  it('runs a failing migration in a transaction: the file keeps its version and is set aside', () => {
    const path = fx.path('o.db');
    filledOutbox(path, 20);
    const broken: Migration = {
      ...toNext,
      up: (db) => {
        toNext.up(db);
        throw new Error('bug in migration');
      },
    };
    // The bug fails the fresh file as well: that one is OUTBOX_OPEN, the old file is kept aside.
    expect(() => openOutbox({ path, bootId: 'boot-b', maxBytes: 1e8, clock: fx.clock, migrations: [...MIGRATIONS, broken] })).toThrow(
      expect.objectContaining({ code: 'OUTBOX_OPEN', message: expect.stringMatching(/migration from schema version 0 failed: bug in migration/) }),
    );
    const aside = readdirSync(fx.tmp.dir).filter((f) => /^o\.db\.corrupt-[0-9TZ]+$/.test(f));
    expect(aside).toHaveLength(1);
    const db = new Database(fx.path(aside[0]!), { readonly: true });
    expect(db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).pluck().get()).toBe(SHIPPED);
    expect(db.prepare('SELECT count(*) FROM pragma_table_info(?) WHERE name = ?').pluck().get('records_1', 'topic')).toBe(0);
    expect(db.prepare('SELECT sum(depth) FROM counters').pluck().get()).toBe(20);
    db.close();
  });
});
