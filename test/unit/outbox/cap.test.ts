import { statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Priority } from '../../../agent/records.js';
import { outboxFixture } from '../../helpers/outbox-fixture.js';
import { idsByPriority, integrityCheck, mixedPriority, prng, signalRecord } from '../../helpers/outbox-records.js';

const fx = outboxFixture();

function diskBytes(path: string): number {
  const size = (p: string): number => statSync(p, { throwIfNoEntry: false })?.size ?? 0;
  return size(path) + size(`${path}-wal`);
}

describe('byte cap', () => {
  it('holds the file within 5 % while 5x the cap is written, evicting lowest priority then oldest, counted exactly', () => {
    const cap = 4 * 1024 * 1024;
    const path = fx.path('cap.db');
    const { outbox } = fx.open(path, { maxBytes: cap });
    const random = prng(7);
    // The model: per priority, the ids still stored, oldest first.
    const model: number[][] = [[], [], [], []];
    const appended = [0, 0, 0, 0];
    let evictedBefore = [0, 0, 0, 0];
    let written = 0;
    let appends = 0;
    let maxBetween = 0;
    let i = 0;
    while (written < 5 * cap) {
      const batch = Array.from({ length: 1 + Math.floor(random() * 150) }, () => signalRecord(i++, { priority: mixedPriority(random) }));
      const stored = outbox.append(batch);
      appends++;
      for (const r of stored) {
        model[r.priority]!.push(r.id);
        appended[r.priority]! += 1;
        written += r.bytes;
      }
      const evicted = [0, 1, 2, 3].map((p) => outbox.stats().evicted[p as Priority]);
      const delta = evicted.map((e, p) => e - evictedBefore[p]!);
      evictedBefore = evicted;
      for (let p = 0; p < 4; p++) {
        model[p]!.splice(0, delta[p]); // the oldest of that priority went
        // a priority is touched only when every lower one is empty
        if (delta[p]! > 0) for (let q = 0; q < p; q++) expect(model[q]).toEqual([]);
      }
      maxBetween = Math.max(maxBetween, diskBytes(path));
      if (appends % 60 === 0) {
        expect(outbox.housekeeping(fx.clock.now())).toBe(0); // append already kept the cap
        expect(diskBytes(path)).toBeLessThanOrEqual(cap * 1.05);
        expect(idsByPriority(path)).toEqual(model);
      }
    }
    outbox.housekeeping(fx.clock.now());
    const s = outbox.stats();
    const onDisk = diskBytes(path);
    expect(s.fileBytes).toBe(onDisk);
    expect(onDisk).toBeLessThanOrEqual(cap * 1.05);
    expect(onDisk).toBeGreaterThan(cap * 0.85); // the space is used, not over-evicted
    expect(idsByPriority(path)).toEqual(model);
    for (let p = 0; p < 4; p++) expect(s.evicted[p as Priority]).toBe(appended[p]! - model[p]!.length);
    expect(s.evicted[0]).toBeGreaterThan(0);
    expect(s.depth).toBe(model.flat().length);
    // between housekeeping runs the WAL and the last batch may add a little
    expect(maxBetween).toBeLessThanOrEqual(cap * 1.15);
    expect(integrityCheck(path)).toBe('ok');
  });

  it('evicts what is past its age limit at housekeeping, counted as evicted', () => {
    const path = fx.path('age.db');
    const now = fx.clock.now();
    const { outbox } = fx.open(path, { maxAgeSeconds: { 0: 60, 2: 3600 } });
    outbox.append([
      signalRecord(1, { priority: 0, ts: now - 120_000 }),
      signalRecord(2, { priority: 0, ts: now - 30_000 }),
      signalRecord(3, { priority: 1, ts: now - 999_000_000 }),
      signalRecord(4, { priority: 2, ts: now - 7_200_000 }),
      signalRecord(5, { priority: 2, ts: now }),
    ]);
    expect(outbox.housekeeping(now)).toBe(2);
    const s = outbox.stats();
    expect(s.evicted).toEqual({ 0: 1, 1: 0, 2: 1, 3: 0 });
    expect(s.depth).toBe(3);
    expect(s.oldestTs).toBe(now - 999_000_000);
  });
});

