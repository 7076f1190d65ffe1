/**
 * The delivery loop: outbox → payloads → QoS 1 publishes, with a bounded window of publishes not
 * yet acknowledged. A record leaves the outbox only when the PUBACK of the publish that carried it
 * comes back (`outbox.acknowledge`). When a connection ends, the records in flight on it are simply
 * forgotten here: they are still in the outbox, so the next batch picks them up again (the cloud
 * drops the duplicates by boot and seq).
 */
import type { TimerHandle } from '../../core/clock.js';
import type { Counters } from '../../core/counters.js';
import { TcuError, asTcuError } from '../../core/errors.js';
import type { StoredRecord } from '../records.js';
import { backoffDelay } from './backoff.js';
import type { ResolvedOptions, UplinkCounterName } from './options.js';
import { PayloadBuilder, planPayloads, type PlannedPayload } from './payload.js';
import type { Topics } from './topics.js';

/** The one thing the sender needs of a live connection. */
export interface PublishTarget {
  publish(topic: string, payload: Buffer, done: (err?: Error) => void): void;
}

interface InFlight {
  ids: number[];
}

/** What is in flight on one connection. Dropped as a whole when the connection ends. */
interface Session {
  target: PublishTarget;
  /** inflightWindow, or less where the broker's receive maximum (MQTT 5) is lower. */
  window: number;
  refillAt: number;
  inflight: Set<InFlight>;
  ids: Set<number>;
}

/** Batches asked per pump at most before yielding to the event loop. */
const MAX_BATCHES_PER_PUMP = 64;

export class Sender {
  private readonly builder: PayloadBuilder;
  private session: Session | undefined;
  private scheduled = false;
  private pollTimer: TimerHandle | undefined;
  private pauseTimer: TimerHandle | undefined;
  private draining = false;
  private publishFailuresInRow = 0;
  private idleWaiters: (() => void)[] = [];
  private acked: { s: Session; entry: InFlight }[] = [];
  private ackScheduled = false;
  private minPriority = 0;

  constructor(
    private readonly o: ResolvedOptions,
    private readonly topics: Topics,
    private readonly counters: Counters<UplinkCounterName>,
    private readonly report: (err: TcuError) => void,
  ) {
    this.builder = new PayloadBuilder(o.vin);
  }

  /**
   * A connection is up: start sending on it. `receiveMaximum` is the broker's (MQTT 5 CONNACK):
   * the window stays two below it, leaving room for status and command responses.
   */
  attach(target: PublishTarget, receiveMaximum?: number): void {
    this.detach();
    const window = Math.max(1, Math.min(this.o.inflightWindow, receiveMaximum === undefined ? Infinity : receiveMaximum - 2));
    this.session = { target, window, refillAt: Math.max(1, Math.floor(window / 4)), inflight: new Set(), ids: new Set() };
    this.publishFailuresInRow = 0;
    this.schedule();
  }

  /** The connection ended: forget what was in flight on it. Returns how many records that was. */
  detach(): number {
    const s = this.session;
    this.session = undefined;
    this.clearTimers();
    // Acknowledged but not yet deleted (flushAcks is due) is not requeued.
    const acked = this.acked.reduce((n, a) => (a.s === s ? n + a.entry.ids.length : n), 0);
    const requeued = (s?.ids.size ?? 0) - acked;
    if (requeued > 0) this.counters.inc('requeued', requeued);
    this.wakeIdle();
    return requeued;
  }

  /** Records were committed: send soon (calls in one tick are coalesced). */
  notify(): void {
    this.schedule();
  }

  /** Send now, whatever timer was waiting (also lifts a pause after a refused publish). */
  flush(): void {
    if (this.pauseTimer !== undefined) this.o.clock.clearTimeout(this.pauseTimer);
    this.pauseTimer = undefined;
    this.pump();
  }

  /** The lowest priority sent now (the roaming policy). */
  get minimumPriority(): number {
    return this.minPriority;
  }

  /** Only records of this priority or higher are taken from now on (what is in flight completes). */
  setMinPriority(priority: number): void {
    const lowered = priority < this.minPriority;
    this.minPriority = priority;
    if (lowered) this.schedule();
  }

