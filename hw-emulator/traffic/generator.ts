import type { Clock } from '../../core/clock.js';
import { asTcuError, TcuError } from '../../core/errors.js';
import type { DbcCodec, DbcMessage, MessageCodec } from '../../drivers/can/dbc/model.js';
import { type CanFrame, CAN_MAX_DLEN, CANFD_MAX_DLEN, fdLengthFor } from '../../drivers/can/frame.js';
import type { ResolvedMapping } from '../mappings/resolve.js';
import type { VehicleModel } from '../vehicle/model.js';
import type { Rng } from '../vehicle/random.js';
import type { VehicleState } from '../vehicle/state.js';
import { type OverlapPlan, planOverlaps } from './overlaps.js';
import { type SignalGenerator, signalGenerators } from './signals.js';

export interface TrafficGeneratorOptions {
  /** The compiled DBC; `codec.db` is the database whose messages are sent. */
  codec: DbcCodec;
  model: VehicleModel;
  /** Which model quantities drive which signals (see `resolveMapping`); without it every signal is synthetic. */
  mapping?: ResolvedMapping;
  rng: Rng;
  clock: Clock;
  /** Bus name written into every frame. */
  bus: string;
  /** Period of messages without `GenMsgCycleTime`, ms. Default 100. */
  defaultCycleTimeMs?: number;
  /** Period by message name, ms; overrides the DBC. */
  cycleTimeMs?: Readonly<Record<string, number>>;
  /** Send only these messages (by name). Default: every message of the DBC. */
  messages?: readonly string[];
  /** Per-frame timing jitter as a fraction of the period (uniform ±). Default 0.02. */
  jitter?: number;
  /**
   * Advance the model along with the frames (to the frame's time, in steps of at least
   * `modelStepMs`). Default true; set false when something else steps the model.
   */
  driveModel?: boolean;
  /** Default 10 ms. */
  modelStepMs?: number;
  /**
   * Frames due more than this long before the `framesUntil` time are dropped (counted in
   * `framesDropped`), so a real-time caller that stalled (a laptop asleep) gets no burst.
   * Default: no limit, every frame is returned.
   */
  maxBacklogMs?: number;
}

export interface SkippedMessage {
  name: string;
  reason: string;
}

interface Slot {
  readonly message: DbcMessage;
  readonly codec: MessageCodec;
  readonly generators: readonly SignalGenerator[];
  readonly values: Record<string, number>;
  readonly overlaps: OverlapPlan | undefined;
  readonly periodUs: number;
  readonly length: number;
  readonly fd: boolean;
  nominalUs: number;
  dueUs: number;
}

/**
 * Produces the CAN traffic of a DBC from a vehicle model. Pull-based and clock-driven: nothing
 * runs on its own. `framesUntil(t)` returns every frame due up to `t` (µs, the clock's epoch);
 * `nextFrameFlood()` returns frames as fast as the caller asks, round-robin over the messages.
 * The same seed, clock readings and call sequence give the same frames.
 */
export class TrafficGenerator {
  private readonly slots: Slot[] = [];
  private readonly heap: Slot[] = [];
  private readonly skipped: SkippedMessage[] = [];
  private readonly rng: Rng;
  private readonly clock: Clock;
  private readonly model: VehicleModel;
  private readonly bus: string;
  private readonly jitter: number;
  private readonly driveModel: boolean;
  private readonly modelStepMs: number;
  private readonly maxBacklogUs: number;
  private readonly startUs: number;
  private readonly modelStartMs: number;
  private state: VehicleState;
  private stateTimeMs: number;
  private roundRobin = 0;
  private frames = 0;
  private dropped = 0;

  constructor(options: TrafficGeneratorOptions) {
    this.rng = options.rng;
    this.clock = options.clock;
    this.model = options.model;
    this.bus = options.bus;
    this.jitter = checkNumber('jitter', options.jitter ?? 0.02, 0, 0.45);
    this.driveModel = options.driveModel ?? true;
    this.modelStepMs = checkNumber('modelStepMs', options.modelStepMs ?? 10, 0, 60_000);
    this.maxBacklogUs = checkNumber('maxBacklogMs', options.maxBacklogMs ?? Infinity, 0, Infinity) * 1000;
    const defaultCycle = checkNumber('defaultCycleTimeMs', options.defaultCycleTimeMs ?? 100, 0.01, 3_600_000);
    this.startUs = this.clock.nowMicros();
    this.modelStartMs = this.model.timeMs;
    this.state = this.model.snapshot();
    this.stateTimeMs = this.model.timeMs;

    const db = options.codec.db;
    const wanted = options.messages ? new Set(options.messages) : undefined;
    for (const name of [...(wanted ?? []), ...Object.keys(options.cycleTimeMs ?? {})]) {
      if (!options.codec.byName(name)) throw new TcuError('EMULATOR_CONFIG', `the DBC has no message ${name}`);
    }
    const mapping = options.mapping;
    for (const message of db.messages) {
      if (wanted && !wanted.has(message.name)) continue;
      const codec = options.codec.get(message.id, message.extended);
      if (!codec || codec.message.name !== message.name) {
        this.skipped.push({ name: message.name, reason: 'another message has the same identifier' });
        continue;
      }
      if (message.length > CANFD_MAX_DLEN) {
        // The parser keeps such a message with a warning; no CAN or CAN FD frame can carry it.
        this.skipped.push({ name: message.name, reason: `${message.length} bytes is more than a CAN FD frame holds (${CANFD_MAX_DLEN})` });
        continue;
      }
      const cycle = options.cycleTimeMs?.[message.name] ?? message.cycleTimeMs ?? defaultCycle;
      const periodUs = Math.round(checkNumber(`cycle time of ${message.name}`, cycle, 0.01, 3_600_000) * 1000);
      const generators = signalGenerators(message, (s) => mapping?.find(message.name, s.name), this.rng);
      const values: Record<string, number> = {};
      for (const g of generators) values[g.name] = g.value;
      const overlaps = planOverlaps(message, generators);
      overlaps?.apply(values);
      const fd = message.fd || message.length > CAN_MAX_DLEN;
      try {
        codec.encode(values);
      } catch (err) {
        this.skipped.push({ name: message.name, reason: asTcuError(err, 'CAN_ENCODE_VALUE').message });
        continue;
      }
      const phase = Math.floor(this.rng.next() * periodUs);
      const slot: Slot = {
        message,
        codec,
        generators,
        values,
        overlaps,
        periodUs,
        length: fd ? fdLengthFor(message.length) : message.length,
        fd,
        nominalUs: this.startUs + phase,
        dueUs: this.startUs + phase,
      };
      this.slots.push(slot);
      this.heapPush(slot);
    }
  }

