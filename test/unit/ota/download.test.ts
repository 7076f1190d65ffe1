// The pure parts of the downloader and of the emulator's OTA server: range headers on both sides,
// the token bucket, the rate window and slow-retrieval rule, back-off, progress arithmetic, fault
// specifications and option checks. Time is a FakeClock; the I/O is in
// test/integration/ota-download.test.ts.
import { describe, expect, it } from 'vitest';
import { TcuError } from '../../../core/errors.js';
import { downloadTarget, type DownloadOptions } from '../../../ota/download/downloader.js';
import { parseContentLength, parseContentRange, rangeContinues, rangeHeader } from '../../../ota/download/range.js';
import { RateWindow, TokenBucket, backoffDelay, isSlow, progressEvent } from '../../../ota/download/rate.js';
import { sourceKind } from '../../../ota/download/source.js';
import { dropPoint, faultApplies, formatFault, parseFault } from '../../../hw-emulator/ota/faults.js';
import { contentRange, parseRangeRequest } from '../../../hw-emulator/ota/range.js';
import { FakeClock } from '../../helpers/fake-clock.js';

describe('Content-Range (client)', () => {
  it('parses a range with a total or with *', () => {
    expect(parseContentRange('bytes 100-199/1000')).toEqual({ start: 100, end: 199, total: 1000 });
    expect(parseContentRange('BYTES 0-0/*')).toEqual({ start: 0, end: 0, total: undefined });
  });
  it('refuses malformed and inconsistent ranges', () => {
    for (const bad of [undefined, '', 'bytes 5-4/10', 'bytes 0-10/10', 'bytes */10', 'items 0-1/2', 'bytes -1-3/5', 'bytes 1-2/3 junk', 'bytes 99999999999999999-99999999999999999/*']) {
      expect(parseContentRange(bad)).toBeUndefined();
    }
  });
  it('accepts only a range that continues the partial file inside the target', () => {
    expect(rangeContinues({ start: 500, end: 999, total: 1000 }, 500, 1000)).toBe(true);
    expect(rangeContinues({ start: 500, end: 999, total: undefined }, 500, 1000)).toBe(true);
    expect(rangeContinues({ start: 0, end: 999, total: 1000 }, 500, 1000)).toBe(false);
    expect(rangeContinues({ start: 500, end: 999, total: 2000 }, 500, 1000)).toBe(false);
    expect(rangeContinues({ start: 500, end: 1499, total: undefined }, 500, 1000)).toBe(false);
  });
  it('builds the Range header and reads Content-Length', () => {
    expect(rangeHeader(4096)).toBe('bytes=4096-');
    expect(parseContentLength(' 42 ')).toBe(42);
    expect(parseContentLength('-1')).toBeUndefined();
    expect(parseContentLength('4e3')).toBeUndefined();
    expect(parseContentLength(undefined)).toBeUndefined();
  });
});

