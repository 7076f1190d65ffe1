/**
 * A small file in memory (TUF metadata): the same HTTP client and local-folder source as the
 * target downloader, with a hard upper bound on the length and a deadline. A missing file is
 * OTA_FETCH with `details.status` 404 (HTTP or local), so a metadata fetcher can tell "no newer
 * root" from a failure.
 */
import type { Clock } from '../../core/clock.js';
import { TcuError } from '../../core/errors.js';
import { openSource } from './source.js';

export interface FetchBytesOptions {
  /** Not a byte more is read: OTA_ENDLESS_DATA. */
  maxLength: number;
  clock: Clock;
  /** The whole fetch must end within this (default 10 000 ms): OTA_SLOW_RETRIEVAL. */
  timeoutMs?: number;
  signal?: AbortSignal;
  headers?: Readonly<Record<string, string>>;
}

export async function fetchBytes(url: string, options: FetchBytesOptions): Promise<Buffer> {
  const { maxLength, clock } = options;
  if (!Number.isSafeInteger(maxLength) || maxLength < 0) throw new TcuError('CONFIG_INVALID', `maxLength must be a non-negative integer, not ${maxLength}`);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const ctl = new AbortController();
  const onCancel = (): void => ctl.abort(new TcuError('OTA_CANCELLED', `fetching ${url} was cancelled`));
  if (options.signal?.aborted) onCancel();
  options.signal?.addEventListener('abort', onCancel, { once: true });
  const timer = clock.setTimeout(() => ctl.abort(new TcuError('OTA_SLOW_RETRIEVAL', `${url} took longer than ${timeoutMs} ms`, { details: { url, timeoutMs } })), timeoutMs);
  try {
    const reply = await openSource(url, { from: 0, length: maxLength, signal: ctl.signal, headers: options.headers });
    if (reply.kind === 'restart') throw new TcuError('OTA_FETCH', `${url}: ${reply.reason}`);
    if (reply.announced !== undefined && reply.announced > maxLength) {
      reply.body.destroy();
      throw new TcuError('OTA_ENDLESS_DATA', `${url} announced ${reply.announced} bytes, more than the ${maxLength} allowed`, { details: { url, maxLength } });
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of reply.body as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > maxLength) throw new TcuError('OTA_ENDLESS_DATA', `${url} sent more than the ${maxLength} bytes allowed`, { details: { url, maxLength } });
      chunks.push(chunk);
    }
    return Buffer.concat(chunks, total);
  } catch (err) {
    const reason: unknown = ctl.signal.reason;
    if (ctl.signal.aborted && reason instanceof TcuError) throw reason;
    if (err instanceof TcuError) throw err;
    throw new TcuError('OTA_FETCH', `${url}: ${err instanceof Error ? err.message : String(err)}`, { cause: err, details: { retryable: true } });
  } finally {
    clock.clearTimeout(timer);
    options.signal?.removeEventListener('abort', onCancel);
  }
}
