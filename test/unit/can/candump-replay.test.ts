import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import type { Clock, TimerHandle } from '../../../core/clock.js';
import { TcuError } from '../../../core/errors.js';
import { parseCandumpLine } from '../../../drivers/can/candump/format.js';
import { CandumpReplayBus } from '../../../drivers/can/candump/replay.js';
import { CandumpWriter } from '../../../drivers/can/candump/writer.js';
import type { BusState } from '../../../drivers/can/bus.js';
import { makeFrame, type CanFrame } from '../../../drivers/can/frame.js';

const dir = mkdtempSync(join(tmpdir(), 'tcu-candump-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A clock whose time moves only when a timer fires: each timer fires on the next turn of the
 * event loop and advances time by its delay. Records every delay asked for.
 */
function jumpingClock(): { clock: Clock; waits: number[]; now: () => number } {
  let now = 0;
  const waits: number[] = [];
  const clock: Clock = {
    now: () => 1_700_000_000_000 + now,
    nowMicros: () => Math.round((1_700_000_000_000 + now) * 1000),
    monotonic: () => now,
    setTimeout: (fn, ms) => {
      waits.push(ms);
      return setImmediate(() => {
        now += ms;
        fn();
      }) as unknown as TimerHandle;
    },
    clearTimeout: (h) => clearImmediate(h as unknown as NodeJS.Immediate),
  };
  return { clock, waits, now: () => now };
}

function logText(lines: string[]): string {
  return lines.join('\n') + '\n';
}

const PACED = [
  '(1000.000000) can0 100#01',
  '(1000.100000) can0 101#02',
  '(1000.250000) can1 102#03',
  '(1000.250000) can0 103#04',
  '(1001.250000) can0 104#05',
];

async function collect(bus: CandumpReplayBus): Promise<CanFrame[]> {
  const frames: CanFrame[] = [];
  bus.subscribe((f) => frames.push(f));
  await bus.open();
  await bus.finished();
  return frames;
}

describe('CandumpReplayBus', () => {
  it('paces frames by their recorded times on the injected clock', async () => {
    const { clock, waits, now } = jumpingClock();
    const bus = new CandumpReplayBus({ stream: Readable.from([logText(PACED)]), clock });
    const at: number[] = [];
    bus.subscribe(() => at.push(now()));
    await bus.open();
    await bus.finished();
    expect(waits.map((w) => Math.round(w))).toEqual([100, 150, 1000]);
    expect(at.map(Math.round)).toEqual([0, 100, 250, 250, 1250]);
  });

  it('scales pacing by speed', async () => {
    const { clock, waits } = jumpingClock();
    const bus = new CandumpReplayBus({ stream: Readable.from([logText(PACED)]), clock, speed: 2 });
    const frames = await collect(bus);
    expect(frames).toHaveLength(5);
    expect(waits.map((w) => Math.round(w))).toEqual([50, 75, 500]);
  });

  it('replays as fast as possible with speed 0 or Infinity, keeping recorded times and bus names', async () => {
    const hourGaps = ['(1000.000000) can0 100#01', '(4600.000000) can1 12345678#02', '(8200.000001) can0 100##1' + '00'.repeat(12)];
    for (const speed of [0, Infinity]) {
      const started = performance.now();
      const frames = await collect(new CandumpReplayBus({ stream: Readable.from([logText(hourGaps)]), speed }));
      expect(performance.now() - started).toBeLessThan(1000);
      expect(frames.map((f) => [f.bus, f.ts, f.id, f.ext, f.fd])).toEqual([
        ['can0', 1_000_000_000, 0x100, false, false],
        ['can1', 4_600_000_000, 0x12345678, true, false],
        ['can0', 8_200_000_001, 0x100, false, true],
      ]);
    }
  });

  it('counts and reports malformed lines, skips blank ones, and closes at the end of the log', async () => {
    const text = ['(1.0) can0 100#01', '', '  ', 'garbage', '(1.0) can0 800#00', '(1.0) can0 101#0', '(1.1) can0 102#02\r', ''].join('\n');
    // split into awkward chunks, lines crossing chunk borders
    const chunks = text.match(/.{1,7}/gs) ?? [];
    const bus = new CandumpReplayBus({ stream: Readable.from(chunks.map((c) => Buffer.from(c))), speed: 0, busName: 'replay0' });
    const errors: TcuError[] = [];
    const states: BusState[] = [];
    bus.on('error', (e) => errors.push(e));
    bus.on('state', (s) => states.push(s));
    const frames = await collect(bus);
    expect(frames.map((f) => [f.id, f.bus])).toEqual([
      [0x100, 'replay0'],
      [0x102, 'replay0'],
    ]);
    expect(bus.counters().rxMalformed).toBe(3);
    expect(errors.map((e) => e.code)).toEqual(['CANDUMP_SYNTAX', 'CANDUMP_SYNTAX', 'CANDUMP_SYNTAX']);
    expect(errors[0]!.message).toMatch(/^line 4: /);
    expect(errors[1]!.message).toMatch(/^line 5: .*7FF/);
    expect(bus.state).toBe('closed');
    expect(states).toEqual(['opening', 'open', 'closed']);
    expect(bus.name).toBe('replay0');
  });

  it('drops an over-long line without holding it in memory', async () => {
    const huge = 'x'.repeat(50_000);
    const chunks = ['(1.0) can0 100#01\n', huge.slice(0, 20_000), huge.slice(20_000), '\n(1.0) can0 101#02\n'];
    const bus = new CandumpReplayBus({ stream: Readable.from(chunks), speed: 0, maxLineLength: 1000 });
    const frames = await collect(bus);
    expect(frames.map((f) => f.id)).toEqual([0x100, 0x101]);
    expect(bus.counters().rxMalformed).toBe(1);
  });

  it('numbers lines across over-long ones, whether they end in the chunk or spill over several', async () => {
    const long = 'y'.repeat(1500);
    const chunks = ['(1.0) can0 100#01\n' + long + '\nbad\n', long.slice(0, 700), long.slice(700) + '\n(1.0) can0 101#02\nworse', ''];
    const bus = new CandumpReplayBus({ stream: Readable.from(chunks), speed: 0, maxLineLength: 1000 });
    const errors: TcuError[] = [];
    bus.on('error', (e) => errors.push(e));
    const frames = await collect(bus);
    expect(frames.map((f) => f.id)).toEqual([0x100, 0x101]);
    expect(errors.map((e) => [e.message.slice(0, 20), e.details['lineNumber'] ?? e.details['line']])).toEqual([
      ['line longer than 100', 2],
      ['line 3: expected "("', 3],
      ['line longer than 100', 4],
      ['line 6: expected "("', 6],
    ]);
    expect(bus.counters().rxMalformed).toBe(4);
  });

  it('keeps replaying when a listener throws, and reports it', async () => {
    const bus = new CandumpReplayBus({ stream: Readable.from([logText(PACED)]), speed: 0 });
    const errors: TcuError[] = [];
    bus.on('error', (e) => errors.push(e));
    bus.subscribe((f) => {
      if (f.id === 0x101) throw new Error('consumer bug');
    });
    const frames = await collect(bus);
    expect(frames.map((f) => f.id)).toEqual([0x100, 0x101, 0x102, 0x103, 0x104]);
    expect(errors.map((e) => e.code)).toEqual(['CAN_LISTENER_FAILED']);
    expect(bus.counters().listenerErrors).toBe(1);
  });

  it('reads a file, loops, and stops on close()', async () => {
    const path = join(dir, 'loop.log');
    writeFileSync(path, logText(['(1.0) vcan0 100#01', '(1.0) vcan0 101#02']));
    const bus = new CandumpReplayBus({ path, speed: 0, loop: true });
    const ids: number[] = [];
    let stop: () => void = () => undefined;
    const enough = new Promise<void>((resolve) => (stop = resolve));
    bus.subscribe((f) => {
      ids.push(f.id);
      if (ids.length === 7) stop();
    });
    await bus.open();
    await enough;
    await bus.close();
    await bus.finished();
    expect(ids.slice(0, 7)).toEqual([0x100, 0x101, 0x100, 0x101, 0x100, 0x101, 0x100]);
    expect(bus.state).toBe('closed');
  });

  it('close() interrupts a long wait', async () => {
    const bus = new CandumpReplayBus({ stream: Readable.from([logText(['(1.0) can0 100#01', '(3601.0) can0 101#02'])]) });
    const frames: CanFrame[] = [];
    let first: () => void = () => undefined;
    const gotFirst = new Promise<void>((resolve) => (first = resolve));
    bus.subscribe((f) => {
      frames.push(f);
      first();
    });
    await bus.open();
    await gotFirst;
    const started = performance.now();
    await bus.close();
    await bus.finished();
    expect(performance.now() - started).toBeLessThan(500);
    expect(frames).toHaveLength(1);
  });

  it('restamps frames with the replay time when asked', async () => {
    const { clock } = jumpingClock();
    const frames = await collect(new CandumpReplayBus({ stream: Readable.from([logText(PACED)]), clock, restamp: true }));
    expect(frames.map((f) => f.ts - 1_700_000_000_000_000)).toEqual([0, 100_000, 250_000, 250_000, 1_250_000]);
  });

  it('rejects open() for a missing file, refuses to send, and validates options', async () => {
    const bus = new CandumpReplayBus({ path: join(dir, 'missing.log') });
    await expect(bus.open()).rejects.toMatchObject({ code: 'FILE_READ' });
    expect(bus.state).toBe('closed');

    const replay = new CandumpReplayBus({ stream: Readable.from([logText(PACED)]), speed: 0 });
    await replay.open();
    await expect(replay.send(makeFrame({ id: 1 }))).rejects.toMatchObject({ code: 'CAN_SEND_FAILED' });
    await replay.close();

    expect(() => new CandumpReplayBus({})).toThrow(TcuError);
    expect(() => new CandumpReplayBus({ stream: Readable.from([]), loop: true })).toThrow(/loop/);
    expect(() => new CandumpReplayBus({ path: 'x', speed: -1 })).toThrow(/speed/);
  });
});

describe('CandumpWriter', () => {
  it('appends frames that read back identically', async () => {
    const path = join(dir, 'out.log');
    writeFileSync(path, '(1.000000) can0 7FF#\n');
    const writer = await CandumpWriter.open(path);
    const frames = [
      makeFrame({ id: 0x123, data: Uint8Array.of(1, 2, 3), ts: 1_436_509_052_249_713 }),
      makeFrame({ id: 0x1234567, ext: true, fd: true, brs: true, data: new Uint8Array(12).fill(7), ts: 1_436_509_052_300_000, bus: 'can1' }),
      makeFrame({ id: 0x10, rtr: true, data: new Uint8Array(2), ts: 1_436_509_052_400_000 }),
    ];
    for (const f of frames) expect(writer.write(f)).toBe(true);
    await writer.flush();
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines.slice(1).map(parseCandumpLine)).toEqual(frames);
    await writer.close();
    expect(() => writer.write(frames[0]!)).toThrow(expect.objectContaining({ code: 'FILE_WRITE' }));
    expect(writer.counters()).toMatchObject({ written: 3, dropped: 0 });
  });

  it('batches a burst into few large writes while earlier writes are still in flight', async () => {
    const path = join(dir, 'burst.log');
    const writer = await CandumpWriter.open(path, { flushBytes: 4096 });
    const frame = makeFrame({ id: 0x123, data: new Uint8Array(8), ts: 1_436_509_052_249_713 });
    const n = 20_000; // about 760 KB of lines, written without yielding to the event loop
    for (let i = 0; i < n; i++) expect(writer.write(frame)).toBe(true);
    await writer.close();
    const c = writer.counters();
    expect(c).toMatchObject({ written: n, dropped: 0, writeErrors: 0 });
    // One write per ~4 KiB, not one per line.
    expect(c.flushes).toBeLessThan(n / 50);
    expect(readFileSync(path, 'utf8').trimEnd().split('\n')).toHaveLength(n);
  });

  it('flushes on its interval through the injected clock, and drops when the buffer is full', async () => {
    const path = join(dir, 'timed.log');
    const timers: (() => void)[] = [];
    const clock: Clock = {
      now: () => 0,
      nowMicros: () => 0,
      monotonic: () => 0,
      setTimeout: (fn) => {
        timers.push(fn);
        return {};
      },
      clearTimeout: () => undefined,
    };
    const writer = await CandumpWriter.open(path, { clock, flushIntervalMs: 1000, maxBufferedBytes: 100 });
    const frame = makeFrame({ id: 0x123, data: new Uint8Array(8), ts: 1 });
    expect(writer.write(frame)).toBe(true); // 43 bytes
    expect(writer.write(frame)).toBe(true); // 86 bytes
    expect(writer.write(frame)).toBe(false); // would exceed 100
    expect(writer.counters().dropped).toBe(1);
    expect(readFileSync(path, 'utf8')).toBe('');
    expect(timers).toHaveLength(1);
    timers[0]!();
    await writer.flush();
    expect(readFileSync(path, 'utf8').split('\n')).toHaveLength(3);
    await writer.close();
  });

  it('refuses writes from the moment close() is called, so every frame counted as written is in the file', async () => {
    const path = join(dir, 'closing.log');
    const timers: (() => void)[] = [];
    const clock: Clock = {
      now: () => 0,
      nowMicros: () => 0,
      monotonic: () => 0,
      setTimeout: (fn) => {
        timers.push(fn);
        return {};
      },
      clearTimeout: () => undefined, // a timer that fires anyway must find nothing to write
    };
    const failures: TcuError[] = [];
    const writer = await CandumpWriter.open(path, { clock, flushIntervalMs: 1000, onError: (e) => failures.push(e) });
    const frame = makeFrame({ id: 0x123, data: Uint8Array.of(1), ts: 1 });
    expect(writer.write(frame)).toBe(true);
    const closing = writer.close();
    // close() is still flushing: a frame now would be counted but never reach the file
    expect(() => writer.write(frame)).toThrow(expect.objectContaining({ code: 'FILE_WRITE' }));
    await closing;
    await writer.close(); // again: resolves, does nothing
    for (const fire of timers) fire();
    await writer.flush();
    await new Promise((r) => setImmediate(r));
    expect(failures).toEqual([]);
    expect(writer.counters()).toMatchObject({ written: 1, writeErrors: 0 });
    expect(readFileSync(path, 'utf8').trimEnd().split('\n')).toHaveLength(writer.counters().written);
  });

  it('refuses a path it cannot open', async () => {
    await expect(CandumpWriter.open(join(dir, 'no-such-dir', 'x.log'))).rejects.toMatchObject({ code: 'FILE_WRITE' });
  });
});