describe('Range (server)', () => {
  const size = 1000;
  it('serves open-ended, closed, clamped and suffix ranges', () => {
    expect(parseRangeRequest('bytes=100-', size)).toEqual({ kind: 'range', start: 100, end: 999 });
    expect(parseRangeRequest('bytes=0-0', size)).toEqual({ kind: 'range', start: 0, end: 0 });
    expect(parseRangeRequest('bytes=900-5000', size)).toEqual({ kind: 'range', start: 900, end: 999 });
    expect(parseRangeRequest('bytes=-10', size)).toEqual({ kind: 'range', start: 990, end: 999 });
    expect(parseRangeRequest('bytes=-5000', size)).toEqual({ kind: 'range', start: 0, end: 999 });
  });
  it('answers 416 for a start past the end, a zero suffix or an empty file', () => {
    expect(parseRangeRequest('bytes=1000-', size)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRangeRequest('bytes=-0', size)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRangeRequest('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
  });
  it('ignores invalid syntax and multiple ranges (200, the whole file)', () => {
    for (const h of [undefined, 'bytes=5-4', 'bytes=-', 'bytes=a-b', 'lines=1-2', 'bytes=0-1,5-6']) expect(parseRangeRequest(h, size)).toEqual({ kind: 'none' });
  });
  it('agrees with the client parser', () => {
    expect(parseContentRange(contentRange(10, 20, 30))).toEqual({ start: 10, end: 20, total: 30 });
  });
});

describe('fault specifications', () => {
  it('parses each fault with its argument and path', () => {
    expect(parseFault('drop-mid-file:50%')).toEqual({ kind: 'drop-mid-file', at: { percent: 50 }, times: 1 });
    expect(parseFault('drop-mid-file:1048576,0@targets/')).toEqual({ kind: 'drop-mid-file', at: 1048576, times: 0, path: 'targets/' });
    expect(parseFault('slow')).toEqual({ kind: 'slow', bytesPerS: 1024 });
    expect(parseFault('slow:20000')).toEqual({ kind: 'slow', bytesPerS: 20000 });
    expect(parseFault('tamper:7@/image/targets/a.bin')).toEqual({ kind: 'tamper', offset: 7, path: 'image/targets/a.bin' });
    expect(parseFault('endless')).toEqual({ kind: 'endless' });
    expect(parseFault('stale-metadata:old')).toEqual({ kind: 'stale-metadata', dir: 'old' });
    expect(parseFault('ignore-range@targets')).toEqual({ kind: 'ignore-range', path: 'targets' });
  });
  it('round-trips through the command-line form', () => {
    for (const text of ['drop-mid-file:50%,1', 'drop-mid-file:10,0@a/b', 'slow:5', 'tamper', 'tamper:3', 'endless@x', 'stale-metadata:old', 'ignore-range']) {
      expect(formatFault(parseFault(text))).toBe(text);
    }
  });
  it('refuses unknown names and bad arguments with EMULATOR_CONFIG', () => {
    for (const bad of ['explode', 'drop-mid-file', 'drop-mid-file:x', 'drop-mid-file:150%', 'slow:0', 'slow:-3', 'tamper:1.5', 'endless:3', 'tamper@../etc', 'stale-metadata:a/../b', 'tamper@']) {
      expect(() => parseFault(bad), bad).toThrow(expect.objectContaining({ code: 'EMULATOR_CONFIG' }) as Error);
    }
  });
  it('scopes faults: tamper to targets folders, a path to that file or folder', () => {
    expect(faultApplies(parseFault('tamper'), 'targets/app.bin')).toBe(true);
    expect(faultApplies(parseFault('tamper'), 'image/targets/app.bin')).toBe(true);
    expect(faultApplies(parseFault('tamper'), 'targets.json')).toBe(false);
    expect(faultApplies(parseFault('slow'), 'timestamp.json')).toBe(true);
    expect(faultApplies(parseFault('slow@targets'), 'targets/a')).toBe(true);
    expect(faultApplies(parseFault('slow@targets'), 'targets.json')).toBe(false);
    expect(faultApplies(parseFault('slow@targets/a'), 'targets/ab')).toBe(false);
  });
  it('places a percentage drop inside the file', () => {
    expect(dropPoint({ kind: 'drop-mid-file', at: { percent: 50 } }, 1001)).toBe(500);
    expect(dropPoint({ kind: 'drop-mid-file', at: 77 }, 1001)).toBe(77);
  });
});

describe('TokenBucket', () => {
  it('lets a burst through, then charges the debt at the configured rate', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(clock, 1000, 500);
    expect(bucket.take(500)).toBe(0);
    expect(bucket.take(250)).toBe(250);
    clock.advance(250);
    expect(bucket.take(0)).toBe(0);
    expect(bucket.take(1000)).toBe(1000);
  });
  it('never saves more than the burst while idle', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(clock, 1000, 100);
    clock.advance(60_000);
    expect(bucket.take(1100)).toBe(1000);
  });
  it('holds the average rate over a transfer of uneven chunks', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(clock, 2_000_000);
    const start = clock.monotonic();
    let sent = 0;
    for (let i = 0; sent < 20_000_000; i++) {
      const n = 1000 + ((i * 7919) % 65_536);
      sent += n;
      clock.advance(bucket.take(n));
    }
    const rate = (sent * 1000) / (clock.monotonic() - start);
    expect(rate).toBeGreaterThan(2_000_000 * 0.99);
    expect(rate).toBeLessThan(2_000_000 * 1.01);
  });
  it('refuses a rate that is not positive', () => {
    expect(() => new TokenBucket(new FakeClock(), 0)).toThrow(TcuError);
    expect(() => new TokenBucket(new FakeClock(), Number.NaN)).toThrow(TcuError);
  });
});

