/**
 * The agent's configuration as TypeScript types, written by hand to match `CONFIG_SCHEMA`
 * (config/schema.ts) field for field; a type-level test holds the two together.
 *
 * Two forms: `AgentConfigInput` is the file as written (optional fields may be left out), and
 * `AgentConfig` is what `parseConfig` / `loadConfig` return: every default filled in and relative
 * paths resolved. Durations are in milliseconds unless the name says otherwise.
 */

/** Where a record goes in the outbox's order: higher sends first and is evicted last. */
export type PriorityName = 'low' | 'normal' | 'high' | 'critical';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type SqliteSynchronous = 'OFF' | 'NORMAL' | 'FULL';
export type MqttProtocolVersion = 4 | 5;

// ---------------------------------------------------------------- the file as written

export interface VehicleConfigInput {
  /** ISO 3779: 17 characters, capital letters and digits without I, O and Q. */
  vin: string;
  /** The unit's identity towards the cloud (the default MQTT client id is `tcu-<deviceId>`): no '/', '+', '#' or spaces. */
  deviceId: string;
  /** Default "tcu-generic". */
  hardwareId?: string;
  /** Vehicle groups for staged rollouts (a group stage admits a vehicle in one of its groups); absent: none. */
  groups?: string[];
}

export interface SocketCanBusConfigInput {
  /** The agent's name for the bus (records, logs, `bus` references): `^[A-Za-z0-9_.-]{1,15}$`. */
  name: string;
  driver: 'socketcan';
  /** The kernel interface, e.g. "can0". */
  iface: string;
  /** DBC file; relative to the configuration file's folder. */
  dbc: string;
}

export interface SocketcandBusConfigInput {
  name: string;
  driver: 'socketcand';
  host: string;
  /** 1..65535 */
  port: number;
  /** The bus name on the socketcand server, e.g. "vcan0". */
  bus: string;
  dbc: string;
}

export interface CandumpBusConfigInput {
  name: string;
  driver: 'candump';
  /** candump -L log file; relative to the configuration file's folder. */
  path: string;
  /** 1 = recorded speed, 2 = twice as fast, 0 = as fast as possible. Default 1. */
  speed?: number;
  /** Start again at the end of the log. Default false. */
  loop?: boolean;
  dbc: string;
}

export type BusConfigInput = SocketCanBusConfigInput | SocketcandBusConfigInput | CandumpBusConfigInput;

export interface CanConfigInput {
  /** At least one; names unique. */
  buses: BusConfigInput[];
}

export interface PeriodicCollectConfigInput {
  /** Unique among the periodic groups. */
  name: string;
  /** Integer >= 10. */
  everyMs: number;
  /** A signal whose message has not arrived for longer than this is left out of the record
   * (a silent bus sends nothing rather than stale values). Integer >= 1, default 5000. */
  maxAgeMs?: number;
  /** "Message.Signal" names, at least one, no repeats. */
  signals: string[];
  /** Default "normal". */
  priority?: PriorityName;
  /** Look the signals up on this bus only; absent: on every bus, first match. */
  bus?: string;
}

export interface OnChangeCollectConfigInput {
  /** "Message.Signal" */
  signal: string;
  /** A change smaller than this is not a change. Number >= 0, default 0. */
  deadband?: number;
  /** At most one record per this interval. Integer >= 0, default 1000. */
  minIntervalMs?: number;
  /** Default "normal". */
  priority?: PriorityName;
  bus?: string;
}

export interface IgnitionConfigInput {
  /** "Message.Signal" */
  signal: string;
  /** Values meaning "on": numbers (physical values) or value-table texts. At least one. */
  onValues: (number | string)[];
  bus?: string;
  /** Default "high". */
  priority?: PriorityName;
}

export interface CollectConfigInput {
  /** Default []. */
  periodic?: PeriodicCollectConfigInput[];
  /** Default []. */
  onChange?: OnChangeCollectConfigInput[];
  /** No default: without it the agent watches no ignition signal. */
  ignition?: IgnitionConfigInput;
}

/** Age limits per priority, in seconds (integers >= 1); a priority left out has none. */
export interface MaxAgeSeconds {
  low?: number;
  normal?: number;
  high?: number;
  critical?: number;
}

