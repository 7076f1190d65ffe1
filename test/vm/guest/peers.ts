import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { BusState } from '../../../drivers/can/bus.js';
import { parseCandumpLine } from '../../../drivers/can/candump/format.js';
import type { CanFrame } from '../../../drivers/can/frame.js';
import { SocketCanBus, type SocketCanBusOptions } from '../../../drivers/can/socketcan.js';
import type { TcuError } from '../../../core/errors.js';

declare module 'vitest' {
  interface TaskMeta {
    /** Figures a guest test measured (flood counts, decoded values), carried to the host's report. */
    guest?: Record<string, unknown>;
  }
}

// What the guest tests share: the independent peers (iproute2 and can-utils as processes, the
// kernel's own counters in /sys and /proc) and small waiting helpers. Only the guest runs this.

/** Runs a program; rejects with its standard error. */
export function run(program: string, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(program, args, { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${program} ${args.join(' ')}: ${stderr.trim() || err.message}`, { cause: err }));
      else resolve(stdout);
    });
  });
}

export const ip = (...args: string[]): Promise<string> => run('ip', ...args);
export const cansend = (iface: string, frame: string): Promise<string> => run('cansend', iface, frame);

/** A fresh vcan interface, up, with the CAN FD MTU (72) unless `mtu` says otherwise. */
export async function addVcan(iface: string, mtu = 72): Promise<void> {
  await ip('link', 'del', iface).catch(() => undefined);
  await ip('link', 'add', 'dev', iface, 'type', 'vcan');
  await ip('link', 'set', iface, 'mtu', String(mtu));
  await ip('link', 'set', iface, 'up');
}

export async function removeLink(iface: string): Promise<void> {
  await ip('link', 'del', iface).catch(() => undefined);
}

/** The interface's counters from /sys/class/net/IFACE/statistics. */
export function linkStats(iface: string): { rxPackets: number; txPackets: number; rxDropped: number; txDropped: number } {
  const read = (name: string): number => Number(readFileSync(`/sys/class/net/${iface}/statistics/${name}`, 'utf8'));
  return { rxPackets: read('rx_packets'), txPackets: read('tx_packets'), rxDropped: read('rx_dropped'), txDropped: read('tx_dropped') };
}

/**
 * The CAN_RAW sockets that take every frame of `iface` (no filter: the kernel's `rx_all` list),
 * with the number of frames the kernel handed each (`matches`), from /proc/net/can/rcvlist_all.
 */
export function allFrameReceivers(iface: string): { matches: number; ident: string }[] {
  const text = readFileSync('/proc/net/can/rcvlist_all', 'utf8');
  const out: { matches: number; ident: string }[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    // device can_id can_mask function userdata matches ident
    if (f.length === 7 && f[0] === iface) out.push({ matches: Number(f[5]), ident: f[6]! });
  }
  return out;
}

/** Polls `probe` until it returns something other than undefined or false. */
export async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** candump as an independent receiver: every frame it logs (`-L`), parsed. */
export class Candump {
  readonly frames: CanFrame[] = [];
  private readonly closed: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => this.frames.push(parseCandumpLine(line)));
    this.closed = new Promise((resolve) => child.on('close', () => resolve()));
  }

  /** Starts candump on `iface` and resolves once its socket is registered with the kernel. */
  static async start(iface: string, ...extra: string[]): Promise<Candump> {
    const before = allFrameReceivers(iface).length;
    const dump = new Candump(spawn('candump', ['-L', ...extra, iface], { stdio: ['ignore', 'pipe', 'inherit'] }));
    if (extra.length === 0) await waitFor(`candump's socket on ${iface}`, () => allFrameReceivers(iface).length > before);
    else await new Promise((r) => setTimeout(r, 500)); // with filters it registers elsewhere; give it time
    return dump;
  }

  async waitFrames(n: number, timeoutMs = 10_000): Promise<CanFrame[]> {
    await waitFor(`${n} frames from candump (got ${this.frames.length})`, () => this.frames.length >= n, timeoutMs);
    return this.frames;
  }

  async stop(): Promise<void> {
    this.child.kill('SIGINT');
    await this.closed;
  }
}

/** A SocketCanBus with what a test looks at: frames received, states and errors in order. */
export interface WatchedBus {
  bus: SocketCanBus;
  frames: CanFrame[];
  states: BusState[];
  errors: TcuError[];
}

export function watchBus(options: SocketCanBusOptions): WatchedBus {
  const bus = new SocketCanBus({ reopenInitialMs: 100, reopenMaxMs: 400, ...options });
  const watched: WatchedBus = { bus, frames: [], states: [], errors: [] };
  bus.subscribe((frame) => watched.frames.push(frame));
  bus.on('state', (state) => watched.states.push(state));
  bus.on('error', (err) => watched.errors.push(err));
  return watched;
}

/** Upper-case hex of the bytes, as cansend and candump write payloads. */
export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex').toUpperCase();
}
