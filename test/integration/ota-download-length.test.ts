// The downloader's length rule over real HTTP on 127.0.0.1 (docs/OTA.md, "Download"): a target the
// server holds shorter than its metadata declares is refused at once with OTA_TARGET_MISMATCH and
// `details.cause: 'source-length'` (the agent tries it again later; a hash mismatch has no cause),
// whichever answer shows it (a 200's Content-Length, a 206's Content-Range total, a 416's, a
// complete chunked body, a local file's size), and never treated as a dropped connection; a body that really is cut
// mid-way is still resumed; a server that keeps making the download start over ends in OTA_FETCH.
// The emulator's OTA server plays the truncated file (its `short` fault); hand-written servers play
// what it cannot.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../core/clock.js';
import { OtaRepoServer, formatFault, parseFault, type OtaRequestRecord } from '../../hw-emulator/ota/index.js';
import type { TcuError } from '../../core/errors.js';
import { SOURCE_LENGTH, downloadTarget, type DownloadOptions } from '../../ota/download/index.js';

const SIZE = 1024 * 1024;
const HALF = SIZE / 2;
const data = randomBytes(SIZE);
const sha256 = createHash('sha256').update(data).digest('hex');

let base: string;
let server: OtaRepoServer;
let url: string;
let dest: string;
let requests: OtaRequestRecord[] = [];

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), 'tcu-ota-len-'));
  mkdirSync(join(base, 'repo', 'targets'), { recursive: true });
  writeFileSync(join(base, 'repo', 'targets', 'app.bin'), data);
  server = new OtaRepoServer({ root: join(base, 'repo') });
  url = (await server.start('127.0.0.1', 0)).url;
  server.onRequest((r) => requests.push(r));
});
afterAll(async () => {
  await server.stop();
  rmSync(base, { recursive: true, force: true });
});
beforeEach(() => {
  server.setFaults([]);
  requests = [];
  dest = join(mkdtempSync(join(base, 'out-')), 'app.bin');
});
afterEach(async () => {
  // Every request answered (or wound up), so its record is in before the next test.
  for (let i = 0; server.inFlight() > 0 && i < 200; i++) await new Promise((r) => setTimeout(r, 10));
});

function download(extra: Partial<DownloadOptions> = {}) {
  return downloadTarget({ url: `${url}targets/app.bin`, dest, length: SIZE, sha256, clock: systemClock(), backoff: { initialMs: 5, maxMs: 20 }, ...extra });
}

async function idle(): Promise<void> {
  for (let i = 0; server.inFlight() > 0 && i < 200; i++) await new Promise((r) => setTimeout(r, 10));
  expect(server.inFlight()).toBe(0);
}

interface Liar {
  url: string;
  statuses: number[];
  ranges: (string | undefined)[];
  close(): Promise<void>;
}

/** A hand-written server (what the emulator does not play), recording each request's Range and status. */
async function listen(handler: http.RequestListener): Promise<Liar> {
  const statuses: number[] = [];
  const ranges: (string | undefined)[] = [];
  const liar = http.createServer((req, res) => {
    ranges.push(req.headers.range);
    res.once('close', () => statuses.push(res.statusCode));
    handler(req, res);
  });
  await new Promise<void>((r) => liar.listen(0, '127.0.0.1', r));
  const close = async (): Promise<void> => {
    liar.closeAllConnections();
    await new Promise((r) => liar.close(r));
  };
  return { url: `http://127.0.0.1:${(liar.address() as AddressInfo).port}/app.bin`, statuses, ranges, close };
}

const rangeStart = (req: http.IncomingMessage): number => (req.headers.range ? Number(/=(\d+)-/.exec(req.headers.range)![1]) : 0);

