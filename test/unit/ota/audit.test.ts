/**
 * The audit log: the chain's documented format (checked by hashing by hand), verify() on an intact
 * log, the append-only triggers (plain SQL cannot change or delete a row, nor move or rewrite the
 * head, INSERT OR REPLACE included), the migration of a version-1 file, the store's `synchronous=FULL`, and tampering by someone who
 * drops the triggers first: an altered, deleted, inserted, reordered or truncated row is caught.
 */
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, GENESIS_HASH, canonicalJson } from '../../../ota/campaign/audit.js';
import { SCHEMA_VERSION, openOtaDatabase } from '../../../ota/campaign/db.js';
import { CampaignStore } from '../../../ota/campaign/store.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { tempDir, type TempDir } from '../../helpers/outbox-records.js';

let tmp: TempDir;
let clock: FakeClock;
let n = 0;
beforeEach(() => {
  tmp = tempDir('tcu-ota-audit-');
  clock = new FakeClock();
});
afterEach(() => tmp.cleanup());

/** A log of `rows` entries in a new file; returns its path. */
function build(rows = 6): string {
  const path = tmp.path(`audit-${n++}.db`);
  const db = openOtaDatabase(path);
  const log = new AuditLog(db, clock);
  for (let i = 1; i <= rows; i++) {
    clock.advance(1000);
    log.append(i % 2 ? 'campaign.start' : 'boot.attempt', { step: i, slot: i % 2 ? 'a' : 'b', nested: { z: 1, a: [i, 'x'] } }, i < 4 ? 'c1' : 'c2');
  }
  db.close();
  return path;
}

function verifyFile(path: string): ReturnType<AuditLog['verify']> {
  const db = openOtaDatabase(path);
  try {
    return new AuditLog(db, clock).verify();
  } finally {
    db.close();
  }
}

const TRIGGERS = ['audit_no_update', 'audit_no_delete', 'audit_next_only', 'audit_head_no_delete', 'audit_head_forward', 'audit_head_insert'];

/** Changes the file behind the log's back, as someone holding the file can: the triggers dropped first. */
function tamper(path: string, sql: string, ...params: unknown[]): void {
  const db = new Database(path);
  for (const t of TRIGGERS) db.exec(`DROP TRIGGER IF EXISTS ${t}`);
  db.prepare(sql).run(...params);
  db.close();
}

/** Runs `sql` through a plain connection of its own; returns the error message, or null when it went through. */
function plainSql(path: string, sql: string): string | null {
  const db = new Database(path);
  try {
    db.prepare(sql).run();
    return null;
  } catch (err) {
    return (err as Error).message;
  } finally {
    db.close();
  }
}

describe('canonicalJson', () => {
  it('sorts keys at every level, drops undefined members, writes no white space', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { y: 2, x: 1 }], c: 'é"\n' }, u: undefined })).toBe('{"a":{"c":"é\\"\\n","d":[3,{"x":1,"y":2}]},"b":1}');
    expect(canonicalJson({ x: 1, y: 2 })).toBe(canonicalJson({ y: 2, x: 1 }));
    expect(canonicalJson([undefined, NaN, Infinity, null, true])).toBe('[null,null,null,null,true]');
    expect(canonicalJson('s')).toBe('"s"');
  });
});