describe('RateWindow and slow retrieval', () => {
  it('measures the rate since the reset, then over the window', () => {
    const clock = new FakeClock(0);
    const w = new RateWindow(1000, 10);
    w.reset(clock.monotonic());
    expect(w.rate(clock.monotonic())).toBe(0);
    clock.advance(500);
    w.add(clock.monotonic(), 5000);
    expect(w.rate(clock.monotonic())).toBeCloseTo(10_000);
    for (let i = 0; i < 30; i++) {
      clock.advance(100);
      w.add(clock.monotonic(), 200);
    }
    // 2000 B/s, measured to within one slot (a tenth of the window here).
    expect(w.rate(clock.monotonic())).toBeGreaterThan(1900);
    expect(w.rate(clock.monotonic())).toBeLessThan(2250);
  });
  it('forgets bytes older than the window', () => {
    const clock = new FakeClock(0);
    const w = new RateWindow(1000, 10);
    w.reset(0);
    w.add(50, 1_000_000);
    clock.advance(5000);
    expect(w.total(clock.monotonic())).toBe(0);
    expect(w.rate(clock.monotonic())).toBe(0);
  });
  it('calls a transfer slow only after a whole window below the minimum', () => {
    const w = new RateWindow(2000);
    w.reset(0);
    for (let t = 100; t <= 1900; t += 100) w.add(t, 50);
    expect(isSlow(w, 1900, 1000)).toBe(false);
    for (let t = 2000; t <= 2400; t += 100) w.add(t, 50);
    expect(isSlow(w, 2400, 1000)).toBe(true);
    expect(isSlow(w, 2400, 400)).toBe(false);
    expect(isSlow(w, 2400, 0)).toBe(false);
    w.reset(2400);
    expect(isSlow(w, 3000, 1000)).toBe(false);
  });
});

describe('back-off and progress', () => {
  it('doubles up to the maximum, with bounded jitter', () => {
    const none = { initialMs: 100, maxMs: 1000, jitter: 0 };
    expect([0, 1, 2, 3, 4, 10].map((a) => backoffDelay(a, none))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoffDelay(0, { initialMs: 100, jitter: 0.5 }, () => 0)).toBe(50);
    expect(backoffDelay(0, { initialMs: 100, jitter: 0.5 }, () => 0.999999)).toBe(150);
  });
  it('computes the time left from the rate', () => {
    expect(progressEvent(250, 1000, 50, 100)).toEqual({ receivedBytes: 250, totalBytes: 1000, bytesPerS: 50, resumedFromBytes: 100, etaSeconds: 15 });
    expect(progressEvent(250, 1000, 0, 0).etaSeconds).toBeUndefined();
    expect(progressEvent(1000, 1000, 0, 0).etaSeconds).toBe(0);
  });
});

describe('download options', () => {
  const base: DownloadOptions = { url: 'http://127.0.0.1:1/t', dest: '/nonexistent/x', length: 10, sha256: 'a'.repeat(64), clock: new FakeClock() };
  it('knows its sources', () => {
    expect(sourceKind('https://repo/t')).toBe('http');
    expect(sourceKind('file:///media/usb/t')).toBe('file');
    expect(sourceKind('/media/usb/t')).toBe('file');
    expect(() => sourceKind('ftp://repo/t')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }) as Error);
  });
  it.each([
    [{ sha256: 'xyz' }, 'OTA_METADATA'],
    [{ length: -1 }, 'OTA_METADATA'],
    [{ length: 1.5 }, 'OTA_METADATA'],
    [{ url: 'gopher://x/y' }, 'CONFIG_INVALID'],
    [{ dest: '' }, 'CONFIG_INVALID'],
    [{ bandwidthBytesPerS: 0 }, 'CONFIG_INVALID'],
    [{ bandwidthBytesPerS: 1000, minRateBytesPerS: 600 }, 'CONFIG_INVALID'],
    [{ maxRetries: -1 }, 'CONFIG_INVALID'],
  ] as [Partial<DownloadOptions>, string][])('refuses %o before any I/O with %s', async (patch, code) => {
    await expect(downloadTarget({ ...base, ...patch })).rejects.toMatchObject({ code });
  });
  it('is cancelled before it starts when the signal already aborted', async () => {
    await expect(downloadTarget({ ...base, signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'OTA_CANCELLED' });
  });
});
