import type { Clock, TimerHandle } from '../../../core/clock.js';

/** A clock that moves only when told to. Timers are not needed by the emulator's pull-based parts. */
export class ManualClock implements Clock {
  constructor(private micros = 1_700_000_000_000_000) {}

  now(): number {
    return Math.floor(this.micros / 1000);
  }

  nowMicros(): number {
    return this.micros;
  }

  monotonic(): number {
    return this.micros / 1000;
  }

  advanceMs(ms: number): void {
    this.micros += Math.round(ms * 1000);
  }

  setTimeout(): TimerHandle {
    throw new Error('ManualClock has no timers');
  }

  clearTimeout(): void {}
}
