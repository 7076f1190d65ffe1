/**
 * The uplink: the outbox's records to an MQTT broker as CBOR payloads, at least once; the
 * vehicle's retained status; commands in (docs/PROTOCOL.md). The connection lifecycle lives here;
 * the delivery loop is `Sender`, the status and will `StatusPublisher`, commands `CommandProcessor`.
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
import { backoffDelay } from './backoff.js';
import { CommandProcessor, type CommandHandler } from './commands.js';
import { UplinkEmitter, type UplinkEvents, type UplinkState } from './events.js';
import { clientOptions, connectError, endClient, loadTls, within, type TlsMaterial } from './connection.js';
import { UPLINK_COUNTER_NAMES, resolveOptions, type ResolvedOptions, type UplinkCounters, type UplinkOptions } from './options.js';
import { Sender } from './sender.js';
import { StatusPublisher } from './status.js';
import { makeTopics, type Topics } from './topics.js';
import { wireInt } from './wire.js';

export type { UplinkEvents, UplinkState } from './events.js';

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
  private readonly status: StatusPublisher;
  private readonly events: UplinkEmitter;
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

  constructor(options: UplinkOptions) {
    this.o = resolveOptions(options);
    this.topics = makeTopics(this.o.topicPrefix, this.o.vin);
    this.address = this.o.broker.address;
    this.events = new UplinkEmitter(this.o.logger);
    this.sender = new Sender(this.o, this.topics, this.stats, (err) => this.events.report(err, err.code === 'UPLINK_OVERSIZE' || err.code === 'OUTBOX_IO' ? 'once' : 'warn'));
    this.status = new StatusPublisher(this.topics.status, this.o.vin, this.o.clock, this.stats, (err) => this.events.report(err));
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
      onError: (err) => this.events.report(err, 'once'),
    });
  }

  get state(): UplinkState {
    return this.current;
  }

  /** Subscribes to an event; returns the function that unsubscribes. A listener that throws is ignored. */
  on<K extends keyof UplinkEvents>(event: K, listener: UplinkEvents[K]): () => void {
    return this.events.on(event, listener);
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

  /**
   * Publishes `{...status, v, vin, online: true, ts}` retained on the status topic: now when
   * connected, and again on every connect. Resolves true once the broker acknowledged this publish
   * (PUBACK); false at once when offline (the status is only kept, for the next connect), or when
   * the publish fails or its connection ends first. Never rejects.
   */
  publishStatus(status: Record<string, unknown>): Promise<boolean> {
    const conn = this.conn;
    return this.status.update(status, conn?.connected ? conn.client : undefined);
  }

  /**
   * Publishes one message outside the outbox on `<prefix>/<vin>/<suffix>`, QoS 1 (OTA reports and
   * the software inventory, docs/PROTOCOL.md). Resolves on the broker's PUBACK. Rejects with
   * UPLINK_PUBLISH when not connected, when the publish fails or its connection ends first, or after
   * `timeoutMs` (default 30 000): the caller keeps what must go again. CONFIG_INVALID for a suffix
   * with a wildcard, NUL or an empty level.
   */
  publishMessage(suffix: string, payload: Buffer | string, options: { retain?: boolean; timeoutMs?: number } = {}): Promise<void> {
    if (suffix.length === 0 || /[+#]/.test(suffix) || suffix.includes('\u0000') || suffix.startsWith('/') || suffix.endsWith('/') || suffix.includes('//')) {
      return Promise.reject(new TcuError('CONFIG_INVALID', `"${suffix}" is not usable as a topic suffix`, { details: { suffix } }));
    }
    const conn = this.conn;
    const topic = `${this.topics.base}/${suffix}`;
    if (conn === undefined || !conn.connected) return Promise.reject(new TcuError('UPLINK_PUBLISH', `not connected to the broker: ${topic} not sent`, { details: { topic } }));
    const clock = this.o.clock;
    return new Promise<void>((resolve, reject) => {
      let done = false;
      const settle = (err?: Error): void => {
        if (done) return;
        done = true;
        clock.clearTimeout(timer);
        if (err === undefined) resolve();
        else reject(new TcuError('UPLINK_PUBLISH', `${topic} was not acknowledged: ${err.message}`, { cause: err, details: { topic } }));
      };
      const timer = clock.setTimeout(() => settle(new Error(`no PUBACK within ${options.timeoutMs ?? 30_000} ms`)), options.timeoutMs ?? 30_000);
      try {
        conn.client.publish(topic, payload, { qos: 1, retain: options.retain === true }, (err) => settle(err ?? undefined));
      } catch (err) {
        settle(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /**
   * The roaming policy: only records of this priority or higher are sent (0: everything). Lowering
   * it sends what waited at once. Status messages and command responses are not records: they go
   * whatever the priority.
   */
  setMinPriority(priority: number): void {
    this.sender.setMinPriority(priority);
  }

  private freshStatus(): Record<string, unknown> | undefined {
    try {
      return this.o.statusProvider?.();
    } catch (err) {
      this.events.report(asTcuError(err, 'UPLINK_INTERNAL', 'the status could not be built'));
      return undefined;
    }
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
   * For SIGTERM: with `sendFirstMs`, first keeps sending while connected until every record the
   * policy lets out is acknowledged (the last records of a clean shutdown, such as the agent's stop
   * event; while roaming, lower priorities wait for home) or that time is up; then
   * takes no new batches, waits up to `timeoutMs` for the PUBACKs of what is in flight, publishes
   * the offline status, and disconnects. Records not acknowledged stay in the outbox.
   */
  async stop(timeoutMs = 10_000, options: { sendFirstMs?: number } = {}): Promise<StopResult> {
    if (this.stopped) return { drained: true, unacknowledged: 0 };
    const clock = this.o.clock;
    if ((options.sendFirstMs ?? 0) > 0 && this.conn?.connected) {
      this.flush();
      await this.outboxSent(options.sendFirstMs!);
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
        const acked = this.status.offline(conn.client, { reason: 'stopped' });
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

  /**
   * Resolves once the outbox is empty or the connection is gone, or after `ms`. Its poll stops with
   * it, so nothing touches the outbox after the caller goes on to close it.
   */
  /** Every record the policy lets out has been acknowledged (while roaming, lower priorities wait). */
  private nothingToSend(): boolean {
    return this.o.outbox.nextBatch({ maxRecords: 1, maxBytes: 1, minPriority: this.sender.minimumPriority }).length === 0;
  }

  private outboxSent(ms: number): Promise<void> {
    const clock = this.o.clock;
    const deadline = clock.monotonic() + ms;
    return new Promise((resolve) => {
      const check = (): void => {
        if (!this.conn?.connected || clock.monotonic() >= deadline || this.nothingToSend()) resolve();
        else clock.setTimeout(check, 20);
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
    let client: MqttClient;
    try {
      client = mqttConnect(this.o.broker.url, clientOptions(this.o, this.tls, this.status.will()));
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
    client.on('connect', (connack) => this.events.guard(() => this.onConnect(conn, connack.properties?.receiveMaximum)));
    client.on('close', () => this.events.guard(() => this.onClose(conn)));
    client.on('message', (topic, payload, packet) => this.events.guard(() => this.onMessage(conn, topic, payload, packet)));
    // mqtt.js's connectTimeout covers this; the watchdog is for a client that never reports at all.
    conn.watchdog = this.o.clock.setTimeout(
      () =>
        this.events.guard(() => {
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
        this.events.report(new TcuError('UPLINK_SUBSCRIBE', `cannot subscribe to ${this.topics.commandFilter}: ${refused.message}`, { cause: refused, details: { topic: this.topics.commandFilter } }));
      }
    });
    // The status now, not the last heartbeat's: a reconnection often follows a change (coverage).
    this.status.online(client, this.freshStatus());
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
      this.events.report(new TcuError('UPLINK_CONNECT', `lost the connection to ${this.address}${why}; reconnecting in ${delay} ms`, { cause: error, details: { address: this.address, delayMs: delay, ...(disconnectReason === undefined ? {} : { reasonCode: disconnectReason }) } }));
    } else {
      const err = connectError(error, this.o.broker.protocolVersion, this.address);
      const auth = err.code === 'UPLINK_AUTH';
      const attempt = auth ? ++this.authFailuresInRow : ++this.failuresInRow;
      this.stats.inc(auth ? 'authFailures' : 'connectFailures');
      delay = backoffDelay(attempt - 1, this.o.backoff, this.o.random, auth);
      const reported = new TcuError(err.code, `${err.message}; attempt ${attempt}, retrying in ${delay} ms`, { cause: err.cause, details: { ...err.details, attempt, delayMs: delay } });
      this.events.report(reported, attempt === 1 ? 'warn' : 'debug');
    }
    if (this.stopped) return;
    this.setState('disconnected');
    if (!this.allowed) return;
    this.reconnectTimer = this.o.clock.setTimeout(() => {
      this.reconnectTimer = undefined;
      this.events.guard(() => this.connect());
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
      this.events.guard(() => conn.client.publish(response.topic, response.payload, options));
    });
  }

  /** Forgets a connection: its events change nothing any more, its in-flight records are eligible again. */
  private letGo(conn: Connection): void {
    conn.closed = true;
    this.clearWatchdog(conn);
    this.status.release(conn.client);
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
    this.events.state(state);
  }
}

export function createUplink(options: UplinkOptions): Uplink {
  return new Uplink(options);
}
