/**
 * The resumable target downloader (docs/OTA.md, "Download"). Bytes go to `dest + '.part'`, hashed
 * and length-checked while they stream; a later call resumes from what the `.part` holds with a
 * Range request, after re-hashing it. Only a file whose SHA-256 and length match the metadata is
 * renamed over `dest`, after an fsync. Every failure is a TcuError with an OTA_* code; the `.part`
 * is kept for a resume except when its content is proven wrong (OTA_TARGET_MISMATCH).
 *
 * The length rule: a source that announces or sends more than the declared length is
 * OTA_ENDLESS_DATA; one that states another whole length (a 200's Content-Length, the total of a
 * 206's or a 416's Content-Range, a file's size), or whose complete body ends short, is
 * OTA_TARGET_MISMATCH with `details.cause` SOURCE_LENGTH, at once: never retried as if the
 * connection had dropped. The cause tells the caller that the source held another length (a
 * truncated or still-syncing upload), not that it sent wrong bytes of the right length (a hash
 * mismatch, no cause): the first may be fixed on the server, the second is a refusal of the target.
 * A body cut before its own end (a dropped connection) is resumed.
 *
 * One download per destination at a time: the caller (the campaign) serialises them.
 */
import http from 'node:http';
import https from 'node:https';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { TcuError, asTcuError } from '../../core/errors.js';
import { PartFile } from './part-file.js';
import { RateWindow, TokenBucket, backoffDelay, isSlow, progressEvent, type BackoffOptions, type DownloadProgress } from './rate.js';
import { isRetryable, openSource, sourceKind } from './source.js';

/** What a network gate answers: go on, or stop with the reason (roaming, byte cap, time window). */
export type NetworkDecision = { allowed: true } | { allowed: false; code: 'OTA_NETWORK_POLICY'; reason: string };
/** Asked before the first byte and every `gateIntervalMs` during the download, with the bytes held. */
export type NetworkGate = (bytesSoFar: number) => NetworkDecision;

export interface DownloadOptions {
  /** http(s) URL, file:// URL, or a local path (a USB stick). */
  url: string;
  /** Final path; the download goes to `dest + '.part'` first. */
  dest: string;
  /** Declared length from the verified metadata. Not a byte more is accepted. */
  length: number;
  /** Declared SHA-256, hex. */
  sha256: string;
  clock: Clock;
  /** Aborting cancels: OTA_CANCELLED, the `.part` kept. */
  signal?: AbortSignal;
  /** Bandwidth cap, bytes per second (default none). The minimum rate must be at most half of it. */
  bandwidthBytesPerS?: number;
  /** Largest burst above the cap, bytes (default 1/20 s of the cap, at least 16 KiB). */
  bandwidthBurstBytes?: number;
  /** Slow retrieval: below this many bytes/s over `slowWindowMs` → OTA_SLOW_RETRIEVAL (default 1024; 0 = off). */
  minRateBytesPerS?: number;
  /** Default 30 000. */
  slowWindowMs?: number;
  /** Consecutive failed attempts that made no progress before giving up with OTA_FETCH (default 5). */
  maxRetries?: number;
  /** How often the source may make us start over (200 to a Range, 416, a wrong Content-Range) (default 3). */
  maxRestarts?: number;
  backoff?: BackoffOptions;
  /** For the back-off jitter (default Math.random). */
  random?: () => number;
  networkGate?: NetworkGate;
  /** Default 1000. */
  gateIntervalMs?: number;
  /** Must not throw; if it does, the download ends with OTA_CANCELLED. */
  onProgress?: (event: DownloadProgress) => void;
  /** Least time between progress events (default 250); the first and the last always come. */
  progressIntervalMs?: number;
  /** Refuse up front with OTA_DISK_FULL when the file system has less room than what is left (default true). */
  checkFreeSpace?: boolean;
  /** Extra request headers (authorisation to a repository, a user agent). */
  headers?: Readonly<Record<string, string>>;
}

export interface DownloadResult {
  path: string;
  length: number;
  sha256: string;
  /** Bytes the `.part` held at the start and were kept. */
  resumedFromBytes: number;
  /** Bytes taken from the source by this call (re-fetched ones included). */
  fetchedBytes: number;
  /** Times the download started over from byte 0. */
  restarts: number;
  /** Attempts after a dropped connection. */
  retries: number;
  elapsedMs: number;
}

/** `details.cause` of an OTA_TARGET_MISMATCH whose source stated (or ended at) another length than the declared one. */
export const SOURCE_LENGTH = 'source-length';

