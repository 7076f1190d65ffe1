import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isTcuError } from '../../../core/errors.js';
import { compileDbc, compileMessage, roundHalfEven } from '../../../drivers/can/dbc/codec.js';
import { motorolaLinearPosition } from '../../../drivers/can/dbc/layout.js';
import type { DbcMessage, MessageCodec } from '../../../drivers/can/dbc/model.js';
import { loadDbcFile, parseDbc } from '../../../drivers/can/dbc/parser.js';
import { FIXTURE_DIR } from './reference.js';

function codecOf(dbc: string, name?: string): MessageCodec {
  const db = parseDbc(dbc);
  const codec = compileDbc(db);
  return name === undefined ? codec.messages[0]! : codec.byName(name)!;
}

const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);

describe('Motorola (big endian, @0) by hand', () => {
  const c = codecOf(`BO_ 1 M: 8 X
 SG_ S12 : 7|12@0+ (1,0) [0|0] "" X
 SG_ S16 : 7|16@0+ (1,0) [0|0] "" X
 SG_ Mid : 3|12@0+ (1,-1024) [0|0] "" X
 SG_ Brake : 13|10@0+ (1,0) [0|0] "" X
 SG_ Neg : 39|12@0- (0.5,0) [0|0] "" X
 SG_ Bit : 63|1@0+ (1,0) [0|0] "" X
`);

  it('12-bit at start 7: the whole first byte, then the top nibble of the second', () => {
    // Start 7 is the MSB of byte 0 (linear position 0); 12 bits cover 0xAB and the 0xC of 0xCD.
    expect(c.decode(bytes(0xab, 0xcd, 0, 0, 0, 0, 0, 0)).S12).toBe(0xabc); // 2748
  });

  it('16-bit at start 7: bytes 0 and 1, most significant first', () => {
    expect(c.decode(bytes(0xab, 0xcd, 0, 0, 0, 0, 0, 0)).S16).toBe(0xabcd); // 43981
  });

  it('start bit in the middle of a byte, crossing into the next', () => {
    // Start 3: linear position 8*0 + 7 - 3 = 4, so bits 3..0 of byte 0 (0x2) then byte 1 (0x34):
    // raw 0x234 = 564, scaled 564 - 1024 = -460.
    expect(c.decode(bytes(0x12, 0x34, 0, 0, 0, 0, 0, 0)).Mid).toBe(-460);
    // Start 13: linear 8 + 7 - 5 = 10, bits 5..0 of byte 1 then bits 7..4 of byte 2.
    // byte 1 = 0b0010_1101 → 0b101101 = 45; byte 2 = 0b1011_0000 → 0b1011 = 11; raw 45*16 + 11 = 731.
    expect(c.decode(bytes(0, 0b0010_1101, 0b1011_0000, 0, 0, 0, 0, 0)).Brake).toBe(731);
  });

  it('signed negative values (two\'s complement over the signal length)', () => {
    // Start 39 = MSB of byte 4: 0xFF then the top nibble 0xE of byte 5 → 0xFFE = -2 → × 0.5 = -1.
    expect(c.decode(bytes(0, 0, 0, 0, 0xff, 0xe0, 0, 0)).Neg).toBe(-1);
    // 0x800 is the most negative 12-bit value: -2048 × 0.5 = -1024.
    expect(c.decode(bytes(0, 0, 0, 0, 0x80, 0x00, 0, 0)).Neg).toBe(-1024);
    expect(c.decode(bytes(0, 0, 0, 0, 0x7f, 0xf0, 0, 0)).Neg).toBe(1023.5);
  });

  it('a single bit: start 63 is the MSB of byte 7', () => {
    expect(c.decode(bytes(0, 0, 0, 0, 0, 0, 0, 0x80)).Bit).toBe(1);
    expect(c.decode(bytes(0, 0, 0, 0, 0, 0, 0, 0x7f)).Bit).toBe(0);
  });

  it('encodes to the same bytes', () => {
    expect(c.encode({ S12: 0xabc })).toEqual(bytes(0xab, 0xc0, 0, 0, 0, 0, 0, 0));
    expect(c.encode({ Mid: -460 })).toEqual(bytes(0x02, 0x34, 0, 0, 0, 0, 0, 0));
    expect(c.encode({ Neg: -1 })).toEqual(bytes(0, 0, 0, 0, 0xff, 0xe0, 0, 0));
    expect(c.encode({ Brake: 731 })).toEqual(bytes(0, 0b0010_1101, 0b1011_0000, 0, 0, 0, 0, 0));
  });
});

