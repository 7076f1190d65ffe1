import { existsSync, readFileSync } from 'node:fs';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { systemClock } from '../../core/clock.js';
import { TcuError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { CanFilter } from './bus.js';
import { BusBase } from './bus.js';
import type { CanFrame } from './frame.js';
import { CAN_MAX_DLEN } from './frame.js';

/** What the diagnosis reads; injected so it can be tested without a CAN kernel. */
export interface SystemFiles {
  exists(path: string): boolean;
  /** The file's text, or undefined when it cannot be read. */
  read(path: string): string | undefined;
}

export function realSystemFiles(): SystemFiles {
  return {
    exists: (path) => existsSync(path),
    read: (path) => {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return undefined;
      }
    },
  };
}

export interface SocketCanDiagnosis {
  /** Why a CAN_RAW socket on the interface cannot work; undefined when nothing is known to be missing. */
  fatal?: string;
  /** Things that let open() succeed but keep frames from flowing (the interface is down). */
  warnings: string[];
}

const ARPHRD_CAN = 280;
const IFF_UP = 0x1;
const VCAN_HINT = 'for a virtual bus: modprobe vcan && ip link add dev vcan0 type vcan && ip link set up vcan0';

/**
 * Explains, in words an integrator can act on, why SocketCAN is not usable for `iface`: the kernel
 * has no CAN support (no CAN_RAW in /proc/net/protocols, modules can / can_raw not loaded), the
 * interface does not exist, is not a CAN interface, or is down. Pure apart from the injected reads.
 */
export function diagnoseSocketCan(iface: string, files: SystemFiles, platform: string = process.platform): SocketCanDiagnosis {
  const warnings: string[] = [];
  if (platform !== 'linux') {
    return { fatal: `SocketCAN exists only on Linux, not on ${platform}; use a socketcand server or a candump log instead`, warnings };
  }
  const protocols = files.read('/proc/net/protocols');
  const hasCanRaw = protocols !== undefined && /^CAN_RAW\s/m.test(protocols);
  if (!hasCanRaw) {
    const can = files.exists('/sys/module/can');
    const canRaw = files.exists('/sys/module/can_raw');
    // With /proc unreadable and no module directories we still cannot claim CAN works.
    if (!canRaw) {
      const missing = can ? 'module can_raw is not loaded (modprobe can_raw' : 'modules can and can_raw are not loaded (modprobe can can_raw';
      return { fatal: `the kernel has no CAN support: ${missing}; ${VCAN_HINT})`, warnings };
    }
  }
  const dir = `/sys/class/net/${iface}`;
  if (iface.length === 0 || iface.includes('/') || !files.exists(dir)) {
    const hint = iface.startsWith('vcan')
      ? `create it: modprobe vcan && ip link add dev ${iface} type vcan && ip link set up ${iface}`
      : `check the CAN controller's driver and device tree, and "ip link show" for the names that exist`;
    return { fatal: `interface ${iface} does not exist (${hint})`, warnings };
  }
  const type = Number.parseInt(files.read(`${dir}/type`)?.trim() ?? '', 10);
  if (Number.isInteger(type) && type !== ARPHRD_CAN) {
    return { fatal: `interface ${iface} is not a CAN interface (link type ${type}, CAN is ${ARPHRD_CAN})`, warnings };
  }
  const flags = Number.parseInt(files.read(`${dir}/flags`)?.trim() ?? '', 16);
  if (Number.isInteger(flags) && (flags & IFF_UP) === 0) {
    warnings.push(
      iface.startsWith('vcan')
        ? `interface ${iface} is down (ip link set up ${iface})`
        : `interface ${iface} is down (ip link set ${iface} up type can bitrate 500000, with the bus's bit rate)`,
    );
  }
  return { warnings };
}

// The parts of the socketcan addon (v4.0.x) this driver uses.
interface AddonMessage {
  id: number;
  ext?: boolean;
  rtr?: boolean;
  err?: boolean;
  data: Buffer;
  ts_sec?: number;
  ts_usec?: number;
}
interface AddonChannel {
  addListener(event: 'onMessage' | 'onStopped', callback: (...args: never[]) => void): void;
  start(): void;
  stop(): void;
  send(message: { id: number; ext: boolean; rtr: boolean; data: Buffer }): number;
  sendFD(message: { id: number; ext: boolean; fd_brs: boolean; data: Buffer }): number;
  setRxFilters(filters: { id: number; mask: number; invert: boolean }[]): void;
}
/** The module's shape, injectable for tests. */
export interface SocketCanAddon {
  createRawChannelWithOptions(iface: string, options: { timestamps?: boolean; non_block_send?: boolean }): AddonChannel;
}

