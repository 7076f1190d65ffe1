import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { DownloadHTTPError } from 'tuf-js/dist/error.js';
import { systemClock, type Clock, type TimerHandle } from '../../core/clock.js';
import { TcuError } from '../../core/errors.js';
import { BoundedFetcher, type ByteStream, type FetcherOptions } from './fetcher.js';

export interface HttpFetcherOptions extends FetcherOptions {
  /** Connecting, waiting for the response headers, and each silence in the body. Default 10 000 ms. */
  timeoutMs?: number;
  /** The whole file, from the request to its last byte (slow retrieval). Default 60 000 ms. */
  deadlineMs?: number;
  /** Redirects followed (never from https to http). Default 3. */
  maxRedirects?: number;
  headers?: Record<string, string>;
  /** For the deadline timer. Default: the system clock. */
  clock?: Clock;
}

/**
 * Metadata over HTTP(S) with node:http and node:https: a status other than 200 is tuf-js's
 * DownloadHTTPError (404 ends the root walk; tuf-js rethrows the others, which we report as
 * OTA_FETCH); no connection, no headers in time or a dropped connection are OTA_FETCH; a body that
 * stalls for `timeoutMs` or is not complete within `deadlineMs` is OTA_SLOW_RETRIEVAL. Every
 * failure destroys the request, so no socket stays open.
 */
export class HttpFetcher extends BoundedFetcher {
  private readonly timeoutMs: number;
  private readonly deadlineMs: number;
  private readonly maxRedirects: number;
  private readonly headers: Record<string, string>;
  private readonly clock: Clock;

  constructor(options: HttpFetcherOptions = {}) {
    super(options);
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.deadlineMs = options.deadlineMs ?? 60_000;
    this.maxRedirects = options.maxRedirects ?? 3;
    this.headers = { 'user-agent': 'tcu-agent', ...options.headers };
    this.clock = options.clock ?? systemClock();
  }

  override fetch(url: string): Promise<ByteStream> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch (err) {
      return Promise.reject(new TcuError('OTA_FETCH', `not a URL: ${url}`, { cause: err, details: { url } }));
    }
    return this.get(parsed, this.maxRedirects);
  }

  private get(url: URL, redirectsLeft: number): Promise<ByteStream> {
    const client = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : undefined;
    if (!client) return Promise.reject(new TcuError('OTA_FETCH', `unsupported protocol ${url.protocol}`, { details: { url: url.href } }));
    return new Promise<ByteStream>((resolve, reject) => {
      let response: IncomingMessage | undefined;
      let settled = false;
      let deadline: TimerHandle | undefined;
      const done = (): void => {
        if (deadline !== undefined) this.clock.clearTimeout(deadline);
        deadline = undefined;
      };
      const fail = (err: Error): void => {
        done();
        if (response) response.destroy(err);
        req.destroy(err);
        if (!settled) {
          settled = true;
          reject(err);
        }
      };
      const req = client.get(url, { headers: this.headers, timeout: this.timeoutMs }, (res) => {
        const status = res.statusCode ?? 0;
        const location = res.headers.location;
        if (status >= 300 && status < 400 && location !== undefined && redirectsLeft > 0) {
          res.resume();
          done();
          let next: URL;
          try {
            next = new URL(location, url);
          } catch (err) {
            fail(new TcuError('OTA_FETCH', `bad redirect from ${url.href}`, { cause: err, details: { url: url.href } }));
            return;
          }
          if (url.protocol === 'https:' && next.protocol !== 'https:') {
            fail(new TcuError('OTA_FETCH', `refused redirect from https to ${next.protocol}`, { details: { url: url.href } }));
            return;
          }
          settled = true;
          this.get(next, redirectsLeft - 1).then(resolve, reject);
          return;
        }
        if (status !== 200) {
          res.resume();
          done();
          settled = true;
          reject(new DownloadHTTPError(`${url.href}: HTTP ${status}`, status));
          return;
        }
        response = res;
        res.on('close', done);
        res.on('end', done);
        settled = true;
        resolve(Readable.toWeb(res) as unknown as ByteStream);
      });
      req.on('timeout', () => {
        if (response) fail(new TcuError('OTA_SLOW_RETRIEVAL', `${url.href}: no data for ${this.timeoutMs} ms`, { details: { url: url.href } }));
        else fail(new TcuError('OTA_FETCH', `${url.href}: no response within ${this.timeoutMs} ms`, { details: { url: url.href } }));
      });
      req.on('error', (err) => {
        if (err instanceof TcuError) fail(err);
        else fail(new TcuError('OTA_FETCH', `${url.href}: ${err.message}`, { cause: err, details: { url: url.href } }));
      });
      deadline = this.clock.setTimeout(() => {
        fail(new TcuError('OTA_SLOW_RETRIEVAL', `${url.href}: not complete within ${this.deadlineMs} ms`, { details: { url: url.href } }));
      }, this.deadlineMs);
      deadline.unref?.();
    });
  }
}
