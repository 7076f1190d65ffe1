import type { BindingInterface, BindingPortInterface, OpenOptions, PortInfo, PortStatus, SetOptions, UpdateOptions } from '@serialport/bindings-interface' with { 'resolution-mode': 'require' };
import type { Unsubscribe } from './listeners.js';
import type { ModemSimulator } from './simulator.js';

/**
 * The emulator's serialport binding: `new SerialPortStream({ binding, path, baudRate })` opens a
 * port connected straight to a ModemSimulator in the same process, no pseudo-terminal needed.
 * `<prefix>/at` is the AT port, `<prefix>/nmea` the NMEA port. While the simulated modem resets
 * the ports behave like a USB device that went away: reads and writes fail (the stream reports a
 * disconnect), and open fails with ENOENT until the modem is back.
 */

export interface ModemSimBindingOptions {
  /** Path prefix of the two ports. Default `sim://modem`. */
  prefix?: string;
  /** Bytes kept for a port that is not being read before the oldest are dropped. Default 1 MiB. */
  maxBufferedBytes?: number;
}

type Channel = 'at' | 'nmea';

class BindingError extends Error {
  constructor(
    message: string,
    readonly canceled: boolean,
    readonly code?: string,
  ) {
    super(message);
  }
}

export class ModemSimPortBinding implements BindingPortInterface {
  readonly openOptions: Required<OpenOptions>;
  /** Bytes dropped because nobody read them. */
  dropped = 0;
  private state: 'open' | 'vanished' | 'closed' = 'open';
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  private pendingRead: (() => void) | undefined;
  private readonly unsubscribe: Unsubscribe[];

  constructor(
    private readonly sim: ModemSimulator,
    private readonly channel: Channel,
    options: OpenOptions,
    private readonly maxBufferedBytes: number,
    private readonly onClosed: () => void,
  ) {
    this.openOptions = { dataBits: 8, lock: true, stopBits: 1, parity: 'none', rtscts: false, xon: false, xoff: false, xany: false, hupcl: true, ...options };
    const source = channel === 'at' ? sim.onData.bind(sim) : sim.onNmea.bind(sim);
    this.unsubscribe = [source((chunk) => this.deliver(chunk)), sim.onPort((state) => state === 'down' && this.vanish())];
  }

  /** Still true after the modem vanished, as for a real device: reads and writes fail until close(). */
  get isOpen(): boolean {
    return this.state !== 'closed';
  }

  async read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }> {
    for (;;) {
      this.assertUsable();
      const first = this.chunks[0];
      if (first) {
        const n = Math.min(length, first.length);
        first.copy(buffer, offset, 0, n);
        if (n === first.length) this.chunks.shift();
        else this.chunks[0] = first.subarray(n);
        this.buffered -= n;
        return { buffer, bytesRead: n };
      }
      await new Promise<void>((resolve) => (this.pendingRead = resolve));
    }
  }

  async write(buffer: Buffer): Promise<void> {
    this.assertUsable();
    const copy = Buffer.from(buffer);
    // Bytes reach the modem after the write returns, as through a driver's buffer.
    await Promise.resolve();
    if (this.channel === 'at' && this.state === 'open') this.sim.receive(copy);
  }

  async update(_options: UpdateOptions): Promise<void> {
    this.assertUsable();
  }

  async set(_options: SetOptions): Promise<void> {
    this.assertUsable();
  }

  async get(): Promise<PortStatus> {
    this.assertUsable();
    return { cts: true, dsr: true, dcd: false };
  }

  async getBaudRate(): Promise<{ baudRate: number }> {
    this.assertUsable();
    return { baudRate: this.openOptions.baudRate };
  }

  async flush(): Promise<void> {
    this.assertUsable();
    this.chunks.length = 0;
    this.buffered = 0;
  }

  async drain(): Promise<void> {
    this.assertUsable();
  }

  /** Closes the port; after the modem vanished this only releases it. */
  async close(): Promise<void> {
    if (this.state === 'closed') throw new BindingError('Port is not open', false);
    const wasOpen = this.state === 'open';
    this.state = 'closed';
    if (wasOpen) this.teardown();
    this.wake();
  }

  /** Reads and writes in flight end: cancelled after close(), a disconnect after the modem vanished. */
  private assertUsable(): void {
    if (this.state === 'closed') throw new BindingError('Port is not open', true);
    if (this.state === 'vanished') throw new BindingError(`the modem at ${this.openOptions.path} went away (EIO)`, false, 'EIO');
  }

  private deliver(chunk: Buffer): void {
    if (this.state !== 'open') return;
    this.chunks.push(Buffer.from(chunk));
    this.buffered += chunk.length;
    while (this.buffered > this.maxBufferedBytes && this.chunks.length > 1) {
      const old = this.chunks.shift()!;
      this.buffered -= old.length;
      this.dropped += old.length;
    }
    this.wake();
  }

  private vanish(): void {
    if (this.state !== 'open') return;
    this.state = 'vanished';
    this.teardown();
    this.wake();
  }

  private teardown(): void {
    for (const u of this.unsubscribe) u();
    this.chunks.length = 0;
    this.buffered = 0;
    this.onClosed();
  }

  private wake(): void {
    const pending = this.pendingRead;
    this.pendingRead = undefined;
    pending?.();
  }
}

/** A serialport binding whose ports are a simulated modem's AT and NMEA ports. */
export function modemSimBinding(sim: ModemSimulator, options: ModemSimBindingOptions = {}): BindingInterface<ModemSimPortBinding> {
  const prefix = options.prefix ?? 'sim://modem';
  const paths: Record<string, Channel> = { [`${prefix}/at`]: 'at', [`${prefix}/nmea`]: 'nmea' };
  const open = new Set<string>();
  return {
    async list(): Promise<PortInfo[]> {
      return Object.keys(paths).map((path) => ({
        path, manufacturer: sim.identity.manufacturer, serialNumber: sim.identity.imei, pnpId: undefined, locationId: undefined, productId: '0800', vendorId: '2c7c',
      }));
    },
    async open(openOptions: OpenOptions): Promise<ModemSimPortBinding> {
      await Promise.resolve();
      const channel = paths[openOptions.path];
      if (!channel || sim.portState === 'down') throw new BindingError(`ENOENT: no such file or directory, cannot open ${openOptions.path}`, false, 'ENOENT');
      if (open.has(openOptions.path) && openOptions.lock !== false) throw new BindingError(`Error Resource temporarily unavailable Cannot lock port ${openOptions.path}`, false, 'EBUSY');
      open.add(openOptions.path);
      return new ModemSimPortBinding(sim, channel, openOptions, options.maxBufferedBytes ?? 1 << 20, () => open.delete(openOptions.path));
    },
  };
}
