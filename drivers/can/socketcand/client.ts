import { connect as netConnect, type Socket } from 'node:net';
import type { Clock, TimerHandle } from '../../../core/clock.js';
import { systemClock } from '../../../core/clock.js';
import { TcuError, asTcuError } from '../../../core/errors.js';
import type { Logger } from '../../../core/logger.js';
import { BusBase } from '../bus.js';
import type { CanFrame } from '../frame.js';
import { SocketcandParser, encodeOpen, encodeSend, encodeSimple, type SocketcandMessage } from './protocol.js';

export interface ReconnectOptions {
  /** First delay after a loss. Default 250 ms. */
  initialMs?: number;
  /** The delay doubles per failed attempt up to this. Default 15 000 ms. */
  maxMs?: number;
  /** Each delay is spread by ± this fraction at random, so a fleet does not reconnect in step. Default 0.2. */
  jitter?: number;
}

export interface SocketcandBusOptions {
  host: string;
  port: number;
  /** The remote interface to open (`vcan0`). */
  bus: string;
  /** The local bus name frames are stamped with. Default: `bus`. */
  name?: string;
  reconnect?: ReconnectOptions;
  /** How long one attempt (TCP connect plus handshake) may take. Default 5000 ms. */
  connectTimeoutMs?: number;
  /**
   * false (default): open() rejects with SOCKETCAND_CONNECT when the very first attempt fails, so a
   * wrong host or port shows at start. true: open() keeps retrying with back-off until a session is up.
   * Either way, once a session has been up, losses are retried forever until close().
   */
  waitForServer?: boolean;
  /** Reconnect when this many malformed elements arrive in a row (the peer is not socketcand). Default 100. */
  maxConsecutiveMalformed?: number;
  /** send() rejects with CAN_SEND_FAILED while more than this many bytes wait in the socket. Default 1 MiB. */
  maxSendBufferBytes?: number;
  clock?: Clock;
  logger?: Logger;
  /** Randomness for the jitter, in [0, 1). Default Math.random. */
  random?: () => number;
}

type Phase = 'idle' | 'connecting' | 'hi' | 'open' | 'rawmode' | 'raw';

/** Exponential back-off with jitter: attempt 0 waits about initialMs, then twice as long each time, up to maxMs. */
export function backoffDelay(attempt: number, options: ReconnectOptions = {}, random: () => number = Math.random): number {
  const initial = options.initialMs ?? 250;
  const max = options.maxMs ?? 15_000;
  const jitter = Math.min(1, Math.max(0, options.jitter ?? 0.2));
  const base = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  return Math.max(0, Math.round(base * (1 + jitter * (2 * random() - 1))));
}

/**
 * A CAN bus reached through a socketcand server in raw mode. Does the handshake
 * (`< hi >` → `< open BUS >` → `< ok >` → `< rawmode >` → `< ok >`), delivers frames, sends frames, and
 * on connection loss or protocol trouble reconnects with exponential back-off and jitter (state
 * `reconnecting`, counter `reconnects` = sessions re-established), forever until close().
 * Malformed elements are counted in `rxMalformed` and reported through `error`, never fatal.
 */
export class SocketcandBus extends BusBase {
  private readonly clock: Clock;
  private readonly parser: SocketcandParser;
  private readonly connectTimeoutMs: number;
  private socket: Socket | undefined;
  /** Incremented per attempt; events of older sockets are ignored. */
  private session = 0;
  private phase: Phase = 'idle';
  private attempt = 0;
  private closing = false;
  private consecutiveMalformed = 0;
  private attemptTimer: TimerHandle | undefined;
  private retryTimer: TimerHandle | undefined;
  private firstOpen: { resolve: () => void; reject: (err: TcuError) => void } | undefined;

  constructor(private readonly options: SocketcandBusOptions) {
    super(options.name ?? options.bus);
    this.clock = options.clock ?? systemClock();
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    this.parser = new SocketcandParser({
      bus: this.name,
      onMessage: (m) => this.message(m),
      onError: (err) => this.malformed(err),
    });
  }

  protected doOpen(): Promise<void> {
    this.closing = false;
    this.attempt = 0;
    return new Promise<void>((resolve, reject) => {
      this.firstOpen = { resolve, reject };
      this.connect();
    });
  }

  protected async doClose(): Promise<void> {
    this.closing = true;
    this.session++;
    this.phase = 'idle';
    this.clearTimers();
    const first = this.firstOpen;
    this.firstOpen = undefined;
    first?.reject(new TcuError('SOCKETCAND_CONNECT', `bus ${this.name} was closed before a socketcand session was up`));
    const socket = this.socket;
    this.socket = undefined;
    if (socket && !socket.destroyed) {
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.destroy();
      await closed;
    }
  }

  protected async doSend(frame: CanFrame): Promise<void> {
    const socket = this.socket;
    if (this.phase !== 'raw' || !socket) {
      throw new TcuError('CAN_SEND_FAILED', `bus ${this.name}: no socketcand session`, { details: { bus: this.name } });
    }
    const max = this.options.maxSendBufferBytes ?? 1024 * 1024;
    if (socket.writableLength > max) {
      throw new TcuError('CAN_SEND_FAILED', `bus ${this.name}: ${socket.writableLength} bytes wait for the socketcand server; frame dropped`, {
        details: { bus: this.name },
      });
    }
    socket.write(encodeSend(frame));
  }