export interface OutboxConfigInput {
  /** SQLite file; relative to the configuration file's folder (":memory:" is kept as is). */
  path: string;
  /** Byte cap of stored records. Integer >= 65536, default 67108864 (64 MiB). */
  maxBytes?: number;
  /** SQLite `PRAGMA synchronous`. Default "NORMAL". */
  synchronous?: SqliteSynchronous;
  /** Integer 1..60000, default 200. */
  commitIntervalMs?: number;
  /** Integer >= 1, default 1000. */
  commitMaxRecords?: number;
  /** Default {}. */
  maxAgeSeconds?: MaxAgeSeconds;
}

export interface TlsConfigInput {
  /** PEM files; relative to the configuration file's folder. `cert` and `key` go together. */
  ca?: string;
  cert?: string;
  key?: string;
  /** Default true. */
  rejectUnauthorized?: boolean;
}

export interface BackoffConfigInput {
  /** Integer >= 1, default 1000. */
  initialMs?: number;
  /** Integer >= 1 and >= initialMs, default 60000. */
  maxMs?: number;
  /** Fraction of each delay drawn at random, 0..1, default 0.2. */
  jitter?: number;
}

export interface UplinkConfigInput {
  /** mqtt://, mqtts://, tcp://, ssl://, ws:// or wss:// */
  url: string;
  /** 4 = MQTT 3.1.1, 5 = MQTT 5. Default 5. */
  protocolVersion?: MqttProtocolVersion;
  /** Absent: the agent derives one from `vehicle.deviceId`. */
  clientId?: string;
  username?: string;
  password?: string;
  /** Default {}. */
  tls?: TlsConfigInput;
  /** Default "tcu"; no '+', '#', no leading or trailing '/'. */
  topicPrefix?: string;
  /** Integer 5..3600, default 30. */
  keepaliveSeconds?: number;
  /** Integer 1024..268435455, default 131072. */
  maxPayloadBytes?: number;
  /** Integer >= 1, default 500. */
  batchMaxRecords?: number;
  /** Publishes awaiting PUBACK, integer 1..100, default 8. */
  inflightWindow?: number;
  /** Default {}. */
  backoff?: BackoffConfigInput;
  /** Integer >= 1, default 30000. */
  connectTimeoutMs?: number;
}

export type ModemProfileChoice = 'auto' | 'generic' | 'quectel';
export type GnssSource = 'none' | 'qgpsloc' | 'nmea';

export interface ModemConfigInput {
  /** The modem's AT port (`/dev/ttyUSB2`). */
  port: string;
  /** Integer 1200..4000000, default 115200. */
  baudRate?: number;
  /** Default "auto": Quectel when AT+CGMI/AT+CGMM says so, generic 3GPP TS 27.007 otherwise. */
  profile?: ModemProfileChoice;
  /** Per AT command, integer 100..600000, default 5000. */
  commandTimeoutMs?: number;
  /** Registration, operator, signal and packet poll, integer >= 1000, default 30000. URCs update at once in between. */
  pollIntervalMs?: number;
  /** The `modem` record. Default {}. */
  record?: { everyMs?: number; priority?: PriorityName };
  /** While roaming only records of this priority or higher are sent. Default {minPriority: "low"}: everything. */
  roaming?: { minPriority?: PriorityName };
  /** Default {source: "none"}. */
  gnss?: GnssConfigInput;
}

export interface GnssConfigInput {
  /** "qgpsloc": Quectel's AT+QGPSLOC on the AT port; "nmea": sentences on `nmeaPort`. Default "none". */
  source?: GnssSource;
  /** The modem's NMEA port (`/dev/ttyUSB1`); required when source is "nmea". */
  nmeaPort?: string;
  /** Default 115200. */
  nmeaBaudRate?: number;
  /** AT+QGPSLOC query period, integer >= 1000, default 10000. */
  pollIntervalMs?: number;
  /** The `location` record's period, integer >= 1000, default 10000. */
  everyMs?: number;
  /** Default "normal". */
  priority?: PriorityName;
}

export type OtaBackendType = 'dir-slots' | 'rauc' | 'command';

