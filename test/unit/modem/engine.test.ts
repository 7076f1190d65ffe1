import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { TcuError } from '../../../core/errors.js';
import { AtEngine, type AtEngineOptions } from '../../../drivers/modem/engine.js';
import type { AtLinkState, AtPort, AtResponse, Unsubscribe } from '../../../drivers/modem/types.js';
import { FakeClock } from '../../helpers/fake-clock.js';

/**
 * A fault injector standing in for the serial port: it records what is written, and the test
 * decides what comes back, when, cut how, and when the device vanishes or refuses to open.
 */
class FaultyPort implements AtPort {
  readonly path = '/dev/ttyFAKE0';
  isOpen = false;
  written: string[] = [];
  /** Errors the next open() calls reject with, in order. */
  openFailures: Error[] = [];
  opens = 0;
  failWrites = false;
  private data: ((chunk: Buffer) => void)[] = [];
  private closes: ((info: { unexpected: boolean; error?: TcuError }) => void)[] = [];

  async open(): Promise<void> {
    this.opens++;
    const failure = this.openFailures.shift();
    if (failure) throw failure;
    this.isOpen = true;
  }

  async write(data: string | Uint8Array): Promise<void> {
    if (!this.isOpen || this.failWrites) throw new TcuError('AT_PORT_CLOSED', 'not open');
    this.written.push(typeof data === 'string' ? data : Buffer.from(data).toString('latin1'));
  }

  async close(): Promise<void> {
    if (!this.isOpen) return;
    this.isOpen = false;
    for (const l of [...this.closes]) l({ unexpected: false });
  }

  onData(listener: (chunk: Buffer) => void): Unsubscribe {
    this.data.push(listener);
    return () => (this.data = this.data.filter((l) => l !== listener));
  }

  onClose(listener: (info: { unexpected: boolean; error?: TcuError }) => void): Unsubscribe {
    this.closes.push(listener);
    return () => (this.closes = this.closes.filter((l) => l !== listener));
  }

  /** Bytes from the modem, delivered as one read. */
  feed(text: string | Buffer): void {
    const chunk = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
    for (const l of [...this.data]) l(chunk);
  }

  /** The device goes away (USB re-enumeration). */
  vanish(): void {
    this.isOpen = false;
    const error = new TcuError('AT_PORT_CLOSED', `${this.path} removed`);
    for (const l of [...this.closes]) l({ unexpected: true, error });
  }

  get listenerCount(): number {
    return this.data.length + this.closes.length;
  }
}

const enoent = (): Error => new TcuError('AT_PORT_OPEN', 'no such device');

/** Lets promise continuations (the port's async write and open) run. */
const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

interface Rig {
  port: FaultyPort;
  clock: FakeClock;
  engine: AtEngine;
  urcs: string[];
  errors: TcuError[];
  states: AtLinkState[];
}

const rigs: Rig[] = [];

async function rig(options: Partial<AtEngineOptions> = {}): Promise<Rig> {
  const port = new FaultyPort();
  const clock = new FakeClock();
  const engine = new AtEngine({ port, clock, defaultTimeoutMs: 5000, queueLimit: 32, ...options });
  const r: Rig = { port, clock, engine, urcs: [], errors: [], states: [] };
  engine.onUnsolicited((l) => r.urcs.push(l));
  engine.onError((e) => r.errors.push(e));
  engine.onState((s) => r.states.push(s));
  await engine.start();
  rigs.push(r);
  return r;
}

afterEach(async () => {
  for (const r of rigs.splice(0)) await r.engine.stop();
});

/** Settles a promise into a value the test can inspect synchronously. */
function track<T>(p: Promise<T>): { value?: T; error?: TcuError; settled: boolean } {
  const out: { value?: T; error?: TcuError; settled: boolean } = { settled: false };
  p.then(
    (v) => Object.assign(out, { value: v, settled: true }),
    (e: TcuError) => Object.assign(out, { error: e, settled: true }),
  );
  return out;
}

