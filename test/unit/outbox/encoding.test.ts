import { Decoder } from 'cbor-x';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRecordEncoder } from '../../../agent/outbox/encoding.js';
import type { RecordInput } from '../../../agent/records.js';

/** cbor-x decodes 64-bit integers as numbers with int64AsNumber (missing from its typings). */
function decoderOptions(mapsAsObjects: boolean): ConstructorParameters<typeof Decoder>[0] {
  const options = { useRecords: false, mapsAsObjects, int64AsNumber: true };
  return options;
}

const asMap = new Decoder(decoderOptions(false));
const asObject = new Decoder(decoderOptions(true));

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** JSON-ish comparison that keeps -0 == 0 (CBOR integers have no negative zero) and byte strings. */
function normal(v: unknown): unknown {
  if (typeof v === 'number') return Object.is(v, -0) ? 0 : v;
  if (v instanceof Uint8Array) return { bytes: hex(v) };
  if (Array.isArray(v)) return v.map(normal);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normal(x)]));
  return v;
}

describe('record encoding', () => {
  const encode = createRecordEncoder();

  it('writes the shortest heads and exact number forms', () => {
    const r: RecordInput = { kind: 'signals', ts: 1_700_000_000_123, priority: 1, body: { a: 0.5, b: 0.1, c: -1, d: 2 ** 40, e: -(2 ** 33), f: true, g: null, h: 'é' } };
    const bytes = encode(1, r, 0);
    const s = hex(bytes);
    expect(s.startsWith('ab' + '63736571' + '01' + '627473' + '1b0000018bcfe5687b')).toBe(true); // map(11) "seq" 1 "ts" uint64
    expect(s).toContain('6161' + 'fa3f000000'); // "a" float32 0.5
    expect(s).toContain('6162' + 'fb3fb999999999999a'); // "b" float64 0.1
    expect(s).toContain('6163' + '20'); // "c" -1
    expect(s).toContain('6164' + '1b0000010000000000'); // "d" 2^40
    expect(s).toContain('6165' + '3b00000001ffffffff'); // "e" -(2^33) = -1 - 0x1ffffffff
    expect(s).toContain('6166f5' + '6167f6' + '616862c3a9');
    expect(asObject.decode(bytes)).toEqual({ seq: 1, ts: 1_700_000_000_123, kind: 'signals', ...r.body });
  });

  it('round-trips any body through a generic CBOR decoder, header first', () => {
    const scalar = fc.oneof(
      fc.double(),
      fc.integer(),
      fc.maxSafeInteger(),
      fc.maxSafeNat().map((n) => -n),
      fc.constantFrom(2 ** 32, 2 ** 32 - 1, -(2 ** 32), -(2 ** 32) - 1, 2 ** 53, 1e300, Number.NaN, Infinity, -Infinity, -0),
      fc.string({ unit: 'binary' }),
      fc.boolean(),
      fc.constant(null),
      fc.uint8Array({ maxLength: 40 }),
    );
    const value = fc.oneof(scalar, fc.array(scalar, { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 6 }), scalar, { maxKeys: 4 }));
    const key = fc.string({ maxLength: 12 }).filter((k) => k !== 'seq' && k !== 'ts' && k !== 'kind' && k !== '__proto__');
    fc.assert(
      fc.property(fc.dictionary(key, value, { maxKeys: 30 }), fc.nat(), fc.integer({ min: 0, max: 4e12 }), (body, seq, ts) => {
        const bytes = encode(seq, { kind: 'event', ts, priority: 2, body }, 0);
        const map = asMap.decode(bytes) as Map<string, unknown>;
        expect([...map.keys()]).toEqual(['seq', 'ts', 'kind', ...Object.keys(body)]);
        expect(normal(asObject.decode(bytes))).toEqual(normal({ seq, ts, kind: 'event', ...body }));
      }),
      { numRuns: 300 },
    );
  });
});
