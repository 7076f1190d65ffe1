/**
 * JSON text to a value, with a syntax error located by line and column. `JSON.parse` stays the
 * authority; where Node's message carries no position (Node 20 says "Unexpected token '}', ..."
 * for some errors), a small scanner finds where the text stops being JSON.
 */
import type { ConfigProblem } from './types.js';

export interface JsonSyntaxProblem extends ConfigProblem {
  /** 1-based; absent when no position could be found. */
  line?: number;
  column?: number;
}

export type JsonParseResult = { ok: true; value: unknown } | { ok: false; problem: JsonSyntaxProblem };

/** Parses JSON text (a leading byte-order mark is allowed). */
export function parseJsonText(text: string): JsonParseResult {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const offsetShift = body.length === text.length ? 0 : 1;
  try {
    return { ok: true, value: JSON.parse(body) as unknown };
  } catch (err) {
    const raw = err instanceof Error ? err.message : String(err);
    const offset = nodeOffset(raw, body) ?? jsonErrorOffset(body);
    const what = plainReason(raw);
    if (offset === undefined) return { ok: false, problem: { path: '/', message: `invalid JSON: ${what}` } };
    const { line, column } = lineColumn(text, offset + offsetShift);
    return { ok: false, problem: { path: '/', message: `invalid JSON at line ${line}, column ${column}: ${what}`, line, column } };
  }
}

function nodeOffset(message: string, text: string): number | undefined {
  const at = /at position (\d+)/.exec(message);
  if (at?.[1] !== undefined) return Math.min(Number(at[1]), text.length);
  if (/Unexpected end of JSON input/.test(message)) return text.length;
  return undefined;
}

/** Node's reason without the position and without the quoted piece of the file (it could hold a password). */
function plainReason(message: string): string {
  let reason = message;
  if (/is not valid JSON\s*$/.test(reason)) {
    // "Unexpected token '}', ..."vehicle": }" is not valid JSON": keep the token, drop the quote.
    const token = /^Unexpected token '(?:[\uD800-\uDBFF][\uDC00-\uDFFF]|[^])'/.exec(reason);
    reason = token ? token[0] : 'Unexpected character';
  }
  reason = reason
    .replace(/\s*\(line \d+ column \d+\)/, '')
    .replace(/\s*(?:in JSON )?at position \d+/, '')
    .trim();
  return reason === '' ? 'not valid JSON' : reason.charAt(0).toLowerCase() + reason.slice(1);
}

/** 1-based line and column (in characters) of an offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

class Stop {
  constructor(readonly at: number) {}
}

const MAX_DEPTH = 512;

/** Offset of the first character where `text` stops being JSON; undefined if it is JSON (or nests too deep to scan). */
export function jsonErrorOffset(text: string): number | undefined {
  let i = 0;
  const fail = (): never => {
    throw new Stop(i);
  };
  const ws = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const digits = (): void => {
    if (!/[0-9]/.test(text[i] ?? '')) fail();
    while (/[0-9]/.test(text[i] ?? '')) i++;
  };
  const word = (w: string): void => {
    for (const ch of w) {
      if (text[i] !== ch) fail();
      i++;
    }
  };
  const string = (): void => {
    i++;
    for (;;) {
      const ch = text[i];
      if (ch === undefined || ch.charCodeAt(0) < 0x20) fail();
      if (ch === '"') {
        i++;
        return;
      }
      if (ch === '\\') {
        i++;
        const esc = text[i] ?? '';
        if (esc === 'u') {
          i++;
          for (let k = 0; k < 4; k++) {
            if (!/[0-9a-fA-F]/.test(text[i] ?? '')) fail();
            i++;
          }
        } else if (esc !== '' && '"\\/bfnrt'.includes(esc)) i++;
        else fail();
      } else i++;
    }
  };
  const number = (): void => {
    if (text[i] === '-') i++;
    if (text[i] === '0') i++;
    else digits();
    if (text[i] === '.') {
      i++;
      digits();
    }
    if (text[i] === 'e' || text[i] === 'E') {
      i++;
      if (text[i] === '+' || text[i] === '-') i++;
      digits();
    }
  };
  const value = (depth: number): void => {
    if (depth > MAX_DEPTH) throw new Stop(-1);
    ws();
    const ch = text[i];
    if (ch === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        string();
        ws();
        if (text[i] !== ':') fail();
        i++;
        value(depth + 1);
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return;
        } else fail();
      }
    } else if (ch === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value(depth + 1);
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return;
        } else fail();
      }
    } else if (ch === '"') string();
    else if (ch === '-' || (ch !== undefined && ch >= '0' && ch <= '9')) number();
    else if (ch === 't') word('true');
    else if (ch === 'f') word('false');
    else if (ch === 'n') word('null');
    else fail();
  };
  try {
    value(0);
    ws();
    if (i < text.length) fail();
    return undefined;
  } catch (err) {
    if (err instanceof Stop) return err.at < 0 ? undefined : err.at;
    throw err;
  }
}