describe('age limits', () => {
  it('walk commit order past a chunk, and stop at the first record that is young enough', () => {
    const path = fx.path('age-walk.db');
    const now = fx.clock.now();
    const { outbox } = fx.open(path, { maxAgeSeconds: { 1: 60 } });
    // 1,500 old records (three chunks of the walk), one young, then an old one committed after it
    // (the clock went back): that one waits until the young one is gone.
    const old = Array.from({ length: 1500 }, (_, i) => signalRecord(i, { ts: now - 600_000 + i, values: 2 }));
    outbox.append([...old, signalRecord(2000, { ts: now, values: 2 }), signalRecord(2001, { ts: now - 700_000, values: 2 })]);
    expect(outbox.housekeeping(now)).toBe(1500);
    expect(outbox.stats()).toMatchObject({ depth: 2, evicted: { 0: 0, 1: 1500, 2: 0, 3: 0 }, oldestTs: now });
    expect(integrityCheck(path)).toBe('ok');
  });
});

describe('a full disk (SQLite max_page_count as a quota)', () => {
  let i = 0;
  const batch = (n: number, priority: Priority) => Array.from({ length: n }, () => signalRecord(i++, { priority }));

  it('evicts lower-priority records to make room and commits the batch', () => {
    const path = fx.path('full.db');
    // A 64 MiB cap on a "disk" of 200 pages (800 KiB): the disk fills first.
    const { outbox } = fx.open(path, { maxBytes: 64 * 1024 * 1024, pageLimit: 200 });
    const rounds = 80;
    for (let k = 0; k < rounds; k++) expect(outbox.append([...batch(40, 0), ...batch(5, 2)])).toHaveLength(45);
    const s = outbox.stats();
    expect(s.evicted[0]).toBeGreaterThan(0);
    expect(s.evicted[2]).toBe(0); // only low records made room
    const kept = idsByPriority(path);
    expect(kept[2]).toHaveLength(rounds * 5); // every high record is there
    expect(kept[0]!.length + s.evicted[0]).toBe(rounds * 40);
    expect(s.depth).toBe(kept.flat().length);
    expect(integrityCheck(path)).toBe('ok');
  });

  it('refuses a batch with OUTBOX_FULL when only more important records could go, losing nothing', () => {
    const path = fx.path('full2.db');
    const { outbox } = fx.open(path, { maxBytes: 64 * 1024 * 1024, pageLimit: 60 });
    // Fill the disk with high records (they evict older high ones once it is full).
    for (let k = 0; k < 2000 && outbox.stats().evicted[2] === 0; k++) outbox.append(batch(5, 2));
    expect(outbox.stats().evicted[2]).toBeGreaterThan(0);
    const before = outbox.nextBatch({ maxRecords: 1e6, maxBytes: 1e12 });
    const statsBefore = outbox.stats();
    let caught: unknown;
    try {
      outbox.append(batch(100, 0));
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: 'OUTBOX_FULL', details: { refused: 100 } });
    const after = outbox.nextBatch({ maxRecords: 1e6, maxBytes: 1e12 });
    const dump = (rs: typeof before) => rs.map((r) => `${r.id}:${r.seq}:${Buffer.from(r.data).toString('hex')}`);
    expect(dump(after)).toEqual(dump(before));
    expect({ ...outbox.stats(), fileBytes: 0 }).toEqual({ ...statsBefore, fileBytes: 0 });
    expect(integrityCheck(path)).toBe('ok');

    // Once the uplink drains some, appends work again, and the refused batch used no seq.
    outbox.acknowledge(after.slice(0, 150).map((r) => r.id), fx.clock.now());
    const next = outbox.append(batch(100, 0));
    expect(next[0]!.seq).toBe(before[before.length - 1]!.seq + 1);
  });
});