describe('motorolaLinearPosition', () => {
  it('maps sawtooth start bits to network-order positions, and back (it is its own inverse)', () => {
    expect([7, 0, 15, 8, 63, 56].map(motorolaLinearPosition)).toEqual([0, 7, 8, 15, 56, 63]);
    for (let bit = 0; bit < 512; bit++) {
      expect(motorolaLinearPosition(bit)).toBe(8 * Math.floor(bit / 8) + (7 - (bit % 8)));
      expect(motorolaLinearPosition(motorolaLinearPosition(bit))).toBe(bit);
    }
  });
});

describe('Intel (little endian, @1) by hand', () => {
  const c = codecOf(`BO_ 2 I: 8 X
 SG_ B0 : 0|8@1+ (1,0) [0|0] "" X
 SG_ Cross : 12|12@1+ (0.1,5) [0|0] "" X
 SG_ S8 : 4|8@1- (1,0) [0|0] "" X
 SG_ U32 : 32|32@1+ (1,0) [0|0] "" X
 SG_ I32 : 32|32@1- (1,0) [0|0] "" X
`);

  it('byte-aligned and byte-crossing signals', () => {
    const d = bytes(0x5a, 0xa0, 0xbc, 0, 0, 0, 0, 0);
    expect(c.decode(d).B0).toBe(0x5a);
    // Bits 12..23: bits 4..7 of byte 1 (0xA) are the low nibble, byte 2 (0xBC) the high byte:
    // raw 0xBCA = 3018, scaled 3018 * 0.1 + 5 (the same double as Python's 3018 * 0.1 + 5).
    expect(c.decode(d).Cross).toBe(3018 * 0.1 + 5);
  });

  it('signed, across a byte boundary', () => {
    // Bits 4..11: high nibble of byte 0 (0xF) low, low nibble of byte 1 (0xF) high → 0xFF = -1.
    expect(c.decode(bytes(0xf0, 0x0f, 0, 0, 0, 0, 0, 0)).S8).toBe(-1);
    expect(c.decode(bytes(0x00, 0x08, 0, 0, 0, 0, 0, 0)).S8).toBe(-128);
  });

  it('32-bit values with the top bit set', () => {
    const d = bytes(0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff);
    expect(c.decode(d).U32).toBe(4294967295);
    expect(c.decode(d).I32).toBe(-1);
    expect(c.decode(bytes(0, 0, 0, 0, 0x78, 0x56, 0x34, 0x12)).U32).toBe(0x12345678);
  });
});

const WIDE = `BO_ 3 W: 8 X
 SG_ F32LE : 0|32@1- (1,0) [0|0] "" X
 SG_ F32BE : 39|32@0- (2,1) [0|0] "" X
BO_ 4 D: 8 X
 SG_ F64LE : 0|64@1- (1,0) [0|0] "" X
BO_ 5 E: 8 X
 SG_ F64BE : 7|64@0- (1,0) [0|0] "" X
BO_ 6 U64: 8 X
 SG_ BE64 : 7|64@0+ (1,0) [0|0] "" X
 SG_ LE40 : 4|40@1- (1,0) [0|0] "" X
SIG_VALTYPE_ 3 F32LE : 1;
SIG_VALTYPE_ 3 F32BE : 1;
SIG_VALTYPE_ 4 F64LE : 2;
SIG_VALTYPE_ 5 F64BE : 2;
`;

