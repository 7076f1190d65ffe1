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
  /** A frame, state or error listener threw; the other listeners still ran. */
  'listenerErrors',
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
    // A driver whose peer streams frames right after the handshake's last reply sets `open` itself,
    // synchronously, before doOpen resolves (so those frames are delivered); doOpen may also have
    // been interrupted by close(). Only a bus still opening becomes open here.
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

  /**
   * Hands a received frame to the listeners whose filters pass it. A listener that throws is
   * counted (`listenerErrors`) and reported as CAN_LISTENER_FAILED; the others still get the frame
   * and the driver never sees the exception (it would kill the process from a native callback or
   * a socket handler).
   */
  protected deliver(frame: CanFrame): void {
    this.stats.inc('rxFrames');
    if (frame.err) this.stats.inc('rxErrorFrames');
    let delivered = false;
    for (const entry of this.listeners) {
      if (entry.filters && !passesFilters(entry.filters, frame)) continue;
      delivered = true;
      try {
        entry.listener(frame);
      } catch (err) {
        this.listenerFailed('frame', err, { id: frame.id, ext: frame.ext });
      }
    }
    if (!delivered) this.stats.inc('rxFiltered');
  }

  protected setState(state: BusState): void {
    if (state === this.current) return;
    this.current = state;
    for (const l of this.events.state) {
      try {
        l(state);
      } catch (err) {
        this.listenerFailed('state', err, { state });
      }
    }
  }

  /**
   * Tells every error listener. One that throws is counted in `listenerErrors` and the rest still
   * run; its exception is not reported again (it would go to the listener that just failed).
   */
  protected emitError(err: TcuError): void {
    for (const l of this.events.error) {
      try {
        l(err);
      } catch {
        this.stats.inc('listenerErrors');
      }
    }
  }

  private listenerFailed(kind: 'frame' | 'state', err: unknown, details: Record<string, unknown>): void {
    this.stats.inc('listenerErrors');
    const text = err instanceof Error ? err.message : String(err);
    this.emitError(new TcuError('CAN_LISTENER_FAILED', `bus ${this.name}: a ${kind} listener threw: ${text}`, { cause: err, details: { bus: this.name, ...details } }));
  }
}
