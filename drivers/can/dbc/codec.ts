import { TcuError } from '../../../core/errors.js';
import type { DbcCodec, DbcDatabase, DbcMessage, DbcSignal, MessageCodec } from './model.js';
import { GENERATED_PARAMS, generateSource, planMessage } from './codegen.js';
import { validateMessage } from './layout.js';

/**
 * Compiles a DBC database into codecs: each message once into generated JavaScript (see
 * `codegen.ts`), looked up by (id, extended) in O(1).
 *
 * Decoding matches cantools' `Message.decode(data, allow_truncated=True)` signal for signal:
 * the same bits, `raw * factor + offset` in the same order (so the doubles are identical), IEEE
 * floats reinterpreting the raw bits, and multiplexed signals chosen by `int(scaled switch value)`
 * (with value-table text mapped back to its number in the `decodeWithChoices` flavour). Where
 * cantools would raise (unknown multiplexer value, data past the declared length) the signals
 * concerned are simply absent; nothing here throws on any payload.
 *
 * Encoding follows cantools' `scaled_to_raw`: raw = round((value - offset) / factor) with
 * Python's rounding (half to even), then clamped to what the bits can hold; floats are not
 * rounded. A multiplexer switch value selects which multiplexed signals are written, by
 * `int(value)` (or the text's number). Missing signals encode as `initialRaw` or 0.
 */
export function compileMessage(msg: DbcMessage): MessageCodec {
  validateMessage(msg);
  const signals = msg.signals;
  const inverses = signals.map(inverseChoices);
  const plans = planMessage(msg, (s) => needsChoiceMux(s, inverses[signals.indexOf(s)]));
  const C = signals.map((s) => (s.choices !== undefined && s.choices.size > 0 ? s.choices : undefined));
  const S = signals.map((s) => ((s.multiplexerIds ?? []).length > 4 ? new Set(s.multiplexerIds) : undefined));
  const MX = signals.map((s, i) => choiceMuxNumber(s, inverses[i]));
  const K = signals.map((s, i) => converter(msg, s, inverses[i]));
  const X = signals.map((s, i) => encodeMuxNumber(s, inverses[i]));
  const buffer = new ArrayBuffer(8);
  const U = new Uint32Array(buffer);
  const littleEndianHost = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
  const source = generateSource(msg, plans);
  const build = new Function(...GENERATED_PARAMS, source) as (...args: unknown[]) => GeneratedFunctions;
  const fns = build(C, S, MX, K, X, U, new Float32Array(buffer), new Float64Array(buffer), littleEndianHost ? 0 : 1, littleEndianHost ? 1 : 0);
  return new CompiledMessage(msg, Object.freeze(signals.map((s) => s.name)), fns);
}

export function compileDbc(db: DbcDatabase): DbcCodec {
  const messages = db.messages.map(compileMessage);
  const standard: Array<MessageCodec | undefined> = new Array<MessageCodec | undefined>(0x800).fill(undefined);
  const other = new Map<number, MessageCodec>();
  const extended = new Map<number, MessageCodec>();
  const names = new Map<string, MessageCodec>();
  // As in cantools, a later message with the same id or name wins the lookup.
  for (const c of messages) {
    const { id } = c.message;
    if (c.message.extended) extended.set(id, c);
    else if (Number.isInteger(id) && id >= 0 && id < 0x800) standard[id] = c;
    else other.set(id, c);
    names.set(c.message.name, c);
  }
  return {
    db,
    messages,
    get(id: number, ext: boolean): MessageCodec | undefined {
      return ext ? extended.get(id) : (standard[id] ?? other.get(id));
    },
    byName(name: string): MessageCodec | undefined {
      return names.get(name);
    },
  };
}

interface GeneratedFunctions {
  decode(data: Uint8Array, length?: number): Record<string, number>;
  decodeWithChoices(data: Uint8Array, length?: number): Record<string, number | string>;
  decodeValues(data: Uint8Array, length: number, out: Float64Array): void;
  encode(values: Readonly<Record<string, number | string>>): Uint8Array;
}

class CompiledMessage implements MessageCodec {
  readonly decode: GeneratedFunctions['decode'];
  readonly decodeWithChoices: GeneratedFunctions['decodeWithChoices'];
  readonly decodeValues: GeneratedFunctions['decodeValues'];
  readonly encode: GeneratedFunctions['encode'];

