import { createServer, type Server, type Socket } from 'node:net';
import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import { Counters } from '../core/counters.js';
import { TcuError, asTcuError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { CanFrame } from '../drivers/can/frame.js';
import {
  SocketcandParser,
  encodeError,
  encodeFrame,
  encodeSimple,
  type SocketcandMessage,
} from '../drivers/can/socketcand/protocol.js';

export interface SocketcandServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 = an ephemeral port (start() tells which). Default 0. */
  port?: number;
  /** The bus names clients may open (`vcan0`, `vcan1`). */
  buses: readonly string[];
  /**
   * Per client: while more than this many bytes wait in its socket, frames (and replies) for it
   * are dropped and counted, so a slow client cannot grow memory. Default 256 KiB.
   */
  highWaterBytes?: number;
  /**
   * A frame one client sends also reaches the other raw-mode clients on the same bus, as it would on
   * a real bus (the sender does not get its own frame back). Default true.
   */
  forwardBetweenClients?: boolean;
  clock?: Clock;
  logger?: Logger;
}

export type SocketcandClientMode = 'nobus' | 'bcm' | 'raw';

export interface SocketcandClientInfo {
  readonly id: number;
  readonly remote: string;
  readonly bus: string | undefined;
  readonly mode: SocketcandClientMode;
  /** Frames and replies dropped for this client because its socket was over the high-water mark. */
  readonly dropped: number;
}

export type ClientFrameListener = (frame: CanFrame, client: SocketcandClientInfo) => void;

export const SOCKETCAND_SERVER_COUNTER_NAMES = ['connections', 'framesSent', 'framesDropped', 'framesReceived', 'badRequests'] as const;
export type SocketcandServerCounterName = (typeof SOCKETCAND_SERVER_COUNTER_NAMES)[number];

interface Connection {
  id: number;
  socket: Socket;
  parser: SocketcandParser;
  remote: string;
  bus: string | undefined;
  mode: SocketcandClientMode;
  dropped: number;
}

/**
 * The emulator's socketcand server: what the agent's SocketcandBus talks to when no CAN hardware is
 * there. Several buses and several clients at once; raw mode plus `send` in BCM mode; other BCM,
 * control and ISO-TP commands are answered with `< error ... >`.
 */
export class SocketcandServer {
  private readonly buses: ReadonlySet<string>;
  private readonly highWater: number;
  private readonly clock: Clock;
  private readonly stats = new Counters(SOCKETCAND_SERVER_COUNTER_NAMES);
  private readonly connections = new Set<Connection>();
  private listeners: ClientFrameListener[] = [];
  private server: Server | undefined;
  private nextId = 1;

  constructor(private readonly options: SocketcandServerOptions) {
    if (options.buses.length === 0) throw new TcuError('EMULATOR_CONFIG', 'a socketcand server needs at least one bus');
    this.buses = new Set(options.buses);
    this.highWater = options.highWaterBytes ?? 256 * 1024;
    this.clock = options.clock ?? systemClock();
  }

