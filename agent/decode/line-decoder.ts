import { Counters } from '../../core/counters.js';
import { TcuError, asTcuError } from '../../core/errors.js';
import { parseCandumpLine } from '../../drivers/can/candump/format.js';
import { isBlank } from '../../drivers/can/candump/lines.js';
import type { DbcCodec, MessageCodec } from '../../drivers/can/dbc/model.js';
import { ByteWriter } from './byte-writer.js';

export const DECODE_COUNTER_NAMES = ['lines', 'frames', 'decoded', 'unknownIds', 'malformed', 'notData'] as const;
export type DecodeCounterName = (typeof DECODE_COUNTER_NAMES)[number];

export interface LineDecoderOptions {
  /** Value-table text instead of numbers where the raw value has one. */
  choices: boolean;
  /** Called for each malformed line, with its 1-based number. */
  onMalformed?: (err: TcuError, lineNumber: number) => void;
}

/** What is constant per message in its output lines, encoded once. */
interface MessageLayout {
  /** `,"id":…,"ext":…,"name":…,"signals":` */
  prefix: Buffer;
  /** `"SignalName":` per signal, in `signalNames` order. */
  keys: Buffer[];
  /** Per signal: decimal places of its scaled values (0: not a fixed-point signal), and 10^places. */
  decimals: Int32Array;
  scales: Float64Array;
  /** The message has IEEE float signals. */
  hasFloat: boolean;
}

const TS_KEY = Buffer.from('{"ts":');
const OPEN = 0x7b; // {
const CLOSE = 0x7d; // }
const COMMA = 0x2c;
const NEWLINE = 0x0a;

/**
 * Turns candump log lines into the JSON lines of `tcu-agent decode`:
 * `{"ts","bus","id","ext","name","signals"}`. Pure: no I/O, so the CLI and the benchmark share it.
 * Output goes straight into bytes: at hundreds of thousands of lines a second, building strings
 * and encoding them costs more than decoding.
 */
export class CandumpLineDecoder {
  private readonly stats = new Counters(DECODE_COUNTER_NAMES);
  private readonly layouts = new Map<MessageCodec, MessageLayout>();
  private readonly busKeys = new Map<string, Buffer>();
  /** Scratch space for `decodeValues`, as long as the largest message's signal count. */
  private readonly values: Float64Array;

  constructor(
    private readonly codec: DbcCodec,
    private readonly options: LineDecoderOptions,
  ) {
    this.values = new Float64Array(Math.max(1, ...codec.messages.map((m) => m.signalNames.length)));
  }

  /** Counts a line the caller could not even split out (over-long) as malformed. */
  skipLine(reason: TcuError): void {
    this.stats.inc('lines');
    this.stats.inc('malformed');
    this.options.onMalformed?.(reason, this.stats.get('lines'));
  }

  /**
   * Appends one JSON line (with its newline) to `out` for a frame the DBC knows, and returns
   * true; returns false for anything else. Never throws.
   */
  decodeLineTo(line: string, out: ByteWriter): boolean {
    const lineNumber = this.stats.get('lines') + 1;
    this.stats.inc('lines');
    if (isBlank(line)) return false;
    let frame;
    try {
      frame = parseCandumpLine(line);
    } catch (err) {
      this.stats.inc('malformed');
      this.options.onMalformed?.(asTcuError(err, 'CANDUMP_SYNTAX'), lineNumber);
      return false;
    }
    this.stats.inc('frames');
    if (frame.rtr || frame.err) {
      this.stats.inc('notData');
      return false;
    }
    const message = this.codec.get(frame.id, frame.ext);
    if (message === undefined) {
      this.stats.inc('unknownIds');
      return false;
    }
    this.stats.inc('decoded');
    const layout = this.layout(message);
    out.bytes(TS_KEY);
    out.seconds(frame.ts);
    out.bytes(this.busKey(frame.bus));
    out.bytes(layout.prefix);
    if (this.options.choices) {
      out.text(JSON.stringify(message.decodeWithChoices(frame.data)));
    } else if (layout.hasFloat) {
      // decodeValues marks absent signals with NaN, which a float signal can also hold: take the
      // object, where a present NaN stays present (and JSON writes it as null).
      out.text(JSON.stringify(message.decode(frame.data)));
    } else {
      const values = this.values;
      message.decodeValues(frame.data, frame.data.length, values);
      const keys = layout.keys;
      let first = true;
      for (let i = 0; i < keys.length; i++) {
        const v = values[i]!;
        if (v !== v) continue; // NaN: the signal is absent from this frame
        out.byte(first ? OPEN : COMMA);
        out.bytes(keys[i]!);
        out.decimal(v, layout.decimals[i]!, layout.scales[i]!);
        first = false;
      }
      if (first) out.byte(OPEN);
      out.byte(CLOSE);
    }
    out.byte(CLOSE);
    out.byte(NEWLINE);
    return true;
  }

  /** One JSON line (no newline), or undefined when the line yields none. For tests and small uses. */
  decodeLine(line: string): string | undefined {
    const out = new ByteWriter(1024);
    if (!this.decodeLineTo(line, out)) return undefined;
    return out.take().toString('utf8').slice(0, -1);
  }

  counters(): Readonly<Record<DecodeCounterName, number>> {
    return this.stats.snapshot();
  }

  private layout(message: MessageCodec): MessageLayout {
    let layout = this.layouts.get(message);
    if (layout === undefined) {
      const m = message.message;
      layout = {
        prefix: Buffer.from(`,"id":${m.id},"ext":${m.extended},"name":${JSON.stringify(m.name)},"signals":`),
        keys: message.signalNames.map((name) => Buffer.from(`${JSON.stringify(name)}:`)),
        decimals: Int32Array.from(m.signals, (sig) => (sig.valueType === 'integer' ? Math.max(decimalPlaces(sig.factor), decimalPlaces(sig.offset)) : 0)),
        scales: new Float64Array(m.signals.length),
        hasFloat: m.signals.some((sig) => sig.valueType !== 'integer'),
      };
      layout.decimals.forEach((d, i) => (layout!.scales[i] = 10 ** d));
      this.layouts.set(message, layout);
    }
    return layout;
  }

  private busKey(bus: string): Buffer {
    let key = this.busKeys.get(bus);
    if (key === undefined) {
      key = Buffer.from(`,"bus":${JSON.stringify(bus)}`);
      this.busKeys.set(bus, key);
    }
    return key;
  }
}

/** Digits after the decimal point of a factor or offset as written (10 when it needs an exponent). */
function decimalPlaces(x: number): number {
  const text = String(x);
  if (text.includes('e')) return 10;
  const dot = text.indexOf('.');
  return dot === -1 ? 0 : text.length - dot - 1;
}