  constructor(
    readonly message: DbcMessage,
    readonly signalNames: readonly string[],
    fns: GeneratedFunctions,
  ) {
    this.decode = fns.decode;
    this.decodeWithChoices = fns.decodeWithChoices;
    this.decodeValues = fns.decodeValues;
    this.encode = fns.encode;
  }
}

/** Python's `round()`: to the nearest integer, ties to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The raw values an integer signal's bits can hold (beyond 53 bits, the nearest doubles inside). */
export function rawRange(s: Pick<DbcSignal, 'length' | 'signed'>): [number, number] {
  const L = s.length;
  const top = (n: number): number => (n <= 53 ? 2 ** n - 1 : 2 ** n - 2 ** (n - 53));
  return s.signed ? [-(2 ** (L - 1)), top(L - 1)] : [0, top(L)];
}

/** Text → raw, the last raw value with a given text winning (cantools' `_inverse_choices`). */
function inverseChoices(s: DbcSignal): Map<string, number> | undefined {
  if (s.choices === undefined || s.choices.size === 0) return undefined;
  const inverse = new Map<string, number>();
  for (const [raw, text] of s.choices) inverse.set(text, raw);
  return inverse;
}

function scale(s: DbcSignal, raw: number): number {
  return s.factor === 1 && s.offset === 0 ? raw : raw * s.factor + s.offset;
}

/** The switch's number differs from its raw value somewhere: decodeWithChoices needs a helper. */
function needsChoiceMux(s: DbcSignal, inverse: Map<string, number> | undefined): boolean {
  if (inverse === undefined || s.choices === undefined) return false;
  if (s.factor !== 1 || s.offset !== 0 || s.valueType !== 'integer') return true;
  for (const [raw, text] of s.choices) if (inverse.get(text) !== raw) return true;
  return false;
}

/** cantools `_get_mux_number` on a decoded value: value-table text maps back to its number. */
function choiceMuxNumber(s: DbcSignal, inverse: Map<string, number> | undefined): (raw: number) => number {
  const choices = s.choices;
  return (raw) => {
    const text = choices?.get(raw);
    if (text !== undefined && inverse !== undefined) return inverse.get(text) ?? NaN;
    return Math.trunc(scale(s, raw));
  };
}

/** The multiplexer number an encode value selects: `int(value)`, or the text's number. */
function encodeMuxNumber(s: DbcSignal, inverse: Map<string, number> | undefined): (value: unknown, raw: number) => number {
  const fromRaw = choiceMuxNumber(s, inverse);
  return (value, raw) => {
    if (typeof value === 'number') return Math.trunc(value);
    if (typeof value === 'string') return inverse?.get(value) ?? NaN;
    return fromRaw(raw);
  };
}

/** Scaled value (or value-table text) → raw value to write, as cantools' `scaled_to_raw`, clamped. */
function converter(m: DbcMessage, s: DbcSignal, inverse: Map<string, number> | undefined): (value: unknown) => number {
  const isFloat = s.valueType !== 'integer';
  const [low, high] = rawRange(s);
  const fail = (what: string): TcuError =>
    new TcuError('CAN_ENCODE_VALUE', `${m.name}.${s.name}: ${what}`, { details: { message: m.name, signal: s.name } });
  const toRaw = (raw: number): number => {
    if (isFloat) return raw;
    if (Number.isNaN(raw)) throw fail('the value is not a number');
    const r = roundHalfEven(raw);
    return r < low ? low : r > high ? high : r;
  };
  const initial = toRaw(s.initialRaw ?? 0);
  const identity = s.factor === 1 && s.offset === 0;
  return (value) => {
    if (value === undefined) return initial;
    if (typeof value === 'number') {
      if (identity) return toRaw(value);
      // A zero factor maps every raw value to the offset: write 0.
      return toRaw(s.factor === 0 ? 0 : (value - s.offset) / s.factor);
    }
    if (typeof value === 'string') {
      const raw = inverse?.get(value);
      if (raw === undefined) throw fail(`"${value}" is not in the signal's value table`);
      return toRaw(raw);
    }
    throw fail(`cannot encode a value of type ${typeof value}`);
  };
}
