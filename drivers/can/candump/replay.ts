import { open as openFile, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Clock, TimerHandle } from '../../../core/clock.js';
import { systemClock } from '../../../core/clock.js';
import { TcuError, asTcuError, isTcuError } from '../../../core/errors.js';
import { BusBase } from '../bus.js';
import type { CanFrame } from '../frame.js';
import { parseCandumpLine } from './format.js';
import { LineSplitter, isBlank } from './lines.js';

export interface CandumpReplayOptions {
  /** The log file. Either `path` or `stream` is required. */
  path?: string;
  /**
   * Any readable stream of log text (or a function that opens one, which `loop` needs to start
   * over). Chunks may be strings or Buffers (UTF-8).
   */
  stream?: Readable | (() => Readable);
  /** 1 = recorded speed, 2 = twice as fast, 0 or Infinity = as fast as possible. Default 1. */
  speed?: number;
  /** Start over at the end of the log instead of closing. */
  loop?: boolean;
  clock?: Clock;
  /** Stamp every frame with this bus name; otherwise frames keep the log's interface names. */
  busName?: string;
  /** The bus's own name (`CanBus.name`). Default: `busName`, else `candump`. */
  name?: string;
  /** Stamp frames with the replay time instead of the recorded time. Default false. */
  restamp?: boolean;
  /** A line longer than this is malformed and skipped without being held in memory. Default 4096. */
  maxLineLength?: number;
}

/** Below this, a wait is not worth a timer: the frame is due now. */
const MIN_WAIT_MS = 1;

/**
 * Replays a candump log as a CAN bus, paced by the recorded timestamps (scaled by `speed`) on the
 * injected clock. Malformed lines are counted (`rxMalformed`) and reported through the `error` event,
 * never fatal. At the end of the log the bus goes to state `closed`, unless `loop`.
 * A replayed log is read-only: `send` rejects with CAN_SEND_FAILED.
 */
export class CandumpReplayBus extends BusBase {
  private readonly clock: Clock;
  private readonly speed: number;
  private readonly maxLineLength: number;
  private stopped = false;
  private source: Readable | undefined;
  private file: FileHandle | undefined;
  private timer: TimerHandle | undefined;
  private wake: (() => void) | undefined;
  private running: Promise<void> = Promise.resolve();
  private lineNumber = 0;
  /** Pacing reference: the first frame's recorded time and the clock time it was replayed at. */
  private firstTs = -1;
  private startMs = 0;

  constructor(private readonly options: CandumpReplayOptions) {
    super(options.name ?? options.busName ?? 'candump');
    if (options.path === undefined && options.stream === undefined) {
      throw new TcuError('CAN_BUS_OPEN_FAILED', 'a candump replay needs a path or a stream');
    }
    if (options.loop && options.path === undefined && typeof options.stream !== 'function') {
      throw new TcuError('CAN_BUS_OPEN_FAILED', 'looping a candump replay needs a path or a function that opens the stream again');
    }
    const speed = options.speed ?? 1;
    if (Number.isNaN(speed) || speed < 0) throw new TcuError('CAN_BUS_OPEN_FAILED', `replay speed ${speed} is not 0 or a positive number`);
    this.speed = speed;
    this.clock = options.clock ?? systemClock();
    this.maxLineLength = options.maxLineLength ?? 4096;
  }

  /** Resolves when the replay has stopped: end of the log (without `loop`), a read error, or close(). */
  finished(): Promise<void> {
    return this.running;
  }

  protected async doOpen(): Promise<void> {
    this.stopped = false;
    const first = await this.openSource();
    this.running = new Promise<void>((resolve) => {
      // Start after open() has returned, so a caller can subscribe before the first frame.
      setImmediate(() => {
        this.pump(first).then(resolve, resolve);
      });
    });
  }

  protected async doClose(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.wake?.();
    this.source?.destroy();
    await this.running;
    await this.closeFile();
  }

  protected doSend(_frame: CanFrame): Promise<void> {
    return Promise.reject(new TcuError('CAN_SEND_FAILED', `bus ${this.name} replays a candump log and cannot send`, { details: { bus: this.name } }));
  }

