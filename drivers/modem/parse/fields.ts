import { TcuError } from '../../../core/errors.js';

/**
 * Splitting AT information responses (`+NAME: 1,"text",,-5`) into parameters, and reading numbers
 * out of them. Every parser in this folder builds on these; all of them are pure and throw only
 * TcuError AT_REPLY_MALFORMED with details `{ line }`.
 */

/** One parameter of an information response. `text` is without its quotes; empty when omitted. */
export interface Param {
  text: string;
  quoted: boolean;
}

/** Details keep at most this much of a line (a runaway line must not be kept whole). */
const MAX_DETAIL = 512;

export function malformed(line: string, reason: string): TcuError {
  const kept = line.length > MAX_DETAIL ? `${line.slice(0, MAX_DETAIL)}...` : line;
  return new TcuError('AT_REPLY_MALFORMED', `${reason}: ${JSON.stringify(kept.length > 120 ? `${kept.slice(0, 120)}...` : kept)}`, { details: { line: kept } });
}

/**
 * Splits a comma-separated parameter list. Quoted strings may hold commas; outside quotes,
 * surrounding whitespace is dropped. An empty list (`''`) has no parameters.
 */
export function splitParams(line: string, text: string): Param[] {
  const out: Param[] = [];
  if (text.trim() === '') return out;
  let i = 0;
  for (;;) {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t')) i++;
    if (text[i] === '"') {
      const close = text.indexOf('"', i + 1);
      if (close < 0) throw malformed(line, 'unterminated quoted string');
      out.push({ text: text.slice(i + 1, close), quoted: true });
      i = close + 1;
      while (i < text.length && (text[i] === ' ' || text[i] === '\t')) i++;
      if (i < text.length && text[i] !== ',') throw malformed(line, 'text after a quoted string');
    } else {
      const comma = text.indexOf(',', i);
      const end = comma < 0 ? text.length : comma;
      const raw = text.slice(i, end).trim();
      if (raw.includes('"')) throw malformed(line, 'stray quote');
      out.push({ text: raw, quoted: false });
      i = end;
    }
    if (i >= text.length) return out;
    i++; // the comma
  }
}

/**
 * The text after `+NAME:` when `line` starts with `prefix` (case-insensitive, the colon optional
 * spaces after it); undefined otherwise.
 */
export function afterPrefix(line: string, prefix: string): string | undefined {
  const head = line.trimStart();
  if (head.length < prefix.length + 1) return undefined;
  if (head.slice(0, prefix.length).toUpperCase() !== prefix.toUpperCase()) return undefined;
  if (head[prefix.length] !== ':') return undefined;
  return head.slice(prefix.length + 1).trim();
}

/** The parameters of `+NAME: ...`. Throws when the line does not start with the prefix. */
export function responseParams(line: string, prefix: string): Param[] {
  const rest = afterPrefix(line, prefix);
  if (rest === undefined) throw malformed(line, `expected ${prefix}:`);
  return splitParams(line, rest);
}

const INT = /^[+-]?\d{1,12}$/;
const NUM = /^[+-]?\d{1,12}(\.\d{1,6})?$/;

/** An absent, empty or `-` parameter (Quectel writes `-` for "not available"). */
export function isBlank(p: Param | undefined): boolean {
  return p === undefined || p.text === '' || p.text === '-';
}

/** A required integer within [min, max]. */
export function int(line: string, p: Param | undefined, what: string, min: number, max: number): number {
  if (p === undefined || !INT.test(p.text)) throw malformed(line, `${what} is not an integer`);
  const n = Number(p.text);
  if (n < min || n > max) throw malformed(line, `${what} ${n} is outside ${min}..${max}`);
  return n;
}

/** An optional integer: undefined when blank; throws when present but not an integer in range. */
export function optInt(line: string, p: Param | undefined, what: string, min: number, max: number): number | undefined {
  return isBlank(p) ? undefined : int(line, p, what, min, max);
}

/**
 * An optional measurement: undefined when blank or outside [min, max] (modems use sentinels such
 * as -32768 or 255 for "not measured"); throws when present but not a number.
 */
export function measurement(line: string, p: Param | undefined, what: string, min: number, max: number): number | undefined {
  if (isBlank(p)) return undefined;
  if (!NUM.test(p!.text)) throw malformed(line, `${what} is not a number`);
  const n = Number(p!.text);
  return n < min || n > max ? undefined : n;
}

/** A hex identifier (area code, cell id): upper-cased; undefined when blank. */
export function optHex(line: string, p: Param | undefined, what: string, maxDigits: number): string | undefined {
  if (isBlank(p)) return undefined;
  const text = p!.text;
  if (text.length > maxDigits || !/^[0-9A-Fa-f]+$/.test(text)) throw malformed(line, `${what} is not hex of at most ${maxDigits} digits`);
  return text.toUpperCase();
}

/** The first line that is not blank, trimmed; throws when there is none. */
export function firstLine(lines: readonly string[], what: string): string {
  for (const l of lines) {
    const t = l.trim();
    if (t !== '') return t;
  }
  throw malformed(lines.join('\n'), `no ${what} in the reply`);
}

/** Removes one of the prefixes (`+CGSN:`) when present, and surrounding quotes. */
export function stripPrefix(line: string, prefixes: readonly string[]): string {
  let text = line.trim();
  for (const prefix of prefixes) {
    const rest = afterPrefix(text, prefix);
    if (rest !== undefined) {
      text = rest;
      break;
    }
  }
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) text = text.slice(1, -1).trim();
  return text;
}

/** Printable ASCII and Latin-1 text only: what may go into identity fields. */
export function isPrintable(text: string): boolean {
  return /^[\x20-\x7e\u00a0-\u00ff]+$/.test(text);
}

/** Drops properties whose value is undefined, so snapshots compare and serialise cleanly. */
export function compact<T extends object>(value: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = v;
  return out as T;
}
