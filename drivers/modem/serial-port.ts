/**
 * An AtPort over a serial device with serialport's `SerialPortStream`. The binding is injected: the
 * composition root passes `autoDetect()` from `@serialport/bindings-cpp` (a real tty, or a socat
 * pseudo-terminal in tests and in the emulator); tests may pass `@serialport/binding-mock`.
 *
 * Each open() makes a fresh stream, so the port can be reopened after the device vanished (a USB
 * modem re-enumerating). Reopening is the engine's supervisor's job (`at/supervisor.ts`); this
 * class only reports what happened:
 * - open errors become AT_PORT_OPEN with a message for people: a missing device (ENOENT), a
 *   permission problem (EACCES: names the path and the dialout group), a busy or locked port;
 * - a close we did not ask for (serialport's `close` event with a DisconnectedError, `disconnected:
 *   true`, when the device went away) becomes onClose({ unexpected: true, error: AT_PORT_CLOSED });
 * - writes that were pending when the port closed reject with AT_PORT_CLOSED (serialport itself
 *   would keep them queued until a next open that never comes for that stream).
 */
import type { BindingInterface } from '@serialport/bindings-interface' with { 'resolution-mode': 'require' };
import { SerialPortStream } from '@serialport/stream';
import { TcuError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { AtPort, Unsubscribe } from './types.js';

/** A serialport binding (`autoDetect()` of @serialport/bindings-cpp, the emulator's, a mock). */
export type SerialBinding = BindingInterface;

export interface SerialAtPortOptions {
  /** `/dev/ttyUSB2`, `/dev/serial/by-id/usb-Quectel_EG25-if02-port0`, a pty. */
  path: string;
  /** Default 115200 (USB modems ignore it; UART-attached ones need it right). */
  baudRate?: number;
  /** The serialport binding: `autoDetect()` from @serialport/bindings-cpp, or a mock. */
  binding: BindingInterface;
  logger?: Logger;
}

export type PortOpenReason = 'missing' | 'permission' | 'busy' | 'not-a-tty' | 'other';

/** Turns what the binding threw on open into AT_PORT_OPEN with a message that says what to do. */
export function portOpenError(path: string, err: unknown): TcuError {
  const text = err instanceof Error ? err.message : String(err);
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  const has = (re: RegExp, errno: string): boolean => re.test(text) || code === errno;
  let reason: PortOpenReason = 'other';
  let message = `cannot open the modem port ${path}: ${text}`;
  if (has(/no such file or directory|no such device/i, 'ENOENT') || code === 'ENXIO' || code === 'ENODEV') {
    reason = 'missing';
    message = `the modem port ${path} does not exist: the modem is not connected, not enumerated yet (USB modems appear as /dev/ttyUSB* and /dev/serial/by-id/*), or the path is wrong`;
  } else if (has(/permission denied|operation not permitted/i, 'EACCES') || code === 'EPERM') {
    reason = 'permission';
    message = `permission denied opening the modem port ${path}: the user running the agent needs read and write access, usually by being in the "dialout" group (sudo usermod -aG dialout <user>, then log in again; in a systemd unit, SupplementaryGroups=dialout)`;
  } else if (has(/busy|cannot lock port|temporarily unavailable/i, 'EBUSY')) {
    reason = 'busy';
    message = `the modem port ${path} is busy or locked by another program (ModemManager probes modem ports: stop it or tag the device with ID_MM_DEVICE_IGNORE)`;
  } else if (has(/inappropriate ioctl/i, 'ENOTTY')) {
    reason = 'not-a-tty';
    message = `${path} is not a serial port (a terminal device is needed)`;
  }
  return new TcuError('AT_PORT_OPEN', message, { details: { path, reason }, cause: err });
}

interface PendingWrite {
  resolve: () => void;
  reject: (err: TcuError) => void;
}

export class SerialAtPort implements AtPort {
  readonly path: string;
  private stream: SerialPortStream | undefined;
  private closing = false;
  private writes = new Set<PendingWrite>();
  private dataListeners: ((chunk: Buffer) => void)[] = [];
  private closeListeners: ((info: { unexpected: boolean; error?: TcuError }) => void)[] = [];

  constructor(private readonly options: SerialAtPortOptions) {
    this.path = options.path;
  }

  get isOpen(): boolean {
    return this.stream?.isOpen ?? false;
  }

  /** Rejects with AT_PORT_OPEN (see `portOpenError`). Resolves at once when already open. */
  async open(): Promise<void> {
    if (this.stream) {
      if (this.stream.isOpen) return;
      throw new TcuError('AT_PORT_OPEN', `the modem port ${this.path} is already opening or closing`, { details: { path: this.path, reason: 'busy' } });
    }
    const stream = new SerialPortStream({ binding: this.options.binding, path: this.path, baudRate: this.options.baudRate ?? 115200, autoOpen: false });
    this.stream = stream;
    this.closing = false;
    stream.on('data', (chunk: Buffer) => {
      if (stream !== this.stream) return;
      for (const l of [...this.dataListeners]) {
        try {
          l(chunk);
        } catch (err) {
          this.options.logger?.error({ path: this.path, err: String(err) }, 'a data listener of the modem port threw');
        }
      }
    });
    stream.on('close', (err: unknown) => this.streamClosed(stream, err));
    stream.on('error', (err: Error) => {
      // Write errors arrive here too (the write's own promise rejects as well). A stream that is no
      // longer open after an error is gone: treat it as closed.
      this.options.logger?.debug({ path: this.path, err: err.message }, 'serial port error');
      if (!stream.isOpen && !stream.opening) this.streamClosed(stream, err);
    });
    try {
      await new Promise<void>((resolve, reject) => stream.open((err) => (err ? reject(err) : resolve())));
    } catch (err) {
      if (this.stream === stream) this.stream = undefined;
      throw portOpenError(this.path, err);
    }
  }

  /** Resolves once serialport handed the bytes to the OS. Rejects with AT_PORT_CLOSED when not open or when the port closes first. */
  write(data: string | Uint8Array): Promise<void> {
    const stream = this.stream;
    if (!stream || !stream.isOpen) {
      // A binding whose port stopped being open without a close event (serialport only emits
      // `close` for a disconnect while the port still reports open): the device is gone all the same.
      if (stream && !stream.opening && !this.closing) this.streamClosed(stream, new Error('the port stopped reporting open'));
      return Promise.reject(new TcuError('AT_PORT_CLOSED', `the modem port ${this.path} is not open`, { details: { path: this.path } }));
    }
    return new Promise<void>((resolve, reject) => {
      const entry: PendingWrite = { resolve, reject };
      this.writes.add(entry);
      stream.write(typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength), (err) => {
        if (!this.writes.delete(entry)) return;
        if (err) reject(new TcuError('AT_PORT_CLOSED', `writing to the modem port ${this.path} failed: ${err.message}`, { details: { path: this.path }, cause: err }));
        else resolve();
      });
    });
  }

  /** Closes the port; onClose listeners hear `unexpected: false`. Resolves when closed. */
  async close(): Promise<void> {
    const stream = this.stream;
    if (!stream) return;
    this.closing = true;
    if (!stream.isOpen) {
      this.streamClosed(stream, undefined);
      return;
    }
    await new Promise<void>((resolve) => {
      stream.close(() => resolve());
    });
    this.streamClosed(stream, undefined); // no-op when the close event already did it
  }

  onData(listener: (chunk: Buffer) => void): Unsubscribe {
    this.dataListeners.push(listener);
    return () => (this.dataListeners = this.dataListeners.filter((l) => l !== listener));
  }

  onClose(listener: (info: { unexpected: boolean; error?: TcuError }) => void): Unsubscribe {
    this.closeListeners.push(listener);
    return () => (this.closeListeners = this.closeListeners.filter((l) => l !== listener));
  }

  private streamClosed(stream: SerialPortStream, err: unknown): void {
    if (stream !== this.stream) return; // an older stream, or already handled
    this.stream = undefined;
    const unexpected = !this.closing;
    this.closing = false;
    const pending = [...this.writes];
    this.writes.clear();
    for (const w of pending) w.reject(new TcuError('AT_PORT_CLOSED', `the modem port ${this.path} closed before a write completed`, { details: { path: this.path } }));
    // A port lost without serialport closing it may still hold its descriptor or lock: release it
    // (a second close of an already closed port just rejects, and is ignored).
    if (unexpected && stream.port && !stream.closing) stream.port.close().catch(() => undefined);
    const disconnected = typeof err === 'object' && err !== null && (err as { disconnected?: unknown }).disconnected === true;
    const error = unexpected
      ? new TcuError('AT_PORT_CLOSED', `the modem port ${this.path} closed${disconnected ? ': the device was removed' : ''}${err instanceof Error ? ` (${err.message})` : ''}`, {
          details: { path: this.path, disconnected },
          cause: err,
        })
      : undefined;
    if (unexpected) this.options.logger?.warn({ path: this.path, disconnected, code: 'AT_PORT_CLOSED' }, 'modem port closed unexpectedly');
    for (const l of [...this.closeListeners]) {
      try {
        l(error ? { unexpected, error } : { unexpected });
      } catch (listenerErr) {
        this.options.logger?.error({ path: this.path, err: String(listenerErr) }, 'a close listener of the modem port threw');
      }
    }
  }
}
