import { decode } from 'cbor-x';
import { connect, type MqttClient } from 'mqtt';

/** What arrives at the cloud, as the demo console sees it. */
export interface ConsoleView {
  connected: boolean;
  records: number;
  duplicates: number;
  /** Records per second over the last second. */
  rate: number;
  /** Latest value of each signal received. */
  signals: Map<string, number | string>;
  /** Latest events, newest last. */
  events: string[];
  /** The agent's last retained status says it is online. */
  agentOnline: boolean | undefined;
}

interface Payload {
  boot?: unknown;
  records?: unknown;
}

interface WireRecord {
  seq?: unknown;
  ts?: unknown;
  kind?: unknown;
  name?: unknown;
  values?: unknown;
  [key: string]: unknown;
}

/**
 * Subscribes to everything the vehicle publishes and keeps a view of it: records per second,
 * duplicates (by boot and sequence number, as a cloud would drop them), signal values, events.
 */
export class DemoConsole {
  private client: MqttClient | undefined;
  /** Per boot: every seq up to `upTo` was seen, plus the ones in `above` (bounded memory, as a cloud would keep it). */
  private readonly seen = new Map<string, { upTo: number; above: Set<number> }>();
  private readonly view: ConsoleView = { connected: false, records: 0, duplicates: 0, rate: 0, signals: new Map(), events: [], agentOnline: undefined };
  private windowStart = 0;
  private windowCount = 0;

  constructor(
    private readonly url: string,
    private readonly topicRoot: string,
    private readonly now: () => number,
  ) {}

  start(): void {
    const client = connect(this.url, { reconnectPeriod: 500, connectTimeout: 2000, clientId: `tcu-demo-console-${process.pid}` });
    this.client = client;
    client.on('connect', () => {
      this.view.connected = true;
      client.subscribe(`${this.topicRoot}/#`, { qos: 1 });
    });
    client.on('close', () => (this.view.connected = false));
    client.on('error', () => (this.view.connected = false));
    client.on('message', (topic, payload) => this.receive(topic, payload));
  }

  async stop(): Promise<void> {
    await this.client?.endAsync(true);
  }

  snapshot(): ConsoleView {
    const t = this.now();
    if (t - this.windowStart >= 1000) {
      this.view.rate = (this.windowCount * 1000) / Math.max(1, t - this.windowStart);
      this.windowStart = t;
      this.windowCount = 0;
    }
    return this.view;
  }

  /** Notes (boot, seq); false when it was seen before. */
  private firstTime(boot: string, seq: number): boolean {
    let s = this.seen.get(boot);
    if (!s) this.seen.set(boot, (s = { upTo: 0, above: new Set() }));
    if (seq <= s.upTo || s.above.has(seq)) return false;
    s.above.add(seq);
    while (s.above.delete(s.upTo + 1)) s.upTo++;
    return true;
  }

  private receive(topic: string, payload: Buffer): void {
    let message: Payload;
    try {
      message = decode(payload) as Payload;
    } catch {
      return; // not ours
    }
    if (topic.endsWith('/status')) {
      this.view.agentOnline = (message as { online?: unknown }).online === true;
      return;
    }
    if (!Array.isArray(message.records)) return;
    for (const r of message.records as WireRecord[]) {
      if (!this.firstTime(String(message.boot), Number(r.seq))) {
        this.view.duplicates++;
        continue;
      }
      this.view.records++;
      this.windowCount++;
      if (r.kind === 'signals' && r.values && typeof r.values === 'object') {
        for (const [k, v] of Object.entries(r.values as Record<string, unknown>)) {
          if (typeof v === 'number' || typeof v === 'string') this.view.signals.set(k, v);
        }
      } else if (r.kind === 'event') {
        const { seq: _s, ts, kind: _k, name, ...rest } = r;
        this.view.events.push(`${new Date(Number(ts)).toISOString().slice(11, 19)} ${String(name)} ${JSON.stringify(rest)}`);
        if (this.view.events.length > 5) this.view.events.shift();
      }
    }
  }
}