type Settled = Required<Omit<DownloadOptions, 'signal' | 'bandwidthBytesPerS' | 'bandwidthBurstBytes' | 'networkGate' | 'onProgress' | 'headers'>> &
  Pick<DownloadOptions, 'signal' | 'bandwidthBytesPerS' | 'bandwidthBurstBytes' | 'networkGate' | 'onProgress' | 'headers'>;

type Outcome = 'complete' | 'dropped' | 'restart';

export async function downloadTarget(options: DownloadOptions): Promise<DownloadResult> {
  return new Download(settle(options)).run();
}

function settle(o: DownloadOptions): Settled {
  sourceKind(o.url);
  if (typeof o.dest !== 'string' || o.dest.length === 0) throw new TcuError('CONFIG_INVALID', 'a download needs a destination path');
  if (!Number.isSafeInteger(o.length) || o.length < 0) throw new TcuError('OTA_METADATA', `a target length must be a non-negative integer, not ${o.length}`);
  if (typeof o.sha256 !== 'string' || !/^[0-9a-f]{64}$/i.test(o.sha256)) throw new TcuError('OTA_METADATA', 'a target sha256 must be 64 hex digits');
  const s: Settled = {
    ...o,
    sha256: o.sha256.toLowerCase(),
    minRateBytesPerS: o.minRateBytesPerS ?? 1024,
    slowWindowMs: o.slowWindowMs ?? 30_000,
    maxRetries: o.maxRetries ?? 5,
    maxRestarts: o.maxRestarts ?? 3,
    backoff: o.backoff ?? {},
    random: o.random ?? Math.random,
    gateIntervalMs: o.gateIntervalMs ?? 1000,
    progressIntervalMs: o.progressIntervalMs ?? 250,
    checkFreeSpace: o.checkFreeSpace ?? true,
  };
  const positive = (v: number | undefined): boolean => v === undefined || (v > 0 && Number.isFinite(v));
  if (!positive(s.bandwidthBytesPerS) || !positive(s.bandwidthBurstBytes) || !positive(s.slowWindowMs) || !positive(s.gateIntervalMs) || !(s.progressIntervalMs >= 0)) {
    throw new TcuError('CONFIG_INVALID', 'download rates, windows and intervals must be positive numbers');
  }
  if (!(s.minRateBytesPerS >= 0) || !Number.isInteger(s.maxRetries) || s.maxRetries < 0 || !Number.isInteger(s.maxRestarts) || s.maxRestarts < 0) {
    throw new TcuError('CONFIG_INVALID', 'minRateBytesPerS, maxRetries and maxRestarts must not be negative');
  }
  if (s.bandwidthBytesPerS !== undefined && s.minRateBytesPerS > s.bandwidthBytesPerS / 2) {
    throw new TcuError('CONFIG_INVALID', `the minimum rate (${s.minRateBytesPerS} B/s) must be at most half the bandwidth cap (${s.bandwidthBytesPerS} B/s), or the cap itself would look slow`);
  }
  return s;
}

class Download {
  private readonly clock: Clock;
  private readonly bucket: TokenBucket | undefined;
  private readonly progressWindow = new RateWindow(1000);
  private readonly slowWindow: RateWindow;
  private part!: PartFile;
  private agent: http.Agent | undefined;
  private resumedFrom = 0;
  private fetched = 0;
  private restarts = 0;
  private retries = 0;
  private lastProgressAt = -Infinity;
  private lastGateAt = -Infinity;
  private lastFailure: unknown;

  constructor(private readonly o: Settled) {
    this.clock = o.clock;
    this.bucket = o.bandwidthBytesPerS === undefined ? undefined : new TokenBucket(o.clock, o.bandwidthBytesPerS, o.bandwidthBurstBytes);
    this.slowWindow = new RateWindow(o.slowWindowMs);
  }

  async run(): Promise<DownloadResult> {
    const started = this.clock.monotonic();
    if (this.o.signal?.aborted) throw cancelled();
    this.part = await PartFile.open(`${this.o.dest}.part`);
    try {
      const why = await this.part.resume(this.o.length, this.o.signal).catch((err: unknown) => {
        throw asTcuError(err, 'FILE_READ', 'cannot re-hash the partial download');
      });
      if (why !== undefined) await this.restart(why);
      this.resumedFrom = this.part.received;
      this.progressWindow.reset(this.clock.monotonic());
      this.progress(true);
      if (this.part.received === this.o.length && this.part.digest() !== this.o.sha256) await this.restart('the complete partial file does not match its hash');
      if (this.part.received < this.o.length) await this.fetch();
      if (this.part.digest() !== this.o.sha256) {
        throw new TcuError('OTA_TARGET_MISMATCH', `the SHA-256 of ${this.o.url} does not match its metadata`, { details: { url: this.o.url, length: this.o.length } });
      }
      await this.part.commit(this.o.dest);
      this.progress(true);
      return {
        path: this.o.dest,
        length: this.o.length,
        sha256: this.o.sha256,
        resumedFromBytes: this.resumedFrom,
        fetchedBytes: this.fetched,
        restarts: this.restarts,
        retries: this.retries,
        elapsedMs: this.clock.monotonic() - started,
      };
    } catch (err) {
      // A proven-wrong file goes; so does an empty one (refused before the first byte).
      if (err instanceof TcuError && err.code === 'OTA_TARGET_MISMATCH') await this.part.discard();
      else await this.part.discardIfEmpty();
      throw err;
    } finally {
      await this.part.close();
      this.agent?.destroy();
    }
  }

