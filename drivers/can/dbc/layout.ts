import { TcuError } from '../../../core/errors.js';
import type { DbcMessage, DbcSignal } from './model.js';

/**
 * Where a signal's bits are, as cantools lays them out, split into per-byte pieces.
 *
 * Little endian (`@1`): the signal is bits [start, start + length) of the payload read as a
 * little-endian integer; bit k is bit k & 7 of byte k >> 3.
 * Big endian (`@0`): the start bit (sawtooth numbering, the signal's most significant bit) maps
 * to the linear position p = 8 * (start >> 3) + 7 - (start & 7); the signal covers linear
 * positions p .. p + length - 1, most significant first, and linear position q is bit 7 - (q & 7)
 * of byte q >> 3.
 */
export interface Piece {
  byte: number;
  /** Lowest bit of the piece within its byte (0 = least significant). */
  shift: number;
  /** Number of bits (1..8). */
  width: number;
  /** Bit position of the piece's lowest bit within the signal's raw value (0 = least significant). */
  pos: number;
}

/**
 * The linear position of a big-endian (Motorola, `@0`) start bit: p = 8 * (start >> 3) + 7 - (start & 7).
 * The mapping is its own inverse, so it also turns a linear position back into a sawtooth bit number.
 */
export function motorolaLinearPosition(startBit: number): number {
  return 8 * (startBit >> 3) + 7 - (startBit & 7);
}

export function signalPieces(s: Pick<DbcSignal, 'startBit' | 'length' | 'byteOrder'>): Piece[] {
  const pieces: Piece[] = [];
  if (s.byteOrder === 'little_endian') {
    const first = s.startBit;
    const last = s.startBit + s.length - 1;
    for (let b = first >> 3; b <= last >> 3; b++) {
      const x0 = Math.max(first, 8 * b);
      const x1 = Math.min(last, 8 * b + 7);
      pieces.push({ byte: b, shift: x0 - 8 * b, width: x1 - x0 + 1, pos: x0 - first });
    }
  } else {
    const p = motorolaLinearPosition(s.startBit);
    const e = p + s.length - 1;
    for (let b = e >> 3; b >= p >> 3; b--) {
      const y0 = Math.max(p, 8 * b);
      const y1 = Math.min(e, 8 * b + 7);
      pieces.push({ byte: b, shift: 7 - (y1 & 7), width: y1 - y0 + 1, pos: e - y1 });
    }
  }
  return pieces;
}

/** Index of the last byte a signal touches: it is present in `n` bytes iff `n > lastByte`. */
export function lastByte(s: Pick<DbcSignal, 'startBit' | 'length' | 'byteOrder'>): number {
  if (s.byteOrder === 'little_endian') return (s.startBit + s.length - 1) >> 3;
  return (motorolaLinearPosition(s.startBit) + s.length - 1) >> 3;
}

/** Pieces split so that none straddles bit 32 of the raw value (for 33..64-bit signals). */
export function splitAt32(pieces: readonly Piece[]): Piece[] {
  const out: Piece[] = [];
  for (const p of pieces) {
    if (p.pos < 32 && p.pos + p.width > 32) {
      const low = 32 - p.pos;
      out.push({ byte: p.byte, shift: p.shift, width: low, pos: p.pos });
      out.push({ byte: p.byte, shift: p.shift + low, width: p.width - low, pos: 32 });
    } else {
      out.push(p);
    }
  }
  return out;
}

/**
 * Checks what code generation relies on, so that only validated numbers reach generated code.
 * A database from `parseDbc` always passes; a hand-built message may not (`DBC_SEMANTIC`).
 */
export function validateMessage(m: DbcMessage): void {
  const bad = (what: string): never => {
    throw new TcuError('DBC_SEMANTIC', `message ${String(m.name)}: ${what}`, { details: { message: m.name } });
  };
  if (!Number.isInteger(m.length) || m.length < 0 || m.length > 0xffff) bad(`length ${m.length} is not an integer in 0..65535`);
  for (const s of m.signals) {
    if (typeof s.name !== 'string') bad('a signal name is not a string');
    if (!Number.isInteger(s.startBit) || s.startBit < 0 || s.startBit > 0xffff) bad(`signal ${s.name}: bad start bit ${s.startBit}`);
    if (!Number.isInteger(s.length) || s.length < 1 || s.length > 64) bad(`signal ${s.name}: bad length ${s.length}`);
    if (s.byteOrder !== 'little_endian' && s.byteOrder !== 'big_endian') bad(`signal ${s.name}: bad byte order`);
    if (!Number.isFinite(s.factor) || !Number.isFinite(s.offset)) bad(`signal ${s.name}: factor and offset must be finite`);
    if (s.valueType === 'float32' && s.length !== 32) bad(`signal ${s.name}: a float32 signal must be 32 bits`);
    if (s.valueType === 'float64' && s.length !== 64) bad(`signal ${s.name}: a float64 signal must be 64 bits`);
    if (s.valueType !== 'integer' && s.valueType !== 'float32' && s.valueType !== 'float64') bad(`signal ${s.name}: bad value type`);
    for (const id of s.multiplexerIds ?? []) if (!Number.isSafeInteger(id)) bad(`signal ${s.name}: bad multiplexer value ${id}`);
    if (s.initialRaw !== undefined && !Number.isFinite(s.initialRaw)) bad(`signal ${s.name}: bad initial value`);
  }
}

/** A finite number as a JavaScript literal (parenthesised; -0 kept). */
export function numberLiteral(x: number): string {
  if (!Number.isFinite(x)) throw new TcuError('DBC_SEMANTIC', `not a finite number: ${x}`);
  return Object.is(x, -0) ? '(-0)' : x < 0 ? `(${String(x)})` : String(x);
}

/** A property name as a JavaScript string literal. */
export function nameLiteral(name: string): string {
  return JSON.stringify(name).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}
