import { connectAsync, type IClientOptions } from 'mqtt';
import type { Clock } from '../../core/clock.js';
import { TcuError } from '../../core/errors.js';
import { parseReportJson, vinFromTopic, type OtaReport } from './reports.js';

/**
 * Reads campaign reports from an MQTT broker (mqtt.js): subscribes to `<prefix>/+/ota` with QoS 1
 * and hands each report to `onReport`, one at a time in arrival order (an automatic pause finishes
 * before the next report is looked at). Stops after `durationMs`, or when `signal` aborts.
 */

export interface ListenOptions {
  url: string;
  prefix: string;
  username?: string;
  password?: string;
  clientId?: string;
  /** Default: until `signal` aborts. */
  durationMs?: number;
  signal?: AbortSignal;
  clock: Clock;
  connectTimeoutMs?: number;
  onReport(report: OtaReport): void | Promise<void>;
  onInvalid(topic: string, message: string): void;
  /** Once subscribed (tests publish after this). */
  onReady?(): void;
}

export async function listenForReports(o: ListenOptions): Promise<{ messages: number }> {
  const prefix = o.prefix.replace(/\/+$/, '');
  if (prefix === '' || /[#+]/.test(prefix)) throw new TcuError('CLI_USAGE', `--topic must be a topic prefix without wildcards, not "${o.prefix}"`);
  const options: IClientOptions = { reconnectPeriod: 1000, connectTimeout: o.connectTimeoutMs ?? 10_000, clean: true };
  if (o.username !== undefined) options.username = o.username;
  if (o.password !== undefined) options.password = o.password;
  if (o.clientId !== undefined) options.clientId = o.clientId;
  let client;
  try {
    client = await connectAsync(o.url, options, false);
  } catch (err) {
    throw new TcuError('UPLINK_CONNECT', `cannot connect to ${o.url}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  let messages = 0;
  let chain: Promise<void> = Promise.resolve();
  let failure: unknown;
  try {
    client.on('message', (topic, payload) => {
      messages++;
      chain = chain.then(async () => {
        const vin = vinFromTopic(prefix, topic);
        if (vin === undefined) return o.onInvalid(topic, 'not a <prefix>/<vin>/ota topic');
        let report: OtaReport;
        try {
          report = parseReportJson(payload.toString('utf8'), vin);
        } catch (err) {
          return o.onInvalid(topic, err instanceof Error ? err.message : String(err));
        }
        try {
          await o.onReport(report);
        } catch (err) {
          failure ??= err;
        }
      });
    });
    const granted = await client.subscribeAsync(`${prefix}/+/ota`, { qos: 1 });
    if (granted.some((g) => g.qos === 128)) throw new TcuError('UPLINK_SUBSCRIBE', `the broker refused the subscription to ${prefix}/+/ota`);
    o.onReady?.();
    await new Promise<void>((resolve) => {
      if (o.signal?.aborted) return resolve();
      const timer = o.durationMs === undefined ? undefined : o.clock.setTimeout(finish, o.durationMs);
      o.signal?.addEventListener('abort', finish, { once: true });
      function finish(): void {
        if (timer !== undefined) o.clock.clearTimeout(timer);
        o.signal?.removeEventListener('abort', finish);
        resolve();
      }
    });
    await chain;
    if (failure !== undefined) throw failure;
  } finally {
    await client.endAsync(true).catch(() => undefined);
  }
  return { messages };
}