export interface OtaBackendConfigInput {
  /** "dir-slots": A/B folders (the agent's own bundle); "rauc": the rauc program; "command": an integrator's script. */
  type: OtaBackendType;
  /** dir-slots: the slots folder (required). Ignored by the other types. */
  dir?: string;
  /** command: the script (required). Ignored by the other types. */
  script?: string;
  /** rauc: the rauc program (default "rauc" on PATH). Ignored by the other types. */
  command?: string;
}

export interface OtaHmiConfigInput {
  /** The LOCAL broker the HMI listens on. Default "mqtt://127.0.0.1:1883". */
  url?: string;
  /** Topic root of the HMI messages. Default "tcu/hmi". */
  topic?: string;
  /** How long a consent request waits for the user's answer, integer 1..86400, default 600. */
  consentTimeoutS?: number;
}

export interface OtaSignalsConfigInput {
  /** "Message.Signal" of the state of charge, in percent. */
  socPercent?: string;
  /** "Message.Signal" of the vehicle speed, in km/h. */
  speedKmh?: string;
  /** Look the signals up on this bus only; absent: on every bus, first match. */
  bus?: string;
  /** A value whose message is older than this is unknown. Integer >= 1, default 5000. */
  maxAgeMs?: number;
  /** At or below this speed the vehicle counts as parked. Number >= 0, default 0.5. */
  parkedMaxSpeedKmh?: number;
}

/** The target download's limits (docs/OTA.md, "Download"). Absent fields: the downloader's defaults. */
export interface OtaDownloadConfigInput {
  /** Bandwidth cap, bytes per second, integer >= 1. Absent: no cap. */
  bandwidthBytesPerS?: number;
  /** Slow retrieval: below this rate over `slowWindowMs` a download is abandoned (OTA_SLOW_RETRIEVAL). Integer >= 0 (0: off); absent: 1024, or half the cap when lower. */
  minRateBytesPerS?: number;
  /** The slow-retrieval window, ms. Integer 1000..3600000; absent: 30000. */
  slowWindowMs?: number;
}

export interface OtaConfigInput {
  /** The image repository: an http(s):// or file:// URL, or a folder. */
  imageRepo: string;
  /** The director repository: an http(s):// or file:// URL, or a folder. */
  directorRepo: string;
  /** Trusted metadata, campaign store, downloads. Absent: `<the outbox's folder>/ota`. */
  stateDir?: string;
  backend: OtaBackendConfigInput;
  /** node-cron expression of the update check. Default "0 0 *\/6 * * *" (every 6 hours). */
  checkCron?: string;
  /** Default {}. */
  hmi?: OtaHmiConfigInput;
  /** Default {}. */
  signals?: OtaSignalsConfigInput;
  /** Unconfirmed boots of a new slot before falling back. Integer 1..100, default 3. */
  maxBootAttempts?: number;
  /** Integer 1..3600, default 120. */
  healthTimeoutS?: number;
  /** The TCU's name in the software inventory. Default "tcu". */
  ecu?: string;
  /** Absent: no bandwidth cap, the downloader's slow-retrieval defaults. */
  download?: OtaDownloadConfigInput;
}

export interface JobsConfigInput {
  /** node-cron expression (5 fields, or 6 with seconds first). Default "*\/60 * * * * *". */
  heartbeat?: string;
  /** Default "*\/30 * * * * *". */
  housekeeping?: string;
}

export interface LoggingConfigInput {
  /** Default "info". */
  level?: LogLevel;
}

/** The configuration file as written. */
export interface AgentConfigInput {
  /** The configuration format's version: `CURRENT_CONFIG_VERSION` (older files are migrated to it first). */
  version: 1;
  vehicle: VehicleConfigInput;
  can: CanConfigInput;
  /** Default {}. */
  collect?: CollectConfigInput;
  outbox: OutboxConfigInput;
  uplink: UplinkConfigInput;
  /** Absent: no modem; the uplink is always allowed to connect (a developer machine, a board on Ethernet). */
  modem?: ModemConfigInput;
  /** Absent: the agent runs no update campaigns of its own (`tcu-agent ota apply` still works). */
  ota?: OtaConfigInput;
  /** Default {}. */
  jobs?: JobsConfigInput;
  /** Default {}. */
  logging?: LoggingConfigInput;
}

