// The resumable downloader against the emulator's real OTA repository server over HTTP on
// 127.0.0.1, with an 8 MiB random target, and against local folders: a full download, drops
// resumed (re-fetching under 1 % of what was held, counted by the server), a server ignoring Range,
// a wrong Content-Range, tampered bytes, endless data, slow retrieval, cancellation and
// resume, the bandwidth cap, the network gate, a full disk (a real tmpfs; needs root), and the
// server on its own (HEAD, ranges, stale metadata, paths) and as the `ota-server` command.
// Targets of another length than declared, 416s and chunked bodies: ota-download-length.test.ts.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PassThrough } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../core/clock.js';
import { tcuEmulator } from '../../hw-emulator/cli/main.js';
import { OtaRepoServer, parseFault, type OtaRequestRecord } from '../../hw-emulator/ota/index.js';
import { downloadTarget, fetchBytes, type DownloadOptions, type DownloadProgress } from '../../ota/download/index.js';
import { canMountTmpfs, mountTmpfs } from '../helpers/outbox-fixture.js';

const SIZE = 8 * 1024 * 1024;
const HALF = SIZE / 2;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

let base: string;
let root: string;
let data: Buffer;
let server: OtaRepoServer;
let url: string;
let out: string;
let dest: string;
let requests: OtaRequestRecord[] = [];

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), 'tcu-ota-dl-'));
  root = join(base, 'repo');
  mkdirSync(join(root, 'targets'), { recursive: true });
  mkdirSync(join(root, 'stale'));
  data = randomBytes(SIZE);
  writeFileSync(join(root, 'targets/app.bin'), data);
  writeFileSync(join(root, 'targets/short.bin'), data.subarray(0, HALF));
  writeFileSync(join(root, 'timestamp.json'), '{"version":2}');
  writeFileSync(join(root, 'stale/timestamp.json'), '{"version":1}');
  writeFileSync(join(root, 'snapshot.json'), '{"version":2}');
  writeFileSync(join(base, 'secret.txt'), 'outside the root');
  symlinkSync(join(base, 'secret.txt'), join(root, 'targets/escape.bin'));
  server = new OtaRepoServer({ root });
  url = (await server.start('127.0.0.1', 0)).url;
  server.onRequest((r) => requests.push(r));
});
afterAll(async () => {
  await server.stop();
  rmSync(base, { recursive: true, force: true });
});
/** Waits until the server has answered (or wound up) every request, so its records are all in. */
async function idle(): Promise<void> {
  for (let i = 0; server.inFlight() > 0 && i < 200; i++) await new Promise((r) => setTimeout(r, 10));
  expect(server.inFlight()).toBe(0);
}
beforeEach(async () => {
  await idle();
  server.setFaults([]);
  requests = [];
  out = mkdtempSync(join(base, 'out-'));
  dest = join(out, 'app.bin');
});
afterEach(() => rmSync(out, { recursive: true, force: true }));

function download(extra: Partial<DownloadOptions> = {}) {
  return downloadTarget({ url: `${url}targets/app.bin`, dest, length: SIZE, sha256: sha(data), clock: systemClock(), backoff: { initialMs: 10, maxMs: 50 }, ...extra });
}
const sent = (): number => server.counters().bytesSent;
const asked = (): number => server.counters().requests;
const partSize = (): number => statSync(`${dest}.part`).size;
const expectInstalled = (): void => {
  expect(readFileSync(dest).equals(data)).toBe(true);
  expect(existsSync(`${dest}.part`)).toBe(false);
};

