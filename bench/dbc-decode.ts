// DBC decode throughput: compiled codecs over random traffic for every fixture DBC, the
// allocation-free decodeValues path, and a naive bit-by-bit interpreter as the in-run baseline.
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileDbc } from '../drivers/can/dbc/codec.js';
import type { DbcCodec, DbcMessage, DbcSignal, MessageCodec } from '../drivers/can/dbc/model.js';
import { loadDbcFile, parseDbc } from '../drivers/can/dbc/parser.js';
import { prng } from './lib-traffic.js';

type Emit = (name: string, value: number, unit: string) => void;

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures', 'dbc');
const FRAMES = 100_000;
const WARMUP_MS = 250;
const MEASURE_MS = 1000;

interface Traffic {
  ids: Int32Array;
  ext: Uint8Array;
  data: Uint8Array[];
}

/** Random messages of the DBC with random payloads of their declared length. */
function traffic(messages: readonly DbcMessage[], seed: number): Traffic {
  const random = prng(seed);
  const t: Traffic = { ids: new Int32Array(FRAMES), ext: new Uint8Array(FRAMES), data: [] };
  for (let i = 0; i < FRAMES; i++) {
    const m = messages[Math.floor(random() * messages.length)]!;
    const data = new Uint8Array(m.length);
    for (let j = 0; j < data.length; j++) data[j] = Math.floor(random() * 256);
    t.ids[i] = m.id;
    t.ext[i] = m.extended ? 1 : 0;
    t.data.push(data);
  }
  return t;
}

/** Runs `pass` (one sweep over the traffic, returns frames handled) for `ms`; frames per second. */
function rate(pass: () => number, ms: number): number {
  let frames = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    frames += pass();
    now = performance.now();
  }
  return (frames * 1000) / (now - start);
}

function measure(pass: () => number): number {
  rate(pass, WARMUP_MS);
  return rate(pass, MEASURE_MS);
}

function decodePass(codec: DbcCodec, t: Traffic): () => number {
  // Results are kept (a ring of the last 1024), so the optimiser cannot elide the objects.
  const kept: Record<string, number>[] = new Array<Record<string, number>>(1024);
  return () => {
    const { ids, ext, data } = t;
    for (let i = 0; i < FRAMES; i++) {
      const c = codec.get(ids[i]!, ext[i] === 1);
      if (c !== undefined) kept[i & 1023] = c.decode(data[i]!);
    }
    return kept.length === 1024 ? FRAMES : 0;
  };
}

function valuesPass(codec: DbcCodec, t: Traffic): () => number {
  const outs = new Map<MessageCodec, Float64Array>(codec.messages.map((c) => [c, new Float64Array(c.signalNames.length)]));
  let sink = 0;
  return () => {
    const { ids, ext, data } = t;
    for (let i = 0; i < FRAMES; i++) {
      const c = codec.get(ids[i]!, ext[i] === 1);
      if (c === undefined) continue;
      const d = data[i]!;
      const out = outs.get(c)!;
      c.decodeValues(d, d.length, out);
      sink += out.length;
    }
    return sink > 0 ? FRAMES : 0;
  };
}

/** The baseline: what a straightforward interpreter does, one bit at a time, per frame. */
function bitwiseDecode(m: DbcMessage, d: Uint8Array): Record<string, number> {
  const out: Record<string, number> = {};
  const n = d.length;
  const muxValues = new Map<string, number>();
  for (const s of m.signals) {
    if (s.isMultiplexer && s.multiplexerSignal === undefined) {
      const raw = bitwiseRaw(s, d, n);
      if (raw !== undefined) muxValues.set(s.name, raw);
    }
  }
  for (const s of m.signals) {
    if (s.multiplexerSignal !== undefined) {
      const mux = muxValues.get(s.multiplexerSignal);
      if (mux === undefined || !(s.multiplexerIds ?? []).includes(mux)) continue;
    }
    const raw = bitwiseRaw(s, d, n);
    if (raw !== undefined) out[s.name] = raw * s.factor + s.offset;
  }
  return out;
}

function bitwiseRaw(s: DbcSignal, d: Uint8Array, n: number): number | undefined {
  let raw = 0;
  for (let j = s.length - 1; j >= 0; j--) {
    let byte: number;
    let bit: number;
    if (s.byteOrder === 'little_endian') {
      const k = s.startBit + j;
      byte = k >> 3;
      bit = k & 7;
    } else {
      const q = 8 * (s.startBit >> 3) + 7 - (s.startBit & 7) + s.length - 1 - j;
      byte = q >> 3;
      bit = 7 - (q & 7);
    }
    if (byte >= n) return undefined;
    raw = raw * 2 + ((d[byte]! >> bit) & 1);
  }
  if (s.signed && raw >= 2 ** (s.length - 1)) raw -= 2 ** s.length;
  return raw;
}

function bitwisePass(codec: DbcCodec, t: Traffic): () => number {
  const byKey = new Map<number, DbcMessage>();
  for (const m of codec.db.messages) byKey.set(m.id * 2 + (m.extended ? 1 : 0), m);
  let sink = 0;
  return () => {
    const { ids, ext, data } = t;
    for (let i = 0; i < FRAMES; i++) {
      const m = byKey.get(ids[i]! * 2 + ext[i]!);
      if (m !== undefined && bitwiseDecode(m, data[i]!) !== undefined) sink++;
    }
    return sink > 0 ? FRAMES : 0;
  };
}

/** Median time to parse a DBC file's text, after a few warm-up parses. */
function parseMs(text: string): number {
  for (let i = 0; i < 5; i++) parseDbc(text);
  const times: number[] = [];
  for (let i = 0; i < 15; i++) {
    const start = performance.now();
    parseDbc(text);
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
}

export async function run(emit: Emit): Promise<void> {
  const vw = readFileSync(join(FIXTURES, 'vw_mqb.dbc'), 'utf8');
  const start = performance.now();
  parseDbc(vw);
  emit('dbc.parse.vw_mqb.cold', performance.now() - start, 'ms');
  emit('dbc.parse.vw_mqb', parseMs(vw), 'ms');
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.dbc')).sort();
  for (const file of files) {
    const name = basename(file, '.dbc');
    const codec = compileDbc(loadDbcFile(join(FIXTURES, file)));
    if (codec.messages.length === 0) continue;
    const t = traffic(codec.db.messages, 42);
    const compiled = measure(decodePass(codec, t));
    emit(`dbc.decode.${name}`, compiled, 'frames/s');
    if (name !== 'vw_mqb') continue;
    emit(`dbc.decodeValues.${name}`, measure(valuesPass(codec, t)), 'frames/s');
    const bitwise = measure(bitwisePass(codec, t));
    emit(`dbc.decode.${name}.bitwise`, bitwise, 'frames/s');
    emit(`dbc.decode.${name}.speedup_vs_bitwise`, compiled / bitwise, 'x');
  }
  await Promise.resolve();
}