// ---------------------------------------------------------------- loaded: defaults applied

export interface VehicleConfig {
  vin: string;
  deviceId: string;
  hardwareId: string;
  groups?: string[];
}

export type SocketCanBusConfig = SocketCanBusConfigInput;
export type SocketcandBusConfig = SocketcandBusConfigInput;

export interface CandumpBusConfig {
  name: string;
  driver: 'candump';
  path: string;
  speed: number;
  loop: boolean;
  dbc: string;
}

export type BusConfig = SocketCanBusConfig | SocketcandBusConfig | CandumpBusConfig;
export type BusDriver = BusConfig['driver'];

export interface CanConfig {
  buses: BusConfig[];
}

export interface PeriodicCollectConfig {
  name: string;
  everyMs: number;
  maxAgeMs: number;
  signals: string[];
  priority: PriorityName;
  bus?: string;
}

export interface OnChangeCollectConfig {
  signal: string;
  deadband: number;
  minIntervalMs: number;
  priority: PriorityName;
  bus?: string;
}

export interface IgnitionConfig {
  signal: string;
  onValues: (number | string)[];
  bus?: string;
  priority: PriorityName;
}

export interface CollectConfig {
  periodic: PeriodicCollectConfig[];
  onChange: OnChangeCollectConfig[];
  ignition?: IgnitionConfig;
}

export interface OutboxConfig {
  path: string;
  maxBytes: number;
  synchronous: SqliteSynchronous;
  commitIntervalMs: number;
  commitMaxRecords: number;
  maxAgeSeconds: MaxAgeSeconds;
}

export interface TlsConfig {
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized: boolean;
}

export interface BackoffConfig {
  initialMs: number;
  maxMs: number;
  jitter: number;
}

export interface UplinkConfig {
  url: string;
  protocolVersion: MqttProtocolVersion;
  clientId?: string;
  username?: string;
  password?: string;
  tls: TlsConfig;
  topicPrefix: string;
  keepaliveSeconds: number;
  maxPayloadBytes: number;
  batchMaxRecords: number;
  inflightWindow: number;
  backoff: BackoffConfig;
  connectTimeoutMs: number;
}

export interface JobsConfig {
  heartbeat: string;
  housekeeping: string;
}

export interface LoggingConfig {
  level: LogLevel;
}

/** The configuration as loaded: every default filled in, relative paths resolved. */
export interface ModemConfig {
  port: string;
  baudRate: number;
  profile: ModemProfileChoice;
  commandTimeoutMs: number;
  pollIntervalMs: number;
  record: { everyMs: number; priority: PriorityName };
  roaming: { minPriority: PriorityName };
  gnss: GnssConfig;
}

export interface GnssConfig {
  source: GnssSource;
  nmeaPort?: string;
  nmeaBaudRate: number;
  pollIntervalMs: number;
  everyMs: number;
  priority: PriorityName;
}

export type OtaBackendConfig = OtaBackendConfigInput;

export interface OtaHmiConfig {
  url: string;
  topic: string;
  consentTimeoutS: number;
}

export interface OtaSignalsConfig {
  socPercent?: string;
  speedKmh?: string;
  bus?: string;
  maxAgeMs: number;
  parkedMaxSpeedKmh: number;
}

export interface OtaConfig {
  imageRepo: string;
  directorRepo: string;
  stateDir?: string;
  backend: OtaBackendConfig;
  checkCron: string;
  hmi: OtaHmiConfig;
  signals: OtaSignalsConfig;
  maxBootAttempts: number;
  healthTimeoutS: number;
  ecu: string;
  download?: OtaDownloadConfig;
}

export type OtaDownloadConfig = OtaDownloadConfigInput;

export interface AgentConfig {
  version: 1;
  vehicle: VehicleConfig;
  can: CanConfig;
  collect: CollectConfig;
  outbox: OutboxConfig;
  uplink: UplinkConfig;
  modem?: ModemConfig;
  ota?: OtaConfig;
  jobs: JobsConfig;
  logging: LoggingConfig;
}

/** One thing wrong with a configuration: a JSON pointer ("/uplink/keepaliveSeconds", "/" for the whole file) and the rule in plain words. */
export interface ConfigProblem {
  path: string;
  message: string;
}