describe('audit log', () => {
  it('chains rows as documented: sha256(prev_hash || canonical {seq, at, campaign, event, details})', () => {
    const db = openOtaDatabase(tmp.path('a.db'));
    const log = new AuditLog(db, clock);
    expect(log.head()).toEqual({ seq: 0, hash: GENESIS_HASH });
    const first = log.append('campaign.start', { target: 'tcu/agent-2.mjs', version: '2.0.0' }, 'c1');
    const byHand = createHash('sha256')
      .update(GENESIS_HASH)
      .update(`{"at":${clock.now()},"campaign":"c1","details":{"target":"tcu/agent-2.mjs","version":"2.0.0"},"event":"campaign.start","seq":1}`)
      .digest('hex');
    expect(first.hash).toBe(byHand);
    const second = log.append('boot.attempt', {});
    expect(second).toMatchObject({ seq: 2, prevHash: first.hash, campaign: null });
    expect(log.head()).toEqual({ seq: 2, hash: second.hash });
    expect(log.entries({ campaign: 'c1' }).map((e) => e.seq)).toEqual([1]);
    expect(log.verify()).toEqual({ ok: true, rows: 2, head: second.hash });
    db.close();
  });

  it('verifies an intact log, reopened', () => {
    const path = build();
    expect(verifyFile(path)).toMatchObject({ ok: true, rows: 6 });
    expect(verifyFile(build(0))).toEqual({ ok: true, rows: 0, head: GENESIS_HASH });
  });

  const cases: [string, (path: string) => void, number | null, RegExp][] = [
    ['altered details', (p) => tamper(p, "UPDATE audit SET details = replace(details, '\"step\":3', '\"step\":4') WHERE seq = 3"), 3, /altered/],
    ['altered event', (p) => tamper(p, "UPDATE audit SET event = 'campaign.committed' WHERE seq = 2"), 2, /altered/],
    ['altered time', (p) => tamper(p, 'UPDATE audit SET at = at - 1 WHERE seq = 5'), 5, /altered/],
    ['altered campaign', (p) => tamper(p, "UPDATE audit SET campaign = 'c9' WHERE seq = 1"), 1, /altered/],
    ['details that are not JSON', (p) => tamper(p, "UPDATE audit SET details = 'oops' WHERE seq = 4"), 4, /not a JSON object/],
    ['a deleted row', (p) => tamper(p, 'DELETE FROM audit WHERE seq = 3'), 4, /row 3 is missing/],
    ['the last row deleted', (p) => tamper(p, 'DELETE FROM audit WHERE seq = 6'), null, /head/],
    ['the first row deleted', (p) => tamper(p, 'DELETE FROM audit WHERE seq = 1'), 2, /row 1 is missing/],
    [
      'a row inserted in the middle (later rows renumbered)',
      (p) => {
        tamper(p, 'UPDATE audit SET seq = -seq WHERE seq >= 3');
        tamper(p, 'UPDATE audit SET seq = 1 - seq WHERE seq < 0');
        tamper(p, "INSERT INTO audit SELECT 3, at, campaign, 'forged', details, prev_hash, hash FROM audit WHERE seq = 2");
      },
      3,
      /does not link|altered/,
    ],
    [
      'a row appended with a correct chain hash but no head',
      (p) => {
        const db = new Database(p);
        const last = db.prepare<[], { hash: string }>('SELECT hash FROM audit WHERE seq = 6').get()!;
        const hash = createHash('sha256').update(last.hash).update(canonicalJson({ seq: 7, at: 1, campaign: null, event: 'forged', details: {} })).digest('hex');
        db.prepare("INSERT INTO audit VALUES (7, 1, NULL, 'forged', '{}', ?, ?)").run(last.hash, hash);
        db.close();
      },
      null,
      /head/,
    ],
    [
      'two rows swapped',
      (p) => {
        tamper(p, 'UPDATE audit SET seq = 100 WHERE seq = 2');
        tamper(p, 'UPDATE audit SET seq = 2 WHERE seq = 3');
        tamper(p, 'UPDATE audit SET seq = 3 WHERE seq = 100');
      },
      2,
      /does not link|altered/,
    ],
    ['a re-pointed link', (p) => tamper(p, 'UPDATE audit SET prev_hash = (SELECT prev_hash FROM audit WHERE seq = 3) WHERE seq = 4'), 4, /does not link/],
  ];
  for (const [what, change, seq, reason] of cases) {
    it(`catches ${what}`, () => {
      const path = build();
      expect(verifyFile(path).ok).toBe(true);
      change(path);
      const result = verifyFile(path);
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.seq).toBe(seq);
        expect(result.reason).toMatch(reason);
      }
    });
  }

  it('a whole rewrite, head included, verifies locally: the head reported to the cloud is what shows it', () => {
    const path = build();
    const db = openOtaDatabase(path);
    const reportedHead = new AuditLog(db, clock).head().hash;
    db.close();
    tamper(path, 'DELETE FROM audit WHERE seq = 6');
    const rewrite = openOtaDatabase(path);
    const prev = rewrite.prepare<[], { hash: string }>('SELECT hash FROM audit WHERE seq = 5').get()!.hash;
    rewrite.exec('DROP TRIGGER audit_head_forward');
    rewrite.prepare('UPDATE audit_head SET seq = 5, hash = ?').run(prev);
    const log = new AuditLog(rewrite, clock);
    expect(log.verify().ok).toBe(true);
    expect(log.head().hash).not.toBe(reportedHead);
    rewrite.close();
  });
});