export interface SocketCanBusOptions {
  /** The kernel interface (`can0`, `vcan0`). */
  iface: string;
  /** The bus name frames are stamped with. Default: `iface`. */
  name?: string;
  /** Kernel receive filters (fewer wake-ups on a busy bus); subscribers filter as well. */
  kernelFilters?: readonly CanFilter[];
  /** Take receive times from the kernel (SIOCGSTAMP). Default true; otherwise the clock's time. */
  kernelTimestamps?: boolean;
  /** After the interface goes away, retry opening it with back-off from this delay. Default 500 ms. */
  reopenInitialMs?: number;
  /** Upper bound for the reopen delay. Default 10 000 ms. */
  reopenMaxMs?: number;
  clock?: Clock;
  logger?: Logger;
  /** Injected for tests; default: the files of this machine. */
  files?: SystemFiles;
  /** Injected for tests; default: `import('socketcan')`. */
  loadAddon?: () => Promise<SocketCanAddon>;
}

const CAN_EFF_FLAG = 0x80000000;

/**
 * A CAN bus on a SocketCAN interface through the `socketcan` addon, loaded on first open so machines
 * without it still run everything else. When the kernel or the interface is missing, open() rejects
 * with SOCKETCAN_UNAVAILABLE and says what to do. If the interface disappears later, the bus goes
 * `reconnecting` and reopens it with back-off. Limits of the addon (v4.0.7): a received CAN FD frame
 * is recognised by a payload over 8 bytes (an FD frame of 8 bytes or fewer arrives as classic) and
 * carries no BRS/ESI flags; sending FD sets BRS but cannot set ESI.
 */
export class SocketCanBus extends BusBase {
  private readonly clock: Clock;
  private readonly files: SystemFiles;
  private channel: AddonChannel | undefined;
  private addon: SocketCanAddon | undefined;
  /** Bumped whenever the channel is replaced, so a stale onStopped is ignored. */
  private generation = 0;
  private reopenAttempt = 0;
  private reopenTimer: TimerHandle | undefined;

  constructor(private readonly options: SocketCanBusOptions) {
    super(options.name ?? options.iface);
    this.clock = options.clock ?? systemClock();
    this.files = options.files ?? realSystemFiles();
  }

  protected async doOpen(): Promise<void> {
    this.addon ??= await this.load();
    this.channel = this.createChannel(this.addon);
    this.reopenAttempt = 0;
  }

  protected async doClose(): Promise<void> {
    if (this.reopenTimer !== undefined) this.clock.clearTimeout(this.reopenTimer);
    this.reopenTimer = undefined;
    this.generation++;
    const channel = this.channel;
    this.channel = undefined;
    if (channel) {
      stopQuietly(channel);
      retire(channel);
    }
  }