describe('downloading from the emulator server', () => {
  it('downloads a whole target, with progress events up to the total', async () => {
    const events: DownloadProgress[] = [];
    const before = sent();
    const result = await download({ onProgress: (e) => events.push(e), progressIntervalMs: 0 });
    expectInstalled();
    expect(result).toMatchObject({ resumedFromBytes: 0, fetchedBytes: SIZE, restarts: 0, retries: 0 });
    expect(sent() - before).toBe(SIZE);
    expect(events[0]).toMatchObject({ receivedBytes: 0, totalBytes: SIZE, resumedFromBytes: 0 });
    expect(events.at(-1)).toMatchObject({ receivedBytes: SIZE, totalBytes: SIZE });
    for (let i = 1; i < events.length; i++) expect(events[i]!.receivedBytes).toBeGreaterThanOrEqual(events[i - 1]!.receivedBytes);
    expect(events.some((e) => e.bytesPerS > 0)).toBe(true);
  });

  it('resumes after a drop mid-file within one call, re-fetching nothing already held', async () => {
    server.setFaults([parseFault('drop-mid-file:50%')]);
    const before = sent();
    const result = await download();
    expectInstalled();
    expect(result).toMatchObject({ retries: 1, restarts: 0 });
    await idle();
    expect(requests.map((r) => [r.status, r.range])).toEqual([[200, undefined], [206, `bytes=${HALF}-`]]);
    expect((sent() - before - SIZE) / HALF).toBeLessThan(0.01);
  });

  it('resumes a .part left by an earlier call, re-fetching under 1 % of the bytes held', async () => {
    server.setFaults([parseFault('drop-mid-file:50%')]);
    const before = sent();
    await expect(download({ maxRetries: 0 })).rejects.toMatchObject({ code: 'OTA_FETCH' });
    const held = partSize();
    expect(held).toBe(HALF);
    const result = await download();
    expectInstalled();
    expect(result.resumedFromBytes).toBe(held);
    expect(result.fetchedBytes).toBe(SIZE - held);
    expect((sent() - before - SIZE) / held).toBeLessThan(0.01);
  });

  it('starts over, counted, when the server ignores Range, and still ends correct', async () => {
    writeFileSync(`${dest}.part`, data.subarray(0, HALF));
    server.setFaults([parseFault('ignore-range')]);
    const result = await download();
    expectInstalled();
    expect(result).toMatchObject({ resumedFromBytes: HALF, restarts: 1, fetchedBytes: SIZE });
    await idle();
    expect(requests.map((r) => r.status)).toEqual([200]);
  });

  it('refuses tampered bytes: OTA_TARGET_MISMATCH, nothing at dest, the .part deleted', async () => {
    server.setFaults([parseFault('tamper')]);
    await expect(download()).rejects.toMatchObject({ code: 'OTA_TARGET_MISMATCH' });
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(`${dest}.part`)).toBe(false);
    await idle();
    expect(requests[0]!.faults).toEqual(['tamper']);
  });

  it.each([0, HALF])('cuts endless data at the declared length (resuming from %i)', async (held) => {
    if (held > 0) writeFileSync(`${dest}.part`, data.subarray(0, held));
    server.setFaults([parseFault('endless')]);
    let largest = 0;
    const onProgress = (): void => void (largest = Math.max(largest, partSize()));
    await expect(download({ onProgress, progressIntervalMs: 0 })).rejects.toMatchObject({ code: 'OTA_ENDLESS_DATA' });
    expect(Math.max(largest, partSize())).toBeLessThanOrEqual(SIZE);
    expect(existsSync(dest)).toBe(false);
  });

  it('abandons a slow retrieval, keeps the .part, and a later call resumes from it', async () => {
    server.setFaults([parseFault('slow:40000')]);
    const t0 = performance.now();
    const err = await download({ minRateBytesPerS: 400_000, slowWindowMs: 500 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'OTA_SLOW_RETRIEVAL' });
    expect(performance.now() - t0).toBeLessThan(3000);
    const held = partSize();
    expect(held).toBeGreaterThan(0);
    server.setFaults([]);
    const result = await download();
    expectInstalled();
    expect(result.resumedFromBytes).toBe(held);
  });

  it('is cancelled mid-way (OTA_CANCELLED, the .part kept), then a resume completes', async () => {
    const ctl = new AbortController();
    const onProgress = (e: DownloadProgress): void => void (e.receivedBytes >= SIZE / 4 && ctl.abort());
    const before = sent();
    await expect(download({ signal: ctl.signal, onProgress, progressIntervalMs: 0, bandwidthBytesPerS: 16 * 1024 * 1024 })).rejects.toMatchObject({ code: 'OTA_CANCELLED' });
    const held = partSize();
    expect(held).toBeGreaterThanOrEqual(SIZE / 4);
    expect(held).toBeLessThan(SIZE);
    const result = await download();
    expectInstalled();
    expect(result.resumedFromBytes).toBe(held);
    // The server may have sent what was in flight when the client hung up; that is not re-fetching.
    expect(result.fetchedBytes).toBe(SIZE - held);
    expect(sent() - before).toBeGreaterThanOrEqual(SIZE);
  });

  it('keeps the .part whole when cancelled while re-hashing it', async () => {
    writeFileSync(`${dest}.part`, data);
    const ctl = new AbortController();
    const running = download({ signal: ctl.signal });
    setImmediate(() => ctl.abort());
    await expect(running).rejects.toMatchObject({ code: 'OTA_CANCELLED' });
    expect(partSize()).toBe(SIZE);
  });

  it('holds the bandwidth cap within 10 %', async () => {
    const cap = 4 * 1024 * 1024;
    const t0 = performance.now();
    await download({ bandwidthBytesPerS: cap });
    const rate = (SIZE * 1000) / (performance.now() - t0);
    expectInstalled();
    expect(rate).toBeGreaterThan(cap * 0.9);
    expect(rate).toBeLessThan(cap * 1.1);
  });

  it('refuses when the network gate says no: before the first byte, and mid-way', async () => {
    const reason = 'roaming and the target does not allow it';
    const before = asked();
    await expect(download({ networkGate: () => ({ allowed: false, code: 'OTA_NETWORK_POLICY', reason }) })).rejects.toMatchObject({ code: 'OTA_NETWORK_POLICY', details: { reason } });
    expect(asked()).toBe(before);
    expect(existsSync(`${dest}.part`)).toBe(false);
    const seen: number[] = [];
    const gate = (bytes: number) => (seen.push(bytes), bytes < SIZE / 4 ? ({ allowed: true } as const) : ({ allowed: false, code: 'OTA_NETWORK_POLICY', reason } as const));
    await expect(download({ networkGate: gate, gateIntervalMs: 20, bandwidthBytesPerS: 16 * 1024 * 1024 })).rejects.toMatchObject({ code: 'OTA_NETWORK_POLICY' });
    expect(seen.length).toBeGreaterThan(2);
    expect(partSize()).toBeGreaterThanOrEqual(SIZE / 4);
    expect(existsSync(dest)).toBe(false);
  });

  it('fails at once on a 404 (no retries)', async () => {
    const before = asked();
    await expect(download({ url: `${url}targets/missing.bin` })).rejects.toMatchObject({ code: 'OTA_FETCH', details: { status: 404, retryable: false } });
    expect(asked() - before).toBe(1);
  });

  it('starts over when a 206 does not continue the partial file', async () => {
    const liar = http.createServer((req, res) => {
      if (req.headers.range) {
        res.writeHead(206, { 'content-range': `bytes 0-${SIZE - 1}/${SIZE}`, 'content-length': SIZE });
      } else res.writeHead(200, { 'content-length': SIZE });
      res.end(data);
    });
    await new Promise<void>((r) => liar.listen(0, '127.0.0.1', r));
    try {
      writeFileSync(`${dest}.part`, data.subarray(0, HALF));
      const result = await download({ url: `http://127.0.0.1:${(liar.address() as AddressInfo).port}/x` });
      expectInstalled();
      expect(result.restarts).toBe(1);
    } finally {
      liar.closeAllConnections();
      await new Promise((r) => liar.close(r));
    }
  });
});