describe('AtEngine: commands and replies', () => {
  it('writes command + CR, gathers intermediate lines and resolves on OK with the elapsed time', async () => {
    const { port, clock, engine } = await rig();
    const p = engine.send('AT+CSQ');
    await flush();
    expect(port.written).toEqual(['AT+CSQ\r']);
    clock.advance(40);
    port.feed('\r\n+CSQ: 23,99\r\n\r\nOK\r\n');
    await expect(p).resolves.toEqual({ command: 'AT+CSQ', lines: ['+CSQ: 23,99'], final: 'OK', elapsedMs: 40 });
    expect(engine.counters()).toMatchObject({ commands: 1, ok: 1, failed: 0 });
  });

  it('keeps one command in flight and sends the queue in order, each after the previous final result', async () => {
    const { port, engine } = await rig();
    const a = engine.send('AT+CGMI');
    const b = engine.send('AT+CGMM');
    const c = engine.send('AT+CGSN');
    await flush();
    expect(port.written).toEqual(['AT+CGMI\r']);
    port.feed('\r\nQuectel\r\n\r\nOK\r\n');
    await flush();
    expect(port.written).toEqual(['AT+CGMI\r', 'AT+CGMM\r']);
    port.feed('\r\nEG25\r\n\r\nOK\r\n');
    await flush();
    port.feed('\r\n867698041234567\r\nOK\r\n');
    expect((await a).lines).toEqual(['Quectel']);
    expect((await b).lines).toEqual(['EG25']);
    expect((await c).lines).toEqual(['867698041234567']);
  });

  it('refuses a command beyond the queue limit with AT_QUEUE_FULL', async () => {
    const { engine } = await rig({ queueLimit: 2 });
    const first = track(engine.send('AT'));
    engine.send('AT').catch(() => undefined);
    engine.send('AT').catch(() => undefined);
    await expect(engine.send('AT+CSQ')).rejects.toMatchObject({ code: 'AT_QUEUE_FULL', details: { command: 'AT+CSQ', queueLimit: 2 } });
    expect(engine.counters().queueFull).toBe(1);
    expect(first.settled).toBe(false);
  });

  it('rejects ERROR, +CME ERROR, +CMS ERROR, NO CARRIER and BUSY with AT_COMMAND_FAILED; resolves CONNECT', async () => {
    const { port, engine } = await rig();
    const cases: [string, string, Record<string, unknown>][] = [
      ['AT+CGATT=1', 'ERROR', { final: 'ERROR' }],
      ['AT+CPIN?', '+CME ERROR: 10', { final: '+CME ERROR: 10', cme: 10 }],
      ['AT+COPS=0', '+CME ERROR: no network service', { cme: 'no network service' }],
      ['AT+CMGS="1"', '+CMS ERROR: 500', { cms: 500 }],
      ['ATD*99#', 'NO CARRIER', { final: 'NO CARRIER' }],
      ['ATD+4912345', 'BUSY', { final: 'BUSY' }],
    ];
    for (const [command, final, details] of cases) {
      const p = engine.send(command);
      await flush();
      port.feed(`\r\n${final}\r\n`);
      const err = await p.then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(TcuError);
      expect(err).toMatchObject({ code: 'AT_COMMAND_FAILED', details: { command, ...details } });
    }
    const data = engine.send('ATD*99#');
    await flush();
    port.feed('\r\nCONNECT 150000000\r\n');
    await expect(data).resolves.toMatchObject({ final: 'CONNECT 150000000', lines: [] });
    expect(engine.counters()).toMatchObject({ failed: 6, ok: 1 });
  });

  it('refuses a command with a line ending inside, and a payload with Ctrl-Z', async () => {
    const { engine, port } = await rig();
    await expect(engine.send('AT\r\nAT+CFUN=0')).rejects.toMatchObject({ code: 'AT_COMMAND_FAILED' });
    await expect(engine.send('AT+CMGS="1"', { payload: 'a\x1ab' })).rejects.toMatchObject({ code: 'AT_COMMAND_FAILED' });
    await expect(engine.send('  ')).rejects.toMatchObject({ code: 'AT_COMMAND_FAILED' });
    expect(port.written).toEqual([]);
  });
});

