/**
 * The user's side of an update (UN R156: the user informed before and after, and asked for
 * consent): JSON messages on a LOCAL MQTT broker that the HMI (head unit, display) also connects
 * to. docs/OTA.md, "The agent's campaigns", has the topics and payloads:
 *
 * - `<topic>/consent/request` (agent → HMI): `{v, campaign, target, version, userInfo, timeoutS, at}`
 * - `<topic>/consent/response` (HMI → agent): `{campaign, answer: "consent" | "refuse"}`
 * - `<topic>/notice` (agent → HMI): `{v, campaign, state, target, version, code, detail, at, reason?, progress?, userInfo?}`
 *
 * A consent request waits for the answer naming its campaign, up to a time limit (then: pending,
 * asked again at the next check). Answers that come late, or unasked, are remembered (the latest
 * per campaign, a few campaigns): a consent given once is not asked again, a refusal is asked again
 * next time. A malformed answer is counted and reported once; it never stops the agent.
 */
import { connect, type MqttClient } from 'mqtt';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { TcuError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { ConsentAnswer, TransitionRecord } from '../../ota/campaign/index.js';
import type { TargetCustom } from '../../ota/types.js';

export type HmiUserInfo = NonNullable<TargetCustom['userInfo']>;

export interface ConsentRequestMessage {
  v: 1;
  campaign: string;
  target: string;
  version: string | null;
  userInfo: HmiUserInfo;
  /** How long the agent waits for the answer. */
  timeoutS: number;
  /** ISO 8601. */
  at: string;
}

export type HmiAnswer = 'consent' | 'refuse';

export interface ConsentResponseMessage {
  campaign: string;
  answer: HmiAnswer;
}

export interface HmiNotice {
  v: 1;
  campaign: string;
  /** The campaign state: downloading, downloaded, awaiting-consent, installing, rebooting, succeeded, failed, rolled-back. */
  state: string;
  target: string;
  version: string | null;
  /** Why it failed, rolled back or waits. */
  code: string | null;
  detail: string | null;
  at: string;
  /** With OTA_PRECONDITION: which precondition (soc, parked, ignition, workshop, consent, network). */
  reason?: string;
  /** While downloading: how far (a notice of its own, throttled; docs/OTA.md). */
  progress?: HmiProgress;
  userInfo?: HmiUserInfo;
}

export interface HmiProgress {
  receivedBytes: number;
  totalBytes: number;
  /** 0 to 100, whole. */
  percent: number;
  bytesPerS: number;
  /** Seconds left at the current rate; null while unknown. */
  etaSeconds: number | null;
}

/** The notice of one campaign transition. */
export function noticeOf(t: TransitionRecord, userInfo: HmiUserInfo | undefined): HmiNotice {
  const d = t.details;
  return { v: 1, campaign: t.campaign, state: t.to, target: d.target, version: d.version, code: d.code, detail: d.detail, at: d.at, ...(d.reason === undefined ? {} : { reason: d.reason }), ...(userInfo === undefined ? {} : { userInfo }) };
}

export function hmiTopics(root: string): { request: string; response: string; notice: string } {
  return { request: `${root}/consent/request`, response: `${root}/consent/response`, notice: `${root}/notice` };
}

/** Reads an answer; UPLINK_COMMAND_MALFORMED (the closest code: a message from outside that is not what it must be). */
export function parseConsentResponse(payload: Uint8Array): ConsentResponseMessage {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch {
    throw new TcuError('UPLINK_COMMAND_MALFORMED', 'an HMI consent response is not JSON');
  }
  const o = value as Record<string, unknown> | null;
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new TcuError('UPLINK_COMMAND_MALFORMED', 'an HMI consent response must be a JSON object');
  const { campaign, answer } = o;
  if (typeof campaign !== 'string' || campaign.length === 0) throw new TcuError('UPLINK_COMMAND_MALFORMED', 'an HMI consent response needs "campaign" (a string)');
  if (answer !== 'consent' && answer !== 'refuse') throw new TcuError('UPLINK_COMMAND_MALFORMED', 'an HMI consent response needs "answer": "consent" or "refuse"');
  return { campaign, answer };
}

export interface HmiChannelOptions {
  /** The local broker. */
  url: string;
  /** The topic root (`ota.hmi.topic`). */
  topic: string;
  clientId: string;
  clock: Clock;
  logger: Logger;
  /** Each kind of failure, once (connection, malformed answers). */
  report?: (err: TcuError) => void;
}

interface Waiter {
  campaign: string;
  resolve: (answer: HmiAnswer) => void;
}

/** Answers remembered, campaigns (the oldest forgotten first). */
const REMEMBERED = 16;

export class HmiChannel {
  private client: MqttClient | undefined;
  private readonly topics: ReturnType<typeof hmiTopics>;
  private readonly answers = new Map<string, HmiAnswer>();
  private readonly waiters = new Set<Waiter>();
  private readonly ready = new Set<() => void>();
  private subscribed = false;
  private readonly reported = new Set<string>();
  private readonly stats = { requests: 0, answers: 0, malformed: 0, notices: 0 };

  constructor(private readonly o: HmiChannelOptions) {
    this.topics = hmiTopics(o.topic);
  }

  /** Connects (and reconnects, every 2 s) to the local broker; returns at once. */
  start(): void {
    if (this.client !== undefined) return;
    const client = connect(this.o.url, { clientId: this.o.clientId, reconnectPeriod: 2000, connectTimeout: 5000, clean: true, resubscribe: false });
    this.client = client;
    client.on('connect', () => {
      client.subscribe(this.topics.response, { qos: 1 }, (err, granted) => {
        if (err || granted?.some((g) => g.qos >= 128)) {
          this.once(new TcuError('UPLINK_SUBSCRIBE', `the HMI broker ${this.o.url} refused the subscription to ${this.topics.response}`));
          return;
        }
        this.subscribed = true;
        for (const done of [...this.ready]) done();
      });
    });
    client.on('close', () => (this.subscribed = false));
    client.on('error', (err) => this.once(new TcuError('UPLINK_CONNECT', `the HMI broker ${this.o.url}: ${err.message}`, { cause: err })));
    client.on('message', (topic, payload) => {
      if (topic === this.topics.response) this.receive(payload);
    });
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.subscribed = false;
    for (const done of [...this.ready]) done();
    if (client !== undefined) await client.endAsync(true).catch(() => undefined);
  }

  counters(): { requests: number; answers: number; malformed: number; notices: number; connected: boolean } {
    return { ...this.stats, connected: this.subscribed };
  }

  /**
   * Asks the user: `given` or `refused` when the answer for this campaign comes within `timeoutMs`
   * (or a consent was given before), `pending` otherwise (no answer, no HMI broker, aborted).
   */
  async askConsent(request: Omit<ConsentRequestMessage, 'v' | 'timeoutS' | 'at'>, timeoutMs: number, signal?: AbortSignal): Promise<ConsentAnswer> {
    if (this.answers.get(request.campaign) === 'consent') return 'given';
    this.answers.delete(request.campaign);
    const { clock } = this.o;
    const deadline = clock.monotonic() + timeoutMs;
    let timer: TimerHandle | undefined;
    let waiter: Waiter | undefined;
    let onReady: (() => void) | undefined;
    let onAbort: (() => void) | undefined;
    try {
      return await new Promise<ConsentAnswer>((resolve) => {
        const finish = (answer: ConsentAnswer): void => resolve(answer);
        timer = clock.setTimeout(() => finish('pending'), timeoutMs);
        onAbort = () => finish('pending');
        signal?.addEventListener('abort', onAbort, { once: true });
        if (signal?.aborted) return finish('pending');
        const ask = (): void => {
          if (this.client === undefined || clock.monotonic() >= deadline) return finish('pending');
          waiter = { campaign: request.campaign, resolve: (a) => finish(a === 'consent' ? 'given' : 'refused') };
          this.waiters.add(waiter);
          const message: ConsentRequestMessage = { v: 1, ...request, timeoutS: Math.round(timeoutMs / 1000), at: new Date(clock.now()).toISOString() };
          this.stats.requests++;
          this.client.publish(this.topics.request, JSON.stringify(message), { qos: 1 }, (err) => {
            if (err) this.once(new TcuError('UPLINK_PUBLISH', `the consent request was not delivered to the HMI broker: ${err.message}`, { cause: err }));
          });
        };
        // Published only once subscribed to the answers, so a quick answer is never missed.
        if (this.subscribed) ask();
        else {
          onReady = () => {
            this.ready.delete(onReady!);
            ask();
          };
          this.ready.add(onReady);
        }
      });
    } finally {
      if (timer !== undefined) clock.clearTimeout(timer);
      if (waiter !== undefined) this.waiters.delete(waiter);
      if (onReady !== undefined) this.ready.delete(onReady);
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Tells the user (before, during and after an update). Best effort: QoS 1, queued while the broker is away. */
  notice(n: HmiNotice): void {
    if (this.client === undefined) return;
    this.stats.notices++;
    this.client.publish(this.topics.notice, JSON.stringify(n), { qos: 1 }, (err) => {
      if (err) this.once(new TcuError('UPLINK_PUBLISH', `a notice was not delivered to the HMI broker: ${err.message}`, { cause: err }));
    });
  }

  private receive(payload: Uint8Array): void {
    let answer: ConsentResponseMessage;
    try {
      answer = parseConsentResponse(payload);
    } catch (err) {
      this.stats.malformed++;
      this.once(err as TcuError);
      return;
    }
    this.stats.answers++;
    this.answers.delete(answer.campaign);
    this.answers.set(answer.campaign, answer.answer);
    while (this.answers.size > REMEMBERED) this.answers.delete(this.answers.keys().next().value!);
    this.o.logger.info({ campaign: answer.campaign, answer: answer.answer }, 'HMI answer');
    for (const w of [...this.waiters]) {
      if (w.campaign !== answer.campaign) continue;
      this.waiters.delete(w);
      w.resolve(answer.answer);
    }
  }

  private once(err: TcuError): void {
    if (this.reported.has(err.code)) return;
    this.reported.add(err.code);
    this.o.logger.warn({ code: err.code, err: err.message }, 'HMI');
    this.o.report?.(err);
  }
}
