import type { DbcMessage, DbcSignal } from '../../drivers/can/dbc/model.js';
import type { ResolvedSignalMapping } from '../mappings/resolve.js';
import { gaussian, randomInt, type Rng, uniform } from '../vehicle/random.js';
import type { VehicleState } from '../vehicle/state.js';

/**
 * Value generators for the signals of one message: mapped signals follow the vehicle model,
 * counters count, checksums churn, enumerations pick from their value table and change rarely,
 * multiplexer switches rotate through the values the DBC uses, everything else random-walks
 * inside its range. Integer signals are generated as raw values, so what is sent always lies on
 * the signal's grid inside [minimum, maximum] (where minimum < maximum) and inside what the bits hold.
 */
export type SignalKind = 'mapped' | 'multiplexer' | 'counter' | 'checksum' | 'enum' | 'walk' | 'float';

/** Probability per transmission that an enumeration or a flag changes its value. */
const ENUM_CHANGE_P = 0.003;
/** Random-walk step, as a fraction of the range, per transmission. */
const WALK_STEP = 0.006;
/** Widest raw range generated for a signal without a declared range, bits. */
const UNDECLARED_BITS = 32;
const SMALL_RANGE = 16;
const ABNORMAL = /\b(sna|n\/?a|invalid|init|fault|error|err|fail|reserved|not[ _]?avail|undefined|unknown)/i;
const COUNTER = /(counter\d*$|(^|_)(bz|ctr|cnt|rc|alive)\d*$|^mc_|alivecounter)/i;
const NOT_COUNTER = /invalid|error|fault/i;
const CHECKSUM = /(checksum|crc|chksum|chk)\d*$|^crc_/i;

export class SignalGenerator {
  readonly name: string;
  readonly kind: SignalKind;
  /** Current physical value (raw × factor + offset). */
  value = 0;
  private readonly factor: number;
  private readonly offset: number;
  private readonly lo: number;
  private readonly hi: number;
  private readonly step: number;
  private readonly entries: readonly number[];
  private index = 0;
  private raw = 0;

  constructor(
    signal: DbcSignal,
    dependents: readonly DbcSignal[],
    private readonly mapping: ResolvedSignalMapping | undefined,
    private readonly rng: Rng,
  ) {
    this.name = signal.name;
    this.factor = signal.factor === 0 ? 1 : signal.factor;
    this.offset = signal.offset;
    const float = signal.valueType !== 'integer';
    [this.lo, this.hi] = float ? floatRange(signal) : generatedRawRange(signal);
    this.step = Math.max(float ? 0 : 1, (this.hi - this.lo) * WALK_STEP);
    let entries: number[] = [];
    let kind: SignalKind;
    if (mapping) kind = 'mapped';
    else if (float) kind = 'float';
    else if (signal.isMultiplexer && (entries = muxValues(signal, dependents, this.lo, this.hi)).length > 0) kind = 'multiplexer';
    else if (COUNTER.test(signal.name) && !NOT_COUNTER.test(signal.name) && this.hi > this.lo) kind = 'counter';
    else if (CHECKSUM.test(signal.name)) kind = 'checksum';
    else if ((entries = enumValues(signal, this.lo, this.hi)).length > 0) kind = 'enum';
    else kind = 'walk';
    this.kind = kind;
    this.entries = entries;
    this.init(signal);
  }

  private init(signal: DbcSignal): void {
    const initial = signal.initialRaw;
    switch (this.kind) {
      case 'multiplexer':
        this.index = randomInt(this.rng, 0, this.entries.length - 1);
        this.raw = this.entries[this.index] ?? this.lo;
        break;
      case 'enum': {
        const at = initial === undefined ? -1 : this.entries.indexOf(initial);
        this.index = at >= 0 ? at : 0;
        this.raw = this.entries[this.index] ?? this.lo;
        break;
      }
      case 'counter':
      case 'checksum':
        this.raw = randomInt(this.rng, this.lo, this.hi);
        break;
      case 'float':
        this.raw = uniform(this.rng, this.lo, this.hi);
        break;
      default:
        this.raw =
          initial !== undefined && initial >= this.lo && initial <= this.hi
            ? initial
            : uniform(this.rng, this.lo + (this.hi - this.lo) / 4, this.hi - (this.hi - this.lo) / 4);
    }
    this.value = this.physical();
  }

  /** Advances to the value of the next transmission. `state` is the vehicle now. */
  next(state: VehicleState): number {
    const rng = this.rng;
    switch (this.kind) {
      case 'mapped': {
        const v = this.mapping ? this.mapping.valueFor(state) : NaN;
        if (!Number.isNaN(v)) this.raw = clamp(Math.round((v - this.offset) / this.factor), this.lo, this.hi);
        break;
      }
      case 'multiplexer':
        this.index = (this.index + 1) % this.entries.length;
        this.raw = this.entries[this.index] ?? this.lo;
        break;
      case 'counter':
        this.raw = this.raw >= this.hi ? this.lo : this.raw + 1;
        break;
      case 'checksum':
        this.raw = this.lo + Math.floor(rng.next() * (this.hi - this.lo + 1));
        break;
      case 'enum':
        if (this.entries.length > 1 && rng.next() < ENUM_CHANGE_P) {
          this.index = Math.floor(rng.next() * this.entries.length);
          this.raw = this.entries[this.index] ?? this.raw;
        }
        break;
      case 'float':
      case 'walk':
        this.raw = reflect(this.raw + gaussian(rng) * this.step, this.lo, this.hi);
        break;
    }
    this.value = this.physical();
    return this.value;
  }

