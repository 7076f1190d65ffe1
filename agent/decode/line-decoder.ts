import { Counters } from '../../core/counters.js';
import { TcuError, asTcuError } from '../../core/errors.js';
import { parseCandumpLine } from '../../drivers/can/candump/format.js';
import type { DbcCodec, MessageCodec } from '../../drivers/can/dbc/model.js';

export const DECODE_COUNTER_NAMES = ['lines', 'frames', 'decoded', 'unknownIds', 'malformed', 'notData'] as const;
export type DecodeCounterName = (typeof DECODE_COUNTER_NAMES)[number];

export interface LineDecoderOptions {
  /** Value-table text instead of numbers where the raw value has one. */
  choices: boolean;
  /** Called for each malformed line, with its 1-based number. */
  onMalformed?: (err: TcuError, lineNumber: number) => void;
}

/**
 * Turns candump log lines into the JSON lines of `tcu-agent decode`:
 * `{"ts","bus","id","ext","name","signals"}`. Pure: no I/O, so the CLI and the benchmark share it.
 */
export class CandumpLineDecoder {
  private readonly stats = new Counters(DECODE_COUNTER_NAMES);
  /** What is constant per message in its output lines, built on first use. */
  private readonly layouts = new Map<MessageCodec, MessageLayout>();
  /** Scratch space for `decodeValues`, as long as the largest message's signal count. */
  private values: Float64Array;

  constructor(
    private readonly codec: DbcCodec,
    private readonly options: LineDecoderOptions,
  ) {
    this.values = new Float64Array(Math.max(1, ...codec.messages.map((m) => m.signalNames.length)));
  }

  /** One JSON line (no newline) for a frame the DBC knows; undefined otherwise. Never throws. */
  decodeLine(line: string): string | undefined {
    const lineNumber = this.stats.get('lines') + 1;
    this.stats.inc('lines');
    if (isBlank(line)) return undefined;
    let frame;
    try {
      frame = parseCandumpLine(line);
    } catch (err) {
      this.stats.inc('malformed');
      this.options.onMalformed?.(asTcuError(err, 'CANDUMP_SYNTAX'), lineNumber);
      return undefined;
    }
    this.stats.inc('frames');
    if (frame.rtr || frame.err) {
      this.stats.inc('notData');
      return undefined;
    }
    const message = this.codec.get(frame.id, frame.ext);
    if (message === undefined) {
      this.stats.inc('unknownIds');
      return undefined;
    }
    this.stats.inc('decoded');
    const layout = this.layout(message);
    const head = `{"ts":${frame.ts / 1e6},"bus":${JSON.stringify(frame.bus)}${layout.prefix}`;
    if (this.options.choices) return `${head}${JSON.stringify(message.decodeWithChoices(frame.data))}}`;
    // The hot path: values into a reused array, then the JSON written directly (no object per frame).
    const values = this.values;
    message.decodeValues(frame.data, frame.data.length, values);
    let body = '';
    const keys = layout.keys;
    for (let i = 0; i < keys.length; i++) {
      const v = values[i]!;
      if (v !== v) continue; // NaN: the signal is absent from this frame
      body += (body.length === 0 ? '{' : ',') + keys[i] + (v === Infinity || v === -Infinity ? 'null' : v);
    }
    return `${head}${body.length === 0 ? '{' : body}}}`;
  }

  counters(): Readonly<Record<DecodeCounterName, number>> {
    return this.stats.snapshot();
  }

  private layout(message: MessageCodec): MessageLayout {
    let layout = this.layouts.get(message);
    if (layout === undefined) {
      const m = message.message;
      layout = {
        prefix: `,"id":${m.id},"ext":${m.extended},"name":${JSON.stringify(m.name)},"signals":`,
        keys: message.signalNames.map((name) => `${JSON.stringify(name)}:`),
      };
      this.layouts.set(message, layout);
    }
    return layout;
  }
}

interface MessageLayout {
  /** `,"id":…,"ext":…,"name":…,"signals":` */
  prefix: string;
  /** `"SignalName":` per signal, in `signalNames` order. */
  keys: string[];
}

function isBlank(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13) return false;
  }
  return true;
}
