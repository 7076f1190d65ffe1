/**
 * Where target bytes come from: an HTTP(S) server (our own client on node:http/https, no fetch) or
 * a local folder (a USB stick, a workshop share) named by a path or a file:// URL. One call opens
 * the bytes from an offset and says what the source actually gave: the body from that offset, the
 * body from byte 0 (a server that ignores Range), or "start over" (416, a Content-Range that does
 * not continue the file), with the target's whole length when the source states one, so the
 * downloader can tell a file that is shorter or longer than its metadata from a dropped connection.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { TcuError, asTcuError } from '../../core/errors.js';
import { parseContentLength, parseContentRange, rangeContinues, rangeHeader } from './range.js';

export type SourceKind = 'http' | 'file';

export interface OpenRequest {
  /** Bytes already held: ask for the rest. */
  from: number;
  /** The declared length of the target. */
  length: number;
  signal: AbortSignal;
  /** The HTTP agent to reuse between attempts (ignored for files). */
  agent?: http.Agent;
  headers?: Readonly<Record<string, string>>;
}

export type OpenReply =
  | {
      kind: 'body';
      /** Where the body starts in the target: `from`, or 0 when the source started over. */
      start: number;
      /** Bytes the source says it will send (Content-Length, or what is left of the file). */
      announced: number | undefined;
      /** The target's whole length as the source states it: a file's size, a 200's Content-Length, a 206's Content-Range total. */
      total: number | undefined;
      body: Readable;
      /**
       * A short body is the source's last word, not a dropped connection to resume: a file, or a 200
       * whose framing (Content-Length or chunked) shows it ended whole.
       */
      final: boolean;
    }
  | {
      kind: 'restart';
      reason: string;
      /** The target's whole length when the answer states it (a 416's or a 206's Content-Range total). */
      total?: number;
    };

const MAX_REDIRECTS = 5;

/** `http`/`https` URLs, `file:` URLs, or a plain path. CONFIG_INVALID for any other scheme. */
export function sourceKind(url: string): SourceKind {
  if (/^https?:\/\//i.test(url)) return 'http';
  if (/^file:/i.test(url)) return 'file';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) throw new TcuError('CONFIG_INVALID', `unsupported download URL scheme in "${url}" (http, https, file or a path)`);
  if (url.length === 0) throw new TcuError('CONFIG_INVALID', 'the download URL is empty');
  return 'file';
}

export function openSource(url: string, request: OpenRequest): Promise<OpenReply> {
  return sourceKind(url) === 'http' ? openHttp(new URL(url), request, 0) : openFile(url, request);
}

async function openFile(url: string, request: OpenRequest): Promise<OpenReply> {
  const path = /^file:/i.test(url) ? fileURLToPath(url) : url;
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new TcuError('OTA_FETCH', `${path} is not a file`, { details: { retryable: false } });
    size = st.size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw fetchError(`${path} does not exist`, 404, false, err);
    throw asTcuError(err, 'OTA_FETCH', `cannot read ${path}`);
  }
  if (request.from > size) return { kind: 'restart', reason: `the file has ${size} bytes, fewer than the ${request.from} already held`, total: size };
  // One byte past the declared length is enough to see a file that is too long.
  const end = Math.min(size, request.length + 1) - 1;
  const body = end < request.from ? Readable.from([]) : createReadStream(path, { start: request.from, end, highWaterMark: 1024 * 1024, signal: request.signal });
  return { kind: 'body', start: request.from, announced: size - request.from, total: size, body, final: true };
}

async function openHttp(url: URL, request: OpenRequest, redirects: number): Promise<OpenReply> {
  const headers: Record<string, string> = { 'accept-encoding': 'identity', ...request.headers };
  if (request.from > 0) headers['range'] = rangeHeader(request.from);
  const res = await get(url, headers, request);
  const status = res.statusCode ?? 0;
  if (status >= 300 && status < 400 && status !== 304 && res.headers.location !== undefined) {
    res.resume();
    if (redirects >= MAX_REDIRECTS) throw fetchError(`too many redirects from ${url.href}`, status, false);
    const next = new URL(res.headers.location, url);
    if (next.protocol !== 'http:' && next.protocol !== 'https:') throw fetchError(`redirect to an unsupported scheme: ${next.protocol}`, status, false);
    return openHttp(next, request, redirects + 1);
  }
  if (status === 416) {
    res.resume();
    // `Content-Range: bytes */SIZE` says how long the resource is.
    const size = unsatisfiedRangeSize(res.headers['content-range']);
    return { kind: 'restart', reason: `the server refused the range from byte ${request.from} (416${size === undefined ? '' : `, ${size} bytes`})`, ...(size === undefined ? {} : { total: size }) };
  }
  if (status === 200) {
    const length = parseContentLength(res.headers['content-length']);
    // Framed by Content-Length or chunked: a body that ends cleanly is whole (a cut one is an error).
    const framed = length !== undefined || /\bchunked\b/i.test(String(res.headers['transfer-encoding'] ?? ''));
    return { kind: 'body', start: 0, announced: length, total: length, body: res, final: framed };
  }
  if (status === 206) {
    const range = parseContentRange(res.headers['content-range']);
    if (!range || !rangeContinues(range, request.from, request.length)) {
      res.destroy();
      return {
        kind: 'restart',
        reason: `the Content-Range "${res.headers['content-range'] ?? ''}" does not continue from byte ${request.from} of ${request.length}`,
        ...(range?.total === undefined ? {} : { total: range.total }),
      };
    }
    return { kind: 'body', start: range.start, announced: range.end - range.start + 1, total: range.total, body: res, final: false };
  }
  res.resume();
  const retryable = status >= 500 || status === 408 || status === 429;
  throw fetchError(`${url.href} answered HTTP ${status}`, status, retryable);
}

function get(url: URL, headers: Record<string, string>, request: OpenRequest): Promise<IncomingMessage> {
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    let req: http.ClientRequest;
    try {
      req = client.request(url, { method: 'GET', headers, agent: request.agent, signal: request.signal });
    } catch (err) {
      reject(asTcuError(err, 'OTA_FETCH', `cannot request ${url.href}`));
      return;
    }
    req.once('response', resolve);
    req.once('error', (err) => reject(new TcuError('OTA_FETCH', `${url.href}: ${err.message}`, { cause: err, details: { retryable: true } })));
    req.end();
  });
}

/** The SIZE of a 416's `Content-Range: bytes *\/SIZE`; undefined when absent or malformed. */
function unsatisfiedRangeSize(header: string | undefined): number | undefined {
  const m = header === undefined ? null : /^bytes[ \t]+\*\/(\d{1,16})$/i.exec(header.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** OTA_FETCH with the HTTP status (404 for a missing local file too) and whether to try again. */
function fetchError(message: string, status: number, retryable: boolean, cause?: unknown): TcuError {
  return new TcuError('OTA_FETCH', message, { cause, details: { status, retryable } });
}

/** Whether a fetch error is worth another attempt (a network failure, 5xx, 408, 429). */
export function isRetryable(err: unknown): boolean {
  if (err instanceof TcuError) return err.code === 'OTA_FETCH' && err.details['retryable'] === true;
  return true;
}
