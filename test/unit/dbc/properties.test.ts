import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileDbc } from '../../../drivers/can/dbc/codec.js';
import type { DbcCodec, DbcMessage, DbcSignal, MessageCodec } from '../../../drivers/can/dbc/model.js';
import { loadDbcFile, parseDbc } from '../../../drivers/can/dbc/parser.js';
import { bitLocation, FIXTURE_DIR, FIXTURES, fits, refDecode, refScale } from './reference.js';

/** What the fixtures lack: IEEE floats, 33..64-bit integers, scaled switches, nested multiplexing, 64-byte frames. */
const SYNTHETIC = `VERSION ""
BO_ 1 Floats: 24 X
 SG_ F32LE : 0|32@1- (1,0) [0|0] "" X
 SG_ F32BE : 39|32@0+ (0.5,-3) [0|0] "" X
 SG_ F64LE : 64|64@1- (1,0) [0|0] "" X
 SG_ F64BE : 135|64@0- (-2,0.25) [0|0] "" X
BO_ 2147483650 Wide: 64 X
 SG_ U33 : 3|33@1+ (1,0) [0|0] "" X
 SG_ S41 : 45|41@0- (1,0) [0|0] "" X
 SG_ U64 : 128|64@1+ (1,0) [0|0] "" X
 SG_ S64 : 199|64@0- (0.001,7) [0|0] "" X
 SG_ S53 : 256|53@1- (1,0) [0|0] "" X
 SG_ Tail : 511|1@0+ (1,0) [0|0] "" X
 SG_ Neg : 320|12@1+ (-0.25,100) [0|0] "" X
BO_ 3 Nested: 16 X
 SG_ Top M : 0|4@1+ (2,1) [0|0] "" X
 SG_ Mid m3M : 4|4@1+ (1,0) [0|0] "" X
 SG_ LeafA m0 : 8|16@0- (0.1,0) [0|0] "" X
 SG_ LeafB m1 : 15|12@0+ (1,0) [0|0] "" X
 SG_ Other m5 : 8|32@1+ (1,0) [0|0] "" X
 SG_ Always : 120|8@1+ (1,0) [0|0] "" X
SIG_VALTYPE_ 1 F32LE : 1;
SIG_VALTYPE_ 1 F32BE : 1;
SIG_VALTYPE_ 1 F64LE : 2;
SIG_VALTYPE_ 1 F64BE : 2;
SG_MUL_VAL_ 3 Mid Top 3-3;
SG_MUL_VAL_ 3 LeafA Mid 0-2, 7-9;
SG_MUL_VAL_ 3 LeafB Mid 3-6;
SG_MUL_VAL_ 3 Other Top 5-5, 11-11;
VAL_ 3 Top 0 "zero" 1 "zero" 3 "three" ;
VAL_ 3 Mid 1 "one" 4 "four" ;
`;

interface Case {
  name: string;
  codec: DbcCodec;
}

const CASES: Case[] = [
  ...FIXTURES.map((f) => ({ name: f, codec: compileDbc(loadDbcFile(join(FIXTURE_DIR, f))) })),
  { name: 'synthetic', codec: compileDbc(parseDbc(SYNTHETIC)) },
];

function bitSet(s: DbcSignal): Set<number> {
  const bits = new Set<number>();
  for (let j = 0; j < s.length; j++) {
    const [byte, bit] = bitLocation(s, j);
    bits.add(byte * 8 + bit);
  }
  return bits;
}

describe('decode matches the bit-by-bit cantools reference on random payloads', () => {
  for (const { name, codec } of CASES) {
    it(name, () => {
      for (const c of codec.messages) {
        const m = c.message;
        const payload = fc.oneof(
          { weight: 4, arbitrary: fc.uint8Array({ minLength: m.length, maxLength: m.length }) },
          { weight: 1, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 64 }) },
        );
        fc.assert(
          fc.property(payload, (d) => {
            const plain = c.decode(d);
            expect(plain).toEqual(refDecode(m, d, false));
            expect(c.decodeWithChoices(d)).toEqual(refDecode(m, d, true));
            const out = new Float64Array(m.signals.length);
            c.decodeValues(d, d.length, out);
            m.signals.forEach((s, i) => expect(out[i]).toEqual(plain[s.name] ?? NaN));
          }),
          { numRuns: name === 'synthetic' ? 400 : 25, seed: 1 },
        );
      }
    });
  }
});