  private async fetch(): Promise<void> {
    this.gate();
    if (this.o.checkFreeSpace) {
      const need = this.o.length - this.part.received;
      const free = await this.part.freeBytes();
      if (free < need) throw new TcuError('OTA_DISK_FULL', `${need} bytes to download but ${free} free next to ${this.o.dest}`, { details: { need, free } });
    }
    if (sourceKind(this.o.url) === 'http') this.agent = new (/^https:/i.test(this.o.url) ? https.Agent : http.Agent)({ keepAlive: true });
    let failures = 0;
    for (;;) {
      this.gate();
      const before = this.part.received;
      const outcome = await this.attempt();
      if (outcome === 'complete') return;
      if (outcome === 'restart') continue;
      failures = this.part.received > before ? 1 : failures + 1;
      if (failures > this.o.maxRetries) {
        const text = this.lastFailure instanceof Error ? this.lastFailure.message : String(this.lastFailure);
        throw new TcuError('OTA_FETCH', `gave up on ${this.o.url} after ${failures} failed attempts: ${text}`, { cause: this.lastFailure, details: { held: this.part.received } });
      }
      this.retries++;
      await pause(this.clock, backoffDelay(failures - 1, this.o.backoff, this.o.random), this.o.signal, cancelled);
    }
  }

  /** One request: 'complete', 'dropped' (resume after a back-off) or 'restart' (from byte 0 at once). */
  private async attempt(): Promise<Outcome> {
    const ctl = new AbortController();
    const onCancel = (): void => ctl.abort(cancelled());
    this.o.signal?.addEventListener('abort', onCancel, { once: true });
    if (this.o.signal?.aborted) onCancel();
    this.slowWindow.reset(this.clock.monotonic());
    const tickMs = Math.min(1000, Math.max(10, Math.min(this.o.gateIntervalMs, this.o.slowWindowMs / 10, this.o.progressIntervalMs || 1000)));
    const o = this.o;
    let timer: TimerHandle | undefined;
    const tick = (): void => {
      const stop = this.check();
      if (stop) ctl.abort(stop);
      else timer = this.clock.setTimeout(tick, tickMs);
    };
    timer = this.clock.setTimeout(tick, tickMs);
    try {
      const reply = await openSource(o.url, { from: this.part.received, length: o.length, signal: ctl.signal, agent: this.agent, headers: o.headers });
      if (reply.kind === 'restart') {
        if (reply.total !== undefined && reply.total !== o.length) throw lengthMismatch(reply.total, o);
        await this.restart(reply.reason);
        return 'restart';
      }
      ctl.signal.addEventListener('abort', () => reply.body.destroy(), { once: true });
      const left = o.length - (reply.start === 0 ? 0 : this.part.received);
      if (reply.announced !== undefined && reply.announced > left) {
        reply.body.destroy();
        throw endless(`the source announced ${reply.announced} bytes where ${left} are left`, o);
      }
      if (reply.total !== undefined && reply.total !== o.length) {
        reply.body.destroy();
        throw lengthMismatch(reply.total, o);
      }
      if (reply.start === 0 && this.part.received > 0) await this.restart('the server ignored the Range request and sent the whole file');
      for await (const chunk of reply.body as AsyncIterable<Buffer>) await this.take(chunk, ctl.signal);
      await this.part.flush();
      if (this.part.received === o.length) return 'complete';
      if (reply.final) {
        throw new TcuError('OTA_TARGET_MISMATCH', `${o.url} has ${this.part.received} bytes, fewer than the declared ${o.length}`, { details: { url: o.url, length: o.length, cause: SOURCE_LENGTH } });
      }
      this.lastFailure = new TcuError('OTA_FETCH', `the connection closed at byte ${this.part.received} of ${o.length}`);
      return 'dropped';
    } catch (err) {
      await this.part.flush();
      const reason: unknown = ctl.signal.reason;
      if (ctl.signal.aborted && reason instanceof TcuError) throw reason;
      if (!isRetryable(err)) throw err;
      this.lastFailure = err;
      return 'dropped';
    } finally {
      if (timer !== undefined) this.clock.clearTimeout(timer);
      this.o.signal?.removeEventListener('abort', onCancel);
    }
  }

