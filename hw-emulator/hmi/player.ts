/**
 * The emulator's HMI (head unit): it plays the user for the agent's update campaigns over the local
 * MQTT broker (docs/OTA.md, "The agent's campaigns"). It subscribes to `<topic>/consent/request`
 * and `<topic>/notice`, keeps what it saw, and answers each consent request on
 * `<topic>/consent/response` with `{campaign, answer}` after `delayMs`: always "consent", always
 * "refuse", or never ("ignore", for timeouts). It shares no code with the agent (only the wire format),
 * so it checks the agent's side independently.
 */
import { connectAsync, type MqttClient } from 'mqtt';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { TcuError } from '../../core/errors.js';

export type HmiPlayerAnswer = 'consent' | 'refuse' | 'ignore';
export const HMI_PLAYER_ANSWERS: readonly HmiPlayerAnswer[] = ['consent', 'refuse', 'ignore'];

export interface HmiPlayerOptions {
  /** The local broker, e.g. mqtt://127.0.0.1:1883. */
  url: string;
  /** The topic root the agent uses (`ota.hmi.topic`), e.g. "tcu/hmi". */
  topic: string;
  answer: HmiPlayerAnswer;
  /** Wait before answering (default 0). */
  delayMs?: number;
  clock: Clock;
  clientId?: string;
  /** Each request, notice and answer as it happens (the CLI prints them). */
  onEvent?: (event: HmiPlayerEvent) => void;
}

/** What the player saw or did: a request (its JSON), a notice (its JSON), an answer it sent, or a message it could not read. */
export type HmiPlayerEvent =
  | { event: 'request'; body: Record<string, unknown> }
  | { event: 'notice'; body: Record<string, unknown> }
  | { event: 'answer'; campaign: string; answer: 'consent' | 'refuse' }
  | { event: 'malformed'; topic: string; error: string };

export class HmiPlayer {
  readonly requests: Record<string, unknown>[] = [];
  readonly notices: Record<string, unknown>[] = [];
  readonly answers: { campaign: string; answer: 'consent' | 'refuse' }[] = [];
  private client: MqttClient | undefined;
  private readonly timers = new Set<TimerHandle>();
  private answer: HmiPlayerAnswer;

  constructor(private readonly o: HmiPlayerOptions) {
    if (!HMI_PLAYER_ANSWERS.includes(o.answer)) throw new TcuError('EMULATOR_CONFIG', `the HMI answer must be one of ${HMI_PLAYER_ANSWERS.join(', ')}, not "${String(o.answer)}"`);
    if (o.delayMs !== undefined && !(o.delayMs >= 0 && Number.isFinite(o.delayMs))) throw new TcuError('EMULATOR_CONFIG', `the HMI answer delay must be a number of milliseconds >= 0, not ${String(o.delayMs)}`);
    if (o.topic.length === 0 || /[+#]/.test(o.topic)) throw new TcuError('EMULATOR_CONFIG', `the HMI topic must be a topic without wildcards, not "${o.topic}"`);
    this.answer = o.answer;
  }

  get topics(): { request: string; response: string; notice: string } {
    return { request: `${this.o.topic}/consent/request`, response: `${this.o.topic}/consent/response`, notice: `${this.o.topic}/notice` };
  }

  /** Changes how later requests are answered (a user who changes their mind). */
  setAnswer(answer: HmiPlayerAnswer): void {
    this.answer = answer;
  }

  /** Connects and subscribes; resolves once subscribed. UPLINK_CONNECT when the broker cannot be reached. */
  async start(): Promise<void> {
    let client: MqttClient;
    try {
      client = await connectAsync(this.o.url, { clientId: this.o.clientId ?? `tcu-emulator-hmi-${process.pid}`, reconnectPeriod: 1000, connectTimeout: 5000, clean: true });
    } catch (err) {
      throw new TcuError('UPLINK_CONNECT', `the HMI cannot reach ${this.o.url}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    this.client = client;
    client.on('error', () => undefined);
    client.on('message', (topic, payload) => this.receive(topic, payload));
    // Subscribed again after a reconnection (clean sessions).
    client.on('connect', () => void client.subscribeAsync([this.topics.request, this.topics.notice], { qos: 1 }).catch(() => undefined));
    await client.subscribeAsync([this.topics.request, this.topics.notice], { qos: 1 });
  }

  async stop(): Promise<void> {
    for (const t of this.timers) this.o.clock.clearTimeout(t);
    this.timers.clear();
    await this.client?.endAsync(true).catch(() => undefined);
    this.client = undefined;
  }

  /** Sends an answer now, whatever the mode (a user answering a request late, or unasked). */
  async respond(campaign: string, answer: 'consent' | 'refuse'): Promise<void> {
    if (this.client === undefined) throw new TcuError('UPLINK_CONNECT', 'the HMI is not started');
    this.answers.push({ campaign, answer });
    this.o.onEvent?.({ event: 'answer', campaign, answer });
    await this.client.publishAsync(this.topics.response, JSON.stringify({ campaign, answer }), { qos: 1 });
  }

  private receive(topic: string, payload: Buffer): void {
    let body: Record<string, unknown>;
    try {
      const value: unknown = JSON.parse(payload.toString('utf8'));
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object');
      body = value as Record<string, unknown>;
    } catch (err) {
      this.o.onEvent?.({ event: 'malformed', topic, error: err instanceof Error ? err.message : String(err) });
      return;
    }
    if (topic === this.topics.notice) {
      this.notices.push(body);
      this.o.onEvent?.({ event: 'notice', body });
      return;
    }
    if (topic !== this.topics.request) return;
    this.requests.push(body);
    this.o.onEvent?.({ event: 'request', body });
    const campaign = body['campaign'];
    const answer = this.answer;
    if (typeof campaign !== 'string' || answer === 'ignore') return;
    const t = this.o.clock.setTimeout(() => {
      this.timers.delete(t);
      void this.respond(campaign, answer).catch(() => undefined);
    }, this.o.delayMs ?? 0);
    this.timers.add(t);
  }
}