describe('wide and float signals', () => {
  const db = parseDbc(WIDE);
  const c = compileDbc(db).messages[0]!;
  const codec = compileDbc(db);

  it('float32 in both byte orders reinterprets the raw bits', () => {
    // 1.5f = 0x3FC00000: little endian bytes 00 00 C0 3F; big endian from byte 4: 3F C0 00 00.
    const d = bytes(0x00, 0x00, 0xc0, 0x3f, 0x3f, 0xc0, 0x00, 0x00);
    expect(c.decode(d)).toEqual({ F32LE: 1.5, F32BE: 1.5 * 2 + 1 });
    expect(c.encode({ F32LE: 1.5, F32BE: 4 })).toEqual(d);
  });

  it('float64 in both byte orders', () => {
    // 1.5 = 0x3FF8000000000000.
    expect(codec.byName('D')!.decode(bytes(0, 0, 0, 0, 0, 0, 0xf8, 0x3f))).toEqual({ F64LE: 1.5 });
    expect(codec.byName('E')!.decode(bytes(0x3f, 0xf8, 0, 0, 0, 0, 0, 0))).toEqual({ F64BE: 1.5 });
    expect(codec.byName('E')!.encode({ F64BE: -Math.PI })).toEqual(new Uint8Array(new Float64Array([-Math.PI]).buffer).reverse());
  });

  it('64-bit integers are exact to 53 bits, nearest double beyond; 40-bit signed', () => {
    const u = codec.byName('U64')!;
    expect(u.decode(bytes(0, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)).BE64).toBe(2 ** 53 - 1);
    expect(u.decode(bytes(1, 2, 3, 4, 5, 6, 7, 8)).BE64).toBe(Number(0x0102030405060708n));
    expect(u.decode(bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)).BE64).toBe(Number(2n ** 64n - 1n));
    // LE40: bits 4..43 all ones → -1; only bit 43 set → -2^39.
    expect(u.decode(bytes(0xf0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0)).LE40).toBe(-1);
    expect(u.decode(bytes(0, 0, 0, 0, 0, 0x08, 0, 0)).LE40).toBe(-(2 ** 39));
    expect(u.encode({ LE40: -(2 ** 39) })).toEqual(bytes(0, 0, 0, 0, 0, 0x08, 0, 0));
  });
});

describe('multiplexing', () => {
  const dbc = `BO_ 10 Mx: 8 X
 SG_ Sel M : 0|8@1+ (1,0) [0|0] "" X
 SG_ Common : 56|8@1+ (1,0) [0|0] "" X
 SG_ A m0 : 8|16@1+ (1,0) [0|0] "" X
 SG_ B m1 : 8|8@1- (1,0) [0|0] "" X
 SG_ Sub m2M : 8|8@1+ (1,0) [0|0] "" X
 SG_ C m1 : 16|8@1+ (1,0) [0|0] "" X
 SG_ D m2 : 24|8@1+ (1,0) [0|0] "" X
SG_MUL_VAL_ 10 Sub Sel 2-2;
SG_MUL_VAL_ 10 A Sel 0-0;
SG_MUL_VAL_ 10 B Sel 1-1, 9-12;
SG_MUL_VAL_ 10 C Sub 1-1, 3-9;
SG_MUL_VAL_ 10 D Sub 2-2;
VAL_ 10 Sel 0 "zero" 1 "one" 2 "two" ;
`;
  const c = codecOf(dbc);

  it('decodes only what the switch selects, recursively', () => {
    expect(c.decode(bytes(0, 0x34, 0x12, 0, 0, 0, 0, 7))).toEqual({ Sel: 0, Common: 7, A: 0x1234 });
    expect(c.decode(bytes(11, 0xff, 0, 0, 0, 0, 0, 7))).toEqual({ Sel: 11, Common: 7, B: -1 });
    expect(c.decode(bytes(2, 5, 9, 8, 0, 0, 0, 7))).toEqual({ Sel: 2, Common: 7, Sub: 5, C: 9 });
    expect(c.decode(bytes(2, 2, 9, 8, 0, 0, 0, 7))).toEqual({ Sel: 2, Common: 7, Sub: 2, D: 8 });
    expect(c.decode(bytes(3, 2, 9, 8, 0, 0, 0, 7))).toEqual({ Sel: 3, Common: 7 });
    expect(c.decodeWithChoices(bytes(2, 2, 9, 8, 0, 0, 0, 7))).toEqual({ Sel: 'two', Common: 7, Sub: 2, D: 8 });
  });

  it('decodeValues writes NaN for absent signals', () => {
    const out = new Float64Array(c.signalNames.length).fill(42);
    c.decodeValues(bytes(2, 2, 9, 8, 0, 0, 0, 7), 8, out);
    expect(c.signalNames).toEqual(['Sel', 'Common', 'A', 'B', 'Sub', 'C', 'D']);
    expect([...out]).toEqual([2, 7, NaN, NaN, 2, NaN, 8]);
    c.decodeValues(bytes(2, 2, 9, 8, 0, 0, 0, 7), 1, out);
    expect([...out]).toEqual([2, NaN, NaN, NaN, NaN, NaN, NaN]);
  });

  it('encodes the multiplexed signals the switch value selects, by number or text', () => {
    expect(c.encode({ Sel: 0, A: 0x1234, B: 5, Common: 1 })).toEqual(bytes(0, 0x34, 0x12, 0, 0, 0, 0, 1));
    expect(c.encode({ Sel: 'one', A: 0x1234, B: -2 })).toEqual(bytes(1, 0xfe, 0, 0, 0, 0, 0, 0));
    expect(c.encode({ Sel: 2, Sub: 3, C: 4, D: 5 })).toEqual(bytes(2, 3, 4, 0, 0, 0, 0, 0));
    // No switch value: it encodes as 0, which selects A.
    expect(c.encode({ A: 7, B: 5 })).toEqual(bytes(0, 7, 0, 0, 0, 0, 0, 0));
  });
});