  /** The integer raw value last sent (0 for floating-point signals). */
  get rawValue(): number {
    if (this.kind === 'float') return 0;
    return this.kind === 'walk' ? Math.round(this.raw) : this.raw;
  }

  /** Sets the raw value from outside (overlapping bits owned by another signal); returns the physical value. */
  follow(raw: number): number {
    if (this.kind !== 'float') {
      this.raw = raw;
      this.value = this.physical();
    }
    return this.value;
  }

  private physical(): number {
    if (this.kind === 'float') return this.raw;
    const raw = this.kind === 'walk' ? Math.round(this.raw) : this.raw;
    return raw * this.factor + this.offset;
  }
}

/** Generators for every signal of `message`, in DBC order. */
export function signalGenerators(
  message: DbcMessage,
  mappingFor: (signal: DbcSignal) => ResolvedSignalMapping | undefined,
  rng: Rng,
): SignalGenerator[] {
  return message.signals.map((signal) => {
    const dependents = signal.isMultiplexer ? message.signals.filter((s) => s.multiplexerSignal === signal.name) : [];
    return new SignalGenerator(signal, dependents, mappingFor(signal), rng);
  });
}

/**
 * The raw values the generator sends for an integer signal: the declared [minimum, maximum] (when
 * minimum < maximum) in raw units, within what the bits hold; without a declared range, what the
 * bits hold, capped at 32 bits. (The codec's `rawRange` is only what the bits hold.)
 */
export function generatedRawRange(signal: DbcSignal): [number, number] {
  const declared = signal.minimum < signal.maximum;
  const bits = Math.min(signal.length, declared ? 52 : UNDECLARED_BITS);
  const bitsLo = signal.signed ? -(2 ** (bits - 1)) : 0;
  const bitsHi = signal.signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  if (!declared) return [bitsLo, bitsHi];
  const factor = signal.factor === 0 ? 1 : signal.factor;
  const a = (signal.minimum - signal.offset) / factor;
  const b = (signal.maximum - signal.offset) / factor;
  const eps = 1e-6;
  const lo = Math.max(bitsLo, Math.ceil(Math.min(a, b) - eps));
  const hi = Math.min(bitsHi, Math.floor(Math.max(a, b) + eps));
  if (lo <= hi) return [lo, hi];
  // The declared range misses every raw value the bits hold: send the nearest one.
  const nearest = clamp(Math.round(a), bitsLo, bitsHi);
  return [nearest, nearest];
}

function floatRange(signal: DbcSignal): [number, number] {
  return signal.minimum < signal.maximum ? [signal.minimum, signal.maximum] : [-1000, 1000];
}

/** Raw switch values that select the dependents (ids compare with the scaled switch value, as in cantools). */
function muxValues(signal: DbcSignal, dependents: readonly DbcSignal[], lo: number, hi: number): number[] {
  const factor = signal.factor === 0 ? 1 : signal.factor;
  const values = new Set<number>();
  for (const d of dependents) {
    for (const id of d.multiplexerIds ?? []) {
      const raw = Math.round((id - signal.offset) / factor);
      if (raw >= lo && raw <= hi) values.add(raw);
    }
  }
  return [...values].sort((x, y) => x - y);
}

/**
 * The raw values an enumeration takes: its value-table entries that are in range and not
 * "SNA", "invalid", "fault" and the like; small-range signals without a table (flags, states)
 * count as enumerations of every value.
 */
function enumValues(signal: DbcSignal, lo: number, hi: number): number[] {
  const size = hi - lo + 1;
  const table = signal.choices ? [...signal.choices].filter(([raw]) => raw >= lo && raw <= hi) : [];
  const normal = table.filter(([, text]) => !ABNORMAL.test(text)).map(([raw]) => raw);
  if (normal.length >= 2 || (normal.length === 1 && size <= SMALL_RANGE)) return normal.sort((a, b) => a - b);
  if (size <= SMALL_RANGE) {
    const all: number[] = [];
    const start = lo <= 0 && hi >= 0 ? 0 : lo;
    all.push(start); // first entry is where a flag starts: 0 when 0 is allowed
    for (let r = lo; r <= hi; r++) if (r !== start) all.push(r);
    return all;
  }
  return [];
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/** Keeps a random walk inside [lo, hi] by reflecting at the bounds. */
function reflect(v: number, lo: number, hi: number): number {
  if (hi <= lo) return lo;
  if (v < lo) v = lo + (lo - v);
  if (v > hi) v = hi - (v - hi);
  return clamp(v, lo, hi);
}

