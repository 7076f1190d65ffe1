import type { Clock } from '../../core/clock.js';
import { TcuError } from '../../core/errors.js';
import type { DbcCodec, DbcSignal, MessageCodec } from '../../drivers/can/dbc/model.js';
import type { CanFrame } from '../../drivers/can/frame.js';

/** A resolved `Message.Signal` on one bus: indices into the state, no string work per frame. */
export interface SignalRef {
  /** `Message.Signal`, as configured. */
  readonly key: string;
  readonly bus: string;
  readonly message: number;
  readonly signal: number;
}

export type FrameListener = (message: number, values: Float64Array, tsMs: number) => void;

/**
 * The latest value of every signal of one bus, decoded from frames as they arrive. Values live in
 * one Float64Array per message (NaN: never seen); a frame updates only the signals it carries.
 * Each message also keeps when it last arrived, by the injected clock's monotonic reading (not the
 * frame's timestamp, which is old in a log replay), so readers can leave out values gone stale.
 */
export class SignalState {
  private readonly index = new Map<MessageCodec, number>();
  private readonly values: Float64Array[];
  private readonly scratch: Float64Array;
  private readonly listeners: FrameListener[][];
  /** Monotonic ms of each message's last arrival (-Infinity: never). */
  private readonly arrivals: Float64Array;
  private decodedFrames = 0;
  private unknownFrames = 0;

  constructor(
    readonly bus: string,
    private readonly codec: DbcCodec,
    private readonly clock: Pick<Clock, 'monotonic'>,
  ) {
    this.arrivals = new Float64Array(codec.messages.length).fill(-Infinity);
    codec.messages.forEach((m, i) => this.index.set(m, i));
    this.values = codec.messages.map((m) => new Float64Array(m.signalNames.length).fill(NaN));
    this.scratch = new Float64Array(Math.max(1, ...codec.messages.map((m) => m.signalNames.length)));
    this.listeners = codec.messages.map(() => []);
  }

  /** `Message.Signal` to a reference; CONFIG_INVALID naming it when the DBC has no such signal. */
  resolve(key: string): SignalRef {
    const dot = key.indexOf('.');
    const codec = dot > 0 ? this.codec.byName(key.slice(0, dot)) : undefined;
    const signal = codec ? codec.signalNames.indexOf(key.slice(dot + 1)) : -1;
    if (!codec || signal < 0) {
      throw new TcuError('CONFIG_INVALID', `signal ${key} is not in the DBC of bus ${this.bus}`, { details: { key, bus: this.bus } });
    }
    return { key, bus: this.bus, message: this.index.get(codec)!, signal };
  }

  /** The DBC signal behind a reference (value table, factor, unit). */
  signalOf(ref: SignalRef): DbcSignal {
    return this.codec.messages[ref.message]!.message.signals[ref.signal]!;
  }

  /** Called with a message's whole value array each time a frame of it is decoded. */
  onMessage(message: number, listener: FrameListener): void {
    this.listeners[message]!.push(listener);
  }

  /** Decodes a frame into the state. Returns false for frames the DBC does not know. */
  ingest(frame: CanFrame): boolean {
    const codec = frame.rtr || frame.err ? undefined : this.codec.get(frame.id, frame.ext);
    if (codec === undefined) {
      this.unknownFrames++;
      return false;
    }
    this.decodedFrames++;
    const m = this.index.get(codec)!;
    const scratch = this.scratch;
    codec.decodeValues(frame.data, frame.data.length, scratch);
    const values = this.values[m]!;
    this.arrivals[m] = this.clock.monotonic();
    for (let i = 0; i < values.length; i++) {
      const v = scratch[i]!;
      if (v === v) values[i] = v;
    }
    const tsMs = frame.ts / 1000;
    const listeners = this.listeners[m]!;
    for (let i = 0; i < listeners.length; i++) listeners[i]!(m, values, tsMs);
    return true;
  }

  /** The latest value (NaN: never seen). */
  read(ref: SignalRef): number {
    return this.values[ref.message]![ref.signal]!;
  }

  /** The clock's monotonic reading when the signal's message last arrived (-Infinity: never). */
  arrivedAt(ref: SignalRef): number {
    return this.arrivals[ref.message]!;
  }

  counts(): { decoded: number; unknown: number } {
    return { decoded: this.decodedFrames, unknown: this.unknownFrames };
  }
}