describe('AtEngine: unsolicited result codes', () => {
  it('routes URCs that arrive inside a reply, and keeps them out of its lines', async () => {
    const { port, engine, urcs } = await rig();
    const p = engine.send('AT+CSQ');
    await flush();
    port.feed('\r\n+CSQ: 23,99\r\n\r\n+CEREG: 5\r\n\r\nRING\r\n\r\n+QIND: "csq",23,99\r\n\r\nOK\r\n');
    expect((await p).lines).toEqual(['+CSQ: 23,99']);
    expect(urcs).toEqual(['+CEREG: 5', 'RING', '+QIND: "csq",23,99']);
    expect(engine.counters()).toMatchObject({ urcs: 3, unknownUrcs: 0 });
  });

  it('takes +CREG: for the reply while AT+CREG? runs, and for a URC otherwise', async () => {
    const { port, engine, urcs } = await rig();
    const p = engine.send('AT+CREG?');
    await flush();
    port.feed('\r\n+CREG: 2,1,"1A2B","01A2B3C",7\r\n\r\nOK\r\n\r\n+CREG: 5\r\n');
    expect((await p).lines).toEqual(['+CREG: 2,1,"1A2B","01A2B3C",7']);
    expect(urcs).toEqual(['+CREG: 5']);
  });

  it('reports unknown lines with nothing in flight as unsolicited (counted), and drops stray final codes', async () => {
    const { port, engine, urcs } = await rig();
    port.feed('\r\nRDY\r\n\r\nsomething odd\r\n\r\nOK\r\n\r\n+CPIN: READY\r\n');
    expect(urcs).toEqual(['RDY', 'something odd', '+CPIN: READY']);
    expect(engine.counters()).toMatchObject({ urcs: 3, unknownUrcs: 1, strayLines: 1 });
  });

  it('isolates a listener that throws: counted, the others still hear, the reply still completes', async () => {
    const { port, engine, urcs } = await rig();
    engine.onUnsolicited(() => {
      throw new Error('listener bug');
    });
    const p = engine.send('AT');
    await flush();
    port.feed('\r\nRING\r\n\r\nOK\r\n');
    await expect(p).resolves.toMatchObject({ final: 'OK' });
    expect(urcs).toEqual(['RING']);
    expect(engine.counters().listenerErrors).toBe(1);
  });
});

describe('AtEngine: echo, prompts, garbage', () => {
  it('drops the echo of the command in flight, also when it arrives split across reads', async () => {
    const { port, engine } = await rig();
    const p = engine.send('AT+CSQ');
    await flush();
    port.feed('AT+C');
    port.feed('SQ\r');
    port.feed('\r\n+CSQ: 23,99\r\n\r\nO');
    port.feed('K\r\n');
    expect((await p).lines).toEqual(['+CSQ: 23,99']);
    expect(engine.counters().echoes).toBe(1);
  });

  it('sends the payload with Ctrl-Z after the prompt and drops its echo', async () => {
    const { port, engine } = await rig();
    const p = engine.send('AT+CMGS="+4915112345678"', { payload: 'hello car' });
    await flush();
    port.feed('AT+CMGS="+4915112345678"\r\r\n> ');
    await flush();
    expect(port.written).toEqual(['AT+CMGS="+4915112345678"\r', 'hello car\x1a']);
    port.feed('hello car\x1a\r\n+CMGS: 12\r\n\r\nOK\r\n');
    await expect(p).resolves.toMatchObject({ lines: ['+CMGS: 12'], final: 'OK' });
    expect(engine.counters()).toMatchObject({ prompts: 1, echoes: 2 });
  });

  it('cancels a prompt nobody asked for with ESC', async () => {
    const { port, engine } = await rig();
    const p = engine.send('AT+QFUPL="x"');
    await flush();
    port.feed('\r\n> ');
    await flush();
    expect(port.written).toEqual(['AT+QFUPL="x"\r', '\x1b']);
    port.feed('\r\nERROR\r\n');
    await expect(p).rejects.toMatchObject({ code: 'AT_COMMAND_FAILED' });
  });

  it('counts and reports garbage bytes and over-long lines, and carries on', async () => {
    const { port, engine, errors } = await rig({ maxLineLength: 64 });
    const p = engine.send('AT');
    await flush();
    port.feed(Buffer.from([0x00, 0xff, 0x00, 0x0d, 0x0a]));
    port.feed('x'.repeat(500) + '\r\n');
    port.feed('\r\nOK\r\n');
    await expect(p).resolves.toMatchObject({ final: 'OK', lines: [] });
    expect(engine.counters()).toMatchObject({ garbageBytes: 3, malformedLines: 1 });
    expect(errors.map((e) => e.code)).toEqual(['AT_REPLY_MALFORMED', 'AT_REPLY_MALFORMED']);
  });
});

