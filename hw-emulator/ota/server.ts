/**
 * The emulator's OTA repository server: a folder of static files (TUF's layout: `root.json`,
 * `N.root.json`, `timestamp.json`, `snapshot.json`, `targets.json`, `targets/...`; or several
 * repositories in subfolders) over HTTP/1.1, with GET, HEAD, single byte ranges (206,
 * Content-Range, 416) and the fault modes of `faults.ts`, set per server or per path and
 * changeable while it runs. No directory listings; nothing outside the root is ever served.
 */
import { realpathSync, statSync } from 'node:fs';
import { open, realpath, stat, type FileHandle } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join, sep } from 'node:path';
import { sleep, systemClock, type Clock } from '../../core/clock.js';
import { Counters } from '../../core/counters.js';
import { TcuError } from '../../core/errors.js';
import { dropPoint, faultApplies, type OtaFault, type OtaFaultKind } from './faults.js';
import { contentRange, parseRangeRequest } from './range.js';

export interface OtaRepoServerOptions {
  /** The folder served at `/`. */
  root: string;
  faults?: readonly OtaFault[];
  /** For the `slow` fault's pacing (default the system clock). */
  clock?: Clock;
  /** Bytes per write when no fault paces the body (default 256 KiB). */
  chunkBytes?: number;
}

export const OTA_SERVER_COUNTER_NAMES = ['requests', 'bytesSent', 'rangeRequests', 'faultsApplied', 'notFound'] as const;
export type OtaServerCounterName = (typeof OTA_SERVER_COUNTER_NAMES)[number];

/** One request as the server saw it, after it was answered (or cut). */
export interface OtaRequestRecord {
  method: string;
  /** Path relative to the root, no leading slash ('' when unusable). */
  path: string;
  status: number;
  /** The request's Range header, if any. */
  range: string | undefined;
  /** Body bytes sent for this request. */
  bytes: number;
  faults: OtaFaultKind[];
}

interface Exchange {
  res: ServerResponse;
  record: OtaRequestRecord;
  alive: boolean;
}

const ZEROS = Buffer.alloc(64 * 1024);

export class OtaRepoServer {
  private readonly clock: Clock;
  private readonly rootReal: string;
  private readonly chunkBytes: number;
  private readonly stats = new Counters(OTA_SERVER_COUNTER_NAMES);
  private readonly drops = new Map<OtaFault, number>();
  private readonly sockets = new Set<Socket>();
  private listeners: ((record: OtaRequestRecord) => void)[] = [];
  private faults: readonly OtaFault[];
  private active = 0;
  private server: http.Server | undefined;
  private stopping = false;

  constructor(options: OtaRepoServerOptions) {
    let real: string;
    try {
      real = realpathSync(options.root);
      if (!statSync(real).isDirectory()) throw new Error('not a folder');
    } catch (err) {
      throw new TcuError('EMULATOR_CONFIG', `the OTA repository root ${options.root} is not a readable folder`, { cause: err });
    }
    this.rootReal = real;
    this.clock = options.clock ?? systemClock();
    this.chunkBytes = options.chunkBytes ?? 256 * 1024;
    this.faults = [...(options.faults ?? [])];
  }

