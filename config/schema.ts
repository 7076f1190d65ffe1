/**
 * The JSON Schema (draft-07, ajv's default dialect) of the agent's configuration file, version 1.
 * Every object refuses unknown properties, so a typo is an error rather than a silent default.
 * Defaults live here (`default`) and ajv fills them in (`useDefaults`); the TypeScript types in
 * config/types.ts mirror this schema exactly (test/unit/config/types.test.ts holds them together).
 */
export type * from './types.js';

/**
 * Every pattern the schema uses, with the rule in the words an error message gives.
 * config/messages.ts looks patterns up here to say "must be a VIN" instead of printing the regex.
 */
export const PATTERNS = {
  vin: { pattern: '^[A-HJ-NPR-Z0-9]{17}$', words: 'must match the VIN format (17 characters, no I, O or Q)' },
  deviceId: { pattern: '^[^/+#\\s]{1,128}$', words: "must be 1 to 128 characters without '/', '+', '#' or spaces" },
  busName: { pattern: '^[A-Za-z0-9_.-]{1,15}$', words: "must be 1 to 15 letters, digits, '_', '.' or '-'" },
  iface: { pattern: '^[^\\s/:]{1,15}$', words: "must be a network interface name (1 to 15 characters, no spaces, '/' or ':')" },
  socketcandBus: { pattern: '^[^\\s<>]{1,64}$', words: "must be a bus name on the socketcand server (1 to 64 characters, no spaces, '<' or '>')" },
  signal: {
    pattern: '^[A-Za-z_][A-Za-z0-9_]*\\.[A-Za-z_][A-Za-z0-9_]*$',
    words: 'must be a signal name "Message.Signal" (two DBC identifiers joined by a dot)',
  },
  url: { pattern: '^(mqtts?|tcp|ssl|wss?)://[^\\s/?#]+', words: 'must be a broker URL starting with mqtt://, mqtts://, tcp://, ssl://, ws:// or wss://' },
  ecu: { pattern: '^[A-Za-z0-9_.-]{1,64}$', words: "must be 1 to 64 letters, digits, '_', '.' or '-'" },
  vehicleGroup: { pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$', words: "must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit" },
  topicPrefix: { pattern: '^[^+#/\\s](?:[^+#\\s]*[^+#/\\s])?$', words: "must be a topic prefix without '+', '#', spaces or a leading or trailing '/'" },
} as const;

const nonEmpty = { type: 'string', minLength: 1 } as const;
const signal = { type: 'string', pattern: PATTERNS.signal.pattern } as const;
const priorityEnum = ['low', 'normal', 'high', 'critical'] as const;
const busRef = { type: 'string', pattern: PATTERNS.busName.pattern } as const;
const busName = { type: 'string', pattern: PATTERNS.busName.pattern } as const;
const cron = { type: 'string', minLength: 1, maxLength: 200 } as const;
const seconds = { type: 'integer', minimum: 1 } as const;

const socketcanBus = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'driver', 'iface', 'dbc'],
  properties: {
    name: busName,
    driver: { const: 'socketcan' },
    iface: { type: 'string', pattern: PATTERNS.iface.pattern },
    dbc: nonEmpty,
  },
} as const;

const socketcandBus = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'driver', 'host', 'port', 'bus', 'dbc'],
  properties: {
    name: busName,
    driver: { const: 'socketcand' },
    host: nonEmpty,
    port: { type: 'integer', minimum: 1, maximum: 65535 },
    bus: { type: 'string', pattern: PATTERNS.socketcandBus.pattern },
    dbc: nonEmpty,
  },
} as const;

const candumpBus = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'driver', 'path', 'dbc'],
  properties: {
    name: busName,
    driver: { const: 'candump' },
    path: nonEmpty,
    speed: { type: 'number', minimum: 0, default: 1 },
    loop: { type: 'boolean', default: false },
    dbc: nonEmpty,
  },
} as const;