describe('AtEngine: timeouts and late replies', () => {
  it('rejects with AT_TIMEOUT after the command timeout and signals consecutive timeouts', async () => {
    const { port, clock, engine, errors } = await rig({ resyncQuietMs: 100 });
    const a = track(engine.send('AT+COPS=?', { timeoutMs: 1000 }));
    await flush();
    clock.advance(999);
    await flush();
    expect(a.settled).toBe(false);
    clock.advance(1);
    await flush();
    expect(a.error).toMatchObject({ code: 'AT_TIMEOUT', details: { command: 'AT+COPS=?', timeoutMs: 1000 } });
    const b = track(engine.send('AT'));
    clock.advance(100); // the resync's quiet gap
    await flush();
    expect(port.written).toEqual(['AT+COPS=?\r', 'AT\r']);
    clock.advance(5000);
    await flush();
    expect(b.error?.code).toBe('AT_TIMEOUT');
    expect(engine.consecutiveTimeouts).toBe(2);
    expect(errors.filter((e) => e.code === 'AT_TIMEOUT')).toHaveLength(2);
    clock.advance(100);
    const c = engine.send('AT');
    await flush();
    port.feed('\r\nOK\r\n');
    await c;
    expect(engine.consecutiveTimeouts).toBe(0);
    expect(engine.counters().timeouts).toBe(2);
  });

  it('does not give a late reply to the next command: it waits for a quiet gap and drops what comes', async () => {
    const { port, clock, engine, urcs } = await rig({ resyncQuietMs: 300 });
    const a = track(engine.send('AT+CSQ', { timeoutMs: 1000 }));
    const b = engine.send('AT+CGMI');
    await flush();
    clock.advance(1000);
    await flush();
    expect(a.error?.code).toBe('AT_TIMEOUT');
    clock.advance(200);
    port.feed('AT+CSQ\r\r\n+CSQ: 23,99\r\n'); // the late reply, echo and all
    clock.advance(200);
    port.feed('\r\n+CEREG: 5\r\n\r\nOK\r\n'); // a URC inside it still goes out
    clock.advance(299);
    await flush();
    expect(port.written).toEqual(['AT+CSQ\r']); // still quiet-waiting
    clock.advance(1);
    await flush();
    expect(port.written).toEqual(['AT+CSQ\r', 'AT+CGMI\r']);
    port.feed('\r\nQuectel\r\n\r\nOK\r\n');
    await expect(b).resolves.toMatchObject({ lines: ['Quectel'], final: 'OK' });
    expect(urcs).toEqual(['+CEREG: 5']);
    expect(engine.counters().strayLines).toBe(3); // the echo, +CSQ and OK
  });

  it('ends the resync after resyncMaxMs even when the port never goes quiet', async () => {
    const { port, clock, engine } = await rig({ resyncQuietMs: 300, resyncMaxMs: 2000 });
    engine.send('AT+CSQ', { timeoutMs: 100 }).catch(() => undefined);
    const b = track(engine.send('AT'));
    await flush();
    clock.advance(100);
    for (let t = 0; t < 1900; t += 100) {
      port.feed('noise\r\n');
      clock.advance(100);
    }
    await flush();
    expect(port.written).toEqual(['AT+CSQ\r']);
    port.feed('noise\r\n');
    clock.advance(100);
    await flush();
    expect(port.written).toEqual(['AT+CSQ\r', 'AT\r']);
    port.feed('\r\nOK\r\n');
    await flush();
    expect(b.value?.final).toBe('OK');
  });
});

