import { Decoder, Encoder, decode } from 'cbor-x';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RecordKind, StoredRecord } from '../../../agent/records.js';
import { PayloadBuilder, cborHeadLength, planPayloads, writeCborHead } from '../../../agent/uplink/payload.js';
import { channelOf } from '../../../agent/uplink/topics.js';

const encoder = new Encoder({ useRecords: false });

function record(id: number, body: Record<string, unknown> = {}, kind: RecordKind = 'signals', boot = 'b1'): StoredRecord {
  const data = new Uint8Array(encoder.encode({ seq: id, ts: 1_700_000_000_000 + id, kind, ...body }));
  return { id, boot, seq: id, kind, ts: 1_700_000_000_000 + id, priority: 1, data, bytes: data.length };
}

/** A record whose data is `size` bytes: a CBOR map {"p": byte string}. */
function sized(id: number, size: number, kind: RecordKind = 'signals', boot = 'b1'): StoredRecord {
  const data = new Uint8Array(size);
  const n = Math.max(0, size - 2 - 1 - 9);
  // {"p": h'00...'} with a 9-byte byte-string head (major 2, 64-bit length), padded so sizes are exact.
  data[0] = 0xa1;
  data[1] = 0x61;
  data[2] = 0x70;
  data[3] = 0x5b;
  new DataView(data.buffer).setBigUint64(4, BigInt(n));
  return { id, boot, seq: id, kind, ts: id, priority: 1, data: data.subarray(0, 12 + n), bytes: 12 + n };
}

describe('payload', () => {
  it('is a plain CBOR map {v, vin, boot, records} that a CBOR library reads back record for record', () => {
    const records = [record(1, { 'Engine.Speed': 2000.5, 'Engine.Gear': 'D' }), record(2, { name: 'door', open: true }, 'event'), record(3)];
    const payload = new PayloadBuilder('WVWZZZ1JZXW000001').build('b1', records);
    expect(payload[0]).toBe(0xa4); // a map of 4 pairs, definite length
    const decoded: unknown = new Decoder({ useRecords: false, mapsAsObjects: true }).decode(payload);
    expect(decoded).toEqual({
      v: 1,
      vin: 'WVWZZZ1JZXW000001',
      boot: 'b1',
      records: records.map((r) => decode(r.data) as unknown),
    });
    expect(Object.keys(decoded as object)).toEqual(['v', 'vin', 'boot', 'records']);
  });

  it('splices record bytes verbatim after the array head', () => {
    const records = [record(1), record(2)];
    const builder = new PayloadBuilder('VIN');
    const payload = builder.build('b1', records);
    const prefix = builder.prefixLength('b1');
    expect(payload[prefix]).toBe(0x82); // array of 2
    expect(Buffer.compare(payload.subarray(prefix + 1), Buffer.concat(records.map((r) => r.data)))).toBe(0);
    expect(payload.length).toBe(builder.payloadLength('b1', 2, records[0]!.bytes + records[1]!.bytes));
  });

  it.each([0, 1, 23, 24, 255, 256, 65_535, 65_536])('writes the array head for %i records', (count) => {
    const empty = new Uint8Array([0xa0]); // each record an empty map: the payload is mostly the head
    const records: StoredRecord[] = Array.from({ length: count }, (_, i) => ({ id: i, boot: 'b', seq: i, kind: 'signals', ts: 0, priority: 1, data: empty, bytes: 1 }));
    const builder = new PayloadBuilder('V');
    const payload = builder.build('b', records);
    expect(payload.length).toBe(builder.prefixLength('b') + cborHeadLength(count) + count);
    const decoded = decode(payload) as { records: unknown[] };
    expect(decoded.records.length).toBe(count);
  });

  it('counts UTF-8 bytes of vin and boot, not characters', () => {
    const builder = new PayloadBuilder('VÏN-ü');
    const payload = builder.build('bööt-😀', [record(1, {}, 'signals', 'bööt-😀')]);
    expect(decode(payload)).toMatchObject({ vin: 'VÏN-ü', boot: 'bööt-😀' });
    expect(payload.length).toBe(builder.payloadLength('bööt-😀', 1, record(1).bytes));
  });

  it('refuses to mix boots in one payload', () => {
    expect(() => new PayloadBuilder('V').build('b1', [record(1), record(2, {}, 'signals', 'b2')])).toThrow(/mixes boots/);
  });

  it('writes CBOR heads of every width as a CBOR library does', () => {
    for (const n of [0, 23, 24, 255, 256, 65_535, 65_536, 2 ** 32 - 1]) {
      const out = new Uint8Array(9);
      const end = writeCborHead(out, 0, 0, n); // major type 0: the unsigned integer n itself
      expect(end).toBe(cborHeadLength(n));
      expect(Buffer.from(out.subarray(0, end)).toString('hex')).toBe(encoder.encode(n).toString('hex'));
    }
    const out = new Uint8Array(9);
    expect(writeCborHead(out, 0, 0, 2 ** 40)).toBe(9);
    expect(decode(Buffer.from(out))).toBe(BigInt(2 ** 40));
  });
});