describe('append-only in SQLite', () => {
  it('plain SQL can neither change nor delete a row, nor move the head back or aside; the chain still verifies', () => {
    const path = build();
    const refused = [
      "UPDATE audit SET details = '{}' WHERE seq = 3",
      'UPDATE audit SET seq = seq + 100',
      'DELETE FROM audit WHERE seq = 6',
      'DELETE FROM audit',
      'DELETE FROM audit_head',
      'UPDATE audit_head SET seq = 5, hash = (SELECT hash FROM audit WHERE seq = 5)',
      "UPDATE audit_head SET seq = 7, hash = 'forged'",
      "INSERT OR REPLACE INTO audit SELECT seq, at, campaign, 'forged', details, prev_hash, hash FROM audit WHERE seq = 2",
      "INSERT INTO audit VALUES (9, 1, NULL, 'a gap', '{}', 'p', 'h')",
    ];
    for (const sql of refused) expect(plainSql(path, sql) ?? 'went through', sql).toMatch(/append-only/);
    const verified = verifyFile(path);
    expect(verified).toMatchObject({ ok: true, rows: 6 });
    // Appending still works, through the log and its head.
    const db = openOtaDatabase(path);
    const log = new AuditLog(db, clock);
    const next = log.append('check.refused', { code: 'OTA_SIGNATURE' });
    expect(next.seq).toBe(7);
    expect(log.verify()).toMatchObject({ ok: true, rows: 7, head: next.hash });
    db.close();
  });

  it('plain SQL cannot rewrite the head with INSERT OR REPLACE (which deletes without the DELETE trigger); the chain still verifies', () => {
    const path = build();
    const db0 = new Database(path, { readonly: true });
    const head = db0.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM audit_head').get()!;
    db0.close();
    expect(head.seq).toBe(6);
    const refused = [
      "INSERT OR REPLACE INTO audit_head VALUES (1, 0, 'forged')",
      `INSERT OR REPLACE INTO audit_head VALUES (1, 0, '${GENESIS_HASH}')`,
      "REPLACE INTO audit_head VALUES (1, 6, 'forged')",
      'INSERT OR REPLACE INTO audit_head SELECT 1, seq, hash FROM audit WHERE seq = 5',
      "INSERT OR REPLACE INTO audit_head VALUES (1, 7, 'forged')",
      "INSERT INTO audit_head VALUES (1, 7, 'forged') ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
    ];
    for (const sql of refused) expect(plainSql(path, sql) ?? 'went through', sql).toMatch(/append-only/);
    const db = openOtaDatabase(path);
    const log = new AuditLog(db, clock);
    expect(log.head()).toEqual(head);
    expect(log.verify()).toMatchObject({ ok: true, rows: 6, head: head.hash });
    // The log's own upsert still goes through, and re-stating the current head changes nothing.
    const next = log.append('check.refused', { code: 'OTA_SIGNATURE' });
    expect(next.seq).toBe(7);
    expect(log.verify()).toMatchObject({ ok: true, rows: 7, head: next.hash });
    db.close();
    expect(plainSql(path, 'INSERT OR REPLACE INTO audit_head SELECT 1, seq, hash FROM audit WHERE seq = 7')).toBeNull();
    expect(verifyFile(path)).toMatchObject({ ok: true, rows: 7, head: next.hash });
  });

  it('an empty log has no head row to forge: no INSERT goes through, and the first entry still does', () => {
    const path = build(0);
    for (const sql of [`INSERT INTO audit_head VALUES (1, 0, '${GENESIS_HASH}')`, "INSERT OR REPLACE INTO audit_head VALUES (1, 1, 'forged')"]) {
      expect(plainSql(path, sql) ?? 'went through', sql).toMatch(/append-only/);
    }
    expect(verifyFile(path)).toEqual({ ok: true, rows: 0, head: GENESIS_HASH });
    const db = openOtaDatabase(path);
    const log = new AuditLog(db, clock);
    const first = log.append('campaign.start', { step: 1 }, 'c1');
    expect(first).toMatchObject({ seq: 1, prevHash: GENESIS_HASH });
    expect(log.head()).toEqual({ seq: 1, hash: first.hash });
    expect(log.verify()).toMatchObject({ ok: true, rows: 1, head: first.hash });
    db.close();
  });

  it('a version-2 file written before the head INSERT trigger gets it at the next open', () => {
    const path = build();
    const old = new Database(path);
    old.exec('DROP TRIGGER audit_head_insert');
    old.close();
    expect(plainSql(path, "INSERT OR REPLACE INTO audit_head VALUES (1, 6, 'forged')")).toBeNull(); // without it, the forgery goes through
    expect(verifyFile(path)).toMatchObject({ ok: false, reason: expect.stringMatching(/head/) });
    expect(plainSql(path, "INSERT OR REPLACE INTO audit_head VALUES (1, 6, 'again')")).toMatch(/append-only/); // verifyFile opened it
  });

  it('a file of schema version 1 (no triggers) gets them, and version 2, when a newer agent opens it', () => {
    const path = tmp.path('v1.db');
    const old = new Database(path);
    old.exec('CREATE TABLE audit (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, campaign TEXT, event TEXT NOT NULL, details TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)');
    old.pragma('user_version = 1');
    old.close();
    expect(plainSql(path, "INSERT INTO audit VALUES (1, 1, NULL, 'x', '{}', 'p', 'h')")).toBeNull();
    expect(plainSql(path, 'DELETE FROM audit')).toBeNull(); // version 1: nothing stops it
    openOtaDatabase(path).close();
    const db = new Database(path, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(SCHEMA_VERSION).toBe(2);
    expect(db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name").all().map((r) => r.name)).toEqual([...TRIGGERS].sort());
    db.close();
    expect(plainSql(path, "INSERT INTO audit VALUES (1, 1, NULL, 'x', '{}', 'p', 'h')")).toBeNull();
    expect(plainSql(path, 'DELETE FROM audit')).toMatch(/append-only/);
  });

  it('the campaign store runs with synchronous = FULL (2) and the WAL journal', () => {
    const store = CampaignStore.open({ path: tmp.path('store.db'), clock });
    try {
      const db = store['db'];
      expect(db.pragma('synchronous', { simple: true })).toBe(2);
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      store.close();
    }
  });
});
