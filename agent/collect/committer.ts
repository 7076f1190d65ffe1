import type { Clock, TimerHandle } from '../../core/clock.js';
import { Counters } from '../../core/counters.js';
import { TcuError, asTcuError } from '../../core/errors.js';
import type { Outbox } from '../outbox/types.js';
import type { RecordInput } from '../records.js';
import type { RecordSink } from './collectors.js';

export const COMMITTER_COUNTER_NAMES = ['accepted', 'committed', 'commits', 'droppedMemoryFull', 'droppedOutboxFull', 'droppedInvalid', 'droppedAtStop', 'commitFailures'] as const;

export interface CommitterOptions {
  /** Commit at least this often. */
  intervalMs: number;
  /** Commit as soon as this many records wait. */
  maxRecords: number;
  /**
   * Records held in memory at most (while the outbox cannot take them); past it the lowest
   * priority, then oldest, are dropped and counted. Default 20 × maxRecords.
   */
  maxPending?: number;
  /** Called after each commit (the uplink's notify). */
  onCommit?: (count: number) => void;
  onError?: (err: TcuError) => void;
}

/**
 * Batches records in memory and commits them to the outbox in one transaction every
 * `intervalMs` or `maxRecords`, whichever first: one transaction per record cannot keep up with a
 * busy car. A record is safe once committed; until then it lives here, bounded.
 */
export class Committer implements RecordSink {
  private readonly stats = new Counters(COMMITTER_COUNTER_NAMES);
  private pending: RecordInput[] = [];
  private timer: TimerHandle | undefined;
  private readonly maxPending: number;
  private stopped = false;
  /** A failed commit waits for its retry timer; pushes only queue meanwhile. */
  private retrying = false;

  constructor(
    private readonly outbox: Outbox,
    private readonly options: CommitterOptions,
    private readonly clock: Clock,
  ) {
    this.maxPending = options.maxPending ?? options.maxRecords * 20;
  }

  push(record: RecordInput): void {
    if (this.stopped) return;
    this.stats.inc('accepted');
    this.pending.push(record);
    if (this.pending.length > this.maxPending) this.shed();
    if (this.retrying) return;
    if (this.pending.length >= this.options.maxRecords) this.commit();
    else if (this.timer === undefined) this.timer = this.clock.setTimeout(() => this.commit(), this.options.intervalMs);
  }

  /** Commits what waits now. Never throws: a failure is counted and reported, the records kept. */
  commit(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.retrying = false;
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      try {
        this.outbox.append(batch);
      } catch (err) {
        const e = asTcuError(err, 'OUTBOX_WRITE');
        this.stats.inc('commitFailures');
        this.options.onError?.(e);
        const index = e.details['index'];
        if (e.code === 'OUTBOX_RECORD_INVALID' && typeof index === 'number' && index >= 0 && index < batch.length) {
          // One record the outbox cannot take: drop it, count it, and commit the others now.
          this.stats.inc('droppedInvalid');
          this.pending = batch.filter((_, i) => i !== index).concat(this.pending);
          continue;
        }
        if (e.code === 'OUTBOX_FULL') {
          // The outbox already evicted what it could: these are refused for good, and counted.
          this.stats.inc('droppedOutboxFull', batch.length);
          return;
        }
        // Keep them for a later attempt (bounded by shed()); until then pushes only queue.
        this.pending = batch.concat(this.pending);
        if (this.pending.length > this.maxPending) this.shed();
        if (!this.stopped) {
          this.retrying = true;
          this.timer = this.clock.setTimeout(() => this.commit(), Math.max(1000, this.options.intervalMs));
        }
        return;
      }
      this.stats.inc('committed', batch.length);
      this.stats.inc('commits');
      this.options.onCommit?.(batch.length);
    }
  }

  /** Commits what waits and takes no more (SIGTERM). What still cannot be committed is counted. */
  stop(): void {
    this.stopped = true;
    this.commit();
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length > 0) {
      this.stats.inc('droppedAtStop', this.pending.length);
      this.pending = [];
    }
  }

  counters(): Readonly<Record<(typeof COMMITTER_COUNTER_NAMES)[number], number>> {
    return { ...this.stats.snapshot() };
  }

  get waiting(): number {
    return this.pending.length;
  }

  /**
   * Drops the lowest-priority, oldest records beyond the memory bound, down to 90 % of it so the
   * cost is paid once per many pushes, not on each.
   */
  private shed(): void {
    const excess = this.pending.length - Math.floor(this.maxPending * 0.9);
    if (excess <= 0) return;
    const drop = new Set<number>();
    for (let p = 0; p <= 3 && drop.size < excess; p++) {
      for (let i = 0; i < this.pending.length && drop.size < excess; i++) if (this.pending[i]!.priority === p) drop.add(i);
    }
    this.pending = this.pending.filter((_, i) => !drop.has(i));
    this.stats.inc('droppedMemoryFull', drop.size);
    this.options.onError?.(new TcuError('OUTBOX_BACKLOG', `${drop.size} records dropped: the outbox could not take them in time`, { details: { dropped: drop.size } }));
  }
}