  /** Listens (port 0: any free port); the URL ends with `/`. EMULATOR_LISTEN on failure. */
  async start(host = '127.0.0.1', port = 0): Promise<{ url: string; host: string; port: number }> {
    if (this.server) throw new TcuError('EMULATOR_CONFIG', 'the OTA repository server is already started');
    const server = http.createServer((req, res) => void this.handle(req, res));
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new TcuError('EMULATOR_LISTEN', `cannot listen on ${host}:${port}: ${err.message}`, { cause: err })));
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    this.stopping = false;
    const address = server.address() as AddressInfo;
    const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return { url: `http://${shown}:${address.port}/`, host: address.address, port: address.port };
  }

  /** Stops listening and cuts every open connection (endless and slow bodies included). */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.stopping = true;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  /** Replaces the faults; drop counts start again. */
  setFaults(faults: readonly OtaFault[]): void {
    this.faults = [...faults];
    this.drops.clear();
  }

  /** Requests being answered now (a slow or endless body counts until the client hangs up). */
  inFlight(): number {
    return this.active;
  }

  counters(): Readonly<Record<OtaServerCounterName, number>> {
    return this.stats.snapshot();
  }

  /** Called after each request is answered or cut. Returns the unsubscribe function. */
  onRequest(listener: (record: OtaRequestRecord) => void): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.stats.inc('requests');
    this.active++;
    const record: OtaRequestRecord = { method: req.method ?? '', path: '', status: 0, range: req.headers.range, bytes: 0, faults: [] };
    const x: Exchange = { res, record, alive: true };
    res.once('close', () => (x.alive = false));
    let handle: FileHandle | undefined;
    try {
      if (req.headers.range !== undefined) this.stats.inc('rangeRequests');
      if (record.method !== 'GET' && record.method !== 'HEAD') return this.plain(x, 405, 'method not allowed\n', { allow: 'GET, HEAD' });
      const path = requestPath(req.url);
      if (path === undefined) return this.plain(x, 400, 'bad path\n');
      record.path = path;
      const faults = this.faults.filter((f) => faultApplies(f, path));
      const file = await this.resolve(path, faults, record);
      if (!file) {
        this.stats.inc('notFound');
        return this.plain(x, 404, 'not found\n');
      }
      handle = await open(file.path, 'r');
      const stats = await handle.stat();
      const { mtime } = stats;
      // A short fault serves a truncated file: every header says the shorter size.
      const short = faults.find((f) => f.kind === 'short');
      const size = short ? Math.min(stats.size, short.bytes ?? Math.floor(stats.size / 2)) : stats.size;
      if (short && size < stats.size) this.applied(record, 'short');
      const ignore = faults.some((f) => f.kind === 'ignore-range');
      if (ignore && req.headers.range !== undefined) this.applied(record, 'ignore-range');
      const range = parseRangeRequest(ignore ? undefined : req.headers.range, size);
      const headers: http.OutgoingHttpHeaders = {
        'content-type': path.endsWith('.json') ? 'application/json' : 'application/octet-stream',
        'last-modified': mtime.toUTCString(),
        'cache-control': 'no-store',
      };
      if (!ignore) headers['accept-ranges'] = 'bytes';
      if (range.kind === 'unsatisfiable') return this.plain(x, 416, 'range not satisfiable\n', { ...headers, 'content-range': `bytes */${size}` });
      const [start, end] = range.kind === 'range' ? [range.start, range.end] : [0, size - 1];
      if (range.kind === 'range') headers['content-range'] = contentRange(start, end, size);
      const endless = faults.some((f) => f.kind === 'endless') && record.method === 'GET';
      if (!endless) headers['content-length'] = end - start + 1;
      record.status = range.kind === 'range' ? 206 : 200;
      res.writeHead(record.status, headers);
      if (record.method === 'HEAD') {
        res.end();
        return;
      }
      await this.body(x, handle, start, end, size, faults);
      if (x.alive && endless) {
        this.applied(record, 'endless');
        while (x.alive && !this.stopping) await this.send(x, ZEROS);
      }
      if (x.alive) res.end();
    } catch (err) {
      if (!res.headersSent) this.plain(x, 500, `${err instanceof Error ? err.message : String(err)}\n`);
      else res.destroy();
    } finally {
      try {
        await handle?.close();
        for (const listener of this.listeners) listener(record);
      } finally {
        this.active--;
      }
    }
  }

  /** The file to serve: a stale copy where a stale-metadata fault has one, else the file itself. */
  private async resolve(path: string, faults: readonly OtaFault[], record: OtaRequestRecord): Promise<{ path: string } | undefined> {
    for (const f of faults) {
      if (f.kind !== 'stale-metadata') continue;
      const stale = await this.inside(join(this.rootReal, f.dir ?? 'stale', path));
      if (stale) {
        this.applied(record, 'stale-metadata');
        return stale;
      }
    }
    return this.inside(join(this.rootReal, path));
  }

  /** A regular file whose real path is inside the root (no symbolic link leads out). */
  private async inside(path: string): Promise<{ path: string } | undefined> {
    try {
      const real = await realpath(path);
      if (!real.startsWith(this.rootReal + sep)) return undefined;
      return (await stat(real)).isFile() ? { path: real } : undefined;
    } catch {
      return undefined;
    }
  }

  /** Sends bytes start..end of the file, applying drop-mid-file, slow and tamper. */
  private async body(x: Exchange, handle: FileHandle, start: number, end: number, size: number, faults: readonly OtaFault[]): Promise<void> {
    let stopAt = end + 1;
    let drop: OtaFault | undefined;
    for (const f of faults) {
      if (f.kind !== 'drop-mid-file') continue;
      const at = dropPoint(f, size);
      const done = this.drops.get(f) ?? 0;
      if (at > start && at < stopAt && (f.times === 0 || done < (f.times ?? 1))) {
        stopAt = at;
        drop = f;
      }
    }
    const slow = faults.find((f) => f.kind === 'slow');
    const tamper = faults.find((f) => f.kind === 'tamper');
    const flipAt = tamper ? (tamper.offset ?? Math.floor(size / 2)) : -1;
    const chunk = slow ? Math.max(1, Math.floor(slow.bytesPerS / 10)) : this.chunkBytes;
    let pos = start;
    while (pos < stopAt && x.alive && !this.stopping) {
      const buf = Buffer.allocUnsafe(Math.min(chunk, stopAt - pos));
      let got = 0;
      while (got < buf.length) {
        const { bytesRead } = await handle.read(buf, got, buf.length - got, pos + got);
        if (bytesRead === 0) throw new Error(`the file shrank while being served (at byte ${pos + got})`);
        got += bytesRead;
      }
      if (flipAt >= pos && flipAt < pos + buf.length) {
        buf[flipAt - pos] = buf[flipAt - pos]! ^ 0xff;
        this.applied(x.record, 'tamper');
      }
      if (!(await this.send(x, buf))) return;
      pos += buf.length;
      if (slow) {
        this.applied(x.record, 'slow');
        await sleep(this.clock, (buf.length * 1000) / slow.bytesPerS);
      }
    }
    if (drop && pos === stopAt && x.alive) {
      this.drops.set(drop, (this.drops.get(drop) ?? 0) + 1);
      this.applied(x.record, 'drop-mid-file');
      await new Promise<void>((resolve) => x.res.write('', () => resolve()));
      x.res.socket?.destroySoon();
      x.alive = false;
    }
  }

  /** Writes with backpressure; false once the client is gone. */
  private send(x: Exchange, buf: Buffer): Promise<boolean> {
    if (!x.alive) return Promise.resolve(false);
    this.stats.inc('bytesSent', buf.length);
    x.record.bytes += buf.length;
    if (x.res.write(buf)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (): void => {
        x.res.off('drain', done);
        x.res.off('close', done);
        resolve(x.alive);
      };
      x.res.on('drain', done);
      x.res.on('close', done);
    });
  }

  private applied(record: OtaRequestRecord, kind: OtaFaultKind): void {
    if (record.faults.includes(kind)) return;
    record.faults.push(kind);
    this.stats.inc('faultsApplied');
  }

  private plain(x: Exchange, status: number, text: string, headers: http.OutgoingHttpHeaders = {}): void {
    x.record.status = status;
    const body = x.record.method === 'HEAD' ? '' : text;
    x.res.writeHead(status, { ...headers, 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text) });
    x.res.end(body);
  }
}

/** The request's path relative to the root; undefined when a segment could escape it. */
function requestPath(url: string | undefined): string | undefined {
  let pathname: string;
  try {
    pathname = new URL(url ?? '/', 'http://localhost').pathname;
  } catch {
    return undefined;
  }
  const segments: string[] = [];
  for (const raw of pathname.split('/').slice(1)) {
    let s: string;
    try {
      s = decodeURIComponent(raw);
    } catch {
      return undefined;
    }
    if (s === '..' || s === '.' || /[/\\\0]/.test(s)) return undefined;
    segments.push(s);
  }
  if (segments.length === 0 || segments.some((s, i) => s === '' && i < segments.length - 1)) return undefined;
  return segments.join('/');
}
