import type { Clock, TimerHandle } from '../../core/clock.js';

interface Timer extends TimerHandle {
  at: number;
  fn: () => void;
  id: number;
}

/** A clock that moves only when told to, with timers that fire in time order as it moves. */
export class FakeClock implements Clock {
  private timers: Timer[] = [];
  private nextId = 0;

  constructor(private ms = 1_700_000_000_000) {}

  now(): number {
    return Math.floor(this.ms);
  }

  nowMicros(): number {
    return Math.round(this.ms * 1000);
  }

  monotonic(): number {
    return this.ms;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t: Timer = { at: this.ms + Math.max(0, ms), fn, id: this.nextId++ };
    this.timers.push(t);
    return t;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((t) => t !== handle);
  }

  /** Moves time forward by `ms`, firing every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.ms + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.ms = Math.max(this.ms, due.at);
      due.fn();
    }
    this.ms = end;
  }

  get pendingTimers(): number {
    return this.timers.length;
  }
}
