// An independent, deliberately slow reference decoder written from cantools' rules (bit by bit,
// BigInt raw values, the codec tree of Message._create_codec / Message._decode), used to check
// the generated codecs signal for signal. It shares no code with drivers/can/dbc.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { DbcMessage, DbcSignal } from '../../../drivers/can/dbc/model.js';

export const FIXTURE_DIR = join(import.meta.dirname, '..', '..', 'fixtures', 'dbc');
export const FIXTURES = readdirSync(FIXTURE_DIR).filter((f) => f.endsWith('.dbc')).sort();

/** Linear (network order) index of the signal's first bit, as cantools' `start_bit()`. */
function firstLinearBit(s: DbcSignal): number {
  return s.byteOrder === 'big_endian' ? 8 * Math.floor(s.startBit / 8) + (7 - (s.startBit % 8)) : s.startBit;
}

/** (byte, bit) of signal bit j, j = 0 the least significant bit of the raw value. */
export function bitLocation(s: DbcSignal, j: number): [number, number] {
  if (s.byteOrder === 'little_endian') {
    const k = s.startBit + j;
    return [Math.floor(k / 8), k % 8];
  }
  const q = firstLinearBit(s) + s.length - 1 - j;
  return [Math.floor(q / 8), 7 - (q % 8)];
}

/** cantools (allow_truncated): a signal is kept iff first bit + length <= 8 * bytes received. */
export function fits(s: DbcSignal, bytes: number): boolean {
  return firstLinearBit(s) + s.length <= 8 * bytes;
}

export function rawBits(s: DbcSignal, d: Uint8Array): bigint {
  let raw = 0n;
  for (let j = s.length - 1; j >= 0; j--) {
    const [byte, bit] = bitLocation(s, j);
    raw = (raw << 1n) | BigInt((d[byte]! >> bit) & 1);
  }
  return raw;
}

/** The raw value as cantools' bitstruct gives it: unsigned, two's complement, or IEEE float. */
export function refRaw(s: DbcSignal, d: Uint8Array): number {
  const bits = rawBits(s, d);
  const view = new DataView(new ArrayBuffer(8));
  if (s.valueType === 'float32') {
    view.setUint32(0, Number(bits));
    return view.getFloat32(0);
  }
  if (s.valueType === 'float64') {
    view.setBigUint64(0, bits);
    return view.getFloat64(0);
  }
  const signedBits = s.signed && bits >> BigInt(s.length - 1) === 1n ? bits - (1n << BigInt(s.length)) : bits;
  return Number(signedBits);
}

/** cantools' `raw_to_scaled`: identity keeps the raw value, otherwise raw * scale + offset. */
export function refScale(s: DbcSignal, raw: number): number {
  return s.factor === 1 && s.offset === 0 ? raw : raw * s.factor + s.offset;
}

/**
 * cantools' Message.decode(data, decode_choices, allow_truncated=True), except that data past the
 * declared length is used instead of trimmed (our contract) and an unknown multiplexer value
 * omits the signals it would select instead of raising.
 */
export function refDecode(m: DbcMessage, d: Uint8Array, choices: boolean): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  const decodeNode = (parent: string | undefined, muxId: number | undefined): void => {
    for (const s of m.signals) {
      if (s.multiplexerSignal !== parent) continue;
      if (muxId !== undefined && !(s.multiplexerIds ?? []).includes(muxId)) continue;
      if (!fits(s, d.length)) continue;
      const raw = refRaw(s, d);
      const text = choices ? s.choices?.get(raw) : undefined;
      out[s.name] = text ?? refScale(s, raw);
      if (!s.isMultiplexer) continue;
      // Message._get_mux_number: text maps back to its number (last raw with that text wins).
      let mux: number;
      if (text !== undefined) {
        mux = [...s.choices!].filter(([, t]) => t === text).at(-1)![0];
      } else {
        mux = Math.trunc(refScale(s, raw));
      }
      const children = m.signals.some((c) => c.multiplexerSignal === s.name && (c.multiplexerIds ?? []).includes(mux));
      if (children) decodeNode(s.name, mux);
    }
  };
  decodeNode(undefined, undefined);
  return out;
}

/** Deterministic bytes for property tests and benchmarks. */
export function seededBytes(seed: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let a = seed >>> 0;
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (t ^ (t >>> 14)) & 0xff;
  }
  return out;
}
