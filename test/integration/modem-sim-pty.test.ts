import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { SerialPort } from 'serialport';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../core/clock.js';
import { isTcuError } from '../../core/errors.js';
import { tcuEmulator } from '../../hw-emulator/cli/main.js';
import { findScenario, ModemPty, ModemSimulator, nmeaChecksum, PtyPair } from '../../hw-emulator/modem/index.js';
import { hasProgram } from '../helpers/system.js';

// The simulator behind a REAL pseudo-terminal pair made by socat, opened with the real serialport binding.
const haveSocat = hasProgram('socat');
const dir = mkdtempSync(join(tmpdir(), 'tcu-modem-it-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, check: () => boolean, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** A tiny line reader over a real serial port: CR/LF separated lines, blank ones dropped. */
class LineReader {
  readonly lines: string[] = [];
  private partial = '';
  closedWith: Error | null | undefined;

  constructor(readonly port: SerialPort) {
    port.on('data', (chunk: Buffer) => {
      const parts = (this.partial + chunk.toString('latin1')).split(/\r\n|\r|\n/);
      this.partial = parts.pop() ?? '';
      this.lines.push(...parts.filter((l) => l !== ''));
    });
    port.on('close', (err: Error | null) => (this.closedWith = err));
  }

  static async open(path: string): Promise<LineReader> {
    const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
    return new LineReader(port);
  }

  /** Sends a command; resolves with its information lines once the final result code arrives. */
  async command(cmd: string): Promise<{ lines: string[]; final: string }> {
    const from = this.lines.length;
    this.port.write(`${cmd}\r`);
    const isFinal = (l: string): boolean => l === 'OK' || l === 'ERROR' || l.startsWith('+CME ERROR:');
    await until(`the reply to ${cmd}`, () => this.lines.slice(from).some(isFinal));
    const got = this.lines.slice(from);
    const end = got.findIndex(isFinal);
    return { lines: got.slice(0, end).filter((l) => l !== cmd), final: got[end]! };
  }

  async close(): Promise<void> {
    if (this.port.isOpen) await new Promise<void>((resolve) => this.port.close(() => resolve()));
  }
}

function runEmulator(argv: string[]): { stop: AbortController; done: Promise<number>; paths: Promise<string[]>; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const wanted = argv.includes('--nmea-pty') ? 2 : 1;
  const paths = new Promise<string[]>((resolve) => {
    stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const got = out.split('\n').filter(Boolean);
      if (got.length >= wanted) resolve(got);
    });
  });
  const stop = new AbortController();
  const done = tcuEmulator(argv, { stdin: new PassThrough(), stdout, stderr, stop: stop.signal, isTTY: false });
  return { stop, done, paths, err: () => err };
}

describe.skipIf(!haveSocat)('modem simulator on a socat pty', () => {
  it('tcu-emulator modem prints the agent paths; AT commands and NMEA over real ptys; AT+CFUN=1,1 makes the port vanish and return', async () => {
    const at = join(dir, 'ttyUSB2');
    const nmea = join(dir, 'ttyUSB1');
    const emu = runEmulator(['modem', '--pty', at, '--nmea-pty', nmea, '--seed', '4', '--reset-down', '1']);
    expect(await emu.paths).toEqual([at, nmea]);

    const modem = await LineReader.open(at);
    expect(await modem.command('ATE0')).toEqual({ lines: [], final: 'OK' });
    expect(await modem.command('ATI')).toEqual({ lines: ['Quectel', 'RM500Q-GL', 'Revision: RM500QGLABR11A06M4G'], final: 'OK' });
    expect(await modem.command('AT+CPIN?')).toEqual({ lines: ['+CPIN: READY'], final: 'OK' });
    expect(await modem.command('AT+COPS?')).toEqual({ lines: ['+COPS: 0,0,"Vodafone.de",7'], final: 'OK' });
    expect((await modem.command('AT+CSQ')).lines[0]).toMatch(/^\+CSQ: \d+,99$/);
    expect(await modem.command('AT+NOPE')).toEqual({ lines: [], final: '+CME ERROR: 4' });

    const gnss = await LineReader.open(nmea);
    await until('NMEA sentences', () => gnss.lines.filter((l) => l.startsWith('$GPGGA')).length >= 2, 4000);
    for (const line of gnss.lines.slice(1)) {
      const m = /^\$([^*]*)\*([0-9A-F]{2})$/.exec(line);
      expect(m && nmeaChecksum(m[1]!) === m[2], line).toBe(true);
    }

    expect(await modem.command('AT+CFUN=1,1')).toEqual({ lines: [], final: 'OK' });
    await until('the AT port to vanish', () => !existsSync(at));
    await until('the NMEA port to vanish too', () => !existsSync(nmea));
    await until('the agent end to report the loss', () => modem.closedWith !== undefined);
    expect(modem.closedWith).toMatchObject({ disconnected: true });
    await until('the AT port to come back', () => existsSync(at));
    const again = await LineReader.open(at);
    await until('RDY', () => again.lines.includes('RDY'));
    await until('the SIM codes', () => again.lines.includes('+QUSIM: 1'));
    expect(again.lines).toEqual(['RDY', '+CFUN: 1', '+CPIN: READY', '+QUSIM: 1']);
    expect(await again.command('AT')).toEqual({ lines: [], final: 'OK' });
    expect(again.lines).toContain('AT'); // echo is back on after the reset
    await again.close();
    await gnss.close();

    emu.stop.abort();
    expect(await emu.done).toBe(0);
    expect(existsSync(at)).toBe(false);
    expect(emu.err()).toMatch(/"event":"stopped".*"resets":1/);
  });

  it('the reboot scenario makes the path vanish and come back on its own', async () => {
    const link = join(dir, 'reboot');
    const sim = new ModemSimulator({ clock: systemClock(), seed: 2, scenario: { ...findScenario('reboot'), crashes: { firstAtMs: 300, everyMs: 60_000 } }, resetDownMs: 800 });
    const pty = new ModemPty({ sim, atLink: link });
    await pty.start();
    sim.start();
    try {
      const modem = await LineReader.open(link);
      expect((await modem.command('AT+CGMM')).lines).toEqual(['RM500Q-GL']);
      await until('the path to vanish', () => !existsSync(link));
      await until('the agent end to be told', () => modem.closedWith !== undefined);
      await until('the path to return', () => existsSync(link));
      const again = await LineReader.open(link);
      await until('RDY', () => again.lines.includes('RDY'));
      expect((await again.command('AT+CGMI')).lines).toEqual(['Quectel']);
      await again.close();
    } finally {
      sim.stop();
      await pty.stop();
    }
    expect(existsSync(link)).toBe(false);
  });

  it('refuses to put a pty over a file that is not a symbolic link (exit 2), and reports a missing socat', async () => {
    const file = join(dir, 'regular-file');
    writeFileSync(file, 'keep me');
    const emu = runEmulator(['modem', '--pty', file]);
    expect(await emu.done).toBe(2);
    expect(emu.err()).toMatch(/EMULATOR_CONFIG: .*not a symbolic link/);
    expect(existsSync(file)).toBe(true);

    const pair = new PtyPair({ link: join(dir, 'no-socat'), socat: join(dir, 'no-such-socat') });
    const failure = await pair.open().then(() => undefined, (err: unknown) => err);
    expect(isTcuError(failure, 'EMULATOR_LISTEN')).toBe(true);
    await pair.dispose();
  });
});