  /** Messages that are sent, in DBC order. */
  get messages(): readonly DbcMessage[] {
    return this.slots.map((s) => s.message);
  }

  /** Messages left out (duplicate identifiers, longer than 64 bytes, or the codec cannot encode them), with the reason. */
  get skippedMessages(): readonly SkippedMessage[] {
    return this.skipped;
  }

  get framesGenerated(): number {
    return this.frames;
  }

  /** Frames skipped because they were further behind than `maxBacklogMs`. */
  get framesDropped(): number {
    return this.dropped;
  }

  /** When the next scheduled frame is due, µs on the clock's epoch (`Infinity` with no messages). */
  nextDueMicros(): number {
    return this.heap[0]?.dueUs ?? Infinity;
  }

  /** Every scheduled frame due at or before `tMicros`, in time order. */
  framesUntil(tMicros: number): CanFrame[] {
    const out: CanFrame[] = [];
    const heap = this.heap;
    const cutoff = tMicros - this.maxBacklogUs;
    for (let top = heap[0]; top !== undefined && top.dueUs < cutoff; top = heap[0]) {
      const skip = Math.max(1, Math.ceil((cutoff - top.nominalUs) / top.periodUs));
      top.nominalUs += skip * top.periodUs;
      top.dueUs = top.nominalUs;
      this.dropped += skip;
      this.siftDown(0);
    }
    for (let top = heap[0]; top !== undefined && top.dueUs <= tMicros; top = heap[0]) {
      out.push(this.emit(top, top.dueUs));
      top.nominalUs += top.periodUs;
      const jitter = this.jitter === 0 ? 0 : Math.round((this.rng.next() * 2 - 1) * this.jitter * top.periodUs);
      top.dueUs = top.nominalUs + jitter;
      this.siftDown(0);
    }
    return out;
  }

  /** The frames due now on the clock. */
  due(): CanFrame[] {
    return this.framesUntil(this.clock.nowMicros());
  }

  /** Flood mode: the next message round-robin, with fresh values, stamped with the clock's time. */
  nextFrameFlood(): CanFrame {
    const slot = this.slots[this.roundRobin];
    if (slot === undefined) throw new TcuError('EMULATOR_CONFIG', 'the traffic generator has no messages to send');
    this.roundRobin = this.roundRobin + 1 === this.slots.length ? 0 : this.roundRobin + 1;
    return this.emit(slot, this.clock.nowMicros());
  }

  private emit(slot: Slot, ts: number): CanFrame {
    this.syncModel(ts);
    const state = this.state;
    const values = slot.values;
    const gens = slot.generators;
    for (let i = 0; i < gens.length; i++) {
      const g = gens[i]!;
      values[g.name] = g.next(state);
    }
    if (slot.overlaps) slot.overlaps.apply(values);
    let data = slot.codec.encode(values);
    if (data.length < slot.length) {
      const padded = new Uint8Array(slot.length);
      padded.set(data);
      data = padded;
    }
    this.frames++;
    return { id: slot.message.id, ext: slot.message.extended, fd: slot.fd, brs: slot.fd, esi: false, rtr: false, err: false, data, ts, bus: this.bus };
  }

  private syncModel(ts: number): void {
    const model = this.model;
    if (this.driveModel) {
      const target = this.modelStartMs + (ts - this.startUs) / 1000;
      if (target - model.timeMs >= this.modelStepMs) model.advanceTo(target);
    }
    if (model.timeMs !== this.stateTimeMs) {
      this.state = model.snapshot();
      this.stateTimeMs = model.timeMs;
    }
  }

  private heapPush(slot: Slot): void {
    const heap = this.heap;
    heap.push(slot);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!earlier(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && earlier(heap[l]!, heap[m]!)) m = l;
      if (r < n && earlier(heap[r]!, heap[m]!)) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  }
}

/** Heap order: due time, then identifier, so equal times pop in a fixed order. */
function earlier(a: Slot, b: Slot): boolean {
  return a.dueUs < b.dueUs || (a.dueUs === b.dueUs && a.message.id < b.message.id);
}

function checkNumber(name: string, v: number, lo: number, hi: number): number {
  if (Number.isNaN(v) || v < lo || v > hi || (v === Infinity && hi !== Infinity)) {
    throw new TcuError('EMULATOR_CONFIG', `traffic generator option ${name} must be a number in [${lo}, ${hi}], not ${v}`);
  }
  return v;
}
