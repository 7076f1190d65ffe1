/**
 * Shared by the uplink's integration tests and benchmark: the outbox to drain (the real SQLite one,
 * or the in-memory fake where a test needs to plant odd records or faults), a subscriber that decodes what the uplink publishes,
 * waiting helpers, and `resourcesPerTest()`: brokers, proxies, clients and outboxes undone after each test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { afterEach } from 'vitest';
import { systemClock } from '../../../core/clock.js';
import { openOutbox, type Outbox } from '../../../agent/outbox/index.js';
import { PRIORITIES, type RecordInput, type RecordKind } from '../../../agent/records.js';
import { createWireDecoder } from '../../../agent/uplink/wire.js';
import { Mosquitto, TcpProxy, type MosquittoOptions } from '../../helpers/mosquitto.js';
import { FakeOutbox } from './fake-outbox.js';

export interface TestOutbox {
  outbox: Outbox;
  /** True for the real SQLite outbox. */
  real: boolean;
  close(): void;
}

/** The real outbox (SQLite, agent/outbox) in a temporary folder; `fake: true` for the in-memory fake. */
export function openTestOutbox(options: { boot?: string; fake?: boolean; synchronous?: 'OFF' | 'NORMAL' | 'FULL' } = {}): TestOutbox {
  const boot = options.boot ?? 'boot-1';
  if (options.fake) {
    const outbox = new FakeOutbox(boot);
    return { outbox, real: false, close: () => outbox.close() };
  }
  const dir = mkdtempSync(join(tmpdir(), 'tcu-uplink-outbox-'));
  let outbox: Outbox;
  try {
    ({ outbox } = openOutbox({ path: join(dir, 'outbox.db'), bootId: boot, maxBytes: 1 << 30, clock: systemClock(), synchronous: options.synchronous ?? 'NORMAL' }));
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  let closed = false;
  return {
    outbox,
    real: true,
    close: () => {
      if (!closed) outbox.close();
      closed = true;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `n` records of `kind`, each with a handful of signal values (about 100 bytes of CBOR). */
export function records(n: number, kind: RecordKind = 'signals', ts = 1_700_000_000_000): RecordInput[] {
  return Array.from({ length: n }, (_, i) =>
    kind === 'signals'
      ? { kind, ts: ts + i, priority: PRIORITIES.normal, body: { 'Engine.Speed': 800 + (i % 5000) / 2, 'Engine.Coolant': 90, 'Vehicle.Speed': i % 200, 'Gear.Pos': 'D', 'Fuel.Level': 0.5 } }
      : { kind, ts: ts + i, priority: PRIORITIES.high, body: { name: `e${i}`, detail: i } },
  );
}

export interface ReceivedRecord {
  topic: string;
  boot: string;
  seq: number;
  kind: string;
}

/** An MQTT client on the cloud side: subscribes, decodes CBOR, keeps everything it got. */
export class CloudClient {
  readonly messages: { topic: string; payload: Buffer; packet: IPublishPacket; body: unknown }[] = [];
  readonly records: ReceivedRecord[] = [];
  payloadSizes: number[] = [];
  /** Set while connected and subscribed (it resubscribes itself after every reconnect). */
  ready = false;
  private readonly decoder = createWireDecoder();

  private constructor(
    readonly client: MqttClient,
    private readonly topics: string[],
  ) {}

  static async connect(url: string, topics: string[], options: IClientOptions = {}): Promise<CloudClient> {
    const client = await connectAsync(url, { protocolVersion: 5, reconnectPeriod: 100, resubscribe: false, clean: true, ...options });
    const cloud = new CloudClient(client, topics);
    client.on('message', (topic, payload, packet) => cloud.receive(topic, payload, packet));
    client.on('error', () => undefined);
    client.on('close', () => {
      cloud.ready = false;
    });
    client.on('connect', () => void cloud.subscribe());
    await cloud.subscribe();
    return cloud;
  }

  /** Messages on a topic, decoded. */
  on(topic: string): unknown[] {
    return this.messages.filter((m) => m.topic === topic).map((m) => m.body);
  }

  async publish(topic: string, payload: Buffer, options: Parameters<MqttClient['publishAsync']>[2] = { qos: 1 }): Promise<void> {
    await this.client.publishAsync(topic, payload, options);
  }

  async end(): Promise<void> {
    await this.client.endAsync(true);
  }

  private async subscribe(): Promise<void> {
    if (this.topics.length === 0) {
      this.ready = true;
      return;
    }
    try {
      await this.client.subscribeAsync(this.topics, { qos: 1 });
      this.ready = true;
    } catch {
      this.ready = false;
    }
  }

  private receive(topic: string, payload: Buffer, packet: IPublishPacket): void {
    let body: unknown;
    try {
      body = this.decoder.decode(payload);
    } catch {
      body = payload;
    }
    this.messages.push({ topic, payload, packet, body });
    if (topic.endsWith('/telemetry') || topic.endsWith('/events')) {
      this.payloadSizes.push(payload.length);
      const p = body as { boot: string; records: { seq: number; kind: string }[] };
      for (const r of p.records) this.records.push({ topic, boot: p.boot, seq: r.seq, kind: r.kind });
    }
  }
}

export async function waitFor(what: string, predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleepMs = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What a test started, undone after it, the last started first. */
export interface TestResources {
  /** Runs `undo` after the test, before what was registered earlier. */
  defer(undo: () => unknown): void;
  /** A real Mosquitto on a free port (or `options.port`); disposed after the test. */
  broker(options?: MosquittoOptions): Promise<Mosquitto>;
  /** A TCP proxy in front of `broker`, to cut connections the way a network does; closed after the test. */
  proxyTo(broker: Mosquitto): Promise<TcpProxy>;
  /** A cloud-side client subscribed to `topics`; ended after the test. */
  cloud(url: string, topics: string[], options?: IClientOptions): Promise<CloudClient>;
  /** `openTestOutbox(options)`; closed (and its folder removed) after the test. */
  outbox(options?: Parameters<typeof openTestOutbox>[0]): TestOutbox;
}

/**
 * Registers an `afterEach` in the calling test file (call it at its top level) that undoes, last
 * first, what each test started through the returned functions or `defer`.
 */
export function resourcesPerTest(): TestResources {
  const undo: (() => unknown)[] = [];
  afterEach(async () => {
    while (undo.length > 0) await undo.pop()!();
  });
  const defer = (fn: () => unknown): void => {
    undo.push(fn);
  };
  return {
    defer,
    broker: async (options = {}) => {
      const b = await Mosquitto.start(options);
      defer(() => b.dispose());
      return b;
    },
    proxyTo: async (b) => {
      const p = await TcpProxy.start(b.port);
      defer(() => p.close());
      return p;
    },
    cloud: async (url, topics, options = {}) => {
      const c = await CloudClient.connect(url, topics, options);
      defer(() => c.end());
      return c;
    },
    outbox: (options) => {
      const o = openTestOutbox(options);
      defer(() => o.close());
      return o;
    },
  };
}