/** The switch values (scaled) that select `s`, from the root down; undefined when it cannot be selected. */
function selectionPath(m: DbcMessage, s: DbcSignal, pick: (ids: number[]) => number): Map<DbcSignal, number> | undefined {
  const path = new Map<DbcSignal, number>();
  let child = s;
  while (child.multiplexerSignal !== undefined) {
    const sw = m.signals.find((x) => x.name === child.multiplexerSignal && x.isMultiplexer);
    if (sw === undefined || sw.valueType !== 'integer' || path.has(sw)) return undefined;
    // Encode selects by int(value) and writes round((value - offset) / factor): a switch value
    // that does both is one whose raw r gives int(r * factor + offset) = id.
    const ids = (child.multiplexerIds ?? []).filter((id) => {
      const r = (id - sw.offset) / sw.factor;
      return Number.isInteger(r) && r >= 0 && r < 2 ** Math.min(sw.length, 31) && Math.trunc(refScale(sw, r)) === id;
    });
    if (ids.length === 0) return undefined;
    path.set(sw, pick(ids));
    child = sw;
  }
  return path;
}

/** Checks one signal; false when it cannot be encoded on its own (its bits overlap its switch). */
function checkRoundTrip(c: MessageCodec, s: DbcSignal): boolean {
  const m = c.message;
  if (!fits(s, m.length)) return false;
  const mine = bitSet(s);
  const probe = selectionPath(m, s, (ids) => ids[0]!);
  if (probe === undefined) return false;
  for (const sw of probe.keys()) if ([...bitSet(sw)].some((b) => mine.has(b))) return false;

  const L = s.length;
  const step = Math.abs(s.factor);
  const valueArb: fc.Arbitrary<number> =
    s.valueType === 'float32'
      ? fc.float({ noNaN: true, noDefaultInfinity: true, min: Math.fround(-1e30), max: Math.fround(1e30) }).map((f) => refScale(s, f))
      : s.valueType === 'float64'
        ? fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e300, max: 1e300 }).map((f) => refScale(s, f))
        : fc.double({ min: 0, max: 1, noNaN: true }).map((t) => {
            const lo = s.signed ? -(2 ** (L - 1)) : 0;
            const hi = s.signed ? 2 ** (L - 1) - 1 : 2 ** L - 1;
            const a = refScale(s, lo);
            const b = refScale(s, hi);
            return a + t * (b - a);
          });
  fc.assert(
    fc.property(valueArb, fc.nat(), (value, seed) => {
      const path = selectionPath(m, s, (ids) => ids[seed % ids.length]!)!;
      const values: Record<string, number> = { [s.name]: value };
      for (const [sw, id] of path) values[sw.name] = id;
      const decoded = c.decode(c.encode(values));
      for (const [sw, id] of path) expect(Math.trunc(decoded[sw.name]!)).toBe(id);
      const got = decoded[s.name]!;
      expect(got).toBeTypeOf('number');
      if (s.valueType === 'integer') {
        const tolerance = Math.max(step, Math.abs(value) * 2 ** -50);
        expect(Math.abs(got - value)).toBeLessThanOrEqual(tolerance);
      } else if (s.valueType === 'float32') {
        expect(Math.abs(got - value)).toBeLessThanOrEqual(Math.abs(value) * 2 ** -22 + Math.abs(s.offset) * 2 ** -22 + 1e-300);
      } else {
        expect(Math.abs(got - value)).toBeLessThanOrEqual(Math.abs(value) * 2 ** -51 + Math.abs(s.offset) * 2 ** -51);
      }
    }),
    { numRuns: 8, seed: 7, examples: s.valueType === 'integer' ? [[refScale(s, 0), 0]] : [] },
  );
  return true;
}

/** Signals that cannot round-trip on their own: none in the fixtures. */
const SKIPPED: Record<string, string[]> = {};

describe('encode then decode gives the value back within one quantisation step', () => {
  for (const { name, codec } of CASES) {
    it(`every signal of ${name}`, () => {
      const skipped: string[] = [];
      for (const c of codec.messages) {
        for (const s of c.message.signals) if (!checkRoundTrip(c, s)) skipped.push(`${c.message.name}.${s.name}`);
      }
      expect(skipped).toEqual(SKIPPED[name] ?? []);
    });
  }

  it('the extremes of every integer signal survive exactly (clamping included)', () => {
    for (const { codec } of CASES) {
      for (const c of codec.messages) {
        for (const s of c.message.signals) {
          if (s.valueType !== 'integer' || s.multiplexerSignal !== undefined || !fits(s, c.message.length) || s.length > 53) continue;
          const lo = s.signed ? -(2 ** (s.length - 1)) : 0;
          const hi = s.signed ? 2 ** (s.length - 1) - 1 : 2 ** s.length - 1;
          for (const [value, raw] of [[refScale(s, lo), lo], [refScale(s, hi), hi], [refScale(s, hi) + 1e6 * s.factor, hi]] as const) {
            expect(c.decode(c.encode({ [s.name]: value }))[s.name]).toBe(refScale(s, raw));
          }
        }
      }
    }
  });
});