describe('short, long and odd data never throw', () => {
  const db = parseDbc(`BO_ 20 Short: 2 X
 SG_ A : 0|8@1+ (1,0) [0|0] "" X
 SG_ B : 7|16@0+ (1,0) [0|0] "" X
 SG_ Past : 16|8@1+ (1,0) [0|0] "" X
`);
  const c = compileDbc(db).messages[0]!;

  it('the signal past the declared length is a DBC_SIGNAL_RANGE warning but still loads', () => {
    expect(db.warnings.map((w) => [w.code, w.line, w.column])).toEqual([['DBC_SIGNAL_RANGE', 4, 13]]);
    expect(c.message.signals).toHaveLength(3);
  });

  it('omits what the data does not cover, uses data past the declared length', () => {
    expect(c.decode(bytes())).toEqual({});
    expect(c.decode(bytes(1))).toEqual({ A: 1 });
    expect(c.decode(bytes(1, 2))).toEqual({ A: 1, B: 0x0102 });
    expect(c.decode(bytes(1, 2, 3))).toEqual({ A: 1, B: 0x0102, Past: 3 });
    expect(c.decode(bytes(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12))).toEqual({ A: 1, B: 0x0102, Past: 3 });
    expect(c.decode(bytes(1, 2, 3), 2)).toEqual({ A: 1, B: 0x0102 });
    expect(c.decode(bytes(1, 2, 3), 99)).toEqual({ A: 1, B: 0x0102, Past: 3 });
    expect(c.decode(bytes(1, 2, 3), 0)).toEqual({});
    // A and B overlap in byte 0: encoding ORs them, as cantools does.
    expect(c.encode({ A: 1, B: 2, Past: 3 })).toEqual(bytes(1, 2));
  });

  it('works on Buffers and on subarrays', () => {
    expect(c.decode(Buffer.from([9, 1, 2]))).toEqual({ A: 9, B: 0x0901, Past: 2 });
    expect(c.decode(bytes(0, 0, 9, 1, 2).subarray(2))).toEqual({ A: 9, B: 0x0901, Past: 2 });
  });
});

