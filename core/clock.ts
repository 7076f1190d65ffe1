/** Time is injected everywhere, so tests can drive it. */
export interface TimerHandle {
  /** Present on Node timers; lets a timer not keep the process alive. */
  unref?(): unknown;
}

export interface Clock {
  /** Wall-clock milliseconds since the epoch. */
  now(): number;
  /** Wall-clock microseconds since the epoch (sub-millisecond resolution where the platform has it). */
  nowMicros(): number;
  /** Monotonic milliseconds, for measuring intervals. */
  monotonic(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export function systemClock(): Clock {
  return {
    now: () => Date.now(),
    nowMicros: () => Math.round((performance.timeOrigin + performance.now()) * 1000),
    monotonic: () => performance.now(),
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  };
}

/** Promise that resolves after `ms` on the given clock. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => {
    clock.setTimeout(resolve, ms);
  });
}