describe('a target served shorter than declared: OTA_TARGET_MISMATCH at once', () => {
  it.each([
    ['a 200 whose Content-Length is short', 0, 200],
    ['a 206 whose Content-Range total is short', HALF / 2, 206],
    ['a 416 saying the file ends before the bytes held', (SIZE * 3) / 4, 416],
  ])('%s (the short fault, %i bytes held): one request, the .part deleted', async (_what, held, status) => {
    if (held > 0) writeFileSync(`${dest}.part`, data.subarray(0, held));
    server.setFaults([parseFault('short')]);
    await expect(download({ maxRestarts: 5, maxRetries: 5 })).rejects.toMatchObject({ code: 'OTA_TARGET_MISMATCH', details: { length: SIZE, total: HALF, cause: SOURCE_LENGTH } });
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(`${dest}.part`)).toBe(false);
    await idle();
    expect(requests.map((r) => [r.status, r.faults])).toEqual([[status, ['short']]]);
  });

  it('the short fault serves a truncated file: every header says the shorter size; other files and HEAD as usual', async () => {
    server.setFaults([parseFault('short:1000')]);
    expect(formatFault(parseFault('short:1000@targets/app.bin'))).toBe('short:1000@targets/app.bin');
    const get = (headers: Record<string, string>, method = 'GET') =>
      new Promise<{ status: number; headers: http.IncomingHttpHeaders; bytes: number }>((resolve, reject) => {
        http
          .request(`${url}targets/app.bin`, { method, headers }, (res) => {
            let bytes = 0;
            res.on('data', (c: Buffer) => (bytes += c.length)).on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes }));
          })
          .on('error', reject)
          .end();
      });
    expect(await get({})).toMatchObject({ status: 200, headers: { 'content-length': '1000' }, bytes: 1000 });
    expect(await get({}, 'HEAD')).toMatchObject({ status: 200, headers: { 'content-length': '1000' } });
    expect(await get({ range: 'bytes=900-' })).toMatchObject({ status: 206, headers: { 'content-range': 'bytes 900-999/1000' }, bytes: 100 });
    expect(await get({ range: 'bytes=1000-' })).toMatchObject({ status: 416, headers: { 'content-range': 'bytes */1000' } });
  });

  it('a complete chunked 200 that ends short is a mismatch; a chunked body cut mid-way is a drop, resumed', async () => {
    let cut = true;
    const liar = await listen((req, res) => {
      const from = rangeStart(req);
      if (from > 0) res.writeHead(206, { 'content-range': `bytes ${from}-${SIZE - 1}/${SIZE}` });
      else res.writeHead(200); // no Content-Length: chunked
      if (cut && from === 0) res.write(data.subarray(0, HALF), () => res.destroy());
      else res.end(data.subarray(from, cut ? SIZE : HALF));
    });
    try {
      const result = await download({ url: liar.url });
      expect(readFileSync(dest).equals(data)).toBe(true);
      expect(result).toMatchObject({ retries: 1, restarts: 0, resumedFromBytes: 0, fetchedBytes: SIZE });
      expect(liar.ranges).toEqual([undefined, `bytes=${HALF}-`]);

      rmSync(dest);
      cut = false;
      liar.ranges.length = 0;
      await expect(download({ url: liar.url })).rejects.toMatchObject({ code: 'OTA_TARGET_MISMATCH', details: { cause: SOURCE_LENGTH } });
      expect(liar.ranges).toEqual([undefined]);
      expect(existsSync(`${dest}.part`)).toBe(false);
    } finally {
      await liar.close();
    }
  });

  it('a Content-Range total other than the declared length on a resume: a mismatch, not a restart', async () => {
    const liar = await listen((req, res) => {
      const from = rangeStart(req);
      res.writeHead(206, { 'content-range': `bytes ${from}-${SIZE - 1}/${SIZE + 10}`, 'content-length': SIZE - from }).end(data.subarray(from));
    });
    try {
      writeFileSync(`${dest}.part`, data.subarray(0, HALF));
      await expect(download({ url: liar.url })).rejects.toMatchObject({ code: 'OTA_TARGET_MISMATCH', details: { total: SIZE + 10, cause: SOURCE_LENGTH } });
      expect(liar.ranges).toEqual([`bytes=${HALF}-`]);
    } finally {
      await liar.close();
    }
  });
});

describe('the cause: a length the source states, or wrong bytes', () => {
  it('a local file shorter than declared: OTA_TARGET_MISMATCH with cause source-length', async () => {
    const short = join(base, 'short.bin');
    writeFileSync(short, data.subarray(0, HALF));
    await expect(download({ url: short })).rejects.toMatchObject({ code: 'OTA_TARGET_MISMATCH', details: { total: HALF, cause: SOURCE_LENGTH } });
    expect(existsSync(`${dest}.part`)).toBe(false);
  });

  it('the declared length with a byte flipped (the tamper fault): OTA_TARGET_MISMATCH without a cause, the .part deleted', async () => {
    server.setFaults([parseFault('tamper')]);
    const err = await download().then(
      () => undefined,
      (e: unknown) => e as TcuError,
    );
    expect(err).toMatchObject({ code: 'OTA_TARGET_MISMATCH' });
    expect(err?.details).not.toHaveProperty('cause');
    expect(existsSync(`${dest}.part`)).toBe(false);
  });
});

describe('what stays a drop or a restart', () => {
  it('a body cut before its Content-Length is resumed (emulator: drop-mid-file)', async () => {
    server.setFaults([parseFault('drop-mid-file:50%')]);
    const result = await download();
    expect(readFileSync(dest).equals(data)).toBe(true);
    expect(result).toMatchObject({ retries: 1, restarts: 0 });
    await idle();
    expect(requests.map((r) => [r.status, r.range])).toEqual([[200, undefined], [206, `bytes=${HALF}-`]]);
  });

  it('a 416 naming the declared length starts over; a server that keeps doing it ends in OTA_FETCH', async () => {
    // Every whole body is cut half-way; every resume is refused with a 416 of the right length.
    const liar = await listen((req, res) => {
      if (req.headers.range) res.writeHead(416, { 'content-range': `bytes */${SIZE}` }).end();
      else res.writeHead(200, { 'content-length': SIZE }).write(data.subarray(0, HALF), () => res.destroy());
    });
    try {
      await expect(download({ url: liar.url, maxRestarts: 2 })).rejects.toMatchObject({ code: 'OTA_FETCH', details: { restarts: 3 } });
      expect(liar.statuses.filter((s) => s === 416)).toHaveLength(3);
      expect(existsSync(dest)).toBe(false);
    } finally {
      await liar.close();
    }
  });
});
