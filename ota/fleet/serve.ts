/**
 * A small static HTTP server for a repository folder, for development (`tcu-ota serve`): GET and
 * HEAD, one byte range per request (206 with Content-Range, 416 when unsatisfiable; any other
 * Range header is ignored and the whole file sent, as RFC 9110 allows), no directory listings,
 * nothing outside the folder (real paths are checked, so a symbolic link cannot lead out), no
 * caching (`Cache-Control: no-store`). Production repositories go on any web server or CDN.
 */
import { createReadStream, realpathSync, statSync } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { TcuError } from '../../core/errors.js';

export type ByteRange = { kind: 'none' } | { kind: 'range'; start: number; end: number } | { kind: 'unsatisfiable' };

/** The bytes a `Range` header asks of a file of `size` bytes (a single range; `bytes=-N` is the last N). */
export function byteRange(header: string | undefined, size: number): ByteRange {
  const m = header === undefined ? null : /^bytes=(\d*)-(\d*)$/i.exec(header.replace(/[ \t]/g, ''));
  if (!m || (m[1] === '' && m[2] === '')) return { kind: 'none' };
  if (m[1] === '') {
    const n = Number(m[2]);
    if (!Number.isSafeInteger(n)) return { kind: 'none' };
    return n === 0 || size === 0 ? { kind: 'unsatisfiable' } : { kind: 'range', start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? Infinity : Number(m[2]);
  if (!Number.isSafeInteger(start) || (m[2] !== '' && !Number.isSafeInteger(end)) || end < start) return { kind: 'none' };
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'range', start, end: Math.min(end, size - 1) };
}

export interface ServedRequest {
  method: string;
  path: string;
  status: number;
  bytes: number;
}

export interface RepoServerOptions {
  /** The folder served at `/` (a repository, or a folder holding several). */
  root: string;
  /** Called once per request answered. */
  onRequest?: (r: ServedRequest) => void;
}

export class RepoServer {
  private readonly root: string;
  private readonly sockets = new Set<Socket>();
  private server: http.Server | undefined;

  constructor(private readonly options: RepoServerOptions) {
    try {
      this.root = realpathSync(options.root);
      if (!statSync(this.root).isDirectory()) throw new Error('not a folder');
    } catch (err) {
      throw new TcuError('FILE_READ', `${options.root} is not a readable folder`, { cause: err });
    }
  }

  /** Listens (port 0: any free port); an address that cannot be used is CLI_USAGE. */
  async start(host = '127.0.0.1', port = 0): Promise<{ url: string; port: number }> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new TcuError('CLI_USAGE', `cannot listen on ${host}:${port}: ${err.message}`, { cause: err })));
      server.listen(port, host, resolve);
    });
    this.server = server;
    const a = server.address() as AddressInfo;
    return { url: `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/`, port: a.port };
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const record: ServedRequest = { method: req.method ?? '', path: req.url ?? '', status: 0, bytes: 0 };
    try {
      if (record.method !== 'GET' && record.method !== 'HEAD') return this.plain(res, record, 405, { allow: 'GET, HEAD' });
      const file = await this.file(req.url);
      if (file === undefined) return this.plain(res, record, 404);
      const { size, mtime } = await stat(file);
      const range = byteRange(req.headers.range, size);
      const headers: http.OutgoingHttpHeaders = {
        'content-type': file.endsWith('.json') ? 'application/json' : 'application/octet-stream',
        'accept-ranges': 'bytes',
        'cache-control': 'no-store',
        'last-modified': mtime.toUTCString(),
      };
      if (range.kind === 'unsatisfiable') return this.plain(res, record, 416, { ...headers, 'content-range': `bytes */${size}` });
      const [start, end] = range.kind === 'range' ? [range.start, range.end] : [0, size - 1];
      if (range.kind === 'range') headers['content-range'] = `bytes ${start}-${end}/${size}`;
      headers['content-length'] = Math.max(0, end - start + 1);
      record.status = range.kind === 'range' ? 206 : 200;
      res.writeHead(record.status, headers);
      if (record.method === 'HEAD' || size === 0) {
        res.end();
        return;
      }
      record.bytes = end - start + 1;
      await pipeline(createReadStream(file, { start, end }), res);
    } catch {
      if (!res.headersSent) this.plain(res, record, 500);
      else res.destroy();
    } finally {
      this.options.onRequest?.(record);
    }
  }

  /** The regular file a URL names, inside the root; undefined otherwise. */
  private async file(url: string | undefined): Promise<string | undefined> {
    let segments: string[];
    try {
      segments = new URL(url ?? '/', 'http://localhost').pathname.split('/').filter((s) => s !== '').map(decodeURIComponent);
    } catch {
      return undefined;
    }
    if (segments.length === 0 || segments.some((s) => s === '.' || s === '..' || s.includes('/') || s.includes('\\') || s.includes('\0'))) return undefined;
    try {
      const real = await realpath(join(this.root, ...segments));
      if (!real.startsWith(this.root + sep)) return undefined;
      return (await stat(real)).isFile() ? real : undefined;
    } catch {
      return undefined;
    }
  }

  private plain(res: ServerResponse, record: ServedRequest, status: number, headers: http.OutgoingHttpHeaders = {}): void {
    record.status = status;
    const text = `${http.STATUS_CODES[status] ?? 'error'}\n`;
    res.writeHead(status, { ...headers, 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text) });
    res.end(record.method === 'HEAD' ? undefined : text);
  }
}