describe('fetchBytes (metadata)', () => {
  const clock = systemClock();
  it('reads a small file over HTTP and from a folder, bounded by maxLength', async () => {
    expect((await fetchBytes(`${url}timestamp.json`, { maxLength: 100, clock })).toString()).toBe('{"version":2}');
    expect((await fetchBytes(join(root, 'timestamp.json'), { maxLength: 100, clock })).toString()).toBe('{"version":2}');
    await expect(fetchBytes(`${url}timestamp.json`, { maxLength: 5, clock })).rejects.toMatchObject({ code: 'OTA_ENDLESS_DATA' });
    await expect(fetchBytes(join(root, 'timestamp.json'), { maxLength: 5, clock })).rejects.toMatchObject({ code: 'OTA_ENDLESS_DATA' });
  });
  it('tells a missing file (404) from a failure, and gives up on a slow or endless server', async () => {
    await expect(fetchBytes(`${url}2.root.json`, { maxLength: 100, clock })).rejects.toMatchObject({ code: 'OTA_FETCH', details: { status: 404 } });
    await expect(fetchBytes(join(root, '2.root.json'), { maxLength: 100, clock })).rejects.toMatchObject({ code: 'OTA_FETCH', details: { status: 404 } });
    server.setFaults([parseFault('endless')]);
    await expect(fetchBytes(`${url}timestamp.json`, { maxLength: 1000, clock })).rejects.toMatchObject({ code: 'OTA_ENDLESS_DATA' });
    server.setFaults([parseFault('slow:2')]);
    await expect(fetchBytes(`${url}timestamp.json`, { maxLength: 100, clock, timeoutMs: 300 })).rejects.toMatchObject({ code: 'OTA_SLOW_RETRIEVAL' });
  });
});

