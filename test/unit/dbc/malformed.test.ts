import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isTcuError } from '../../../core/errors.js';
import { compileDbc } from '../../../drivers/can/dbc/codec.js';
import type { DbcDatabase } from '../../../drivers/can/dbc/model.js';
import { parseDbc } from '../../../drivers/can/dbc/parser.js';
import { FIXTURE_DIR } from './reference.js';

function codes(db: DbcDatabase): Array<[string, number, number]> {
  return db.warnings.map((w) => [w.code, w.line, w.column]);
}

function names(db: DbcDatabase): string[] {
  return db.messages.map((m) => `${m.name}:${m.signals.map((s) => s.name).join(',')}`);
}

describe('tolerant parsing of broken input', () => {
  it('garbage lines become DBC_SYNTAX warnings with line and column; the rest loads', () => {
    const db = parseDbc(
      [
        'VERSION "x"',
        'this is not a statement',
        'BO_ 1 A: 8 X',
        ' SG_ S : 0|8@1+ (1,0) [0|0] "" X',
        '  ) ( ]]',
        'BO_ 2 B: 8 X',
        ' SG_ T : 0|8@1+ (1,0) [0|0] "" X',
        '#!%$',
      ].join('\n'),
      { file: 'g.dbc' },
    );
    expect(names(db)).toEqual(['A:S', 'B:T']);
    expect(codes(db)).toEqual([
      ['DBC_SYNTAX', 2, 1],
      ['DBC_SYNTAX', 5, 3],
      ['DBC_SYNTAX', 8, 1],
    ]);
    expect(db.warnings[0]).toMatchObject({ file: 'g.dbc', message: "expected a statement keyword, got 'this'" });
  });

  it('a truncated or malformed SG_ is skipped; its neighbours load', () => {
    const db = parseDbc(`BO_ 1 A: 8 X
 SG_ Good1 : 0|8@1+ (1,0) [0|0] "" X
 SG_ Cut : 8|8@1+ (1,
 SG_ BadOrder : 16|8@2+ (1,0) [0|0] "" X
 SG_ BadMux x7 : 16|8@1+ (1,0) [0|0] "" X
 SG_ NoLen : 16|@1+ (1,0) [0|0] "" X
 SG_ Zero : 16|0@1+ (1,0) [0|0] "" X
 SG_ Good2 : 24|8@1+ (1,0) [0|0] "" X
`);
    expect(names(db)).toEqual(['A:Good1,Good2']);
    expect(codes(db)).toEqual([
      ['DBC_SYNTAX', 3, 22], // the line ends after '(1,': reported where the offset should be
      ['DBC_SYNTAX', 4, 22], // byte order 2
      ['DBC_SYNTAX', 5, 13], // multiplexer indicator x7
      ['DBC_SYNTAX', 6, 17], // '@' where the length should be
      ['DBC_SIGNAL_RANGE', 7, 16], // length 0
    ]);
  });

  it('bad numbers are warnings', () => {
    const db = parseDbc(`BO_ 1 A: 8 X
 SG_ F : 0|8@1+ (1e999,0) [0|0] "" X
 SG_ G : 0.5|8@1+ (1,0) [0|0] "" X
 SG_ H : 0|8@1+ (1,0) [0|0] "" X
BO_ 99999999999 B: 8 X
BO_ 3 C: 8.5 X
VAL_ 1 H 1.5.2 "x" ;
`);
    expect(names(db)).toEqual(['A:H']);
    expect(codes(db).map(([c, l]) => [c, l])).toEqual([
      ['DBC_SYNTAX', 2],
      ['DBC_SYNTAX', 3],
      ['DBC_SYNTAX', 5],
      ['DBC_SYNTAX', 6],
      ['DBC_SYNTAX', 7],
    ]);
  });

  it('an unterminated string costs one statement, not the rest of the file', () => {
    const db = parseDbc(`BO_ 1 A: 8 X
 SG_ S : 0|8@1+ (1,0) [0|0] "" X
CM_ SG_ 1 S "never closed;
CM_ BO_ 1 "closed";
BO_ 2 B: 8 X
 SG_ T : 0|8@1+ (1,0) [0|0] "unit X
 SG_ U : 8|8@1+ (1,0) [0|0] "" X
CM_ "dangling at the end`);
    expect(names(db)).toEqual(['A:S', 'B:U']);
    expect(db.messages[0]!.comment).toBe('closed');
    expect(db.messages[0]!.signals[0]!.comment).toBeUndefined();
    expect(codes(db)).toEqual([
      ['DBC_SYNTAX', 3, 13],
      ['DBC_SYNTAX', 6, 29],
      ['DBC_SYNTAX', 8, 5],
    ]);
    expect(db.warnings.every((w) => w.message.includes('unterminated string'))).toBe(true);
  });

  it('escaped quotes and comments spanning lines are fine', () => {
    const db = parseDbc('BO_ 1 A: 8 X\n SG_ S : 0|8@1+ (1,0) [0|0] "" X\nCM_ SG_ 1 S "say \\"hi\\"\n  twice; ok";\n');
    expect(db.warnings).toEqual([]);
    expect(db.messages[0]!.signals[0]!.comment).toBe('say "hi"\n  twice; ok');
  });

  it('unknown statements are DBC_UNSUPPORTED; known ones we do not use are skipped silently', () => {
    const db = parseDbc(`BO_ 1 A: 8 X
 SG_ S : 0|8@1+ (1,0) [0|0] "" X
FOO_ 1 2 "x";
EV_ V: 0 [0|1] "" 0 1 DUMMY_NODE_VECTOR0 X;
ENVVAR_DATA_ V: 4;
SGTYPE_ T : 8@1+ (1,0) [0|1] "" 0 , Vt;
SIG_GROUP_ 1 G 1 : S;
BA_DEF_REL_ BU_SG_REL_ "R" INT 0 1;
BA_DEF_DEF_REL_ "R" 0;
BA_REL_ "R" BU_SG_REL_ X SG_ 1 S 1;
BU_SG_REL_ X SG_ 1 S;
CAT_DEF_ 1 C 0;
FILTER 0 X;
VAL_ V 0 "off" 1 "on";
BO_ 2 B: 8 X
`);
    expect(codes(db)).toEqual([['DBC_UNSUPPORTED', 3, 1]]);
    expect(names(db)).toEqual(['A:S', 'B:']);
  });

  it('a broken BO_ takes its signals with it, in one warning', () => {
    const db = parseDbc(`BO_ 1 A 8 X
 SG_ S : 0|8@1+ (1,0) [0|0] "" X
 SG_ T : 8|8@1+ (1,0) [0|0] "" X
BO_ 2 B: 8 X
 SG_ U : 0|8@1+ (1,0) [0|0] "" X
CM_ "x";
 SG_ Stray : 8|8@1+ (1,0) [0|0] "" X
`);
    expect(names(db)).toEqual(['B:U']);
    expect(codes(db)).toEqual([
      ['DBC_SYNTAX', 1, 9],
      ['DBC_SYNTAX', 7, 2],
    ]);
  });

  it('a missing ; before the next statement is a warning; the statement still counts', () => {
    const db = parseDbc('BO_ 1 A: 8 X\n SG_ S : 0|8@1+ (1,0) [0|0] "" X\nCM_ BO_ 1 "c"\nVAL_ 1 S 0 "z"\n');
    expect(db.messages[0]!.comment).toBe('c');
    expect(db.messages[0]!.signals[0]!.choices).toEqual(new Map([[0, 'z']]));
    expect(codes(db)).toEqual([
      ['DBC_SYNTAX', 3, 14],
      ['DBC_SYNTAX', 4, 15],
    ]);
  });

  it('references to unknown messages, signals, nodes and attributes are DBC_SEMANTIC', () => {
    const db = parseDbc(`BU_: N
BO_ 1 A: 8 N
 SG_ S : 0|8@1+ (1,0) [0|0] "" N
BA_DEF_ BO_ "Cycle" INT 0 10;
VAL_ 2 S 0 "a" ;
VAL_ 1 Nope 0 "a" ;
CM_ SG_ 1 Nope "c";
CM_ BU_ Ghost "c";
BA_ "Cycle" BO_ 7 1;
BA_ "Undefined" BO_ 1 1;
SIG_VALTYPE_ 5 S : 1;
BO_TX_BU_ 9 : N;
SG_MUL_VAL_ 1 S Nope 0-1;
`);
    expect(db.warnings.every((w) => w.code === 'DBC_SEMANTIC')).toBe(true);
    expect(db.warnings.map((w) => w.line)).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13]);
    expect(names(db)).toEqual(['A:S']);
  });

  it('ids above 0x7FF without the extended flag load as extended with DBC_EXTENDED_ID', () => {
    const db = parseDbc('BO_ 2048 A: 8 X\nBO_ 2147485696 B: 8 X\n');
    expect(db.messages.map((m) => [m.id, m.extended])).toEqual([[2048, true], [2048, true]]);
    expect(codes(db)).toEqual([
      ['DBC_EXTENDED_ID', 1, 5],
      ['DBC_SEMANTIC', 2, 5],
    ]);
  });

  it('strict mode throws the first warning with its code and position', () => {
    const text = 'BO_ 1 A: 8 X\n SG_ S : 0|8@1+ (1,0) [0|0] "" X\n\n   junk\nBO_ 4000 B: 8 X\n';
    let err: unknown;
    try {
      parseDbc(text, { strict: true, file: 'j.dbc' });
    } catch (e) {
      err = e;
    }
    expect(isTcuError(err, 'DBC_SYNTAX')).toBe(true);
    expect(isTcuError(err) && err.details).toEqual({ file: 'j.dbc', line: 4, column: 4 });
    expect(isTcuError(err) && err.message).toMatch(/^j\.dbc:4:4: /);
    expect(() => parseDbc('BO_ 1 A: 8 X\n', { strict: true })).not.toThrow();
  });
});

