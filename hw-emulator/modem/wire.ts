import type { Clock, TimerHandle } from '../../core/clock.js';
import { randomInt, type Rng } from '../vehicle/random.js';

/**
 * The modem's transmit side: writes leave in order, each after an optional delay, and, when the
 * scenario splits writes, in random small chunks with random gaps (as a USB serial link delivers
 * them under load). Pure: timers come from the injected clock.
 */

export interface WireOptions {
  clock: Clock;
  rng: Rng;
  emit: (chunk: Buffer) => void;
  split?: { maxChunk: number; maxGapMs: number };
}

export interface WriteOptions {
  /** Wait this long before the first byte, ms. */
  delayMs?: number;
  /** Called once the last byte has been emitted (not when the wire is cleared first). */
  onDone?: () => void;
}

interface Item {
  data: Buffer;
  delayMs: number;
  onDone?: () => void;
  offset: number;
}

export class Wire {
  private readonly queue: Item[] = [];
  private current: Item | undefined;
  private timer: TimerHandle | undefined;
  private pumping = false;

  constructor(private readonly options: WireOptions) {}

  /** Queues bytes (a string is taken as Latin-1, byte for byte). */
  push(data: string | Buffer, options: WriteOptions = {}): void {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    this.queue.push({ data: bytes, delayMs: Math.max(0, options.delayMs ?? 0), onDone: options.onDone, offset: 0 });
    this.pump();
  }

  /** Nothing queued or on its way. */
  get idle(): boolean {
    return this.current === undefined && this.queue.length === 0;
  }

  /** Drops everything queued (the port went away); pending `onDone`s are not called. */
  clear(): void {
    if (this.timer) this.options.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
    this.current = undefined;
  }

  private pump(): void {
    if (this.pumping || this.timer) return;
    this.pumping = true;
    try {
      while (!this.timer) {
        if (!this.current) {
          this.current = this.queue.shift();
          if (!this.current) return;
        }
        const item = this.current;
        if (item.delayMs > 0) {
          this.wait(item.delayMs);
          item.delayMs = 0;
          return;
        }
        const split = this.options.split;
        const n = split ? randomInt(this.options.rng, 1, split.maxChunk) : item.data.length - item.offset;
        const chunk = item.data.subarray(item.offset, item.offset + n);
        item.offset += chunk.length;
        if (chunk.length > 0) this.options.emit(chunk);
        if (item.offset >= item.data.length) {
          this.current = undefined;
          item.onDone?.();
        }
        if (split && !this.idle) {
          const gap = randomInt(this.options.rng, 0, split.maxGapMs);
          if (gap > 0) this.wait(gap);
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  private wait(ms: number): void {
    this.timer = this.options.clock.setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, ms);
  }
}