  private connect(): void {
    const id = ++this.session;
    const { host, port } = this.options;
    this.parser.reset();
    this.consecutiveMalformed = 0;
    this.phase = 'connecting';
    const socket = netConnect({ host, port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 5000);
    this.attemptTimer = this.clock.setTimeout(() => {
      this.fail(id, new TcuError('SOCKETCAND_CONNECT', `no socketcand session with ${host}:${port} within ${this.connectTimeoutMs} ms`));
    }, this.connectTimeoutMs);
    socket.on('connect', () => {
      if (id === this.session) this.phase = 'hi';
    });
    socket.on('data', (chunk: Buffer) => {
      if (id === this.session) this.parser.push(chunk);
    });
    socket.on('error', (err) => {
      this.fail(id, asTcuError(err, 'SOCKETCAND_CONNECT', `socketcand ${host}:${port}`));
    });
    socket.on('close', () => {
      const what = this.phase === 'raw' ? 'the connection was closed' : 'the server closed the connection during the handshake';
      this.fail(id, new TcuError('SOCKETCAND_CONNECT', `socketcand ${host}:${port}: ${what}`, { details: { bus: this.name } }));
    });
  }

  private message(m: SocketcandMessage): void {
    const id = this.session;
    switch (this.phase) {
      case 'hi':
        if (m.kind === 'hi') return this.advance('open', encodeOpen(this.options.bus));
        break;
      case 'open':
        if (m.kind === 'ok') return this.advance('rawmode', encodeSimple('rawmode'));
        if (m.kind === 'error') return this.fail(id, this.refused(`open ${this.options.bus}`, m.text));
        break;
      case 'rawmode':
        if (m.kind === 'ok') return this.up();
        if (m.kind === 'error') return this.fail(id, this.refused('rawmode', m.text));
        break;
      case 'raw':
        if (m.kind === 'frame') {
          this.consecutiveMalformed = 0;
          if (this.state === 'open') this.deliver(m.frame);
          return;
        }
        if (m.kind === 'echo' || m.kind === 'ok') return;
        if (m.kind === 'error') {
          this.emitError(new TcuError('SOCKETCAND_PROTOCOL', `socketcand ${this.where()} reported: ${m.text}`, { details: { bus: this.name } }));
          return;
        }
        return this.malformed(new TcuError('SOCKETCAND_PROTOCOL', `unexpected "${m.kind}" element in raw mode`, { details: { bus: this.name } }));
      default:
        return;
    }
    // Anything else during the handshake: this peer does not follow the protocol.
    this.fail(id, new TcuError('SOCKETCAND_PROTOCOL', `socketcand ${this.where()}: unexpected "${m.kind}" element while waiting for ${this.phase === 'hi' ? '< hi >' : '< ok >'}`));
  }

  private advance(phase: Phase, reply: string): void {
    this.phase = phase;
    this.socket?.write(reply);
  }

  private up(): void {
    if (this.attemptTimer !== undefined) this.clock.clearTimeout(this.attemptTimer);
    this.attemptTimer = undefined;
    this.phase = 'raw';
    this.attempt = 0;
    this.options.logger?.info({ bus: this.name, server: this.where(), remoteBus: this.options.bus }, 'socketcand session up');
    // Open now, synchronously: socketcand streams frames right behind the `< ok >`, often in the same
    // TCP read, and the parser hands them over before any promise continuation could run.
    const first = this.firstOpen;
    this.firstOpen = undefined;
    if (!first) this.stats.inc('reconnects');
    this.setState('open');
    first?.resolve();
  }

  private malformed(err: TcuError): void {
    if (this.phase === 'idle') return; // the rest of a chunk from a session already given up
    this.stats.inc('rxMalformed');
    this.emitError(err);
    this.consecutiveMalformed++;
    const max = this.options.maxConsecutiveMalformed ?? 100;
    if (this.consecutiveMalformed >= max) {
      this.fail(this.session, new TcuError('SOCKETCAND_PROTOCOL', `socketcand ${this.where()}: ${max} malformed elements in a row; reconnecting`));
    }
  }

  /** Ends the attempt or session `id`: rejects the first open(), or schedules a reconnection. */
  private fail(id: number, err: TcuError): void {
    if (id !== this.session || this.closing) return;
    this.session++;
    const wasUp = this.phase === 'raw';
    this.phase = 'idle';
    this.clearTimers();
    this.socket?.destroy();
    this.socket = undefined;
    const first = this.firstOpen;
    if (first && !this.options.waitForServer) {
      this.firstOpen = undefined;
      first.reject(err);
      return;
    }
    if (this.state === 'open') this.setState('reconnecting');
    this.emitError(err);
    const delay = backoffDelay(this.attempt++, this.options.reconnect, this.options.random);
    if (wasUp) this.options.logger?.warn({ bus: this.name, server: this.where(), code: err.code, err: err.message, retryMs: delay }, 'socketcand session lost');
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.closing) this.connect();
    }, delay);
  }

  private refused(request: string, text: string): TcuError {
    return new TcuError('SOCKETCAND_CONNECT', `socketcand ${this.where()} refused "${request}": ${text}`, { details: { bus: this.name } });
  }

  private clearTimers(): void {
    if (this.attemptTimer !== undefined) this.clock.clearTimeout(this.attemptTimer);
    if (this.retryTimer !== undefined) this.clock.clearTimeout(this.retryTimer);
    this.attemptTimer = undefined;
    this.retryTimer = undefined;
  }

  private where(): string {
    return `${this.options.host}:${this.options.port}`;
  }
}
