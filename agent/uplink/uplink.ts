/**
 * The uplink: the outbox's records to an MQTT broker as CBOR payloads, at least once; the
 * vehicle's retained status; commands in (docs/PROTOCOL.md). The connection lifecycle lives here;
 * the delivery loop is `Sender`, commands are `CommandProcessor`.
 *
 * Reconnection is ours, not mqtt.js's (`reconnectPeriod: 0`): every attempt is a new client (see
 * `clientOptions` for why), failed attempts back off exponentially with jitter, a refusal of our
 * credentials (UPLINK_AUTH) backs off on a longer schedule, and `setAllowed(false)` (no network
 * registration) stops attempts altogether while records keep buffering in the outbox.
 */
import { connect as mqttConnect, type IClientPublishOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { TimerHandle } from '../../core/clock.js';
import { Counters } from '../../core/counters.js';
import { TcuError, asTcuError } from '../../core/errors.js';
import { OncePerKind } from '../../core/logger.js';
import { backoffDelay } from './backoff.js';
import { CommandProcessor, type CommandHandler } from './commands.js';
import { clientOptions, connectError, endClient, loadTls, within, type TlsMaterial } from './connection.js';
import { UPLINK_COUNTER_NAMES, resolveOptions, type ResolvedOptions, type UplinkCounters, type UplinkOptions } from './options.js';
import { Sender } from './sender.js';
import { makeTopics, type Topics } from './topics.js';
import { createWireEncoder, wireInt } from './wire.js';

export type UplinkState = 'idle' | 'connecting' | 'connected' | 'disconnected' | 'stopped';

export interface UplinkEvents {
  state: (state: UplinkState) => void;
  /** Every failure, typed: UPLINK_CONNECT, UPLINK_AUTH, UPLINK_PUBLISH, UPLINK_OVERSIZE, UPLINK_COMMAND_*, ... */
  error: (err: TcuError) => void;
}

export interface StopResult {
  /** True when every publish in flight was acknowledged before the connection was closed. */
  drained: boolean;
  /** Records whose publish was not acknowledged in time: still in the outbox, sent after the next start. */
  unacknowledged: number;
}

/** One connection attempt and, if it succeeds, the session on it. */
interface Connection {
  client: MqttClient;
  connected: boolean;
  /** Its end has been handled (or it was let go): events from it change nothing any more. */
  closed: boolean;
  error: unknown;
  disconnectReason: number | undefined;
  watchdog: TimerHandle | undefined;
}

export class Uplink {
  private readonly o: ResolvedOptions;
  private readonly topics: Topics;
  private readonly stats = new Counters(UPLINK_COUNTER_NAMES);
  private readonly sender: Sender;
  private readonly commands: CommandProcessor;
  private readonly encoder = createWireEncoder();
  private readonly badInput: OncePerKind;
  private readonly listeners: { [K in keyof UplinkEvents]: Set<UplinkEvents[K]> } = { state: new Set(), error: new Set() };
  private readonly address: string;
  private tls: TlsMaterial | undefined;
  private current: UplinkState = 'idle';
  private conn: Connection | undefined;
  private closing: Promise<void> | undefined;
  private reconnectTimer: TimerHandle | undefined;
  private allowed = true;
  private started = false;
  private stopped = false;
  private failuresInRow = 0;
  private authFailuresInRow = 0;
  private lastStatus: Record<string, unknown> = {};

  constructor(options: UplinkOptions) {
    this.o = resolveOptions(options);
    this.topics = makeTopics(this.o.topicPrefix, this.o.vin);
    this.address = this.o.broker.address;
    this.badInput = new OncePerKind(this.o.logger);
    this.sender = new Sender(this.o, this.topics, this.stats, (err) => this.report(err, err.code === 'UPLINK_OVERSIZE' ? 'once' : 'warn'));
    const builtins: [string, CommandHandler][] = [
      ['ping', () => ({ ts: wireInt(this.o.clock.now()) })],
      ['status', () => ({ status: this.o.statusProvider ? this.o.statusProvider() : { uplink: this.counters(), outbox: this.o.outbox.stats() } })],
      ['flush', () => (this.flush(), {})],
    ];
    this.commands = new CommandProcessor({
      topics: this.topics,
      handlers: new Map([...builtins, ...this.o.commands]),
      clock: this.o.clock,
      maxBytes: this.o.maxCommandBytes,
      timeoutMs: this.o.commandTimeoutMs,
      onError: (err) => this.report(err, 'once'),
    });
  }

  get state(): UplinkState {
    return this.current;
  }

  /** Subscribes to an event; returns the function that unsubscribes. A listener that throws is ignored. */
  on<K extends keyof UplinkEvents>(event: K, listener: UplinkEvents[K]): () => void {
    const set = this.listeners[event] as Set<UplinkEvents[K]>;
    set.add(listener);
    return () => set.delete(listener);
  }

  counters(): UplinkCounters {
    const inFlight = this.sender.inFlight();
    return { ...this.stats.snapshot(), commandErrors: this.commands.errorCounts(), inFlightPublishes: inFlight.publishes, inFlightRecords: inFlight.records };
  }

  /**
   * Reads the TLS files (throws FILE_READ or CONFIG_INVALID: refused at start) and starts
   * connecting. Returns at once: the connection comes when the broker is reachable, however long
   * that takes (watch `on('state')`).
   */
  start(): void {
    if (this.started || this.stopped) return;
    this.tls = loadTls(this.o.broker.tls);
    this.started = true;
    this.connect();
  }

  /** Records were committed: send them soon. */
  notify(): void {
    this.sender.notify();
  }

  /** Sends what waits now. */
  flush(): void {
    this.sender.flush();
  }

  /** Publishes `{...status, v, vin, online: true, ts}` retained on the status topic (now, or on connect). */
  publishStatus(status: Record<string, unknown>): void {
    this.lastStatus = { ...status };
    if (this.conn?.connected) this.sendStatus(this.conn, true);
  }

  /** While not allowed (no network registration), stay disconnected and do not try to connect. */
  setAllowed(allowed: boolean): void {
    if (this.allowed === allowed) return;
    this.allowed = allowed;
    if (allowed) {
      this.connect();
      return;
    }
    this.clearReconnect();
    const conn = this.conn;
    if (conn !== undefined) {
      // Dropped without DISCONNECT: the broker publishes our will (offline) when it notices.
      this.letGo(conn);
      this.closing = endClient(conn.client, true, this.o.clock);
    }
    if (this.started && !this.stopped) this.setState('disconnected');
  }

  /**
   * For SIGTERM: with `sendFirstMs`, first keeps sending while connected until the outbox is empty
   * (the last records of a clean shutdown, such as the agent's stop event) or that time is up; then
   * takes no new batches, waits up to `timeoutMs` for the PUBACKs of what is in flight, publishes
   * the offline status, and disconnects. Records not acknowledged stay in the outbox.
   */
  async stop(timeoutMs = 10_000, options: { sendFirstMs?: number } = {}): Promise<StopResult> {
    if (this.stopped) return { drained: true, unacknowledged: 0 };
    const clock = this.o.clock;
    if ((options.sendFirstMs ?? 0) > 0 && this.conn?.connected) {
      this.flush();
      await within(clock, this.outboxSent(), options.sendFirstMs!);
    }
    this.stopped = true;
    this.clearReconnect();
    this.sender.drain();
    const deadline = clock.monotonic() + timeoutMs;
    const requeuedBefore = this.stats.get('requeued');
    const conn = this.conn;
    let graceful = false;
    if (conn?.connected) {
      await within(this.o.clock, this.sender.whenIdle(), timeoutMs);
      if (this.conn === conn && this.sender.inFlight().publishes === 0) {
        const acked = new Promise<boolean>((resolve) => this.sendStatus(conn, false, { reason: 'stopped' }, (err) => resolve(err === undefined)));
        graceful = (await within(clock, acked, Math.max(0, deadline - clock.monotonic()))) === true;
      }
    }
    if (this.conn !== undefined) {
      const c = this.conn;
      this.letGo(c);
      await endClient(c.client, !graceful, this.o.clock);
    }
    if (this.closing !== undefined) await this.closing;
    const unacknowledged = this.stats.get('requeued') - requeuedBefore;
    this.setState('stopped');
    return { drained: unacknowledged === 0, unacknowledged };
  }

  /** Resolves once the outbox is empty, or the connection is gone. */
  private outboxSent(): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.o.outbox.stats().depth === 0 || !this.conn?.connected) resolve();
        else this.o.clock.setTimeout(check, 20);
      };
      check();
    });
  }

  private connect(): void {
    if (!this.started || this.stopped || !this.allowed || this.conn !== undefined || this.reconnectTimer !== undefined) return;
    const closing = this.closing;
    if (closing !== undefined) {
      // The previous client is still closing; the broker must see it go before the new one comes.
      void closing.then(() => {
        if (this.closing === closing) this.closing = undefined;
        this.connect();
      });
      return;
    }
    this.setState('connecting');
    const will = { topic: this.topics.status, payload: this.statusPayload(false, {}) };
    let client: MqttClient;
    try {
      client = mqttConnect(this.o.broker.url, clientOptions(this.o, this.tls, will));
    } catch (err) {
      this.afterClose(false, err, undefined);
      return;
    }
    const conn: Connection = { client, connected: false, closed: false, error: undefined, disconnectReason: undefined, watchdog: undefined };
    this.conn = conn;
    client.on('error', (err) => {
      conn.error ??= err;
    });
    client.on('disconnect', (packet) => {
      conn.disconnectReason = packet.reasonCode;
    });
    client.on('connect', (connack) => this.guard(() => this.onConnect(conn, connack.properties?.receiveMaximum)));
    client.on('close', () => this.guard(() => this.onClose(conn)));
    client.on('message', (topic, payload, packet) => this.guard(() => this.onMessage(conn, topic, payload, packet)));
    // mqtt.js's connectTimeout covers this; the watchdog is for a client that never reports at all.
    conn.watchdog = this.o.clock.setTimeout(
      () =>
        this.guard(() => {
          conn.error ??= new Error(`no CONNACK within ${this.o.broker.connectTimeoutMs} ms`);
          if (!conn.connected) this.onClose(conn);
        }),
      this.o.broker.connectTimeoutMs + 1000,
    );
  }

  private onConnect(conn: Connection, receiveMaximum: number | undefined): void {
    if (this.conn !== conn || conn.closed) return;
    conn.connected = true;
    this.clearWatchdog(conn);
    this.stats.inc('connects');
    if (this.stats.get('connects') > 1) this.stats.inc('reconnects');
    if (this.failuresInRow + this.authFailuresInRow > 0) this.o.logger.info({ address: this.address, failedAttempts: this.failuresInRow + this.authFailuresInRow }, 'uplink connected');
    this.failuresInRow = 0;
    this.authFailuresInRow = 0;
    const client = conn.client;
    client.subscribe(this.topics.commandFilter, { qos: 1 }, (err, granted) => {
      const refused = err ?? (granted?.some((g) => g.qos >= 128) ? new Error('SUBACK refused the subscription') : undefined);
      if (refused && this.conn === conn) {
        this.report(new TcuError('UPLINK_SUBSCRIBE', `cannot subscribe to ${this.topics.commandFilter}: ${refused.message}`, { cause: refused, details: { topic: this.topics.commandFilter } }));
      }
    });
    this.sendStatus(conn, true);
    this.sender.attach(
      {
        publish: (topic, payload, done) => {
          client.publish(topic, payload, { qos: 1 }, (err) => done(err ?? undefined));
        },
      },
      receiveMaximum,
    );
    this.setState('connected');
  }

  private onClose(conn: Connection): void {
    if (conn.closed) return;
    const wasConnected = conn.connected;
    this.letGo(conn);
    try {
      conn.client.end(true);
    } catch {
      // already ending: nothing more to release
    }
    this.afterClose(wasConnected, conn.error, conn.disconnectReason);
  }

  /** Reports how a connection ended and schedules the next attempt. */
  private afterClose(wasConnected: boolean, error: unknown, disconnectReason: number | undefined): void {
    let delay: number;
    if (wasConnected) {
      this.stats.inc('disconnects');
      delay = backoffDelay(0, this.o.backoff, this.o.random);
      const why = error instanceof Error ? `: ${error.message}` : disconnectReason !== undefined ? `: DISCONNECT reason ${disconnectReason}` : '';
      this.report(new TcuError('UPLINK_CONNECT', `lost the connection to ${this.address}${why}; reconnecting in ${delay} ms`, { cause: error, details: { address: this.address, delayMs: delay, ...(disconnectReason === undefined ? {} : { reasonCode: disconnectReason }) } }));
    } else {
      const err = connectError(error, this.o.broker.protocolVersion, this.address);
      const auth = err.code === 'UPLINK_AUTH';
      const attempt = auth ? ++this.authFailuresInRow : ++this.failuresInRow;
      this.stats.inc(auth ? 'authFailures' : 'connectFailures');
      delay = backoffDelay(attempt - 1, this.o.backoff, this.o.random, auth);
      const reported = new TcuError(err.code, `${err.message}; attempt ${attempt}, retrying in ${delay} ms`, { cause: err.cause, details: { ...err.details, attempt, delayMs: delay } });
      this.report(reported, attempt === 1 ? 'warn' : 'debug');
    }
    if (this.stopped) return;
    this.setState('disconnected');
    if (!this.allowed) return;
    this.reconnectTimer = this.o.clock.setTimeout(() => {
      this.reconnectTimer = undefined;
      this.guard(() => this.connect());
    }, delay);
  }

  private onMessage(conn: Connection, topic: string, payload: Buffer, packet: IPublishPacket): void {
    if (this.conn !== conn) return;
    this.stats.inc('commands');
    const props = packet.properties;
    const request = {
      ...(props?.responseTopic === undefined ? {} : { responseTopic: props.responseTopic }),
      ...(props?.correlationData === undefined ? {} : { correlationData: props.correlationData }),
    };
    void this.commands.handle(topic, payload, request).then((response) => {
      if (response === undefined || this.conn !== conn || !conn.connected) return;
      const options: IClientPublishOptions = { qos: 1 };
      if (this.o.broker.protocolVersion === 5 && response.correlationData !== undefined) options.properties = { correlationData: response.correlationData };
      this.guard(() => conn.client.publish(response.topic, response.payload, options));
    });
  }

  private statusPayload(online: boolean, extra: Record<string, unknown>): Buffer {
    return this.encoder.encode({ ...extra, v: 1, vin: this.o.vin, online, ts: wireInt(this.o.clock.now()) });
  }

  private sendStatus(conn: Connection, online: boolean, extra: Record<string, unknown> = this.lastStatus, done?: (err?: Error) => void): void {
    try {
      conn.client.publish(this.topics.status, this.statusPayload(online, extra), { qos: 1, retain: true }, (err) => done?.(err ?? undefined));
      this.stats.inc('statusPublished');
    } catch (err) {
      this.report(asTcuError(err, 'UPLINK_PUBLISH', 'cannot publish the status'));
      done?.(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Forgets a connection: its events change nothing any more, its in-flight records are eligible again. */
  private letGo(conn: Connection): void {
    conn.closed = true;
    this.clearWatchdog(conn);
    if (this.conn === conn) {
      this.conn = undefined;
      this.sender.detach();
    }
  }

  private clearReconnect(): void {
    if (this.reconnectTimer !== undefined) this.o.clock.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
  }

  private clearWatchdog(conn: Connection): void {
    if (conn.watchdog !== undefined) this.o.clock.clearTimeout(conn.watchdog);
    conn.watchdog = undefined;
  }

  private setState(state: UplinkState): void {
    if (this.current === state) return;
    this.current = state;
    for (const listener of this.listeners.state) {
      try {
        listener(state);
      } catch {
        // a listener's failure is its own
      }
    }
  }

  /** Logs (bad input once per kind) and tells the error listeners. */
  private report(err: TcuError, level: 'warn' | 'debug' | 'once' = 'warn'): void {
    if (level === 'once') this.badInput.report(err.code, { ...err.details }, err.message);
    else this.o.logger[level]({ code: err.code, ...err.details }, err.message);
    for (const listener of this.listeners.error) {
      try {
        listener(err);
      } catch {
        // a listener's failure is its own
      }
    }
  }

  /** Nothing thrown in an event handler escapes into mqtt.js or the event loop. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.report(asTcuError(err, 'UPLINK_INTERNAL', 'an uplink event handler failed'));
    }
  }
}

export function createUplink(options: UplinkOptions): Uplink {
  return new Uplink(options);
}