  /** Stop taking new batches (for stop()); what is in flight still completes. */
  drain(): void {
    this.draining = true;
    this.clearTimers();
  }

  inFlight(): { publishes: number; records: number } {
    return { publishes: this.session?.inflight.size ?? 0, records: this.session?.ids.size ?? 0 };
  }

  /** Resolves once nothing is in flight (or the connection is gone). */
  whenIdle(): Promise<void> {
    if (this.inFlight().publishes === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled || this.session === undefined || this.draining) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  /**
   * Fills the window. One nextBatch serves every free slot (its `maxRecords` and `maxBytes` are per
   * free slot times the free slots), split into one payload per slot: each call of nextBatch steps
   * over the ids in flight, so fewer, larger calls drain a backlog faster (bench/uplink-drain.ts).
   */
  private pump(): void {
    const s = this.session;
    if (s === undefined || this.draining || this.pauseTimer !== undefined) return;
    if (this.pollTimer !== undefined) this.o.clock.clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    const { batchMaxRecords, maxPayloadBytes } = this.o;
    const inflightWindow = s.window;
    // Room left in a payload for the map's head (vin, boot, keys, array head).
    const budget = maxPayloadBytes - Math.min(256, maxPayloadBytes >> 2);
    try {
      for (let n = 0; ; n++) {
        const free = inflightWindow - s.inflight.size;
        if (free <= 0) return;
        if (n === MAX_BATCHES_PER_PUMP) {
          this.schedule();
          return;
        }
        const batch = this.o.outbox.nextBatch({ maxRecords: free * batchMaxRecords, maxBytes: free * budget, exclude: s.ids, minPriority: this.minPriority });
        if (batch.length === 0) {
          this.armPoll();
          return;
        }
        const plan = planPayloads(this.builder, batch, maxPayloadBytes, batchMaxRecords);
        if (plan.oversize.length > 0) this.dropOversize(plan.oversize);
        // Payloads beyond the window are not sent: their records were not marked in flight, so
        // the next batch returns them again.
        for (const p of plan.payloads) {
          if (s.inflight.size >= inflightWindow || this.session !== s) break;
          this.send(s, p);
        }
        if (this.session !== s) return;
      }
    } catch (err) {
      this.report(asTcuError(err, 'OUTBOX_IO', 'the outbox failed while taking the next batch'));
      this.armPoll();
    }
  }

  private send(s: Session, p: PlannedPayload): void {
    const payload = this.builder.build(p.boot, p.records);
    const entry: InFlight = { ids: p.records.map((r) => r.id) };
    for (const id of entry.ids) s.ids.add(id);
    s.inflight.add(entry);
    this.counters.inc('publishes');
    this.counters.inc('published', entry.ids.length);
    this.counters.inc('bytesPublished', payload.length);
    s.target.publish(this.topics.channel(p.channel), payload, (err) => {
      try {
        this.done(s, entry, err);
      } catch (e) {
        this.report(asTcuError(e, 'OUTBOX_IO'));
      }
    });
  }

  private done(s: Session, entry: InFlight, err: Error | undefined): void {
    if (err === undefined) {
      // The broker has these records, whichever connection carried them: delete them. PUBACKs
      // read in one go are deleted in one outbox transaction (on the next turn of the event
      // loop); until then their ids stay in flight, so no batch can pick them up again.
      this.counters.inc('publishesAcknowledged');
      this.acked.push({ s, entry });
      if (!this.ackScheduled) {
        this.ackScheduled = true;
        setImmediate(() => this.flushAcks());
      }
      return;
    }
    // An error on a connection we already forgot: its records are eligible again. Nothing to do.
    if (this.session !== s || !s.inflight.has(entry)) return;
    // The broker refused the publish (PUBACK reason code, e.g. not authorised) or the client
    // could not send it: the records stay in the outbox; pause before trying again, so a broker
    // that refuses everything is not hammered in a loop.
    this.release(s, entry);
    this.counters.inc('publishFailures');
    const delay = backoffDelay(this.publishFailuresInRow++, this.o.backoff, this.o.random);
    this.report(
      new TcuError('UPLINK_PUBLISH', `a publish of ${entry.ids.length} records was refused: ${err.message}; retrying in ${delay} ms`, {
        cause: err,
        details: { records: entry.ids.length, delayMs: delay, reasonCode: (err as { code?: unknown }).code },
      }),
    );
    this.pauseFor(delay);
  }

  /** No new batches for `delay` ms (what is in flight still completes). Nothing to pause once draining or detached. */
  private pauseFor(delay: number): void {
    if (this.draining || this.session === undefined) return;
    if (this.pauseTimer !== undefined) this.o.clock.clearTimeout(this.pauseTimer);
    this.pauseTimer = this.o.clock.setTimeout(() => {
      this.pauseTimer = undefined;
      this.schedule();
    }, delay);
  }

  private flushAcks(): void {
    this.ackScheduled = false;
    const acked = this.acked;
    this.acked = [];
    if (acked.length === 0) return;
    const deleted = this.acknowledge(acked.length === 1 ? acked[0]!.entry.ids : acked.flatMap((a) => a.entry.ids));
    for (const { s, entry } of acked) if (this.session === s) this.release(s, entry);
    if (!deleted) {
      // The outbox could not delete them (a full disk): they would be sent again at once, in a
      // loop. Pause on the publish back-off instead; they go again (duplicates) when it ends.
      this.pauseFor(backoffDelay(this.publishFailuresInRow++, this.o.backoff, this.o.random));
      return;
    }
    this.publishFailuresInRow = 0;
    // Refill once a quarter of the window is free (not on every PUBACK): fewer, larger batches.
    const s = this.session;
    if (s !== undefined && s.window - s.inflight.size >= s.refillAt) this.schedule();
  }

  private release(s: Session, entry: InFlight): void {
    s.inflight.delete(entry);
    for (const id of entry.ids) s.ids.delete(id);
    if (s.inflight.size === 0) this.wakeIdle();
  }

  /** Deletes acknowledged records; false when the outbox could not (they stay, and go again). */
  private acknowledge(ids: readonly number[]): boolean {
    try {
      this.o.outbox.acknowledge(ids, this.o.clock.now());
      this.counters.inc('acknowledged', ids.length);
      return true;
    } catch (err) {
      // They stay in the outbox and will be sent again: a duplicate, never a loss.
      this.report(asTcuError(err, 'OUTBOX_IO', `the outbox could not delete ${ids.length} acknowledged records`));
      return false;
    }
  }

  /**
   * A record that cannot fit in any payload would block the head of the outbox forever. It is
   * reported (UPLINK_OVERSIZE, with boot, seq and size), counted in `oversizeDropped`, and only
   * then deleted: the one way a committed record leaves the outbox without a PUBACK.
   */
  private dropOversize(records: readonly StoredRecord[]): void {
    for (const r of records) {
      this.report(
        new TcuError('UPLINK_OVERSIZE', `record ${r.boot}/${r.seq} (${r.kind}) of ${r.data.length} bytes cannot fit in a payload of at most ${this.o.maxPayloadBytes} bytes; dropped`, {
          details: { boot: r.boot, seq: r.seq, kind: r.kind, bytes: r.data.length, maxPayloadBytes: this.o.maxPayloadBytes },
        }),
      );
    }
    const ids = records.map((r) => r.id);
    try {
      this.o.outbox.acknowledge(ids, this.o.clock.now());
      this.counters.inc('oversizeDropped', ids.length);
    } catch (err) {
      throw asTcuError(err, 'OUTBOX_IO', `the outbox could not delete ${ids.length} oversize records`);
    }
  }

  private armPoll(): void {
    if (this.pollTimer !== undefined || this.session === undefined || this.draining) return;
    this.pollTimer = this.o.clock.setTimeout(() => {
      this.pollTimer = undefined;
      this.pump();
    }, this.o.pollIntervalMs);
    this.pollTimer.unref?.();
  }

  private clearTimers(): void {
    if (this.pollTimer !== undefined) this.o.clock.clearTimeout(this.pollTimer);
    if (this.pauseTimer !== undefined) this.o.clock.clearTimeout(this.pauseTimer);
    this.pollTimer = undefined;
    this.pauseTimer = undefined;
  }

  private wakeIdle(): void {
    if (this.inFlight().publishes > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
