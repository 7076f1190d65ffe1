/**
 * The AT engine over a REAL pseudo-terminal pair (socat) and the REAL serialport binding
 * (bindings-cpp autoDetect): the engine opens one end through SerialAtPort, and a small scripted
 * modem answers on the other end, also through the real binding. Killing socat makes both ptys
 * vanish, as a USB modem does when it re-enumerates; starting it again with the same link paths
 * brings the device path back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BindingInterface, BindingPortInterface, OpenOptions } from '@serialport/bindings-interface' with { 'resolution-mode': 'require' };
import { autoDetect } from '@serialport/bindings-cpp';
import { SerialPortStream } from '@serialport/stream';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../core/clock.js';
import type { TcuError } from '../../core/errors.js';
import { AtLineSplitter } from '../../drivers/modem/at/lines.js';
import { AtEngine, type AtEngineOptions } from '../../drivers/modem/engine.js';
import { SerialAtPort, portOpenError } from '../../drivers/modem/serial-port.js';
import type { AtLinkState } from '../../drivers/modem/types.js';
import { hasProgram } from '../helpers/system.js';

const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanup.length > 0) await cleanup.pop()!();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A socat pty pair with stable link paths: `modem` for the engine, `peer` for the scripted modem. */
class PtyPair {
  readonly dir = mkdtempSync(join(tmpdir(), 'tcu-modem-'));
  readonly modem = join(this.dir, 'modem');
  readonly peer = join(this.dir, 'peer');
  private child: ChildProcess | undefined;

  async start(): Promise<void> {
    const child = spawn('socat', [`pty,raw,echo=0,link=${this.modem}`, `pty,raw,echo=0,link=${this.peer}`], { stdio: 'ignore' });
    this.child = child;
    await waitFor('socat to create the ptys', () => existsSync(this.modem) && existsSync(this.peer));
  }