/** The bus kinds by `driver`; error messages report only the branch the `driver` value picks. */
export const BUS_DRIVERS = ['socketcan', 'socketcand', 'candump'] as const;

export const CONFIG_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'urn:tcu-agent:config:1',
  title: 'tcu-agent configuration, version 1',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'vehicle', 'can', 'outbox', 'uplink'],
  properties: {
    version: { const: 1 },
    vehicle: {
      type: 'object',
      additionalProperties: false,
      required: ['vin', 'deviceId'],
      properties: {
        vin: { type: 'string', pattern: PATTERNS.vin.pattern },
        deviceId: { type: 'string', pattern: PATTERNS.deviceId.pattern },
        hardwareId: { type: 'string', minLength: 1, default: 'tcu-generic' },
        groups: { type: 'array', uniqueItems: true, items: { type: 'string', pattern: PATTERNS.vehicleGroup.pattern } },
      },
    },
    can: {
      type: 'object',
      additionalProperties: false,
      required: ['buses'],
      properties: {
        buses: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            discriminator: { propertyName: 'driver' },
            oneOf: [socketcanBus, socketcandBus, candumpBus],
          },
        },
      },
    },
    collect: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        periodic: {
          type: 'array',
          default: [],
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'everyMs', 'signals'],
            properties: {
              name: nonEmpty,
              everyMs: { type: 'integer', minimum: 10 },
              maxAgeMs: { type: 'integer', minimum: 1, default: 5000 },
              signals: { type: 'array', minItems: 1, uniqueItems: true, items: signal },
              priority: { type: 'string', enum: priorityEnum, default: 'normal' },
              bus: busRef,
            },
          },
        },
        onChange: {
          type: 'array',
          default: [],
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['signal'],
            properties: {
              signal,
              deadband: { type: 'number', minimum: 0, default: 0 },
              minIntervalMs: { type: 'integer', minimum: 0, default: 1000 },
              priority: { type: 'string', enum: priorityEnum, default: 'normal' },
              bus: busRef,
            },
          },
        },
        ignition: {
          type: 'object',
          additionalProperties: false,
          required: ['signal', 'onValues'],
          properties: {
            signal,
            onValues: { type: 'array', minItems: 1, items: { type: ['number', 'string'] } },
            bus: busRef,
            priority: { type: 'string', enum: priorityEnum, default: 'high' },
          },
        },
      },
    },
    outbox: {
      type: 'object',
      additionalProperties: false,
      required: ['path'],
      properties: {
        path: nonEmpty,
        maxBytes: { type: 'integer', minimum: 65536, default: 67108864 },
        synchronous: { type: 'string', enum: ['OFF', 'NORMAL', 'FULL'], default: 'NORMAL' },
        commitIntervalMs: { type: 'integer', minimum: 1, maximum: 60000, default: 200 },
        commitMaxRecords: { type: 'integer', minimum: 1, default: 1000 },
        maxAgeSeconds: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: { low: seconds, normal: seconds, high: seconds, critical: seconds },
        },
      },
    },
    uplink: {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      properties: {
        url: { type: 'string', pattern: PATTERNS.url.pattern },
        protocolVersion: { enum: [4, 5], default: 5 },
        clientId: { type: 'string', minLength: 1, maxLength: 256 },
        username: { type: 'string' },
        password: { type: 'string' },
        tls: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            ca: nonEmpty,
            cert: nonEmpty,
            key: nonEmpty,
            rejectUnauthorized: { type: 'boolean', default: true },
          },
        },
        topicPrefix: { type: 'string', pattern: PATTERNS.topicPrefix.pattern, default: 'tcu' },
        keepaliveSeconds: { type: 'integer', minimum: 5, maximum: 3600, default: 30 },
        maxPayloadBytes: { type: 'integer', minimum: 1024, maximum: 268435455, default: 131072 },
        batchMaxRecords: { type: 'integer', minimum: 1, default: 500 },
        inflightWindow: { type: 'integer', minimum: 1, maximum: 100, default: 8 },
        backoff: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            initialMs: { type: 'integer', minimum: 1, default: 1000 },
            maxMs: { type: 'integer', minimum: 1, default: 60000 },
            jitter: { type: 'number', minimum: 0, maximum: 1, default: 0.2 },
          },
        },
        connectTimeoutMs: { type: 'integer', minimum: 1, default: 30000 },
      },
    },
    modem: {
      type: 'object',
      additionalProperties: false,
      required: ['port'],
      properties: {
        port: nonEmpty,
        baudRate: { type: 'integer', minimum: 1200, maximum: 4000000, default: 115200 },
        profile: { enum: ['auto', 'generic', 'quectel'], default: 'auto' },
        commandTimeoutMs: { type: 'integer', minimum: 100, maximum: 600000, default: 5000 },
        pollIntervalMs: { type: 'integer', minimum: 1000, default: 30000 },
        record: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            everyMs: { type: 'integer', minimum: 1000, default: 60000 },
            priority: { type: 'string', enum: priorityEnum, default: 'low' },
          },
        },
        roaming: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            minPriority: { type: 'string', enum: priorityEnum, default: 'low' },
          },
        },
        gnss: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            source: { enum: ['none', 'qgpsloc', 'nmea'], default: 'none' },
            nmeaPort: nonEmpty,
            nmeaBaudRate: { type: 'integer', minimum: 1200, maximum: 4000000, default: 115200 },
            pollIntervalMs: { type: 'integer', minimum: 1000, default: 10000 },
            everyMs: { type: 'integer', minimum: 1000, default: 10000 },
            priority: { type: 'string', enum: priorityEnum, default: 'normal' },
          },
        },
      },
    },
    ota: {
      type: 'object',
      additionalProperties: false,
      required: ['imageRepo', 'directorRepo', 'backend'],
      properties: {
        imageRepo: nonEmpty,
        directorRepo: nonEmpty,
        stateDir: nonEmpty,
        backend: {
          type: 'object',
          additionalProperties: false,
          required: ['type'],
          properties: {
            type: { enum: ['dir-slots', 'rauc', 'command'] },
            dir: nonEmpty,
            script: nonEmpty,
            command: nonEmpty,
          },
        },
        checkCron: { ...cron, default: '0 0 */6 * * *' },
        hmi: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            url: { type: 'string', pattern: PATTERNS.url.pattern, default: 'mqtt://127.0.0.1:1883' },
            topic: { type: 'string', pattern: PATTERNS.topicPrefix.pattern, default: 'tcu/hmi' },
            consentTimeoutS: { type: 'integer', minimum: 1, maximum: 86400, default: 600 },
          },
        },
        signals: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            socPercent: signal,
            speedKmh: signal,
            bus: busRef,
            maxAgeMs: { type: 'integer', minimum: 1, default: 5000 },
            parkedMaxSpeedKmh: { type: 'number', minimum: 0, default: 0.5 },
          },
        },
        maxBootAttempts: { type: 'integer', minimum: 1, maximum: 100, default: 3 },
        healthTimeoutS: { type: 'integer', minimum: 1, maximum: 3600, default: 120 },
        ecu: { type: 'string', pattern: PATTERNS.ecu.pattern, default: 'tcu' },
        download: {
          type: 'object',
          additionalProperties: false,
          properties: {
            bandwidthBytesPerS: { type: 'integer', minimum: 1 },
            minRateBytesPerS: { type: 'integer', minimum: 0 },
            slowWindowMs: { type: 'integer', minimum: 1000, maximum: 3600000 },
          },
        },
      },
    },
    jobs: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        heartbeat: { ...cron, default: '*/60 * * * * *' },
        housekeeping: { ...cron, default: '*/30 * * * * *' },
      },
    },
    logging: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        level: { type: 'string', enum: ['debug', 'info', 'warn', 'error', 'silent'], default: 'info' },
      },
    },
  },
} as const;
