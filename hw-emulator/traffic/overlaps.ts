import { motorolaLinearPosition } from '../../drivers/can/dbc/layout.js';
import type { DbcMessage, DbcSignal } from '../../drivers/can/dbc/model.js';
import { generatedRawRange, type SignalGenerator } from './signals.js';

/**
 * Some real DBCs describe the same bits twice (two signals of one message overlap). Values drawn
 * independently would then fight over the shared bits and decode out of range. This plan makes
 * the overlapping signals agree: signals are ranked (multiplexer switches, then mapped signals,
 * then the most tightly constrained), each keeps its own value unless it overlaps bits a higher
 * ranked signal already owns; then it is a follower whose raw value is read from those bits, with
 * its remaining bits 0.
 */
export interface OverlapPlan {
  /** Rewrites the followers' values in `values` from the leaders' raw values. */
  apply(values: Record<string, number>): void;
}

/** Global bit index (byte × 8 + bit in byte) of each raw bit, least significant first (cantools layout). */
export function signalBits(s: Pick<DbcSignal, 'startBit' | 'length' | 'byteOrder'>): number[] {
  const out: number[] = [];
  if (s.byteOrder === 'little_endian') {
    for (let k = 0; k < s.length; k++) out.push(s.startBit + k);
  } else {
    const msb = motorolaLinearPosition(s.startBit);
    // linear position back to a global bit index: the same mapping, which is its own inverse
    for (let k = 0; k < s.length; k++) out.push(motorolaLinearPosition(msb + s.length - 1 - k));
  }
  return out;
}

function coPresent(a: DbcSignal, b: DbcSignal): boolean {
  if (a.multiplexerSignal === b.name || b.multiplexerSignal === a.name) return false;
  if (a.multiplexerSignal === undefined || b.multiplexerSignal === undefined) return true;
  if (a.multiplexerSignal !== b.multiplexerSignal) return true;
  const ids = new Set(a.multiplexerIds ?? []);
  return (b.multiplexerIds ?? []).some((id) => ids.has(id));
}

interface Follower {
  gen: SignalGenerator;
  signal: DbcSignal;
  /** For each raw bit k of the follower: the generator and raw bit owning it, or undefined (free, 0). */
  sources: Array<{ gen: SignalGenerator; signal: DbcSignal; bit: number } | undefined>;
}

/** A plan for `message`, or undefined when no two co-present signals share a bit (the usual case). */
export function planOverlaps(message: DbcMessage, generators: readonly SignalGenerator[]): OverlapPlan | undefined {
  const signals = message.signals;
  const bits = signals.map(signalBits);
  let any = false;
  for (let i = 0; i < signals.length && !any; i++) {
    const mine = new Set(bits[i]);
    for (let j = i + 1; j < signals.length && !any; j++) {
      if (coPresent(signals[i]!, signals[j]!) && bits[j]!.some((b) => mine.has(b))) any = true;
    }
  }
  if (!any) return undefined;

  const tightness = (s: DbcSignal): number => {
    const [lo, hi] = generatedRawRange(s);
    return (hi - lo + 1) / 2 ** Math.min(s.length, 52);
  };
  const rank = (i: number): number =>
    signals[i]!.isMultiplexer ? -2 : generators[i]!.kind === 'mapped' ? -1 : tightness(signals[i]!);
  const order = signals.map((_, i) => i).sort((a, b) => rank(a) - rank(b) || a - b);

  const followers: Follower[] = [];
  const placed: number[] = [];
  for (const i of order) {
    const s = signals[i]!;
    const overlapping = placed.filter((p) => coPresent(signals[p]!, s) && bits[p]!.some((b) => bits[i]!.includes(b)));
    if (overlapping.length > 0) {
      const sources = bits[i]!.map((g) => {
        for (const p of overlapping) {
          const k = bits[p]!.indexOf(g);
          if (k >= 0) return { gen: generators[p]!, signal: signals[p]!, bit: k };
        }
        return undefined;
      });
      followers.push({ gen: generators[i]!, signal: s, sources });
    }
    placed.push(i);
  }
  return {
    apply(values: Record<string, number>): void {
      for (const f of followers) {
        let raw = 0;
        for (let k = 0; k < f.sources.length; k++) {
          const src = f.sources[k];
          if (src && bitOf(unsignedRaw(src.gen, src.signal), src.bit)) raw += 2 ** k;
        }
        if (f.signal.signed && raw >= 2 ** (f.signal.length - 1)) raw -= 2 ** f.signal.length;
        values[f.gen.name] = f.gen.follow(raw);
      }
    },
  };
}

function unsignedRaw(gen: SignalGenerator, s: DbcSignal): number {
  const raw = gen.rawValue;
  return raw < 0 ? raw + 2 ** s.length : raw;
}

function bitOf(value: number, k: number): boolean {
  return k < 31 ? ((value >>> k) & 1) === 1 : Math.floor(value / 2 ** k) % 2 === 1;
}