  private async openSource(): Promise<Readable> {
    const { path, stream } = this.options;
    if (path !== undefined) {
      await this.closeFile();
      try {
        this.file = await openFile(path, 'r');
      } catch (err) {
        throw asTcuError(err, 'FILE_READ', `cannot open candump log ${path}`);
      }
      return this.file.createReadStream({ encoding: 'utf8', autoClose: false, start: 0, highWaterMark: 256 * 1024 });
    }
    return typeof stream === 'function' ? stream() : (stream as Readable);
  }

  private async closeFile(): Promise<void> {
    const file = this.file;
    this.file = undefined;
    if (file) await file.close().catch(() => undefined);
  }

  private async pump(first: Readable): Promise<void> {
    let source: Readable | undefined = first;
    try {
      while (source && !this.stopped) {
        this.source = source;
        this.firstTs = -1;
        await this.replay(source);
        if (this.stopped || !this.options.loop) break;
        source = await this.openSource();
      }
    } catch (err) {
      if (!this.stopped) {
        this.emitError(isTcuError(err) ? err : asTcuError(err, 'FILE_READ', 'reading the candump log failed'));
      }
    } finally {
      this.source?.destroy();
      this.source = undefined;
      await this.closeFile();
      if (!this.stopped) {
        this.stopped = true;
        this.setState('closed');
      }
    }
  }

  /** Replays one pass of the stream, line by line, holding at most one partial line of bounded length. */
  private async replay(source: Readable): Promise<void> {
    const splitter = new LineSplitter(this.maxLineLength);
    for await (const chunk of source as AsyncIterable<string | Buffer>) {
      if (this.stopped) return;
      if (!(await this.replayLines(splitter.push(chunk)))) return;
    }
    if (!this.stopped) await this.replayLines(splitter.end());
  }

  /** Paces and delivers the frames on `lines`; false once the replay was stopped. */
  private async replayLines(lines: readonly (string | null)[]): Promise<boolean> {
    for (const line of lines) {
      const frame = this.parseLine(line);
      if (!frame) continue;
      const wait = this.waitFor(frame.ts);
      if (wait) await wait;
      if (this.stopped) return false;
      this.emitFrame(frame);
    }
    return true;
  }

  /** The frame on a line (null: an over-long line); undefined (and counted when malformed) for blank or malformed lines. */
  private parseLine(line: string | null): CanFrame | undefined {
    this.lineNumber++;
    if (line === null) {
      this.malformed(new TcuError('CANDUMP_SYNTAX', `line longer than ${this.maxLineLength} characters`, { details: { line: this.lineNumber } }));
      return undefined;
    }
    if (isBlank(line)) return undefined;
    try {
      return parseCandumpLine(line);
    } catch (err) {
      const e = asTcuError(err, 'CANDUMP_SYNTAX');
      this.malformed(new TcuError('CANDUMP_SYNTAX', `line ${this.lineNumber}: ${e.message}`, { cause: e, details: { ...e.details, lineNumber: this.lineNumber } }));
      return undefined;
    }
  }

  private emitFrame(frame: CanFrame): void {
    if (this.state !== 'open') return;
    if (this.options.busName !== undefined) frame.bus = this.options.busName;
    if (this.options.restamp) frame.ts = this.clock.nowMicros();
    this.deliver(frame);
  }

  private malformed(err: TcuError): void {
    this.stats.inc('rxMalformed');
    this.emitError(err);
  }

  /** A wait until the frame recorded at `ts` is due (relative to the first frame of this pass), if any. */
  private waitFor(ts: number): Promise<void> | undefined {
    if (this.speed === 0 || this.speed === Infinity) return undefined;
    if (this.firstTs < 0) {
      this.firstTs = ts;
      this.startMs = this.clock.monotonic();
      return undefined;
    }
    const due = this.startMs + (ts - this.firstTs) / 1000 / this.speed;
    const wait = due - this.clock.monotonic();
    if (wait < MIN_WAIT_MS) return undefined;
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.timer = undefined;
        this.wake = undefined;
        resolve();
      };
      this.wake = done;
      this.timer = this.clock.setTimeout(done, wait);
    });
  }
}
