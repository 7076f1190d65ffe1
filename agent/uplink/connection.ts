/** What mqtt.js is given per connection attempt, and how its failures map to our error codes. */
import { readFileSync } from 'node:fs';
import type { IClientOptions, MqttClient } from 'mqtt';
import type { Clock } from '../../core/clock.js';
import { TcuError } from '../../core/errors.js';
import type { ResolvedOptions, TlsOptions } from './options.js';

/** The certificate files, read once at start: a board's files do not change under a running agent. */
export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized: boolean;
}

function readPem(what: string, path: string | undefined): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new TcuError('FILE_READ', `cannot read the uplink's TLS ${what} file ${path}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
      details: { file: path, what },
    });
  }
}

export function loadTls(tls: TlsOptions | undefined): TlsMaterial | undefined {
  if (tls === undefined) return undefined;
  const material: TlsMaterial = { rejectUnauthorized: tls.rejectUnauthorized ?? true };
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new TcuError('CONFIG_INVALID', 'uplink option tls: a client certificate needs both cert and key', { details: { option: 'tls' } });
  }
  const ca = readPem('CA', tls.ca);
  const cert = readPem('certificate', tls.cert);
  const key = readPem('key', tls.key);
  if (ca !== undefined) material.ca = ca;
  if (cert !== undefined) material.cert = cert;
  if (key !== undefined) material.key = key;
  return material;
}

/**
 * mqtt.js options for one connection attempt. Each attempt gets a NEW client, and:
 *
 * - `reconnectPeriod: 0`: mqtt.js never reconnects by itself; the uplink does, with back-off.
 * - `clean: true` (MQTT 5: clean start, session expiry 0): the broker keeps no session for us.
 *   The durable copy of every unacknowledged record is the outbox, not a broker session.
 * - A fresh client per attempt means a fresh, empty outgoing store: publishes that were in
 *   flight on a dead connection are never re-sent by mqtt.js from its memory store (its
 *   `_onConnect` replays whatever the store holds). Their records stay in the outbox, are
 *   eligible again once the uplink forgets the dead session, and go out in new publishes: one
 *   resend path, the durable one, so a record is not sent twice over from two places.
 * - `resubscribe: false`: the command subscription is made by us on every CONNACK (the session
 *   is clean, so the broker forgot it anyway).
 * - `queueQoSZero: false`: nothing is queued while offline; we only publish when connected.
 * - MQTT 5 `maximumPacketSize` (`maxInboundPacketBytes`): the broker discards a larger command
 *   instead of sending it, so it is never read into memory here (MQTT 3.1.1 has no such limit).
 */
export function clientOptions(o: ResolvedOptions, tls: TlsMaterial | undefined, will: { topic: string; payload: Buffer }): IClientOptions {
  const b = o.broker;
  const options: IClientOptions = {
    protocolVersion: b.protocolVersion,
    clientId: b.clientId,
    keepalive: b.keepaliveSeconds,
    connectTimeout: b.connectTimeoutMs,
    reconnectPeriod: 0,
    clean: true,
    resubscribe: false,
    queueQoSZero: false,
    will: { topic: will.topic, payload: will.payload, qos: 1, retain: true },
  };
  if (b.protocolVersion === 5) options.properties = { sessionExpiryInterval: 0, maximumPacketSize: maxInboundPacketBytes(o) };
  if (b.username !== undefined) options.username = b.username;
  if (b.password !== undefined) options.password = b.password;
  if (tls) {
    options.rejectUnauthorized = tls.rejectUnauthorized;
    if (tls.ca) options.ca = tls.ca;
    if (tls.cert) options.cert = tls.cert;
    if (tls.key) options.key = tls.key;
  }
  return options;
}

/** Room in an inbound packet for MQTT 5 properties (response topic, correlation data, user properties). */
const PROPERTY_ALLOWANCE = 4096;
/** A limit below this would only make small over-limit commands go unanswered instead of refused. */
const MIN_COMMAND_ALLOWANCE = 1024;

/**
 * The largest packet the agent accepts (MQTT 5 CONNECT `maximumPacketSize`). Commands are the only
 * publishes it receives, so: the largest command payload it reads (`maxCommandBytes`, at least
 * 1 KiB, so that a command a little over the limit is still answered UPLINK_COMMAND_OVERSIZE),
 * plus the fixed header (5), the topic `<prefix>/<vin>/cmd/<name ≤ 64>` (2 + its bytes), the
 * packet id (2) and the properties (4 for their length, `PROPERTY_ALLOWANCE`). Acknowledgements
 * and CONNACK are far smaller (the broker leaves out optional properties that would not fit).
 */
export function maxInboundPacketBytes(o: Pick<ResolvedOptions, 'topicPrefix' | 'vin' | 'maxCommandBytes'>): number {
  const topic = Buffer.byteLength(`${o.topicPrefix}/${o.vin}/cmd/`) + 64;
  return Math.max(o.maxCommandBytes, MIN_COMMAND_ALLOWANCE) + 5 + 2 + topic + 2 + 4 + PROPERTY_ALLOWANCE;
}

/**
 * CONNACK reason codes that mean "not with these credentials": MQTT 3.1.1 return codes 4 (bad
 * user name or password) and 5 (not authorised); MQTT 5 0x86, 0x87, 0x8A (banned), 0x8C (bad
 * authentication method).
 */
const AUTH_CODES: Record<4 | 5, ReadonlySet<number>> = {
  4: new Set([4, 5]),
  5: new Set([0x86, 0x87, 0x8a, 0x8c]),
};

/** The error of a connection attempt that did not reach CONNACK, or was refused there. */
export function connectError(err: unknown, protocolVersion: 4 | 5, address: string): TcuError {
  if (err === undefined) return new TcuError('UPLINK_CONNECT', `the connection to ${address} closed before CONNACK`, { details: { address } });
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'number') {
    const auth = AUTH_CODES[protocolVersion].has(code);
    return new TcuError(auth ? 'UPLINK_AUTH' : 'UPLINK_CONNECT', `${address} refused the connection: ${message}`, { cause: err, details: { address, reasonCode: code } });
  }
  return new TcuError('UPLINK_CONNECT', `cannot connect to ${address}: ${message}`, {
    cause: err,
    details: { address, ...(typeof code === 'string' ? { errno: code } : {}) },
  });
}

/** Ends a client: gracefully (DISCONNECT: the broker discards the will) or forced; waits at most `boundMs`. */
export function endClient(client: MqttClient, force: boolean, clock: Clock, boundMs = 2000): Promise<void> {
  return new Promise((resolve) => {
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      clock.clearTimeout(timer);
      resolve();
    };
    const timer = clock.setTimeout(() => {
      client.stream?.destroy();
      finish();
    }, boundMs);
    try {
      client.end(force, {}, () => finish());
    } catch {
      finish();
    }
  });
}

/** Resolves to the promise's value, or to undefined after `ms` on the clock. */
export function within<T>(clock: Clock, promise: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = clock.setTimeout(() => resolve(undefined), ms);
    void promise.then((value) => {
      clock.clearTimeout(timer);
      resolve(value);
    });
  });
}