  protected async doSend(frame: CanFrame): Promise<void> {
    const channel = this.channel;
    if (!channel) throw new TcuError('CAN_SEND_FAILED', `bus ${this.name}: interface ${this.options.iface} is not open`, { details: { bus: this.name } });
    if (frame.err) throw new TcuError('CAN_FRAME_INVALID', 'error frames are generated by the controller and cannot be sent');
    const data = Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength);
    let written: number;
    try {
      written = frame.fd
        ? channel.sendFD({ id: frame.id, ext: frame.ext, fd_brs: frame.brs, data })
        : channel.send({ id: frame.id, ext: frame.ext, rtr: frame.rtr, data: frame.rtr ? Buffer.alloc(frame.data.length) : data });
    } catch (err) {
      throw new TcuError('CAN_SEND_FAILED', `bus ${this.name}: ${err instanceof Error ? err.message : String(err)}`, { cause: err, details: { bus: this.name } });
    }
    if (written < 0) {
      throw new TcuError('CAN_SEND_FAILED', `bus ${this.name}: the kernel refused the frame (transmit queue full, interface down or bus-off)`, {
        details: { bus: this.name, id: frame.id },
      });
    }
  }

  private async load(): Promise<SocketCanAddon> {
    if (this.options.loadAddon) return this.options.loadAddon();
    const platformProblem = diagnoseSocketCan(this.options.iface, this.files).fatal;
    try {
      const mod: { default?: unknown } & Record<string, unknown> = await import('socketcan');
      const addon = (typeof mod.createRawChannelWithOptions === 'function' ? mod : mod.default) as SocketCanAddon | undefined;
      if (!addon || typeof addon.createRawChannelWithOptions !== 'function') throw new Error('unexpected module shape');
      return addon;
    } catch (err) {
      const why = platformProblem ?? `the socketcan native addon could not be loaded (${err instanceof Error ? err.message : String(err)})`;
      throw new TcuError('SOCKETCAN_UNAVAILABLE', `cannot open ${this.options.iface}: ${why}`, { cause: err, details: { iface: this.options.iface } });
    }
  }

  /** Opens a raw channel, or throws SOCKETCAN_UNAVAILABLE with the diagnosis instead of the addon's message. */
  private createChannel(addon: SocketCanAddon): AddonChannel {
    const iface = this.options.iface;
    let channel: AddonChannel;
    try {
      channel = addon.createRawChannelWithOptions(iface, { timestamps: this.options.kernelTimestamps ?? true, non_block_send: true });
    } catch (err) {
      const diagnosis = diagnoseSocketCan(iface, this.files);
      const why = diagnosis.fatal ?? `a CAN_RAW socket could not be bound to ${iface} (${diagnosis.warnings.join('; ') || 'no cause found in /proc and /sys'})`;
      throw new TcuError('SOCKETCAN_UNAVAILABLE', `cannot open ${iface}: ${why}`, { cause: err, details: { iface } });
    }
    for (const w of diagnoseSocketCan(iface, this.files).warnings) this.options.logger?.warn({ bus: this.name, iface }, w);
    if (this.options.kernelFilters && this.options.kernelFilters.length > 0) channel.setRxFilters(this.options.kernelFilters.map(kernelFilter));
    const generation = ++this.generation;
    channel.addListener('onMessage', ((msg: AddonMessage) => {
      if (generation === this.generation && this.state === 'open') this.deliver(this.toFrame(msg));
    }) as (...args: never[]) => void);
    channel.addListener('onStopped', () => {
      // Not `channel` from this scope: the addon holds its listeners strongly, and a listener
      // holding its channel would keep the channel (and its socket) from ever being collected.
      if (generation === this.generation) this.lost();
    });
    channel.start();
    return channel;
  }

  private toFrame(msg: AddonMessage): CanFrame {
    const data = new Uint8Array(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength);
    const fd = data.length > CAN_MAX_DLEN;
    const ts = msg.ts_sec !== undefined && msg.ts_usec !== undefined ? msg.ts_sec * 1_000_000 + msg.ts_usec : this.clock.nowMicros();
    const rtr = msg.rtr === true && !fd;
    const err = msg.err === true;
    return {
      id: msg.id,
      ext: msg.ext === true || (err && msg.id > 0x7ff),
      fd,
      brs: false,
      esi: false,
      rtr,
      err,
      data,
      ts,
      bus: this.name,
    };
  }

  /** The kernel stopped the channel (interface removed or down): reopen with back-off. */
  private lost(): void {
    if (this.channel) retire(this.channel);
    if (this.state !== 'open' && this.state !== 'reconnecting') return;
    this.generation++;
    this.channel = undefined;
    const diagnosis = diagnoseSocketCan(this.options.iface, this.files);
    const reason = diagnosis.fatal ?? diagnosis.warnings[0] ?? `interface ${this.options.iface} stopped`;
    this.emitError(new TcuError('SOCKETCAN_UNAVAILABLE', `bus ${this.name}: ${reason}; reopening`, { details: { iface: this.options.iface } }));
    this.setState('reconnecting');
    this.scheduleReopen();
  }

  private scheduleReopen(): void {
    const initial = this.options.reopenInitialMs ?? 500;
    const max = this.options.reopenMaxMs ?? 10_000;
    const delay = Math.min(max, initial * 2 ** Math.min(this.reopenAttempt++, 20));
    this.reopenTimer = this.clock.setTimeout(() => {
      this.reopenTimer = undefined;
      if (this.state !== 'reconnecting' || !this.addon) return;
      // Still missing, or down (the only warning there is): the kernel binds a socket to a down
      // interface and fails it at once with ENETDOWN, so reopening now would flap open/reconnecting.
      const diagnosis = diagnoseSocketCan(this.options.iface, this.files);
      if (diagnosis.fatal !== undefined || diagnosis.warnings.length > 0) {
        this.scheduleReopen();
        return;
      }
      try {
        this.channel = this.createChannel(this.addon);
      } catch {
        this.scheduleReopen();
        return;
      }
      this.reopenAttempt = 0;
      this.stats.inc('reconnects');
      this.setState('open');
    }, delay);
  }
}

function kernelFilter(f: CanFilter): { id: number; mask: number; invert: boolean } {
  let id = f.id >>> 0;
  let mask = f.mask >>> 0;
  if (f.ext !== undefined) {
    mask = (mask | CAN_EFF_FLAG) >>> 0;
    if (f.ext) id = (id | CAN_EFF_FLAG) >>> 0;
  }
  return { id, mask, invert: f.invert === true };
}

/**
 * Keeps a stopped channel referenced for a while. When a channel stops, the addon (socketcan
 * 4.0.7) uv_close()s the libuv handles embedded in its native object, and it frees that object
 * when the JavaScript wrapper is garbage-collected, even if the event loop has not yet finished
 * closing the handles: libuv then writes to freed memory, and node aborts (uv__finish_close:
 * Assertion `handle->flags & UV_HANDLE_CLOSING' failed) when a new channel has reused it, as a
 * bus closed and reopened within one turn of the loop does. Found by the VM tests (test/vm/).
 * The timer does not keep the process alive.
 */
function retire(channel: AddonChannel): void {
  setTimeout(() => void channel, 1000).unref();
}

function stopQuietly(channel: AddonChannel): void {
  try {
    channel.stop();
  } catch {
    // "Channel not started": nothing to stop.
  }
}
