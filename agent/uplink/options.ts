/** Options of the uplink, their defaults, and what it counts. */
import type { Clock } from '../../core/clock.js';
import { systemClock } from '../../core/clock.js';
import { TcuError } from '../../core/errors.js';
import { silentLogger, type Logger } from '../../core/logger.js';
import type { Outbox } from '../outbox/types.js';
import { resolveBackoff, type BackoffOptions, type ResolvedBackoff } from './backoff.js';
import type { CommandHandler } from './commands.js';
import { DEFAULT_MAX_PAYLOAD_BYTES } from './payload.js';

export interface TlsOptions {
  /** PEM file of the CA(s) that signed the broker's certificate. Read once, at start. */
  ca?: string;
  /** PEM file of our client certificate (goes with `key`). */
  cert?: string;
  /** PEM file of our client key. Never logged. */
  key?: string;
  /** Refuse a broker whose certificate does not verify. Default true. */
  rejectUnauthorized?: boolean;
}

/**
 * The broker and the delivery tuning. Field names are those of the configuration file's `uplink`
 * section (config/types.ts `UplinkConfig`), so the agent passes that section as it is.
 */
export interface UplinkSettings {
  /** `mqtt://host:1883`, `mqtts://host:8883` (TLS), also tcp://, ssl://, ws://, wss://. */
  url: string;
  /** 5 = MQTT 5 (default), 4 = MQTT 3.1.1. */
  protocolVersion?: 4 | 5;
  /** Default `tcu-<vin>` (the `clientId` option beside `config` wins over this one). */
  clientId?: string;
  username?: string;
  /** Never logged. */
  password?: string;
  /** Used with a TLS scheme (mqtts, ssl, wss); the files are read once, at start. */
  tls?: TlsOptions;
  /** Topics are `<topicPrefix>/<vin>/...`. Default `tcu`. */
  topicPrefix?: string;
  /** Default 60. */
  keepaliveSeconds?: number;
  /** No payload is larger (bytes). A record that alone is larger is dropped and counted. Default 131072. */
  maxPayloadBytes?: number;
  /** Records asked of the outbox per batch. Default 2000. */
  batchMaxRecords?: number;
  /** Publishes sent and not yet acknowledged, at most. Default 8. */
  inflightWindow?: number;
  backoff?: BackoffOptions;
  /** From starting a connection to CONNACK. Default 30 000 ms. */
  connectTimeoutMs?: number;
}

export interface UplinkOptions {
  config: UplinkSettings;
  vin: string;
  /** Overrides `config.clientId`. */
  clientId?: string;
  outbox: Outbox;
  clock?: Clock;
  /** Randomness in [0, 1) for the back-off jitter. Default Math.random. */
  random?: () => number;
  logger?: Logger;
  /** When the outbox was found empty, look again after this long without a notify(). Default 5000 ms. */
  pollIntervalMs?: number;
  /** Command handlers by name, added to (and overriding) the built-in ping, status and flush. */
  commands?: ReadonlyMap<string, CommandHandler> | Readonly<Record<string, CommandHandler>>;
  /**
   * Command payloads larger than this are answered UPLINK_COMMAND_OVERSIZE, not parsed. Under MQTT 5
   * it also sets the maximum packet size sent in CONNECT (`maxInboundPacketBytes`): the broker drops
   * a command far larger unsent. Default 16384 bytes.
   */
  maxCommandBytes?: number;
  /** Default 30 000 ms. */
  commandTimeoutMs?: number;
  /** What the `status` command answers. Default: the uplink counters and the outbox stats. */
  statusProvider?: () => Record<string, unknown>;
}

export interface ResolvedBroker {
  url: string;
  /** For logs: the URL without credentials or path. */
  address: string;
  secure: boolean;
  protocolVersion: 4 | 5;
  clientId: string;
  username: string | undefined;
  password: string | undefined;
  tls: TlsOptions | undefined;
  keepaliveSeconds: number;
  connectTimeoutMs: number;
}

export interface ResolvedOptions {
  vin: string;
  topicPrefix: string;
  broker: ResolvedBroker;
  outbox: Outbox;
  clock: Clock;
  random: () => number;
  logger: Logger;
  backoff: ResolvedBackoff;
  inflightWindow: number;
  batchMaxRecords: number;
  maxPayloadBytes: number;
  pollIntervalMs: number;
  commands: ReadonlyMap<string, CommandHandler>;
  maxCommandBytes: number;
  commandTimeoutMs: number;
  statusProvider: (() => Record<string, unknown>) | undefined;
}

function invalid(option: string, rule: string, value: unknown): TcuError {
  return new TcuError('CONFIG_INVALID', `uplink option ${option}: ${rule} (got ${JSON.stringify(value)})`, { details: { option } });
}