  /**
   * The device vanishes: its path goes first (as udev removes a USB modem's node), then SIGKILL
   * closes the ptys at once. A dangling link would be worse than unrealistic: the kernel reuses pty
   * numbers, so it could lead to another test's pty.
   */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    rmSync(this.modem, { force: true });
    rmSync(this.peer, { force: true });
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  async dispose(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

type Reply = string | string[] | undefined;

/**
 * The modem's side, through the real binding: reads command lines, answers with `respond(line)`.
 * A string is written at once; an array is written piece by piece 3 ms apart (a reply split across
 * reads); undefined is no answer at all.
 */
class ScriptedModem {
  readonly received: string[] = [];
  echo = false;
  private stream: SerialPortStream | undefined;
  private readonly splitter = new AtLineSplitter();

  constructor(private respond: (line: string) => Reply) {}

  async open(path: string): Promise<void> {
    const stream = new SerialPortStream({ binding: autoDetect(), path, baudRate: 115200, autoOpen: false });
    stream.on('error', () => undefined);
    stream.on('data', (chunk: Buffer) => {
      for (const t of this.splitter.push(chunk)) if (t.kind === 'line') void this.answer(t.text);
    });
    await new Promise<void>((resolve, reject) => stream.open((err) => (err ? reject(err) : resolve())));
    this.stream = stream;
  }

  async close(): Promise<void> {
    const stream = this.stream;
    this.stream = undefined;
    this.splitter.reset();
    if (stream?.isOpen) await new Promise<void>((r) => stream.close(() => r()));
  }

  script(respond: (line: string) => Reply): void {
    this.respond = respond;
  }

  write(text: string): void {
    this.stream?.write(Buffer.from(text, 'latin1'));
  }

  private async answer(line: string): Promise<void> {
    this.received.push(line);
    if (this.echo) this.write(`${line}\r`);
    const reply = this.respond(line);
    if (typeof reply === 'string') this.write(reply);
    else if (reply) {
      for (const piece of reply) {
        this.write(piece);
        await sleep(3);
      }
    }
  }
}

/** A plain modem: AT, AT+CSQ with a URC inside its reply, ATI split into many reads, silence for AT+SILENT. */
function plainModem(line: string): Reply {
  switch (line.toUpperCase()) {
    case 'AT':
      return '\r\nOK\r\n';
    case 'AT+CSQ':
      return '\r\n+CSQ: 20,99\r\n\r\n+CEREG: 5\r\n\r\nOK\r\n';
    case 'ATI':
      return ['\r\nQue', 'ctel\r', '\nEG2', '5\r\nRevision: EG25GGBR07A08M2G\r\n\r\nO', 'K', '\r\n'];
    case 'AT+SILENT':
      return undefined;
    default:
      return '\r\nERROR\r\n';
  }
}

interface Setup {
  pty: PtyPair;
  modem: ScriptedModem;
  engine: AtEngine;
  urcs: string[];
  states: AtLinkState[];
  errors: TcuError[];
}

async function setup(options: Partial<AtEngineOptions> = {}): Promise<Setup> {
  const pty = new PtyPair();
  cleanup.push(() => pty.dispose());
  await pty.start();
  const modem = new ScriptedModem(plainModem);
  await modem.open(pty.peer);
  cleanup.push(() => modem.close());
  const port = new SerialAtPort({ path: pty.modem, binding: autoDetect() });
  const engine = new AtEngine({ port, clock: systemClock(), defaultTimeoutMs: 2000, resyncQuietMs: 50, reopen: { initialMs: 20, maxMs: 200 }, ...options });
  const s: Setup = { pty, modem, engine, urcs: [], states: [], errors: [] };
  engine.onUnsolicited((l) => s.urcs.push(l));
  engine.onState((st) => s.states.push(st));
  engine.onError((e) => s.errors.push(e));
  await engine.start();
  cleanup.push(() => engine.stop());
  return s;
}

describe('SerialAtPort open errors', () => {
  it('maps a missing device to AT_PORT_OPEN naming the path (real binding)', async () => {
    const port = new SerialAtPort({ path: '/nonexistent/ttyUSB9', binding: autoDetect() });
    await expect(port.open()).rejects.toMatchObject({ code: 'AT_PORT_OPEN', details: { path: '/nonexistent/ttyUSB9', reason: 'missing' } });
    expect(port.isOpen).toBe(false);
    await expect(port.write('AT\r')).rejects.toMatchObject({ code: 'AT_PORT_CLOSED' });
  });

  it('maps a file that is not a terminal to AT_PORT_OPEN (real binding)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcu-modem-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'file'), 'x');
    await expect(new SerialAtPort({ path: join(dir, 'file'), binding: autoDetect() }).open()).rejects.toMatchObject({ code: 'AT_PORT_OPEN', details: { reason: 'not-a-tty' } });
  });

  it('explains EACCES with the path and the dialout group, and a busy port', () => {
    // What bindings-cpp throws (serialport_unix.cpp: "Error: %s, cannot open %s"); as root the tests cannot provoke it.
    const denied = portOpenError('/dev/ttyUSB2', new Error('Error: Permission denied, cannot open /dev/ttyUSB2'));
    expect(denied).toMatchObject({ code: 'AT_PORT_OPEN', details: { path: '/dev/ttyUSB2', reason: 'permission' } });
    expect(denied.message).toContain('/dev/ttyUSB2');
    expect(denied.message).toContain('dialout');
    const busy = portOpenError('/dev/ttyUSB2', new Error('Error Resource temporarily unavailable Cannot lock port'));
    expect(busy.details['reason']).toBe('busy');
    const coded = portOpenError('/dev/ttyUSB2', Object.assign(new Error('open failed'), { code: 'EACCES' }));
    expect(coded.details['reason']).toBe('permission');
  });
});

/**
 * A fault-injecting binding: ports record what is written, and a test can make one stop reporting
 * open without any close (what a vanished device looks like through some bindings). One open per
 * path at a time, as bindings-cpp's lock does.
 */
function droppingBinding(): { binding: BindingInterface; ports: (BindingPortInterface & { written: string })[] } {
  const ports: (BindingPortInterface & { written: string })[] = [];
  const locked = new Set<string>();
  const never = new Promise<never>(() => undefined);
  const binding: BindingInterface = {
    list: async () => [],
    open: async (options: OpenOptions) => {
      if (locked.has(options.path)) throw new Error('Error Resource temporarily unavailable Cannot lock port');
      locked.add(options.path);
      const port = {
        openOptions: { dataBits: 8, lock: true, stopBits: 1, parity: 'none', rtscts: false, xon: false, xoff: false, xany: false, hupcl: true, ...options } as const,
        isOpen: true,
        written: '',
        close: async () => {
          locked.delete(options.path);
          port.isOpen = false;
        },
        read: () => never, // no data ever: the reader just waits
        write: async (b: Buffer) => void (port.written += b.toString('latin1')),
        update: async () => undefined,
        set: async () => undefined,
        get: async () => ({ cts: true, dsr: true, dcd: false }),
        getBaudRate: async () => ({ baudRate: options.baudRate }),
        flush: async () => undefined,
        drain: async () => undefined,
      };
      ports.push(port);
      return port;
    },
  };
  return { binding, ports };
}

describe('SerialAtPort over a binding that drops its port without a close event', () => {
  it('reports the port closed (unexpected) at the next write, releases it, and opens afresh', async () => {
    const { binding, ports } = droppingBinding();
    const port = new SerialAtPort({ path: '/dev/fake0', binding });
    const closes: { unexpected: boolean; error?: TcuError }[] = [];
    port.onClose((info) => closes.push(info));
    await port.open();
    await port.write('AT\r');
    expect(ports[0]!.written).toBe('AT\r');
    ports[0]!.isOpen = false; // the device vanished, and nothing said so
    await expect(port.write('AT\r')).rejects.toMatchObject({ code: 'AT_PORT_CLOSED' });
    expect(closes).toEqual([{ unexpected: true, error: expect.objectContaining({ code: 'AT_PORT_CLOSED' }) }]);
    expect(port.isOpen).toBe(false);
    await port.open(); // the lost port was released (its lock too): a fresh stream opens
    expect(port.isOpen).toBe(true);
    await port.write('ATI\r');
    expect(ports[1]!.written).toBe('ATI\r');
    await port.close();
    expect(closes[1]).toEqual({ unexpected: false });
  });
});

describe.skipIf(!hasProgram('socat'))('AtEngine over a real pty (socat) and the real serialport binding', () => {
  it('does round trips, routes a URC from inside a reply, and joins a reply split across reads', async () => {
    const { engine, modem, urcs } = await setup();
    await expect(engine.send('AT')).resolves.toMatchObject({ final: 'OK', lines: [] });
    await expect(engine.send('AT+CSQ')).resolves.toMatchObject({ lines: ['+CSQ: 20,99'], final: 'OK' });
    expect(urcs).toEqual(['+CEREG: 5']);
    await expect(engine.send('ATI')).resolves.toMatchObject({ lines: ['Quectel', 'EG25', 'Revision: EG25GGBR07A08M2G'], final: 'OK' });
    await expect(engine.send('AT+NOPE')).rejects.toMatchObject({ code: 'AT_COMMAND_FAILED', details: { final: 'ERROR' } });
    expect(modem.received).toEqual(['AT', 'AT+CSQ', 'ATI', 'AT+NOPE']);
  });

  it('drops the echo with echo on, and hears URCs with nothing in flight', async () => {
    const { engine, modem, urcs } = await setup();
    modem.echo = true;
    await expect(engine.send('AT+CSQ')).resolves.toMatchObject({ lines: ['+CSQ: 20,99'] });
    expect(engine.counters().echoes).toBe(1);
    modem.write('\r\nRING\r\n\r\n+QIND: SMS DONE\r\n');
    await waitFor('the URCs', () => urcs.length === 3);
    expect(urcs).toEqual(['+CEREG: 5', 'RING', '+QIND: SMS DONE']);
  });

  it('times out a command the modem ignores, drops its late reply, and the next command works', async () => {
    const { engine, modem } = await setup();
    const started = performance.now();
    await expect(engine.send('AT+SILENT', { timeoutMs: 200 })).rejects.toMatchObject({ code: 'AT_TIMEOUT', details: { command: 'AT+SILENT', timeoutMs: 200 } });
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    expect(engine.consecutiveTimeouts).toBe(1);
    modem.write('\r\n+SILENT: late\r\n\r\nOK\r\n'); // the late reply, during the resync
    await expect(engine.send('AT+CSQ')).resolves.toMatchObject({ lines: ['+CSQ: 20,99'], final: 'OK' });
    expect(engine.counters().strayLines).toBe(2);
    expect(engine.consecutiveTimeouts).toBe(0);
  });

  it('survives the port vanishing: pending commands reject, state lost, and it reopens when the device is back', async () => {
    const { engine, modem, pty, states, errors } = await setup();
    await engine.send('AT');
    // The expectations are attached before anything can reject (no unhandled rejection in between).
    const pending = expect(engine.send('AT+SILENT', { timeoutMs: 10_000 })).rejects.toMatchObject({ code: 'AT_PORT_CLOSED' });
    const queued = expect(engine.send('AT')).rejects.toMatchObject({ code: 'AT_PORT_CLOSED' });
    await waitFor('the modem to see the command', () => modem.received.includes('AT+SILENT'));
    await pty.kill();
    await pending;
    await queued;
    await waitFor('state lost', () => engine.state === 'lost');
    await expect(engine.send('AT')).rejects.toMatchObject({ code: 'AT_PORT_CLOSED' });
    expect(errors.some((e) => e.code === 'AT_PORT_CLOSED')).toBe(true);
    await sleep(150); // a few failed reopen attempts (ENOENT) while the device is away
    expect(engine.state).toBe('lost');

    await modem.close();
    await pty.start(); // same link paths: the device is back
    await modem.open(pty.peer);
    await waitFor('the engine to reopen the port', () => engine.state === 'open');
    await expect(engine.send('AT+CSQ')).resolves.toMatchObject({ lines: ['+CSQ: 20,99'], final: 'OK' });
    expect(states).toEqual(['opening', 'open', 'lost', 'open']);
    expect(engine.counters().reopens).toBe(1);
  });

  it('stop() closes the real port: the peer can be reopened by another engine', async () => {
    const { engine, pty } = await setup();
    await engine.stop();
    expect(engine.state).toBe('closed');
    const again = new AtEngine({ port: new SerialAtPort({ path: pty.modem, binding: autoDetect() }), clock: systemClock() });
    await again.start();
    cleanup.push(() => again.stop());
    await expect(again.send('AT')).resolves.toMatchObject({ final: 'OK' });
  });
});
