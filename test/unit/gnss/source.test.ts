import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TcuError } from '../../../core/errors.js';
import { fixesOf } from '../../../drivers/gnss/fix.js';
import { parseNmea } from '../../../drivers/gnss/nmea.js';
import { NmeaSource } from '../../../drivers/gnss/source.js';
import type { GnssFix } from '../../../drivers/gnss/types.js';
import type { AtPort, Unsubscribe } from '../../../drivers/modem/types.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { epochSentences, sentence } from './nmea-writer.js';

/** An AtPort that is only bytes: the test feeds what the receiver would send. */
class FakeNmeaPort implements AtPort {
  readonly path = '/dev/fake-nmea';
  isOpen = false;
  opens = 0;
  closes = 0;
  private data: ((chunk: Buffer) => void)[] = [];
  private closed: ((info: { unexpected: boolean; error?: TcuError }) => void)[] = [];

  open(): Promise<void> {
    this.isOpen = true;
    this.opens++;
    return Promise.resolve();
  }

  write(): Promise<void> {
    return this.isOpen ? Promise.resolve() : Promise.reject(new TcuError('AT_PORT_CLOSED', 'closed'));
  }

  close(): Promise<void> {
    this.isOpen = false;
    this.closes++;
    for (const l of this.closed) l({ unexpected: false });
    return Promise.resolve();
  }

  onData(listener: (chunk: Buffer) => void): Unsubscribe {
    this.data.push(listener);
    return () => (this.data = this.data.filter((l) => l !== listener));
  }

  onClose(listener: (info: { unexpected: boolean; error?: TcuError }) => void): Unsubscribe {
    this.closed.push(listener);
    return () => (this.closed = this.closed.filter((l) => l !== listener));
  }

  feed(bytes: string | Buffer): void {
    const chunk = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
    for (const l of this.data) l(chunk);
  }

  vanish(): void {
    this.isOpen = false;
    for (const l of this.closed) l({ unexpected: true, error: new TcuError('AT_PORT_CLOSED', 'device vanished') });
  }

  get listeners(): number {
    return this.data.length + this.closed.length;
  }
}

async function started(options: { idleFlushMs?: number; maxLineLength?: number } = {}) {
  const port = new FakeNmeaPort();
  const clock = new FakeClock(1_000);
  const source = new NmeaSource({ port, clock, ...options });
  const fixes: GnssFix[] = [];
  const errors: TcuError[] = [];
  source.onFix((f) => fixes.push(f));
  source.onError((e) => errors.push(e));
  await source.start();
  return { port, clock, source, fixes, errors };
}

const EPOCH = (sec: number): string[] =>
  epochSentences({ timeMs: Date.UTC(2024, 4, 1, 10, 0, sec), latitude: 52.52, longitude: 13.405, altitudeM: 34, knots: 27, courseDeg: 90, satellites: 9, hdop: 0.9 });