  /** Appends a chunk, never past the declared length, then pays the bandwidth cap. */
  private async take(chunk: Buffer, signal: AbortSignal): Promise<void> {
    const room = this.o.length - this.part.received;
    if (chunk.length > room) {
      if (room > 0) await this.part.append(chunk.subarray(0, room));
      this.fetched += room;
      throw endless(`more than the declared ${this.o.length} bytes arrived`, this.o);
    }
    await this.part.append(chunk);
    this.fetched += chunk.length;
    const now = this.clock.monotonic();
    this.slowWindow.add(now, chunk.length);
    this.progressWindow.add(now, chunk.length);
    this.progress(false);
    const wait = this.bucket?.take(chunk.length) ?? 0;
    if (wait > 0) await pause(this.clock, wait, signal, () => signal.reason as unknown);
  }

  /** On each tick: slow retrieval, the network gate, a progress event. What stops the attempt, if anything. */
  private check(): TcuError | undefined {
    const now = this.clock.monotonic();
    if (isSlow(this.slowWindow, now, this.o.minRateBytesPerS)) {
      const rate = Math.round(this.slowWindow.rate(now));
      return new TcuError('OTA_SLOW_RETRIEVAL', `${rate} B/s over ${this.o.slowWindowMs} ms, below the minimum of ${this.o.minRateBytesPerS} B/s`, {
        details: { bytesPerS: rate, minBytesPerS: this.o.minRateBytesPerS, windowMs: this.o.slowWindowMs, held: this.part.received },
      });
    }
    try {
      if (now - this.lastGateAt >= this.o.gateIntervalMs) this.gate();
      this.progress(false);
    } catch (err) {
      return err instanceof TcuError ? err : asTcuError(err, 'OTA_CANCELLED');
    }
    return undefined;
  }

  private gate(): void {
    this.lastGateAt = this.clock.monotonic();
    const gate = this.o.networkGate;
    if (!gate) return;
    let decision: NetworkDecision;
    try {
      decision = gate(this.part.received);
    } catch (err) {
      throw asTcuError(err, 'OTA_NETWORK_POLICY', 'the network gate failed');
    }
    if (!decision.allowed) {
      throw new TcuError('OTA_NETWORK_POLICY', `downloading is not allowed now: ${decision.reason}`, { details: { reason: decision.reason, held: this.part.received } });
    }
  }

  private progress(force: boolean): void {
    const now = this.clock.monotonic();
    if (!this.o.onProgress || (!force && now - this.lastProgressAt < this.o.progressIntervalMs)) return;
    this.lastProgressAt = now;
    const event = progressEvent(this.part.received, this.o.length, this.progressWindow.rate(now), this.resumedFrom);
    try {
      this.o.onProgress(event);
    } catch (err) {
      throw asTcuError(err, 'OTA_CANCELLED', 'the progress listener threw');
    }
  }

  private async restart(reason: string): Promise<void> {
    this.restarts++;
    if (this.restarts > this.o.maxRestarts) {
      throw new TcuError('OTA_FETCH', `${this.o.url} made the download start over ${this.restarts} times; last: ${reason}`, { details: { restarts: this.restarts } });
    }
    await this.part.reset();
  }
}

function cancelled(): TcuError {
  return new TcuError('OTA_CANCELLED', 'the download was cancelled; the partial file is kept for a resume');
}

/** The source says the target has `total` bytes, not the declared length: not (yet) the file the metadata names. */
function lengthMismatch(total: number, o: Settled): TcuError {
  return new TcuError('OTA_TARGET_MISMATCH', `${o.url} has ${total} bytes, not the ${o.length} its metadata declares`, { details: { url: o.url, length: o.length, total, cause: SOURCE_LENGTH } });
}

function endless(message: string, o: Settled): TcuError {
  return new TcuError('OTA_ENDLESS_DATA', `${o.url}: ${message}`, { details: { url: o.url, length: o.length } });
}

/** Waits `ms` on the clock; rejects with `reason()` if `signal` aborts first. */
function pause(clock: Clock, ms: number, signal: AbortSignal | undefined, reason: () => unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(reason());
    const onAbort = (): void => {
      clock.clearTimeout(timer);
      reject(reason());
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