describe('encode', () => {
  const c = codecOf(`BO_ 30 E: 8 X
 SG_ U8 : 0|8@1+ (1,0) [0|0] "" X
 SG_ S8 : 8|8@1- (1,0) [0|0] "" X
 SG_ Scaled : 16|8@1+ (0.5,-10) [0|0] "" X
 SG_ Gear : 24|4@1+ (1,0) [0|0] "" X
 SG_ Init : 32|8@1+ (1,0) [0|0] "" X
BA_DEF_ SG_ "GenSigStartValue" INT 0 255;
BA_ "GenSigStartValue" SG_ 30 Init 200;
VAL_ 30 Gear 0 "P" 1 "R" 3 "D" ;
`);

  it('rounds like Python (half to even), clamps to the bit width', () => {
    expect(roundHalfEven(2.5)).toBe(2);
    expect(roundHalfEven(3.5)).toBe(4);
    expect(roundHalfEven(-2.5)).toBe(-2);
    expect(roundHalfEven(-3.5)).toBe(-4);
    expect(roundHalfEven(2.4999)).toBe(2);
    expect(c.encode({ U8: 2.5 })[0]).toBe(2);
    expect(c.encode({ U8: 1000 })[0]).toBe(255);
    expect(c.encode({ U8: -5 })[0]).toBe(0);
    expect(c.encode({ S8: -1000 })[1]).toBe(0x80);
    expect(c.encode({ S8: Infinity })[1]).toBe(0x7f);
    // (3.25 - -10) / 0.5 = 26.5 → 26 (even).
    expect(c.encode({ Scaled: 3.25 })[2]).toBe(26);
  });

  it('value-table text, defaults from GenSigStartValue, errors', () => {
    expect(c.encode({ Gear: 'D' })[3]).toBe(3);
    expect(c.encode({})[4]).toBe(200);
    expect(c.decodeWithChoices(c.encode({ Gear: 'R' })).Gear).toBe('R');
    expect(c.decodeWithChoices(c.encode({ Gear: 2 })).Gear).toBe(2);
    for (const bad of [{ Gear: 'X' }, { U8: 'P' }, { U8: NaN }] as Array<Record<string, string | number>>) {
      let err: unknown;
      try {
        c.encode(bad);
      } catch (e) {
        err = e;
      }
      expect(isTcuError(err, 'CAN_ENCODE_VALUE')).toBe(true);
    }
  });
});

describe('compileDbc', () => {
  it('looks messages up by (id, extended) and by name', () => {
    const codec = compileDbc(loadDbcFile(join(FIXTURE_DIR, 'vw_mqb.dbc')));
    for (const m of codec.db.messages) {
      expect(codec.get(m.id, m.extended)!.message).toBe(m);
      expect(codec.byName(m.name)!.message).toBe(m);
    }
    const std = codec.db.messages.find((m) => !m.extended)!;
    expect(codec.get(std.id, true)).toBeUndefined();
    expect(codec.get(0x7ff + 1, false)).toBeUndefined();
    expect(codec.get(-1, false)).toBeUndefined();
    expect(codec.byName('nope')).toBeUndefined();
  });

  it('embeds names only as JSON string literals; refuses invalid hand-built messages', () => {
    const m: DbcMessage = {
      id: 1, extended: false, name: 'x', length: 2, sender: 'N', transmitters: [], fd: false, attributes: {},
      signals: [
        { name: '"]; throw 1; //', startBit: 0, length: 8, byteOrder: 'little_endian', signed: false, valueType: 'integer',
          factor: 1, offset: 0, minimum: 0, maximum: 0, unit: '', receivers: [], isMultiplexer: false },
        { name: '__proto__', startBit: 8, length: 8, byteOrder: 'little_endian', signed: false, valueType: 'integer',
          factor: 1, offset: 0, minimum: 0, maximum: 0, unit: '', receivers: [], isMultiplexer: false },
      ],
    };
    const c = compileMessage(m);
    const r = c.decode(bytes(1, 2));
    expect(Object.getPrototypeOf(r)).toBe(Object.prototype);
    expect(Object.entries(r)).toEqual([['"]; throw 1; //', 1], ['__proto__', 2]]);
    expect(Object.entries(c.decode(bytes(1)))).toEqual([['"]; throw 1; //', 1]]);
    expect(c.encode(JSON.parse('{"__proto__": 7}') as Record<string, number>)).toEqual(bytes(0, 7));
    const bad = { ...m, signals: [{ ...m.signals[0]!, factor: Infinity }] };
    expect(() => compileMessage(bad)).toThrow(expect.objectContaining({ code: 'DBC_SEMANTIC' }) as Error);
    expect(() => compileMessage({ ...m, signals: [{ ...m.signals[0]!, length: 65 }] })).toThrow();
  });
});