describe('downloading from a local folder (a USB stick)', () => {
  const file = (): string => join(root, 'targets/app.bin');
  it('copies from a path and from a file:// URL, resuming a .part', async () => {
    await download({ url: file() });
    expectInstalled();
    rmSync(dest);
    writeFileSync(`${dest}.part`, data.subarray(0, 1000));
    const result = await download({ url: pathToFileURL(file()).href });
    expectInstalled();
    expect(result).toMatchObject({ resumedFromBytes: 1000, fetchedBytes: SIZE - 1000 });
  });
  it('refuses a file that is missing, too short or too long', async () => {
    await expect(download({ url: join(root, 'targets/nothing.bin') })).rejects.toMatchObject({ code: 'OTA_FETCH', details: { status: 404 } });
    await expect(download({ url: join(root, 'targets/short.bin') })).rejects.toMatchObject({ code: 'OTA_TARGET_MISMATCH' });
    expect(existsSync(`${dest}.part`)).toBe(false);
    await expect(download({ url: file(), length: SIZE - 1, sha256: sha(data.subarray(0, SIZE - 1)) })).rejects.toMatchObject({ code: 'OTA_ENDLESS_DATA' });
  });
});

describe.runIf(canMountTmpfs())('a full disk (a 2 MiB tmpfs)', () => {
  it('refuses up front, and reports ENOSPC mid-stream as OTA_DISK_FULL', async () => {
    const disk = mountTmpfs('2m');
    try {
      dest = disk.path('app.bin');
      const before = asked();
      await expect(download()).rejects.toMatchObject({ code: 'OTA_DISK_FULL' });
      expect(asked()).toBe(before);
      await expect(download({ checkFreeSpace: false })).rejects.toMatchObject({ code: 'OTA_DISK_FULL' });
      expect(asked()).toBeGreaterThan(before);
      expect(existsSync(dest)).toBe(false);
    } finally {
      disk.unmount();
    }
  });
});