describe('planPayloads', () => {
  it('splits a batch so that no payload exceeds the limit, in order', () => {
    const builder = new PayloadBuilder('VIN');
    const records = Array.from({ length: 100 }, (_, i) => sized(i + 1, 100));
    const plan = planPayloads(builder, records, 1024);
    expect(plan.oversize).toEqual([]);
    expect(plan.payloads.length).toBeGreaterThan(1);
    for (const p of plan.payloads) {
      expect(p.bytes).toBeLessThanOrEqual(1024);
      expect(builder.build(p.boot, p.records).length).toBe(p.bytes);
    }
    expect(plan.payloads.flatMap((p) => p.records.map((r) => r.id))).toEqual(records.map((r) => r.id));
  });

  it('fills a payload exactly to the limit', () => {
    const builder = new PayloadBuilder('VIN');
    const limit = builder.payloadLength('b1', 2, 400);
    const plan = planPayloads(builder, [sized(1, 200), sized(2, 200), sized(3, 200)], limit);
    expect(plan.payloads.map((p) => p.records.length)).toEqual([2, 1]);
    expect(plan.payloads[0]!.bytes).toBe(limit);
  });

  it('puts at most maxRecords records in a payload', () => {
    const plan = planPayloads(new PayloadBuilder('VIN'), Array.from({ length: 25 }, (_, i) => sized(i + 1, 20)), 131_072, 10);
    expect(plan.payloads.map((p) => p.records.length)).toEqual([10, 10, 5]);
  });

  it('sets aside a record that alone is larger than the limit', () => {
    const builder = new PayloadBuilder('VIN');
    const big = sized(2, 5000);
    const plan = planPayloads(builder, [sized(1, 100), big, sized(3, 100)], 1024);
    expect(plan.oversize).toEqual([big]);
    expect(plan.payloads.flatMap((p) => p.records.map((r) => r.id))).toEqual([1, 3]);
  });

  it('groups by topic (signals → telemetry; event and status → events) and by boot', () => {
    const builder = new PayloadBuilder('VIN');
    const records = [record(1), record(2, {}, 'event'), record(3), record(4, {}, 'status'), record(5, {}, 'signals', 'b2')];
    const plan = planPayloads(builder, records, 131_072);
    expect(plan.payloads.map((p) => [p.channel, p.boot, p.records.map((r) => r.id)])).toEqual([
      ['telemetry', 'b1', [1, 3]],
      ['events', 'b1', [2, 4]],
      ['telemetry', 'b2', [5]],
    ]);
  });

  it('property: every record lands in exactly one payload within the limit, or in oversize', () => {
    const recordArb = fc.record({
      size: fc.integer({ min: 12, max: 3000 }),
      kind: fc.constantFrom<RecordKind>('signals', 'event', 'status'),
      boot: fc.constantFrom('b1', 'b2'),
    });
    fc.assert(
      fc.property(fc.array(recordArb, { maxLength: 200 }), fc.integer({ min: 256, max: 8192 }), (specs, limit) => {
        const builder = new PayloadBuilder('WVWZZZ1JZXW000001');
        const records = specs.map((s, i) => sized(i + 1, s.size, s.kind, s.boot));
        const plan = planPayloads(builder, records, limit);
        const seen = new Set<number>();
        for (const p of plan.payloads) {
          expect(p.bytes).toBeLessThanOrEqual(limit);
          expect(p.records.length).toBeGreaterThan(0);
          for (const r of p.records) {
            expect(r.boot).toBe(p.boot);
            expect(channelOf(r.kind)).toBe(p.channel);
            expect(seen.has(r.id)).toBe(false);
            seen.add(r.id);
          }
          const ids = p.records.map((r) => r.id);
          expect([...ids].sort((a, b) => a - b)).toEqual(ids);
          expect(builder.build(p.boot, p.records).length).toBe(p.bytes);
        }
        for (const r of plan.oversize) {
          expect(builder.payloadLength(r.boot, 1, r.bytes)).toBeGreaterThan(limit);
          seen.add(r.id);
        }
        expect(seen.size).toBe(records.length);
      }),
    );
  });
});
