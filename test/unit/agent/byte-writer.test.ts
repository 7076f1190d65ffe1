import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteWriter } from '../../../agent/decode/byte-writer.js';
import { loadDbcFile } from '../../../drivers/can/dbc/parser.js';
import { rawRange } from '../../../drivers/can/dbc/codec.js';

const FIXTURES = ['vw_mqb', 'tesla_can', 'hyundai_2015_mcan', 'toyota_tss2_adas', 'gwm_haval_h6_phev_2024', 'hongqi_hs5', 'chrysler_cusw'];

function written(write: (w: ByteWriter) => void): string {
  const w = new ByteWriter(16);
  write(w);
  return w.take().toString('utf8');
}

function places(x: number): number {
  const t = String(x);
  return t.includes('e') ? 10 : t.includes('.') ? t.length - t.indexOf('.') - 1 : 0;
}

describe('ByteWriter numbers match JSON.stringify exactly', () => {
  it('number(): integers, fractions, extremes, NaN and infinities', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, -0, 2 ** 31, -(2 ** 31), 2 ** 53, 1e21, 1e-7, NaN, Infinity, -Infinity)), (v) => {
        expect(written((w) => w.number(v))).toBe(JSON.stringify(v));
      }),
      { numRuns: 5000 },
    );
  });

  it('decimal(): every signal of every fixture DBC, over random raw values', () => {
    for (const name of FIXTURES) {
      for (const m of loadDbcFile(`test/fixtures/dbc/${name}.dbc`).messages) {
        for (const s of m.signals) {
          if (s.valueType !== 'integer') continue;
          const d = Math.max(places(s.factor), places(s.offset));
          const [lo, hi] = rawRange(s);
          const raws = fc.sample(fc.integer({ min: Math.max(lo, -(2 ** 40)), max: Math.min(hi, 2 ** 40) }), 30);
          for (const raw of [lo, hi, 0, ...raws]) {
            const v = raw * s.factor + s.offset;
            expect(written((w) => w.decimal(v, d, 10 ** d)), `${m.name}.${s.name} raw ${raw}`).toBe(JSON.stringify(v));
          }
        }
      }
    }
  });

  it('decimal(): values that are not exact decimals fall back to the shortest form', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1e6, max: 1e6 }), fc.constantFrom(0.1, 0.01, 0.005, 0.03125, 0.0625, 1 / 3), fc.constantFrom(0, -40, 0.5, -7.22), (raw, f, o) => {
        const v = raw * f + o;
        const d = Math.max(places(f), places(o));
        expect(written((w) => w.decimal(v, d, 10 ** d))).toBe(JSON.stringify(v));
      }),
      { numRuns: 5000 },
    );
  });

  it('text(): ASCII and non-ASCII text as UTF-8', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        expect(written((w) => w.text(s))).toBe(s);
      }),
    );
  });
});

describe('ByteWriter times', () => {
  it('seconds(): the exact decimal of a microsecond time, reading back as micros / 1e6', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_102_444_800_000_000 }), (micros) => {
        const text = written((w) => w.seconds(micros));
        expect(JSON.parse(text)).toBe(micros / 1e6);
        const [s, f = ''] = text.split('.');
        expect(Number(s) * 1e6 + Number(f.padEnd(6, '0'))).toBe(micros);
        expect(f).not.toMatch(/0$/);
      }),
      { numRuns: 5000 },
    );
    expect(written((w) => w.seconds(1_700_000_000_000_100))).toBe('1700000000.0001');
    expect(written((w) => w.seconds(5_000_000))).toBe('5');
  });
});
