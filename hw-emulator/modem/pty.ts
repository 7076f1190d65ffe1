import { spawn, type ChildProcess } from 'node:child_process';
import { lstatSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SerialPort } from 'serialport';
import { TcuError, asTcuError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { Listeners, type Unsubscribe } from './listeners.js';
import type { ModemSimulator } from './simulator.js';

/**
 * Pseudo-terminal transport: socat makes a pty pair, the agent opens one end (a symlink at the
 * path it was given, like /dev/ttyUSB2) and the simulator the other. A modem reset makes the
 * agent's end vanish (socat is stopped, which removes the link) and come back at the same path.
 */

export interface PtyPairOptions {
  /** Where the agent's end appears (a symbolic link socat creates). */
  link: string;
  /** The socat program. Default `socat`. */
  socat?: string;
  /** How long socat may take to create the pair, ms. Default 5000. */
  startTimeoutMs?: number;
  /** Bytes waiting to go into the pty above which writes are dropped (nobody reads the agent's end). Default 64 KiB. */
  maxPendingBytes?: number;
  logger?: Logger;
}

/** Real timers here: socat and the pty are real processes and devices, not simulated ones. */
const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class PtyPair {
  private socat: ChildProcess | undefined;
  private port: SerialPort | undefined;
  private dir: string | undefined;
  private readonly data = new Listeners<Buffer>();
  private readonly lost = new Listeners<TcuError>();
  /** Bytes dropped because the agent's end was not being read, or the pair was down. */
  dropped = 0;

  constructor(private readonly options: PtyPairOptions) {}

  get path(): string {
    return this.options.link;
  }

  get isOpen(): boolean {
    return this.port?.isOpen === true;
  }

  onData(listener: (chunk: Buffer) => void): Unsubscribe {
    return this.data.add(listener);
  }

  /** socat ended on its own (killed from outside): the agent's end is gone until open() again. */
  onLost(listener: (error: TcuError) => void): Unsubscribe {
    return this.lost.add(listener);
  }

  /** Starts socat and opens the simulator's end. Refuses to replace anything at `link` but a symbolic link. */
  async open(): Promise<void> {
    if (this.socat) return;
    const link = this.options.link;
    const existing = lstatOrUndefined(link);
    if (existing && !existing.isSymbolicLink()) {
      throw new TcuError('EMULATOR_CONFIG', `${link} exists and is not a symbolic link; refusing to replace it with a pty`, { details: { link } });
    }
    this.dir ??= mkdtempSync(join(tmpdir(), 'tcu-modem-'));
    const simEnd = join(this.dir, 'modem');
    const args = ['-d', '-d', `pty,raw,echo=0,link=${link}`, `pty,raw,echo=0,link=${simEnd}`];
    const child = spawn(this.options.socat ?? 'socat', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.socat = child;
    let stderr = '';
    let failed: Error | undefined;
    child.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
    child.on('error', (err) => (failed = err));
    child.on('exit', (code, signal) => {
      if (this.socat !== child) return;
      this.socat = undefined;
      if (this.port) this.lost.emit(new TcuError('EMULATOR_LISTEN', `socat for ${link} ended (${signal ?? `exit ${code}`}); the pty is gone`, { details: { link } }));
    });
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 5000);
    while (!stderr.includes('starting data transfer loop')) {
      if (failed || child.exitCode !== null || Date.now() > deadline) {
        await this.stopSocat(child);
        const why = failed ? failed.message : child.exitCode !== null ? `socat exited: ${stderr.trim().split('\n').at(-1) ?? ''}` : 'socat did not start in time';
        throw new TcuError('EMULATOR_LISTEN', `could not create a pty pair at ${link} (${why}); is socat installed?`, { cause: failed, details: { link } });
      }
      await wait(10);
    }
    // Loaded here, so the emulator's other commands never load the native serial binding.
    const { SerialPort } = await import('serialport');
    const port = new SerialPort({ path: simEnd, baudRate: 115200, autoOpen: false });
    try {
      await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
    } catch (err) {
      await this.stopSocat(child);
      throw asTcuError(err, 'EMULATOR_LISTEN', `could not open the simulator's end of the pty pair ${simEnd}`);
    }
    port.on('data', (chunk: Buffer) => this.data.emit(chunk));
    port.on('error', (err) => this.options.logger?.warn({ err: err.message, link }, 'modem pty error'));
    this.port = port;
  }

  /** Writes to the agent's end; dropped (and counted) while the pair is down or the agent is not reading. */
  write(chunk: Buffer): void {
    const port = this.port;
    if (!port?.isOpen || port.writableLength > (this.options.maxPendingBytes ?? 64 * 1024)) {
      this.dropped += chunk.length;
      return;
    }
    port.write(chunk);
  }

  /** Closes the simulator's end and stops socat: the agent's end disappears. */
  async close(): Promise<void> {
    const port = this.port;
    this.port = undefined;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
    if (this.socat) await this.stopSocat(this.socat);
  }

  /** close(), and removes the private folder of the simulator's end. */
  async dispose(): Promise<void> {
    await this.close();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }

  private async stopSocat(child: ChildProcess): Promise<void> {
    if (this.socat === child) this.socat = undefined;
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    // socat removes its links on SIGTERM; SIGKILL only if it hangs.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = await Promise.race([exited.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(resolve, 2000, true)))]);
    clearTimeout(timer);
    if (timedOut) {
      child.kill('SIGKILL');
      await exited;
    }
  }
}

function lstatOrUndefined(path: string): ReturnType<typeof lstatSync> | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

export interface ModemPtyOptions {
  sim: ModemSimulator;
  /** The agent's AT port path. */
  atLink: string;
  /** The agent's NMEA port path, if wanted. */
  nmeaLink?: string;
  socat?: string;
  logger?: Logger;
}

/**
 * Connects a simulator to pty pairs: AT bytes both ways, NMEA out, and the reset behaviour (both
 * ports vanish while the modem is down, then return at the same paths).
 */
export class ModemPty {
  readonly at: PtyPair;
  readonly nmea: PtyPair | undefined;
  private chain: Promise<void> = Promise.resolve();
  private readonly unsubscribe: Unsubscribe[] = [];

  constructor(private readonly options: ModemPtyOptions) {
    const common = { socat: options.socat, logger: options.logger };
    this.at = new PtyPair({ link: options.atLink, ...common });
    this.nmea = options.nmeaLink ? new PtyPair({ link: options.nmeaLink, ...common }) : undefined;
  }

  /** Creates the pairs and starts carrying bytes; resolves with the agent's paths. */
  async start(): Promise<{ at: string; nmea?: string }> {
    const { sim } = this.options;
    try {
      await this.at.open();
      await this.nmea?.open();
    } catch (err) {
      await this.at.dispose();
      await this.nmea?.dispose();
      throw err;
    }
    this.unsubscribe.push(
      this.at.onData((chunk) => sim.receive(chunk)),
      sim.onData((chunk) => this.at.write(chunk)),
      sim.onNmea((chunk) => this.nmea?.write(chunk)),
      sim.onPort((state) => this.enqueue(() => (state === 'down' ? this.closePairs() : this.openPairs()))),
    );
    return { at: this.at.path, ...(this.nmea ? { nmea: this.nmea.path } : {}) };
  }

  async stop(): Promise<void> {
    for (const u of this.unsubscribe.splice(0)) u();
    await this.chain;
    await this.at.dispose();
    await this.nmea?.dispose();
  }

  /** Bytes dropped on the way to the agent (nobody reading, or the ports were down). */
  dropped(): number {
    return this.at.dropped + (this.nmea?.dropped ?? 0);
  }

  onLost(listener: (error: TcuError) => void): Unsubscribe {
    const offs = [this.at.onLost(listener), ...(this.nmea ? [this.nmea.onLost(listener)] : [])];
    return () => offs.forEach((off) => off());
  }

  /** Resolves once the port changes asked for so far have been carried out. */
  settled(): Promise<void> {
    return this.chain;
  }

  private enqueue(step: () => Promise<void>): void {
    this.chain = this.chain.then(step).catch((err: unknown) => {
      this.options.logger?.error({ err: err instanceof Error ? err.message : String(err) }, 'modem pty could not follow a reset');
    });
  }

  private async closePairs(): Promise<void> {
    await this.at.close();
    await this.nmea?.close();
  }

  private async openPairs(): Promise<void> {
    await this.at.open();
    await this.nmea?.open();
  }
}
