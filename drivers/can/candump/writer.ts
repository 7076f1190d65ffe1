import { open as openFile, type FileHandle } from 'node:fs/promises';
import type { Clock, TimerHandle } from '../../../core/clock.js';
import { systemClock } from '../../../core/clock.js';
import { Counters } from '../../../core/counters.js';
import { TcuError, asTcuError } from '../../../core/errors.js';
import type { CanFrame } from '../frame.js';
import { formatCandumpLine } from './format.js';

export interface CandumpWriterOptions {
  /** Write to the file once this many bytes are buffered. Default 64 KiB. */
  flushBytes?: number;
  /** Write buffered lines at least this often; 0 = only on flushBytes, flush() and close(). Default 1000. */
  flushIntervalMs?: number;
  /**
   * Frames arriving while this many bytes are buffered (the disk is slower than the bus) are
   * dropped and counted, so memory stays bounded. Default 8 MiB.
   */
  maxBufferedBytes?: number;
  clock?: Clock;
  /** Called when a background flush fails (the next flush() or close() rejects as well). */
  onError?: (err: TcuError) => void;
}

export const CANDUMP_WRITER_COUNTER_NAMES = ['written', 'dropped', 'flushes', 'writeErrors'] as const;
export type CandumpWriterCounterName = (typeof CANDUMP_WRITER_COUNTER_NAMES)[number];

/**
 * Appends frames to a candump log (`candump -L` format), buffered. `write` never blocks and never
 * grows memory without bound; `flush` and `close` resolve when the lines are in the file.
 */
export class CandumpWriter {
  private readonly stats = new Counters(CANDUMP_WRITER_COUNTER_NAMES);
  private readonly clock: Clock;
  private readonly flushBytes: number;
  private readonly flushIntervalMs: number;
  private readonly maxBufferedBytes: number;
  private chunks: string[] = [];
  /** Bytes in `chunks`, not yet handed to a file write. */
  private buffered = 0;
  /** Bytes handed to file writes that have not completed. */
  private inFlight = 0;
  private writing: Promise<void> = Promise.resolve();
  private failure: TcuError | undefined;
  private timer: TimerHandle | undefined;
  /** Set when close() starts: write() throws from then on, so nothing can be buffered behind the last flush. */
  private closed = false;
  private closing: Promise<void> | undefined;

  private constructor(
    readonly path: string,
    private readonly file: FileHandle,
    private readonly options: CandumpWriterOptions,
  ) {
    this.clock = options.clock ?? systemClock();
    this.flushBytes = options.flushBytes ?? 64 * 1024;
    this.flushIntervalMs = options.flushIntervalMs ?? 1000;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 8 * 1024 * 1024;
  }

  /** Opens (creating if needed) `path` for appending. Rejects with FILE_WRITE. */
  static async open(path: string, options: CandumpWriterOptions = {}): Promise<CandumpWriter> {
    let file: FileHandle;
    try {
      file = await openFile(path, 'a');
    } catch (err) {
      throw asTcuError(err, 'FILE_WRITE', `cannot open candump log ${path} for appending`);
    }
    return new CandumpWriter(path, file, options);
  }

  /**
   * Buffers one frame. Throws CAN_FRAME_INVALID for a frame that cannot be written, and
   * FILE_WRITE once the writer is closed. Returns false when the frame was dropped (buffer full).
   */
  write(frame: CanFrame): boolean {
    if (this.closed) throw new TcuError('FILE_WRITE', `candump writer for ${this.path} is closed`);
    const line = formatCandumpLine(frame) + '\n';
    if (this.buffered + this.inFlight + line.length > this.maxBufferedBytes) {
      this.stats.inc('dropped');
      return false;
    }
    this.chunks.push(line);
    this.buffered += line.length;
    this.stats.inc('written');
    if (this.buffered >= this.flushBytes) this.startFlush();
    else if (this.timer === undefined && this.flushIntervalMs > 0) {
      this.timer = this.clock.setTimeout(() => {
        this.timer = undefined;
        this.startFlush();
      }, this.flushIntervalMs);
      this.timer.unref?.();
    }
    return true;
  }

  /** Resolves when every frame written so far is in the file. Rejects with FILE_WRITE. */
  async flush(): Promise<void> {
    this.startFlush();
    await this.writing;
    if (this.failure) throw this.failure;
  }

  /**
   * Flushes and closes the file. Writes throw from the moment close() is called (not when it
   * resolves), so every frame counted as written is in the file. Calling it again returns the same promise.
   */
  close(): Promise<void> {
    this.closing ??= this.finish();
    return this.closing;
  }

  counters(): Readonly<Record<CandumpWriterCounterName, number>> {
    return this.stats.snapshot();
  }

  private async finish(): Promise<void> {
    this.closed = true;
    try {
      await this.flush(); // clears the interval timer and queues the last write
    } finally {
      // Only after the queued writes have settled: flush() waits for `writing`, which they extend.
      await this.file.close().catch(() => undefined);
    }
  }

  /** Chains one write of everything buffered behind the write in progress. */
  private startFlush(): void {
    if (this.timer !== undefined) {
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
    }
    // After close() nothing is buffered (write throws), so nothing reaches the closed handle.
    if (this.chunks.length === 0) return;
    const text = this.chunks.join('');
    this.chunks = [];
    this.inFlight += this.buffered;
    this.buffered = 0;
    this.writing = this.writing.then(async () => {
      try {
        await this.file.appendFile(text, 'utf8');
        this.stats.inc('flushes');
      } catch (err) {
        this.stats.inc('writeErrors');
        this.failure = asTcuError(err, 'FILE_WRITE', `cannot append to candump log ${this.path}`);
        this.options.onError?.(this.failure);
      } finally {
        this.inFlight -= text.length;
      }
    });
  }
}