function integer(name: string, value: number | undefined, fallback: number, min = 1): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min) throw invalid(name, `must be an integer of at least ${min}`, v);
  return v;
}

const SECURE_SCHEMES = new Set(['mqtts:', 'ssl:', 'wss:']);
const SCHEMES = new Set(['mqtt:', 'tcp:', 'ws:', ...SECURE_SCHEMES]);

function resolveBroker(c: UplinkSettings, vin: string, clientId: string | undefined): ResolvedBroker {
  let url: URL;
  try {
    url = new URL(c.url);
  } catch {
    throw invalid('url', 'must be a URL such as mqtts://broker.example.com:8883', c.url);
  }
  if (!SCHEMES.has(url.protocol) || url.hostname === '') throw invalid('url', 'must be mqtt://, mqtts://, tcp://, ssl://, ws:// or wss:// with a host', c.url);
  const protocolVersion = c.protocolVersion ?? 5;
  if (protocolVersion !== 4 && protocolVersion !== 5) throw invalid('protocolVersion', 'must be 4 (MQTT 3.1.1) or 5', protocolVersion);
  const secure = SECURE_SCHEMES.has(url.protocol);
  return {
    url: c.url,
    address: `${url.protocol}//${url.host}`,
    secure,
    protocolVersion,
    clientId: clientId ?? c.clientId ?? `tcu-${vin}`,
    username: c.username,
    password: c.password,
    tls: secure ? (c.tls ?? {}) : undefined,
    keepaliveSeconds: integer('keepaliveSeconds', c.keepaliveSeconds, 60, 0),
    connectTimeoutMs: integer('connectTimeoutMs', c.connectTimeoutMs, 30_000),
  };
}

export function resolveOptions(options: UplinkOptions): ResolvedOptions {
  const c = options.config;
  const commands = options.commands instanceof Map ? options.commands : new Map(Object.entries(options.commands ?? {}));
  return {
    vin: options.vin,
    topicPrefix: c.topicPrefix ?? 'tcu',
    broker: resolveBroker(c, options.vin, options.clientId),
    outbox: options.outbox,
    clock: options.clock ?? systemClock(),
    random: options.random ?? Math.random,
    logger: options.logger ?? silentLogger(),
    backoff: resolveBackoff(c.backoff),
    inflightWindow: integer('inflightWindow', c.inflightWindow, 8),
    batchMaxRecords: integer('batchMaxRecords', c.batchMaxRecords, 2000),
    maxPayloadBytes: integer('maxPayloadBytes', c.maxPayloadBytes, DEFAULT_MAX_PAYLOAD_BYTES, 256),
    pollIntervalMs: integer('pollIntervalMs', options.pollIntervalMs, 5000),
    commands,
    maxCommandBytes: integer('maxCommandBytes', options.maxCommandBytes, 16_384),
    commandTimeoutMs: integer('commandTimeoutMs', options.commandTimeoutMs, 30_000),
    statusProvider: options.statusProvider,
  };
}

export const UPLINK_COUNTER_NAMES = [
  /** Records put into publishes (a record sent again after a lost connection counts again). */
  'published',
  /** Records acknowledged by the broker (PUBACK) and removed from the outbox. */
  'acknowledged',
  /** Publishes of records sent. */
  'publishes',
  /** Publishes acknowledged. */
  'publishesAcknowledged',
  /** Payload bytes published. */
  'bytesPublished',
  /** Publishes the broker refused (PUBACK with an error reason); their records are sent again later. */
  'publishFailures',
  /** Records that were in flight when a connection ended: they stay in the outbox and go again. */
  'requeued',
  /** Records larger than maxPayloadBytes on their own: reported (UPLINK_OVERSIZE) and deleted. */
  'oversizeDropped',
  /** Sessions established (CONNACK accepted). */
  'connects',
  /** Sessions established after the first one. */
  'reconnects',
  /** Connection attempts that failed for any reason but refused credentials. */
  'connectFailures',
  /** Connection attempts the broker refused for our credentials (UPLINK_AUTH). */
  'authFailures',
  /** Connections lost after they were established. */
  'disconnects',
  /** Command requests received (valid or not). */
  'commands',
  /** Retained status messages published. */
  'statusPublished',
] as const;

export type UplinkCounterName = (typeof UPLINK_COUNTER_NAMES)[number];

export type UplinkCounters = Record<UplinkCounterName, number> & {
  /** Refused or failed commands, per error code. */
  commandErrors: Record<string, number>;
  /** Publishes in flight now. */
  inFlightPublishes: number;
  /** Records in flight now. */
  inFlightRecords: number;
};
