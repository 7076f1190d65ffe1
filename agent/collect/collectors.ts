import type { Clock, TimerHandle } from '../../core/clock.js';
import { PRIORITIES, type PriorityName, type RecordInput } from '../records.js';
import type { SignalRef, SignalState } from './signal-state.js';

/** Where collectors put what they produce (the committer, which batches into the outbox). */
export interface RecordSink {
  push(record: RecordInput): void;
}

/** A signal reference with the state that holds it. */
export interface BoundSignal {
  ref: SignalRef;
  state: SignalState;
}

/**
 * Periodic: the latest value of chosen signals every `everyMs`, as one `signals` record
 * `{collector, values: {"Message.Signal": value}}`. Signals not yet seen, and signals whose
 * message has not arrived for more than `maxAgeMs` (the bus went silent, the ECU slept), are left
 * out; a period with no such signal left produces nothing.
 */
export class PeriodicCollector {
  private timer: TimerHandle | undefined;
  private next = 0;

  constructor(
    private readonly options: { name: string; everyMs: number; maxAgeMs: number; priority: PriorityName; signals: readonly BoundSignal[] },
    private readonly sink: RecordSink,
    private readonly clock: Clock,
  ) {}

  start(): void {
    this.next = this.clock.monotonic() + this.options.everyMs;
    this.schedule();
  }

  stop(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Takes one sample now (also what the timer calls). */
  sample(): void {
    const values: Record<string, number> = {};
    let any = false;
    const freshSince = this.clock.monotonic() - this.options.maxAgeMs;
    for (const { ref, state } of this.options.signals) {
      const v = state.read(ref);
      if (v !== v || state.arrivedAt(ref) < freshSince) continue;
      values[ref.key] = v;
      any = true;
    }
    if (!any) return;
    this.sink.push({ kind: 'signals', ts: this.clock.now(), priority: PRIORITIES[this.options.priority], body: { collector: this.options.name, values } });
  }

  private schedule(): void {
    // Drift-free: each period is measured from the start, not from when the last one ran.
    const delay = Math.max(0, this.next - this.clock.monotonic());
    this.timer = this.clock.setTimeout(() => {
      this.sample();
      this.next += this.options.everyMs;
      if (this.next < this.clock.monotonic()) this.next = this.clock.monotonic() + this.options.everyMs;
      this.schedule();
    }, delay);
  }
}

export interface OnChangeOptions {
  signal: BoundSignal;
  /** A change smaller than or equal to this is not a change. */
  deadband: number;
  /** At most one record per this interval; a change inside it is sent when it ends. */
  minIntervalMs: number;
  priority: PriorityName;
}

/**
 * On change: a record when the value moves by more than the dead band from the last value sent,
 * at most every `minIntervalMs`. A change held back by the interval is sent at the interval's end
 * (the trailing edge), so the latest state is never lost.
 */
export class OnChangeCollector {
  private lastSent = NaN;
  private lastSentAt = -Infinity;
  private pending: TimerHandle | undefined;

  constructor(
    private readonly options: OnChangeOptions,
    private readonly sink: RecordSink,
    private readonly clock: Clock,
  ) {
    const { ref, state } = options.signal;
    state.onMessage(ref.message, (_m, values) => this.observe(values[ref.signal]!));
  }

  stop(): void {
    if (this.pending !== undefined) this.clock.clearTimeout(this.pending);
    this.pending = undefined;
  }

  private observe(v: number): void {
    if (v !== v || !this.changed(v)) return;
    const now = this.clock.monotonic();
    const wait = this.lastSentAt + this.options.minIntervalMs - now;
    if (wait <= 0) {
      this.emit(v, now);
    } else if (this.pending === undefined) {
      this.pending = this.clock.setTimeout(() => {
        this.pending = undefined;
        const latest = this.options.signal.state.read(this.options.signal.ref);
        if (latest === latest && this.changed(latest)) this.emit(latest, this.clock.monotonic());
      }, wait);
    }
  }

  private changed(v: number): boolean {
    return this.lastSent !== this.lastSent || Math.abs(v - this.lastSent) > this.options.deadband;
  }

  private emit(v: number, now: number): void {
    this.lastSent = v;
    this.lastSentAt = now;
    const key = this.options.signal.ref.key;
    this.sink.push({ kind: 'signals', ts: this.clock.now(), priority: PRIORITIES[this.options.priority], body: { collector: 'onChange', values: { [key]: v } } });
  }
}

/**
 * Ignition events: `{name: "ignition", on: boolean}` when the configured signal enters or leaves
 * one of its "on" values. The first value seen sets the state without an event... except that an
 * agent starting with the ignition on reports it, so the cloud knows.
 */
export class IgnitionWatcher {
  private on: boolean | undefined;

  constructor(
    private readonly options: { signal: BoundSignal; onValues: readonly number[]; priority: PriorityName },
    private readonly sink: RecordSink,
    private readonly clock: Clock,
  ) {
    const { ref, state } = options.signal;
    state.onMessage(ref.message, (_m, values) => this.observe(values[ref.signal]!));
  }

  get state(): boolean | undefined {
    return this.on;
  }

  private observe(v: number): void {
    if (v !== v) return;
    const on = this.options.onValues.includes(v);
    if (on === this.on) return;
    const first = this.on === undefined;
    this.on = on;
    if (first && !on) return;
    this.sink.push({ kind: 'event', ts: this.clock.now(), priority: PRIORITIES[this.options.priority], body: { name: 'ignition', on } });
  }
}
