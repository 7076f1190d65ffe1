/**
 * The arithmetic of a download, pure and on an injected clock: the bandwidth cap (a token bucket),
 * the transfer rate over a sliding window (progress events and slow-retrieval detection), the
 * back-off between retries, and the progress event itself.
 */
import type { Clock } from '../../core/clock.js';
import { TcuError } from '../../core/errors.js';

/**
 * A token bucket that may go into debt: `take(n)` always takes the n bytes and answers how long to
 * wait before going on, so a chunk larger than the bucket is simply paid for afterwards. The average
 * rate over any long stretch is the configured one; a burst is at most `burstBytes`.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly clock: Clock,
    readonly rateBytesPerS: number,
    readonly burstBytes: number = Math.max(16 * 1024, Math.floor(rateBytesPerS / 20)),
  ) {
    if (!(rateBytesPerS > 0) || !Number.isFinite(rateBytesPerS)) throw new TcuError('CONFIG_INVALID', `a bandwidth cap must be a positive number of bytes per second, not ${rateBytesPerS}`);
    if (!(burstBytes > 0) || !Number.isFinite(burstBytes)) throw new TcuError('CONFIG_INVALID', `a bandwidth burst must be a positive number of bytes, not ${burstBytes}`);
    this.tokens = burstBytes;
    this.last = clock.monotonic();
  }

  /** Takes `bytes`; the milliseconds to wait before the next byte may go (0 while within budget). */
  take(bytes: number): number {
    const now = this.clock.monotonic();
    this.tokens = Math.min(this.burstBytes, this.tokens + ((now - this.last) * this.rateBytesPerS) / 1000);
    this.last = now;
    this.tokens -= bytes;
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.rateBytesPerS;
  }
}

/**
 * Bytes per second over the last `windowMs`, kept in `slots` fixed time slices so memory does not
 * grow with the number of chunks. The window's span is exact: from the start of the oldest slice
 * still counted (or the reset, if later) to now.
 */
export class RateWindow {
  private readonly slotMs: number;
  private readonly ids: Float64Array;
  private readonly bytes: Float64Array;
  private startedAt = 0;

  constructor(
    readonly windowMs: number,
    private readonly slots = 20,
  ) {
    if (!(windowMs > 0) || !Number.isFinite(windowMs) || !Number.isInteger(slots) || slots < 2) {
      throw new TcuError('CONFIG_INVALID', `a rate window must be positive milliseconds with at least 2 slots, not ${windowMs} ms / ${slots}`);
    }
    this.slotMs = windowMs / slots;
    this.ids = new Float64Array(slots).fill(-1);
    this.bytes = new Float64Array(slots);
  }

  /** Forgets everything; the window starts filling again at `now`. */
  reset(now: number): void {
    this.ids.fill(-1);
    this.bytes.fill(0);
    this.startedAt = now;
  }

  add(now: number, bytes: number): void {
    const id = Math.floor(now / this.slotMs);
    const i = id % this.slots;
    if (this.ids[i] !== id) {
      this.ids[i] = id;
      this.bytes[i] = 0;
    }
    this.bytes[i] = this.bytes[i]! + bytes;
  }

  /** Bytes counted in the window at `now`. */
  total(now: number): number {
    const current = Math.floor(now / this.slotMs);
    let sum = 0;
    for (let i = 0; i < this.slots; i++) {
      const id = this.ids[i]!;
      if (id > current - this.slots && id <= current) sum += this.bytes[i]!;
    }
    return sum;
  }

  /** Milliseconds the window covers at `now`: up to `windowMs`, less just after a reset. */
  span(now: number): number {
    const oldest = (Math.floor(now / this.slotMs) - this.slots + 1) * this.slotMs;
    return Math.max(0, now - Math.max(oldest, this.startedAt));
  }

  /** Bytes per second over the window; 0 before any time has passed. */
  rate(now: number): number {
    const span = this.span(now);
    return span <= 0 ? 0 : (this.total(now) * 1000) / span;
  }

  /** Whether a whole window has passed since the reset. */
  full(now: number): boolean {
    return now - this.startedAt >= this.windowMs;
  }
}

/** Slow retrieval: a whole window has passed and the rate over it is below the minimum. */
export function isSlow(window: RateWindow, now: number, minBytesPerS: number): boolean {
  return minBytesPerS > 0 && window.full(now) && window.rate(now) < minBytesPerS;
}

export interface BackoffOptions {
  /** First delay, ms (default 500). */
  initialMs?: number;
  /** Largest delay, ms (default 30 000). */
  maxMs?: number;
  /** ± this fraction of random spread (default 0.2), so a fleet does not retry in step. */
  jitter?: number;
}

/** Delay before retry number `attempt` (0-based): doubling from initialMs up to maxMs, with jitter. */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = options.initialMs ?? 500;
  const max = options.maxMs ?? 30_000;
  const jitter = Math.min(1, Math.max(0, options.jitter ?? 0.2));
  const base = Math.min(max, initial * 2 ** Math.min(Math.max(0, attempt), 30));
  return Math.max(0, Math.round(base * (1 + jitter * (2 * random() - 1))));
}

/** What `onProgress` gets. */
export interface DownloadProgress {
  /** Bytes of the target held so far (resumed bytes included). */
  receivedBytes: number;
  totalBytes: number;
  /** Transfer rate over the last second or so; 0 before any time has passed. */
  bytesPerS: number;
  /** Bytes the `.part` file held when this download started (0 for a fresh one). */
  resumedFromBytes: number;
  /** Seconds left at the current rate; undefined while the rate is 0. */
  etaSeconds: number | undefined;
}

export function progressEvent(receivedBytes: number, totalBytes: number, bytesPerS: number, resumedFromBytes: number): DownloadProgress {
  const left = Math.max(0, totalBytes - receivedBytes);
  return {
    receivedBytes,
    totalBytes,
    bytesPerS,
    resumedFromBytes,
    etaSeconds: left === 0 ? 0 : bytesPerS > 0 ? left / bytesPerS : undefined,
  };
}