describe('NmeaSource', () => {
  it('opens the port when needed, emits one fix per epoch, closes what it opened', async () => {
    const { port, clock, source, fixes, errors } = await started();
    expect(port.opens).toBe(1);
    port.feed(EPOCH(0).join('\r\n') + '\r\n');
    clock.advance(50);
    port.feed(EPOCH(1).join('\r\n') + '\r\n'); // closes epoch 0
    expect(fixes.map((f) => f.timeMs)).toEqual([Date.UTC(2024, 4, 1, 10, 0, 0)]);
    expect(fixes[0]).toMatchObject({ valid: true, satellitesUsed: 9, monotonicMs: 1_000 });
    expect(fixes[0]!.speedKmh).toBeCloseTo(50.004, 3);
    clock.advance(99);
    expect(fixes).toHaveLength(1);
    clock.advance(1); // 100 ms of silence close epoch 1
    expect(fixes.map((f) => f.timeMs)).toEqual([Date.UTC(2024, 4, 1, 10, 0, 0), Date.UTC(2024, 4, 1, 10, 0, 1)]);
    expect(fixes[1]!.monotonicMs).toBe(1_050);
    expect(source.lastFix()).toBe(fixes[1]);
    expect(source.counters()).toMatchObject({ lines: 8, sentences: 8, fixes: 2, checksumErrors: 0, malformed: 0, garbageBytes: 0 });
    expect(errors).toEqual([]);
    await source.stop();
    expect(port.closes).toBe(1);
    expect(port.listeners).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('leaves open a port it did not open', async () => {
    const port = new FakeNmeaPort();
    await port.open();
    const source = new NmeaSource({ port, clock: new FakeClock() });
    await source.start();
    await source.stop();
    expect(port.isOpen).toBe(true);
  });

  it('garbage, bad checksums, malformed and unknown sentences are counted and reported; the stream carries on', async () => {
    const { port, clock, source, fixes, errors } = await started();
    const [rmc, vtg, gga, gsa] = EPOCH(0) as [string, string, string, string];
    port.feed(Buffer.from([0xb5, 0x62, 0x01, 0x07, 0x00, 0xff])); // a UBX binary packet, no line end
    port.feed(`${rmc}\r\n`); // the garbage before `$` is dropped
    port.feed(`${vtg.slice(0, -2)}00\r\n`); // wrong checksum
    port.feed(`${sentence('GPGGA,1x')}\n`); // malformed
    port.feed(`${sentence('GPZDA,100000.00,01,05,2024,00,00')}\r\n${sentence('PUBX,00,1')}\r\n`); // ignored
    port.feed(`junk line without a dollar\r\n${gga}\r${gsa}\n`);
    clock.advance(100);
    expect(fixes).toHaveLength(1);
    expect(fixes[0]).toMatchObject({ valid: true, satellitesUsed: 9 }); // RMC + GGA + GSA, no VTG
    expect(errors.map((e) => e.code)).toEqual(['NMEA_CHECKSUM', 'NMEA_MALFORMED']);
    expect(source.counters()).toMatchObject({ bytes: expect.any(Number), lines: 7, sentences: 5, ignored: 2, checksumErrors: 1, malformed: 1, garbageBytes: 6 + 26 });
  });

  it('an overlong line is dropped up to its end, bounded, and reported once', async () => {
    const { port, clock, fixes, errors, source } = await started({ maxLineLength: 120 });
    port.feed(`$GPTXT,${'X'.repeat(5000)}`);
    port.feed(`${'Y'.repeat(5000)}\r\n`);
    port.feed(EPOCH(0).join('\r\n') + '\r\n');
    clock.advance(100);
    expect(errors.map((e) => [e.code, e.details['field']])).toEqual([['NMEA_MALFORMED', 'length']]);
    expect(source.counters().overlong).toBe(1);
    expect(fixes).toHaveLength(1);
  });

  it('a sentence start in the middle of a line restarts the sentence (a receiver reset mid-line)', async () => {
    const { port, clock, fixes, source } = await started();
    const [rmc, , gga] = EPOCH(0) as [string, string, string];
    port.feed(`${rmc.slice(0, 30)}${rmc}\r\n${gga}\r\n`);
    clock.advance(100);
    expect(fixes).toHaveLength(1);
    expect(source.counters()).toMatchObject({ garbageBytes: 30, checksumErrors: 0 });
  });

  it('listeners that throw are isolated: counted, reported, the others still get the fix', async () => {
    const { port, clock, source, fixes, errors } = await started();
    source.onFix(() => {
      throw new Error('consumer bug');
    });
    const late: GnssFix[] = [];
    source.onFix((f) => late.push(f));
    source.onError(() => {
      throw new Error('error listener bug');
    });
    port.feed(EPOCH(0).join('\r\n') + '\r\n');
    expect(() => clock.advance(100)).not.toThrow();
    expect(fixes).toHaveLength(1);
    expect(late).toHaveLength(1);
    expect(errors).toEqual([expect.objectContaining({ code: 'GNSS_UNAVAILABLE', details: { listener: 'fix' } })]);
    expect(source.counters().listenerErrors).toBe(2);
  });

  it('the port vanishing: GNSS_UNAVAILABLE, the partial epoch dropped', async () => {
    const { port, clock, source, fixes, errors } = await started();
    port.feed(EPOCH(0).slice(0, 2).join('\r\n') + '\r\n$GPGG');
    port.vanish();
    clock.advance(1000);
    expect(fixes).toEqual([]);
    expect(errors).toEqual([expect.objectContaining({ code: 'GNSS_UNAVAILABLE', cause: expect.objectContaining({ code: 'AT_PORT_CLOSED' }) })]);
    expect(source.counters().portLost).toBe(1);
  });

  it('idleFlushMs 0: only the next epoch closes one', async () => {
    const { port, clock, fixes } = await started({ idleFlushMs: 0 });
    port.feed(EPOCH(0).join('\r\n') + '\r\n');
    clock.advance(10_000);
    expect(fixes).toEqual([]);
    expect(clock.pendingTimers).toBe(0);
    port.feed(EPOCH(1)[0]! + '\r\n');
    expect(fixes).toHaveLength(1);
  });
});

describe('NmeaSource properties', () => {
  const STREAM = [0, 1, 2, 3].flatMap((s) => EPOCH(s)).join('\r\n') + '\r\n';
  const EXPECTED = fixesOf(STREAM.trim().split('\r\n').map((l) => parseNmea(l))).map(({ monotonicMs: _, ...f }) => f);

  it('any split of the byte stream gives the same fixes as one chunk', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 1, max: STREAM.length - 1 }), { maxLength: 40 }), async (cuts) => {
        const { port, clock, fixes, errors, source } = await started({ idleFlushMs: 0 });
        const points = [0, ...cuts.sort((a, b) => a - b), STREAM.length];
        for (let i = 1; i < points.length; i++) port.feed(STREAM.slice(points[i - 1], points[i]));
        await source.stop();
        clock.advance(1000);
        // the last epoch is still open without the idle flush; everything before it matches
        expect(fixes.map(({ monotonicMs: _, ...f }) => f)).toEqual(EXPECTED.slice(0, 3));
        expect(errors).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });

  it('arbitrary bytes in arbitrary chunks never throw out of the data handler, and memory stays bounded', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(...STREAM.split('\r\n').map((l) => Buffer.from(`${l}\r\n`)))).map((c) => Buffer.from(c)), { maxLength: 30 }),
        async (chunks) => {
          const { port, clock, source } = await started({ maxLineLength: 200 });
          for (const c of chunks) expect(() => port.feed(c)).not.toThrow();
          expect(() => clock.advance(200)).not.toThrow();
          const n = source.counters();
          expect(n.bytes).toBe(chunks.reduce((s, c) => s + c.length, 0));
          expect(n.lines).toBe(n.sentences + n.checksumErrors + n.malformed);
          expect((source as unknown as { line: string }).line.length).toBeLessThanOrEqual(200);
        },
      ),
      { numRuns: 300 },
    );
  });
});