  /** Listens; resolves with the port actually bound. Rejects with EMULATOR_LISTEN. */
  start(): Promise<{ host: string; port: number }> {
    if (this.server) return Promise.reject(new TcuError('EMULATOR_LISTEN', 'the socketcand server is already started'));
    const host = this.options.host ?? '127.0.0.1';
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        this.server = undefined;
        reject(asTcuError(err, 'EMULATOR_LISTEN', `socketcand server cannot listen on ${host}:${this.options.port ?? 0}`));
      };
      server.once('error', onError);
      server.listen(this.options.port ?? 0, host, () => {
        server.off('error', onError);
        server.on('error', (err) => this.options.logger?.error({ err: err.message }, 'socketcand server error'));
        const address = server.address();
        const port = typeof address === 'object' && address ? address.port : 0;
        this.options.logger?.info({ host, port, buses: [...this.buses] }, 'socketcand server listening');
        resolve({ host, port });
      });
    });
  }

  /** Stops listening and drops every client. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const c of this.connections) c.socket.destroy();
    this.connections.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Sends a frame to every raw-mode client on `frame.bus`. Returns how many clients it was queued for. */
  broadcast(frame: CanFrame): number {
    return this.fanOut(frame, undefined);
  }

  /** Frames clients send (`< send >`, `< sendrtr >`, `< fdsend >`), stamped with the server's time and bus. */
  onClientFrame(listener: ClientFrameListener): { unsubscribe(): void } {
    this.listeners = [...this.listeners, listener];
    return { unsubscribe: () => (this.listeners = this.listeners.filter((l) => l !== listener)) };
  }

  clients(): SocketcandClientInfo[] {
    return [...this.connections].map(info);
  }

  counters(): Readonly<Record<SocketcandServerCounterName, number>> {
    return this.stats.snapshot();
  }

  private accept(socket: Socket): void {
    const conn: Connection = {
      id: this.nextId++,
      socket,
      remote: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`,
      bus: undefined,
      mode: 'nobus',
      dropped: 0,
      parser: new SocketcandParser({
        onMessage: (m) => this.request(conn, m),
        onError: (err) => this.bad(conn, err),
        now: () => this.clock.nowMicros(),
      }),
    };
    this.connections.add(conn);
    this.stats.inc('connections');
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => conn.parser.push(chunk));
    socket.on('error', () => undefined); // 'close' follows
    socket.on('close', () => this.connections.delete(conn));
    this.reply(conn, encodeSimple('hi'));
  }

  private request(conn: Connection, m: SocketcandMessage): void {
    if (m.kind === 'echo') return this.reply(conn, encodeSimple('echo'));
    switch (conn.mode) {
      case 'nobus':
        if (m.kind !== 'open') return this.refuse(conn, 'open a bus first');
        if (!this.buses.has(m.bus)) {
          this.refuse(conn, `unknown bus ${m.bus}`);
          conn.socket.end(); // socketcand ends the connection when a bus cannot be opened
          return;
        }
        conn.bus = m.bus;
        conn.parser.bus = m.bus;
        conn.mode = 'bcm';
        return this.reply(conn, encodeSimple('ok'));
      case 'bcm':
      case 'raw':
        if (m.kind === 'send') return this.clientFrame(conn, m.frame);
        if (m.kind === 'rawmode' || m.kind === 'bcmmode') {
          conn.mode = m.kind === 'rawmode' ? 'raw' : 'bcm';
          return this.reply(conn, encodeSimple('ok'));
        }
        if (m.kind === 'open') return this.refuse(conn, 'a bus is already open');
        return this.refuse(conn, `command ${m.kind === 'other' ? m.command : m.kind} is not supported by the emulator`);
    }
  }

  private clientFrame(conn: Connection, frame: CanFrame): void {
    this.stats.inc('framesReceived');
    frame.ts = this.clock.nowMicros();
    const client = info(conn);
    for (const l of this.listeners) {
      try {
        l(frame, client);
      } catch (err) {
        this.options.logger?.error({ err: err instanceof Error ? err.message : String(err) }, 'socketcand client frame listener threw');
      }
    }
    if (this.options.forwardBetweenClients ?? true) this.fanOut(frame, conn);
  }

  private fanOut(frame: CanFrame, except: Connection | undefined): number {
    let text: string | undefined;
    let queued = 0;
    for (const c of this.connections) {
      if (c === except || c.mode !== 'raw' || c.bus !== frame.bus) continue;
      text ??= encodeFrame(frame);
      if (this.write(c, text)) {
        this.stats.inc('framesSent');
        queued++;
      } else {
        this.stats.inc('framesDropped');
      }
    }
    return queued;
  }

  private bad(conn: Connection, err: TcuError): void {
    this.stats.inc('badRequests');
    this.reply(conn, encodeError(err.message));
  }

  private refuse(conn: Connection, text: string): void {
    this.stats.inc('badRequests');
    this.reply(conn, encodeError(text));
  }

  private reply(conn: Connection, text: string): void {
    this.write(conn, text);
  }

  /** Writes unless the client's socket is over the high-water mark; false when dropped. */
  private write(conn: Connection, text: string): boolean {
    const socket = conn.socket;
    if (socket.destroyed || !socket.writable) return false;
    if (socket.writableLength > this.highWater) {
      conn.dropped++;
      return false;
    }
    socket.write(text);
    return true;
  }
}

function info(c: Connection): SocketcandClientInfo {
  return { id: c.id, remote: c.remote, bus: c.bus, mode: c.mode, dropped: c.dropped };
}
