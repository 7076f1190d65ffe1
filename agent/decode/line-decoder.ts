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
  /** The constant middle of each message's output line, built once per message. */
  private readonly prefixes = new Map<MessageCodec, string>();

  constructor(
    private readonly codec: DbcCodec,
    private readonly options: LineDecoderOptions,
  ) {}

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
    const signals = this.options.choices ? message.decodeWithChoices(frame.data) : message.decode(frame.data);
    return `{"ts":${frame.ts / 1e6},"bus":${JSON.stringify(frame.bus)}${this.prefix(message)}${JSON.stringify(signals)}}`;
  }

  counters(): Readonly<Record<DecodeCounterName, number>> {
    return this.stats.snapshot();
  }

  private prefix(message: MessageCodec): string {
    let p = this.prefixes.get(message);
    if (p === undefined) {
      const m = message.message;
      p = `,"id":${m.id},"ext":${m.extended},"name":${JSON.stringify(m.name)},"signals":`;
      this.prefixes.set(message, p);
    }
    return p;
  }
}

function isBlank(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13) return false;
  }
  return true;
}
