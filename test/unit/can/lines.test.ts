import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineSplitter, isBlank } from '../../../drivers/can/candump/lines.js';

/** What a splitter must return for the whole text: every line, over-long ones as null, no empty tail. */
function reference(text: string, max: number): (string | null)[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => (l.length > max ? null : l));
}

/** Cuts `whole` at the given fractions of its length. */
function cut<T extends string | Uint8Array>(whole: T, at: readonly number[]): T[] {
  const points = [...new Set(at.map((f) => Math.floor(f * whole.length)))].sort((a, b) => a - b);
  const out: T[] = [];
  let from = 0;
  for (const p of [...points, whole.length]) {
    out.push(whole.slice(from, p) as T);
    from = p;
  }
  return out;
}

function splitAll(chunks: readonly (string | Uint8Array)[], max: number): (string | null)[] {
  const splitter = new LineSplitter(max);
  const out: (string | null)[] = [];
  for (const c of chunks) out.push(...splitter.push(c));
  out.push(...splitter.end());
  return out;
}

// Multi-byte characters (2, 3 and 4 bytes in UTF-8), CR, blanks and newlines.
const textArb = fc.string({ unit: fc.constantFrom('a', 'B', '1', ' ', '\t', '\r', '\n', '\n', 'é', '€', '😀'), maxLength: 200 });
const cutsArb = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 });

describe('LineSplitter', () => {
  it('gives the same lines wherever the text is cut, as strings or as UTF-8 bytes (fast-check)', () => {
    fc.assert(
      fc.property(textArb, cutsArb, (text, at) => {
        const expected = reference(text, 1_000_000);
        expect(splitAll(cut(text, at), 1_000_000)).toEqual(expected);
        expect(splitAll(cut(Buffer.from(text, 'utf8'), at), 1_000_000)).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('replaces each over-long line with one null, wherever the text is cut (fast-check)', () => {
    fc.assert(
      fc.property(textArb, cutsArb, fc.integer({ min: 0, max: 12 }), (text, at, max) => {
        const expected = reference(text, max);
        expect(splitAll(cut(text, at), max)).toEqual(expected);
        expect(splitAll(cut(Buffer.from(text, 'utf8'), at), max)).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('holds no more than maxLineLength characters of a line without a newline', () => {
    const splitter = new LineSplitter(100);
    const held = (): number => (splitter as unknown as { partial: string }).partial.length;
    const out: (string | null)[] = [];
    for (let i = 0; i < 10_000; i++) {
      out.push(...splitter.push('x'.repeat(1000)));
      expect(held()).toBeLessThanOrEqual(100);
    }
    expect(out).toEqual([null]); // 10 MB, one dropped line, reported once
    expect(splitter.push('tail of it\nnext\n')).toEqual(['next']);
    expect(splitter.end()).toEqual([]);
  });

  it('decodes a UTF-8 character split across chunks at every byte', () => {
    const bytes = Buffer.from('a€😀b\n', 'utf8');
    for (let i = 0; i <= bytes.length; i++) {
      for (let j = i; j <= bytes.length; j++) {
        expect(splitAll([bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)], 4096)).toEqual(['a€😀b']);
      }
    }
  });

  it('end() returns the last unterminated line once, nothing after a newline or a dropped tail, and resets', () => {
    const splitter = new LineSplitter(5);
    expect(splitter.push('one\ntw')).toEqual(['one']);
    expect(splitter.push('o')).toEqual([]);
    expect(splitter.end()).toEqual(['two']);
    expect(splitter.end()).toEqual([]);

    expect(splitter.push('three\n')).toEqual(['three']);
    expect(splitter.end()).toEqual([]);

    expect(splitter.push('toolong')).toEqual([null]);
    expect(splitter.end()).toEqual([]);
    expect(splitter.push('ok\r\n')).toEqual(['ok\r']); // the skip ended with end(); CR stays on the line

    expect(splitter.push(Buffer.from([0x61, 0xe2, 0x82]))).toEqual([]);
    expect(splitter.end()).toEqual(['a\ufffd']); // an incomplete character at the end of input
  });
});

describe('isBlank', () => {
  it('is true only for spaces, tabs and carriage returns', () => {
    expect(['', ' ', '\t', '\r', ' \t\r '].every(isBlank)).toBe(true);
    expect(['x', ' x ', '\n', '\u00a0'].some(isBlank)).toBe(false);
  });
});
