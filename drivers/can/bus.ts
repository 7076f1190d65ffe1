import { Counters } from '../../core/counters.js';
import { TcuError } from '../../core/errors.js';
import type { CanFrame } from './frame.js';
import { frameProblem } from './frame.js';

/**
 * A receive filter in the kernel's style: a frame passes when `(frame.id & mask) === (id & mask)`
 * and, when `ext` is given, its extended flag matches. `invert` passes what does not match.
 */
export interface CanFilter {
  id: number;
  mask: number;
  ext?: boolean;
  invert?: boolean;
}

export type BusState = 'closed' | 'opening' | 'open' | 'reconnecting';

export const BUS_COUNTER_NAMES = [
  'rxFrames',
  'txFrames',
  'rxErrorFrames',
  'rxFiltered',
  'rxMalformed',
  'txFailed',
  'reconnects',
] as const;
export type BusCounterName = (typeof BUS_COUNTER_NAMES)[number];
export type BusCounters = Readonly<Record<BusCounterName, number>>;

export type FrameListener = (frame: CanFrame) => void;

export interface BusEvents {
  /** The bus changed state (reconnecting drivers go open → reconnecting → open). */
  state: (state: BusState) => void;
  /** Something went wrong that the driver survived: a malformed frame, a lost connection. */
  error: (err: TcuError) => void;
}

export interface Subscription {
  unsubscribe(): void;
}

/**
 * One interface per hardware boundary: SocketCAN, socketcand and log replay all implement this,
 * and so does anything the emulator offers. Consumers never know which one they hold.
 */
export interface CanBus {
  /** The interface name frames are stamped with (`can0`). */
  readonly name: string;
  readonly state: BusState;
  open(): Promise<void>;
  close(): Promise<void>;
  send(frame: CanFrame): Promise<void>;
  /** Frames that pass `filters` (all frames when none) go to `listener`, synchronously, in order. */
  subscribe(listener: FrameListener, filters?: readonly CanFilter[]): Subscription;
  on<E extends keyof BusEvents>(event: E, listener: BusEvents[E]): Subscription;
  counters(): BusCounters;
}

export function filterMatches(filter: CanFilter, frame: CanFrame): boolean {
  const hit = (frame.id & filter.mask) === (filter.id & filter.mask) && (filter.ext === undefined || filter.ext === frame.ext);
  return filter.invert ? !hit : hit;
}

export function passesFilters(filters: readonly CanFilter[] | undefined, frame: CanFrame): boolean {
  if (!filters || filters.length === 0) return true;
  for (const f of filters) if (filterMatches(f, frame)) return true;
  return false;
}

interface ListenerEntry {
  listener: FrameListener;
  filters: readonly CanFilter[] | undefined;
}

/**
 * What every driver shares: listener fan-out with filters, state and error events, counters.
 * A driver extends it, implements `doOpen`, `doClose`, `doSend`, and calls `deliver` per frame.
 */
export abstract class BusBase implements CanBus {
  private listeners: ListenerEntry[] = [];
  private readonly events: { [E in keyof BusEvents]: BusEvents[E][] } = { state: [], error: [] };
  protected readonly stats = new Counters(BUS_COUNTER_NAMES);
  private current: BusState = 'closed';

  constructor(readonly name: string) {}

  get state(): BusState {
    return this.current;
  }

  protected abstract doOpen(): Promise<void>;
  protected abstract doClose(): Promise<void>;
  protected abstract doSend(frame: CanFrame): Promise<void>;

  async open(): Promise<void> {
    if (this.current !== 'closed') return;
    this.setState('opening');
    try {
      await this.doOpen();
    } catch (err) {
      this.setState('closed');
      throw err;
    }
    // doOpen may have been interrupted by close(); only a bus still opening becomes open.
    if (this.state === 'opening') this.setState('open');
  }

  async close(): Promise<void> {
    if (this.current === 'closed') return;
    this.setState('closed');
    await this.doClose();
  }

  async send(frame: CanFrame): Promise<void> {
    if (this.current !== 'open') {
      this.stats.inc('txFailed');
      throw new TcuError('CAN_BUS_NOT_OPEN', `bus ${this.name} is ${this.current}; cannot send`, { details: { bus: this.name } });
    }
    const problem = frameProblem(frame);
    if (problem) {
      this.stats.inc('txFailed');
      throw new TcuError('CAN_FRAME_INVALID', problem, { details: { bus: this.name, id: frame.id } });
    }
    try {
      await this.doSend(frame);
    } catch (err) {
      this.stats.inc('txFailed');
      throw err;
    }
    this.stats.inc('txFrames');
  }

  subscribe(listener: FrameListener, filters?: readonly CanFilter[]): Subscription {
    const entry: ListenerEntry = { listener, filters: filters && filters.length > 0 ? [...filters] : undefined };
    this.listeners = [...this.listeners, entry];
    return { unsubscribe: () => (this.listeners = this.listeners.filter((e) => e !== entry)) };
  }

  on<E extends keyof BusEvents>(event: E, listener: BusEvents[E]): Subscription {
    const list = this.events[event] as BusEvents[E][];
    list.push(listener);
    return {
      unsubscribe: () => {
        const i = list.indexOf(listener);
        if (i >= 0) list.splice(i, 1);
      },
    };
  }

  counters(): BusCounters {
    return this.stats.snapshot();
  }

  /** Hands a received frame to the listeners whose filters pass it. */
  protected deliver(frame: CanFrame): void {
    this.stats.inc('rxFrames');
    if (frame.err) this.stats.inc('rxErrorFrames');
    let delivered = false;
    for (const entry of this.listeners) {
      if (entry.filters && !passesFilters(entry.filters, frame)) continue;
      delivered = true;
      entry.listener(frame);
    }
    if (!delivered) this.stats.inc('rxFiltered');
  }

  protected setState(state: BusState): void {
    if (state === this.current) return;
    this.current = state;
    for (const l of this.events.state) l(state);
  }

  protected emitError(err: TcuError): void {
    for (const l of this.events.error) l(err);
  }
}
