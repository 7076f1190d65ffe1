import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { Decoder } from 'cbor-x';
import { describe, expect, it } from 'vitest';
import { isTcuError } from '../../../core/errors.js';
import { readOutboxStats } from '../../../agent/outbox/index.js';
import type { Outbox } from '../../../agent/outbox/types.js';
import { prepareStatements } from '../../../agent/outbox/statements.js';
import type { RecordInput } from '../../../agent/records.js';
import { outboxFixture } from '../../helpers/outbox-fixture.js';
import { signalRecord } from '../../helpers/outbox-records.js';

/** cbor-x decodes 64-bit integers as numbers with int64AsNumber (missing from its typings). */
function decoderOptions(mapsAsObjects: boolean): ConstructorParameters<typeof Decoder>[0] {
  const options = { useRecords: false, mapsAsObjects, int64AsNumber: true };
  return options;
}

const ordered = new Decoder(decoderOptions(false));

const fx = outboxFixture();

function outboxAt(path: string, overrides: Parameters<typeof fx.open>[1] = {}): Outbox {
  return fx.open(path, overrides).outbox;
}

describe('append', () => {
  it('commits a batch with the boot id and gapless seqs from 1, across calls', () => {
    const outbox = outboxAt(fx.path('o.db'));
    const a = outbox.append([signalRecord(1), signalRecord(2, { priority: 3 }), signalRecord(3, { priority: 0 })]);
    const b = outbox.append([signalRecord(4)]);
    expect([...a, ...b].map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(new Set([...a, ...b].map((r) => r.boot))).toEqual(new Set(['boot-a']));
    const ids = [...a, ...b].map((r) => r.id);
    expect(new Set(ids).size).toBe(4);
    expect([...ids].sort((x, y) => x - y)).toEqual(ids);
    expect(outbox.stats()).toMatchObject({ depth: 4, bytes: [...a, ...b].reduce((s, r) => s + r.bytes, 0) });
  });

  it('encodes {seq, ts, kind, ...body} once, as a plain CBOR map with integer timestamps', () => {
    const outbox = outboxAt(fx.path('o.db'));
    const input: RecordInput = { kind: 'event', ts: 1_700_000_000_123, priority: 2, body: { name: 'dtc', code: 'P0301', raw: new Uint8Array([1, 2]) } };
    const [stored] = outbox.append([input]);
    const data = stored!.data;
    expect(stored!.bytes).toBe(data.length);
    expect(data[0]! & 0xe0).toBe(0xa0); // a map, no tag before it
    const map = ordered.decode(data) as Map<string, unknown>;
    expect([...map.keys()]).toEqual(['seq', 'ts', 'kind', 'name', 'code', 'raw']);
    expect(map.get('ts')).toBe(1_700_000_000_123);
    expect(map.get('seq')).toBe(1);
    // ts is a CBOR unsigned integer (0x1b + 8 bytes), not a float64 (0xfb)
    const tsKey = Buffer.from(data).indexOf(Buffer.from([0x62, 0x74, 0x73]));
    expect(data[tsKey + 3]).toBe(0x1b);
    expect(Buffer.from(outbox.nextBatch({ maxRecords: 10, maxBytes: 1e6 })[0]!.data)).toEqual(Buffer.from(data));
  });

  it('keeps the header first when body keys look like array indexes', () => {
    const outbox = outboxAt(fx.path('o.db'));
    const [stored] = outbox.append([{ kind: 'event', ts: 5, priority: 1, body: { name: 'x', 7: 'seven', 0: 'zero' } }]);
    const map = ordered.decode(stored!.data) as Map<string, unknown>;
    expect([...map.keys()].slice(0, 3)).toEqual(['seq', 'ts', 'kind']);
    expect(map.get('7')).toBe('seven');
  });

  it('refuses a batch with an invalid record, committing none of it and using no seq', () => {
    const outbox = outboxAt(fx.path('o.db'));
    const bad: RecordInput[] = [
      { kind: 'nope' as 'event', ts: 1, priority: 1, body: {} },
      { kind: 'event', ts: Number.NaN, priority: 1, body: {} },
      { kind: 'event', ts: 1, priority: 7 as 1, body: {} },
      { kind: 'event', ts: 1, priority: 1, body: { seq: 3 } },
      { kind: 'event', ts: 1, priority: 1, body: { f: () => 1 } },
    ];
    for (const r of bad) {
      let caught: unknown;
      try {
        outbox.append([signalRecord(1), r]);
      } catch (err) {
        caught = err;
      }
      expect(isTcuError(caught, 'OUTBOX_RECORD_INVALID')).toBe(true);
      expect((caught as { details: { index: number } }).details.index).toBe(1);
    }
    expect(outbox.stats().depth).toBe(0);
    expect(outbox.append([signalRecord(9)])[0]!.seq).toBe(1);
  });

  it('continues the seq of a boot id reopened, and starts at 1 for a new one', () => {
    const path = fx.path('o.db');
    let outbox = outboxAt(path);
    outbox.append([signalRecord(1), signalRecord(2)]);
    outbox.close();
    outbox = outboxAt(path);
    expect(outbox.append([signalRecord(3)])[0]!.seq).toBe(3);
    outbox.close();
    outbox = outboxAt(path, { bootId: 'boot-b' });
    expect(outbox.append([signalRecord(4)])[0]).toMatchObject({ seq: 1, boot: 'boot-b' });
  });

  it('throws OUTBOX_CLOSED after close (and close twice is fine)', () => {
    const outbox = outboxAt(fx.path('o.db'));
    outbox.close();
    outbox.close();
    expect(() => outbox.append([signalRecord(1)])).toThrow(expect.objectContaining({ code: 'OUTBOX_CLOSED' }));
    expect(() => outbox.stats()).toThrow(expect.objectContaining({ code: 'OUTBOX_CLOSED' }));
  });
});

describe('nextBatch', () => {
  it('returns the highest priority first, then the oldest, within maxRecords', () => {
    const outbox = outboxAt(fx.path('o.db'));
    const stored = outbox.append([0, 3, 1, 3, 2, 0].map((p, i) => signalRecord(i, { priority: p as 0 })));
    const batch = outbox.nextBatch({ maxRecords: 10, maxBytes: 1e9 });
    const expected = [...stored].sort((a, b) => b.priority - a.priority || a.id - b.id);
    expect(batch.map((r) => r.seq)).toEqual(expected.map((r) => r.seq));
    expect(batch[0]).toEqual(expected[0]);
    expect(outbox.nextBatch({ maxRecords: 2, maxBytes: 1e9 }).map((r) => r.seq)).toEqual(expected.slice(0, 2).map((r) => r.seq));
    expect(outbox.nextBatch({ maxRecords: 0, maxBytes: 1e9 })).toEqual([]);
  });

  it('leaves records below minPriority where they are (the roaming policy)', () => {
    const outbox = outboxAt(fx.path('o.db'));
    outbox.append([0, 3, 1, 2, 2].map((priority, i) => signalRecord(i, { priority: priority as 0 | 1 | 2 | 3 })));
    expect(outbox.nextBatch({ maxRecords: 10, maxBytes: 1e9, minPriority: 2 }).map((r) => r.priority)).toEqual([3, 2, 2]);
    expect(outbox.nextBatch({ maxRecords: 10, maxBytes: 1e9, minPriority: 0 }).map((r) => r.priority)).toEqual([3, 2, 2, 1, 0]);
  });

  it('skips ids in flight', () => {
    const outbox = outboxAt(fx.path('o.db'));
    const stored = outbox.append(Array.from({ length: 10 }, (_, i) => signalRecord(i, { priority: 1 })));
    const first = outbox.nextBatch({ maxRecords: 4, maxBytes: 1e9 });
    const exclude = new Set([...first.map((r) => r.id), stored[6]!.id]);
    const second = outbox.nextBatch({ maxRecords: 10, maxBytes: 1e9, exclude });
    expect(second.map((r) => r.seq)).toEqual([5, 6, 8, 9, 10]);
  });

  it('stops before maxBytes, but returns one record even when it alone is larger', () => {
    const outbox = outboxAt(fx.path('o.db'));
    const stored = outbox.append(Array.from({ length: 10 }, (_, i) => signalRecord(i)));
    const three = stored[0]!.bytes + stored[1]!.bytes + stored[2]!.bytes;
    expect(outbox.nextBatch({ maxRecords: 10, maxBytes: three })).toHaveLength(3);
    expect(outbox.nextBatch({ maxRecords: 10, maxBytes: three - 1 })).toHaveLength(2);
    expect(outbox.nextBatch({ maxRecords: 10, maxBytes: 1 })).toHaveLength(1);
  });

  it('returns records of one boot: the first chosen, up to the first record of another boot', () => {
    const path = fx.path('o.db');
    let outbox = outboxAt(path, { bootId: 'boot-a' });
    outbox.append([signalRecord(1, { priority: 3 }), signalRecord(2, { priority: 1 })]);
    outbox.close();
    outbox = outboxAt(path, { bootId: 'boot-b' });
    outbox.append([signalRecord(3, { priority: 3 }), signalRecord(4, { priority: 1 })]);
    const seen: string[] = [];
    const inFlight = new Set<number>();
    for (;;) {
      const batch = outbox.nextBatch({ maxRecords: 10, maxBytes: 1e9, exclude: inFlight });
      if (batch.length === 0) break;
      expect(new Set(batch.map((r) => r.boot)).size).toBe(1);
      for (const r of batch) {
        inFlight.add(r.id);
        seen.push(`${r.boot}/${r.priority}/${r.seq}`);
      }
    }
    // strict priority-then-age order overall, each batch one boot
    expect(seen).toEqual(['boot-a/3/1', 'boot-b/3/1', 'boot-a/1/2', 'boot-b/1/2']);
  });
});

describe('acknowledge and stats', () => {
  it('deletes acknowledged records, counts them, ignores ids already gone, and notes the time', () => {
    const outbox = outboxAt(fx.path('o.db'));
    const stored = outbox.append(Array.from({ length: 5 }, (_, i) => signalRecord(i, { ts: 1000 + i })));
    outbox.acknowledge([stored[0]!.id, stored[1]!.id, 987654, stored[0]!.id], 42_000);
    const s = outbox.stats();
    expect(s).toMatchObject({ depth: 3, delivered: 2, lastUploadTs: 42_000, oldestTs: 1002 });
    expect(s.bytes).toBe(stored.slice(2).reduce((n, r) => n + r.bytes, 0));
    expect(outbox.nextBatch({ maxRecords: 10, maxBytes: 1e9 }).map((r) => r.seq)).toEqual([3, 4, 5]);
  });

  it('never deletes a record that was not acknowledged, whatever ids surround it', () => {
    const outbox = outboxAt(fx.path('o.db'));
    const stored = outbox.append(Array.from({ length: 12 }, (_, i) => signalRecord(i, { priority: i % 2 === 0 ? 1 : 2 })));
    const ids = stored.map((r) => r.id);
    // A run with a hole (record 4 still in flight), duplicates, and ids of two tables.
    const acked = [ids[0]!, ids[2]!, ids[6]!, ids[8]!, ids[2]!, ids[1]!, ids[3]!, ids[5]!];
    outbox.acknowledge(acked, 1);
    const left = outbox.nextBatch({ maxRecords: 100, maxBytes: 1e9 }).map((r) => r.seq).sort((a, b) => a - b);
    expect(left).toEqual([5, 8, 10, 11, 12]);
    expect(outbox.stats()).toMatchObject({ depth: 5, delivered: 7, bytes: stored.filter((r) => left.includes(r.seq)).reduce((n, r) => n + r.bytes, 0) });
    // A contiguous run goes in one range delete; what is left is untouched.
    outbox.acknowledge([ids[9]!, ids[11]!], 2);
    expect(outbox.nextBatch({ maxRecords: 100, maxBytes: 1e9 }).map((r) => r.seq).sort((a, b) => a - b)).toEqual([5, 8, 11]);
  });

  it('keeps its counters across a restart, and readOutboxStats reads them read-only while it runs', () => {
    const path = fx.path('o.db');
    expect(readOutboxStats(path)).toBeUndefined();
    expect(existsSync(path)).toBe(false);
    let outbox = outboxAt(path);
    const stored = outbox.append(Array.from({ length: 6 }, (_, i) => signalRecord(i, { priority: (i % 4) as 0 })));
    outbox.acknowledge([stored[5]!.id], 7);
    const live = readOutboxStats(path)!;
    expect(live).toEqual({ ...outbox.stats(), fileBytes: live.fileBytes });
    outbox.append([signalRecord(7)]); // the reader held no lock
    const before = outbox.stats();
    outbox.close();
    outbox = outboxAt(path, { bootId: 'boot-b' });
    expect({ ...outbox.stats(), fileBytes: 0 }).toEqual({ ...before, fileBytes: 0 });
    expect(readOutboxStats(path)).toMatchObject({ depth: before.depth, delivered: 1, lastUploadTs: 7 });
  });

  it('serves every statement from the primary key, with no sort and no secondary index (query plans)', () => {
    const path = fx.path('o.db');
    outboxAt(path).append([signalRecord(1)]);
    const db = new Database(path, { readonly: true });
    try {
      const plan = (stmt: { source: string }): string =>
        db
          .prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${stmt.source}`)
          .all(...Array.from({ length: (stmt.source.match(/\?/g) ?? []).length }, () => 5))
          .map((r) => r.detail)
          .join(' | ');
      const t = prepareStatements(db).tables[2]!;
      expect(plan(t.rowsFrom)).toMatch(/^SEARCH records_2 USING INTEGER PRIMARY KEY \(rowid>\?\)$/);
      expect(plan(t.deleteRange)).toMatch(/^SEARCH records_2 USING INTEGER PRIMARY KEY \(rowid>\? AND rowid<\?\)$/);
      expect(plan(t.deleteOne)).toMatch(/^SEARCH records_2 USING INTEGER PRIMARY KEY \(rowid=\?\)$/);
      // Scans in primary-key order that stop at LIMIT: they read the oldest rows only.
      for (const stmt of [t.headIds, t.oldest, t.oldestWithTs, t.firstTs]) {
        expect(stmt.source).toMatch(/ORDER BY id LIMIT/);
        expect(plan(stmt)).toBe('SCAN records_2');
      }
      expect(db.prepare(`SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name LIKE 'records_%'`).pluck().get()).toBe(0);
    } finally {
      db.close();
    }
  });
});