describe('fuzzing: the tolerant parser never throws', () => {
  const vw = readFileSync(join(FIXTURE_DIR, 'vw_mqb.dbc'), 'utf8');
  const tesla = readFileSync(join(FIXTURE_DIR, 'tesla_can.dbc'), 'utf8');

  function sane(text: string): void {
    const db = parseDbc(text);
    const lines = text.split(/\r\n|\r|\n/).length;
    for (const w of db.warnings) {
      expect(w.line).toBeGreaterThanOrEqual(1);
      expect(w.line).toBeLessThanOrEqual(lines);
      expect(w.column).toBeGreaterThanOrEqual(1);
    }
    // Whatever loaded must compile and decode without throwing.
    const codec = compileDbc(db);
    for (const c of codec.messages) c.decode(new Uint8Array(c.message.length).fill(0xa5));
  }

  it('random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => sane(new TextDecoder('latin1').decode(bytes))),
      { numRuns: 300, seed: 3 },
    );
  });

  it('random strings made of DBC tokens', () => {
    const token = fc.constantFrom(
      'BO_ ', 'SG_ ', 'CM_ ', 'BA_ ', 'BA_DEF_ ', 'BA_DEF_DEF_ ', 'VAL_ ', 'VAL_TABLE_ ', 'SG_MUL_VAL_ ', 'SIG_VALTYPE_ ',
      'BO_TX_BU_ ', 'BU_: ', 'NS_ : ', 'VERSION ', 'EV_ ', '"', '"x"', '\\"', ';', ':', '|', '@', '(', ')', '[', ']', ',', '+', '-',
      '0', '1', '7', '12', '-3', '1.5', '1e3', '2147483649', 'M', 'm1', 'm2M', 'Name', 'X', '\n', ' ', '\t', '//c\n', '\r\n',
    );
    fc.assert(fc.property(fc.array(token, { maxLength: 120 }), (parts) => sane(parts.join(''))), { numRuns: 500, seed: 4 });
  });

  it('real files with random damage (deletions, insertions, truncation)', () => {
    const damage = fc.record({
      file: fc.constantFrom(vw, tesla),
      cuts: fc.array(fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true }), len: fc.nat(40), insert: fc.string({ maxLength: 6 }) }), { maxLength: 6 }),
      end: fc.double({ min: 0.2, max: 1, noNaN: true }),
    });
    fc.assert(
      fc.property(damage, ({ file, cuts, end }) => {
        let text = file;
        for (const c of cuts) {
          const at = Math.floor(c.at * text.length);
          text = text.slice(0, at) + c.insert + text.slice(at + c.len);
        }
        text = text.slice(0, Math.floor(end * text.length));
        sane(text);
      }),
      { numRuns: 40, seed: 5 },
    );
  });

  it('a damaged file still loads what is undamaged', () => {
    // Break one signal line and one message header in the middle of vw_mqb.
    const lines = vw.split('\n');
    const sg = lines.findIndex((l, i) => i > 600 && l.startsWith(' SG_ '));
    const bo = lines.findIndex((l, i) => i > 900 && l.startsWith('BO_ '));
    lines[sg] = lines[sg]!.slice(0, 20);
    lines[bo] = lines[bo]!.replace(':', '');
    const db = parseDbc(lines.join('\n'));
    expect(db.messages).toHaveLength(112);
    expect(db.warnings.filter((w) => w.code === 'DBC_SYNTAX').map((w) => w.line)).toEqual([sg + 1, bo + 1]);
  });
});