describe('the OTA repository server', () => {
  function get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const req = http.request(`${url}${path}`, { method, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('answers HEAD, byte ranges and 416 with the right headers', async () => {
    const head = await get('targets/app.bin', {}, 'HEAD');
    expect(head).toMatchObject({ status: 200, headers: { 'content-length': String(SIZE), 'accept-ranges': 'bytes' } });
    expect(head.body.length).toBe(0);
    const part = await get('targets/app.bin', { range: 'bytes=10-19' });
    expect(part).toMatchObject({ status: 206, headers: { 'content-range': `bytes 10-19/${SIZE}`, 'content-length': '10' } });
    expect(part.body.equals(data.subarray(10, 20))).toBe(true);
    expect(await get('targets/app.bin', { range: `bytes=${SIZE}-` })).toMatchObject({ status: 416, headers: { 'content-range': `bytes */${SIZE}` } });
    expect(server.counters().rangeRequests).toBeGreaterThanOrEqual(2);
  });

  it('serves the stale copy of metadata only under stale-metadata', async () => {
    expect((await get('timestamp.json')).body.toString()).toBe('{"version":2}');
    server.setFaults([parseFault('stale-metadata')]);
    expect((await get('timestamp.json')).body.toString()).toBe('{"version":1}');
    expect((await get('snapshot.json')).body.toString()).toBe('{"version":2}');
    await idle();
    expect(requests.map((r) => r.faults)).toEqual([[], ['stale-metadata'], []]);
  });

  it('never serves anything outside the root, nor folders', async () => {
    for (const path of ['../secret.txt', '%2e%2e/secret.txt', 'targets%2F..%2F..%2Fsecret.txt', 'targets/escape.bin', 'targets/', '', 'nothing']) {
      const res = await get(path);
      expect([400, 404], path).toContain(res.status);
      expect(res.body.toString()).not.toContain('outside the root');
    }
  });

  it('applies a fault given for one path only there', async () => {
    server.setFaults([parseFault('tamper@targets/short.bin')]);
    await download();
    expectInstalled();
    await idle();
    expect(requests[0]!.faults).toEqual([]);
  });
});

describe('tcu-emulator ota-server', () => {
  it('runs in-process: prints its URL, serves with faults, stops on the signal', async () => {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let err = '';
    stderr.on('data', (c: Buffer) => (err += c.toString()));
    const stop = new AbortController();
    const lines = createInterface({ input: stdout })[Symbol.asyncIterator]();
    const running = tcuEmulator(['ota-server', '--root', root, '--listen', '127.0.0.1:0', '--fault', 'tamper'], { stdin: new PassThrough(), stdout, stderr, stop: stop.signal });
    const listening = JSON.parse(String((await lines.next()).value)) as { event: string; url: string; faults: string[] };
    expect(listening).toMatchObject({ event: 'listening', faults: ['tamper'] });
    await expect(download({ url: `${listening.url}targets/app.bin` })).rejects.toMatchObject({ code: 'OTA_TARGET_MISMATCH' });
    stop.abort();
    expect(await running).toBe(0);
    expect(JSON.parse(err.trim())).toMatchObject({ event: 'stopped', requests: 1, faultsApplied: 1 });
  });

  it('refuses bad usage with exit code 2', async () => {
    const io = { stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough() };
    expect(await tcuEmulator(['ota-server'], io)).toBe(2);
    expect(await tcuEmulator(['ota-server', '--root', root, '--fault', 'explode'], io)).toBe(2);
    expect(await tcuEmulator(['ota-server', '--root', join(root, 'none')], io)).toBe(2);
  });

  it('runs as a real process until SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'hw-emulator/cli/tcu-emulator.ts', 'ota-server', '--root', root, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    const first = await createInterface({ input: child.stdout })[Symbol.asyncIterator]().next();
    const { url: childUrl } = JSON.parse(String(first.value)) as { url: string };
    await download({ url: `${childUrl}targets/app.bin` });
    expectInstalled();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