describe('AtEngine: the port', () => {
  it('when the port vanishes: rejects everything with AT_PORT_CLOSED, goes lost, reopens with back-off, works again', async () => {
    const { port, clock, engine, states, errors } = await rig({ reopen: { initialMs: 250, maxMs: 1000 } });
    const inFlight = track(engine.send('AT+CSQ'));
    const queued = track(engine.send('AT+CGMI'));
    await flush();
    port.openFailures = [enoent(), enoent(), enoent(), enoent()];
    port.vanish();
    await flush();
    expect(inFlight.error?.code).toBe('AT_PORT_CLOSED');
    expect(queued.error?.code).toBe('AT_PORT_CLOSED');
    expect(engine.state).toBe('lost');
    await expect(engine.send('AT')).rejects.toMatchObject({ code: 'AT_PORT_CLOSED' });
    expect(errors.map((e) => e.code)).toContain('AT_PORT_CLOSED');
    const opensAt: number[] = [];
    for (let t = 0; t <= 4000; t += 50) {
      const before = port.opens;
      clock.advance(50);
      await flush();
      if (port.opens > before) opensAt.push(t + 50);
    }
    // 250, then 500, 1000, 1000 (the cap) after each failure; the fifth attempt succeeds
    expect(opensAt).toEqual([250, 750, 1750, 2750, 3750]);
    expect(engine.state).toBe('open');
    expect(states).toEqual(['opening', 'open', 'lost', 'open']);
    expect(engine.counters().reopens).toBe(1);
    const p = engine.send('AT');
    await flush();
    port.feed('\r\nOK\r\n');
    await expect(p).resolves.toMatchObject({ final: 'OK' });
  });

  it('forgets a partial line when the port is lost', async () => {
    const { port, clock, engine, urcs } = await rig();
    port.feed('+CEREG: ');
    port.vanish();
    clock.advance(250);
    await flush();
    expect(engine.state).toBe('open');
    port.feed('RDY\r\n');
    expect(urcs).toEqual(['RDY']);
  });

  it('a failed write rejects the command with AT_PORT_CLOSED and the queue moves on', async () => {
    const { port, engine } = await rig();
    port.failWrites = true;
    const a = engine.send('AT+CSQ');
    await expect(a).rejects.toMatchObject({ code: 'AT_PORT_CLOSED' });
    port.failWrites = false;
    const b = engine.send('AT');
    await flush();
    port.feed('\r\nOK\r\n');
    await expect(b).resolves.toMatchObject({ final: 'OK' });
  });

  it('start() rejects with AT_PORT_OPEN when the port cannot be opened; waitForPort keeps trying instead', async () => {
    const port = new FaultyPort();
    const clock = new FakeClock();
    port.openFailures = [enoent()];
    const engine = new AtEngine({ port, clock });
    await expect(engine.start()).rejects.toMatchObject({ code: 'AT_PORT_OPEN' });
    expect(engine.state).toBe('closed');
    expect(port.listenerCount).toBe(0);

    port.openFailures = [enoent(), enoent()];
    const waiting = new AtEngine({ port, clock, waitForPort: true, reopen: { initialMs: 100 } });
    await waiting.start();
    expect(waiting.state).toBe('lost');
    clock.advance(100);
    await flush();
    expect(waiting.state).toBe('lost');
    clock.advance(200);
    await flush();
    expect(waiting.state).toBe('open');
    expect(waiting.counters().reopens).toBe(1);
    await waiting.stop();
  });

  it('stop() rejects the command in flight and the queue, closes the port and leaves no timer behind', async () => {
    const port = new FaultyPort();
    const clock = new FakeClock();
    const engine = new AtEngine({ port, clock });
    await engine.start();
    const a = track(engine.send('AT+CSQ'));
    const b = track(engine.send('AT+CGMI'));
    await flush();
    await engine.stop();
    await flush();
    expect(a.error?.code).toBe('AT_PORT_CLOSED');
    expect(b.error?.code).toBe('AT_PORT_CLOSED');
    expect(engine.state).toBe('closed');
    expect(port.isOpen).toBe(false);
    expect(clock.pendingTimers).toBe(0);
    expect(port.listenerCount).toBe(0);
    await expect(engine.send('AT')).rejects.toMatchObject({ code: 'AT_PORT_CLOSED' });
  });

  it('stop() while the port is lost stops the reopen attempts', async () => {
    const { port, clock, engine } = await rig();
    port.openFailures = [enoent()];
    port.vanish();
    await engine.stop();
    const opens = port.opens;
    clock.advance(60_000);
    await flush();
    expect(port.opens).toBe(opens);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('AtEngine: properties', () => {
  const script = [
    { command: 'AT+CSQ', reply: 'AT+CSQ\r\r\n+CSQ: 23,99\r\n\r\n+CEREG: 5\r\n\r\nOK\r\n' },
    { command: 'AT+CREG?', reply: '\r\n+CREG: 2,1,"1A2B","01A2B3C",7\r\n\r\nRING\r\n\r\nOK\r\n' },
    { command: 'AT+CPIN?', reply: '\r\n+CME ERROR: 10\r\n' },
    { command: 'ATI', reply: '\x00\r\nQuectel\r\nEG25\r\nRevision: EG25GGBR07A08M2G\r\n\r\nOK\r\n\r\n+QIND: SMS DONE\r\n' },
  ];

  async function runScript(cutsOf: (reply: Buffer) => Buffer[]): Promise<{ outcomes: unknown[]; urcs: string[]; counters: unknown }> {
    const r = await rig();
    const outcomes: unknown[] = [];
    for (const step of script) {
      const p = r.engine.send(step.command).then(
        (v: AtResponse) => ({ lines: v.lines, final: v.final }),
        (e: TcuError) => ({ code: e.code, details: e.details }),
      );
      await flush();
      for (const chunk of cutsOf(Buffer.from(step.reply, 'latin1'))) r.port.feed(chunk);
      outcomes.push(await p);
    }
    const counters = r.engine.counters();
    await r.engine.stop();
    return { outcomes, urcs: r.urcs, counters };
  }

  it('gives the same responses, URCs and counts however each reply is cut into reads (fast-check)', async () => {
    const whole = await runScript((b) => [b]);
    expect(whole.outcomes[0]).toEqual({ lines: ['+CSQ: 23,99'], final: 'OK' });
    expect(whole.urcs).toEqual(['+CEREG: 5', 'RING', '+QIND: SMS DONE']);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 40 }), async (sizes) => {
        const cutter = (b: Buffer): Buffer[] => {
          const out: Buffer[] = [];
          for (let at = 0, i = 0; at < b.length; i++) {
            const n = sizes[i % sizes.length]!;
            out.push(b.subarray(at, at + n));
            at += n;
          }
          return out;
        };
        expect(await runScript(cutter)).toEqual(whole);
      }),
      { numRuns: 100 },
    );
  });

  type Event = { kind: 'send'; timeoutMs: number } | { kind: 'reply'; text: string } | { kind: 'advance'; ms: number } | { kind: 'vanish' } | { kind: 'stop' };
  const eventArb: fc.Arbitrary<Event> = fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('send' as const), timeoutMs: fc.integer({ min: 1, max: 3000 }) }), weight: 4 },
    { arbitrary: fc.record({ kind: fc.constant('reply' as const), text: fc.constantFrom('\r\nOK\r\n', '\r\nERROR\r\n', 'RING\r\n', '+CSQ: 1,2\r', '\r\n> ', 'x', '\x00\xff', '\r\nCONNECT\r\n') }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 4000 }) }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constant('vanish' as const) }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('stop' as const) }), weight: 1 },
  );

  it('settles every command, whatever the modem and the port do (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(eventArb, { maxLength: 60 }), fc.boolean(), async (events, portComesBack) => {
        const r = await rig({ queueLimit: 4, resyncQuietMs: 50, resyncMaxMs: 500, reopen: { initialMs: 10, maxMs: 100 } });
        const sent: { settled: boolean }[] = [];
        for (const e of events) {
          if (e.kind === 'send') sent.push(track(r.engine.send('AT+CSQ', { timeoutMs: e.timeoutMs })));
          else if (e.kind === 'reply') r.port.feed(e.text);
          else if (e.kind === 'advance') r.clock.advance(e.ms);
          else if (e.kind === 'vanish') {
            if (!portComesBack) r.port.openFailures = Array.from({ length: 1000 }, enoent);
            r.port.vanish();
          } else if (e.kind === 'stop') await r.engine.stop();
          await flush();
        }
        // No more input: within the longest timeout plus resyncs, everything has settled.
        for (let i = 0; i < 40; i++) {
          r.clock.advance(1000);
          await flush();
        }
        expect(sent.every((s) => s.settled)).toBe(true);
        await r.engine.stop();
        await flush();
        expect(r.clock.pendingTimers).toBe(0);
      }),
      { numRuns: 200 },
    );
  });
});
