import type { AgentConfigInput } from '../../../config/index.js';

/** The smallest valid configuration. */
export function minimal(): Record<string, unknown> {
  return {
    version: 1,
    vehicle: { vin: 'WVWZZZAUZLW000001', deviceId: 'dev-1' },
    can: { buses: [{ name: 'can0', driver: 'socketcan', iface: 'can0', dbc: 'car.dbc' }] },
    outbox: { path: 'state/outbox.db' },
    uplink: { url: 'mqtt://127.0.0.1:1883' },
  };
}

/** Every field of the file form set, with a valid value. */
export function everything(): AgentConfigInput {
  return {
    version: 1,
    vehicle: { vin: '1M8GDM9AXKP042788', deviceId: 'unit-7', hardwareId: 'rev-b', groups: ['pilot', 'fleet-b'] },
    can: {
      buses: [
        { name: 'can0', driver: 'socketcan', iface: 'can0', dbc: '/a.dbc' },
        { name: 'remote', driver: 'socketcand', host: 'localhost', port: 29536, bus: 'vcan0', dbc: '/b.dbc' },
        { name: 'log', driver: 'candump', path: '/c.log', speed: 0, loop: true, dbc: '/c.dbc' },
      ],
    },
    collect: {
      periodic: [{ name: 'p', everyMs: 10, maxAgeMs: 1234, signals: ['M.S'], priority: 'critical', bus: 'can0' }],
      onChange: [{ signal: 'M.T', deadband: 0.5, minIntervalMs: 0, priority: 'low', bus: 'remote' }],
      ignition: { signal: 'M.K', onValues: [1, 'On'], bus: 'log', priority: 'normal' },
    },
    outbox: {
      path: '/o.db',
      maxBytes: 65536,
      synchronous: 'FULL',
      commitIntervalMs: 60000,
      commitMaxRecords: 1,
      maxAgeSeconds: { low: 1, normal: 2, high: 3, critical: 4 },
    },
    uplink: {
      url: 'wss://broker.example.com:443/mqtt',
      protocolVersion: 4,
      clientId: 'c',
      username: 'u',
      password: 'p',
      tls: { ca: '/ca.pem', cert: '/c.pem', key: '/k.pem', rejectUnauthorized: false },
      topicPrefix: 'a/b',
      keepaliveSeconds: 3600,
      maxPayloadBytes: 268435455,
      batchMaxRecords: 1,
      inflightWindow: 100,
      backoff: { initialMs: 1, maxMs: 1, jitter: 1 },
      connectTimeoutMs: 1,
    },
    modem: {
      port: '/dev/ttyUSB2',
      baudRate: 921600,
      profile: 'quectel',
      commandTimeoutMs: 100,
      pollIntervalMs: 1000,
      record: { everyMs: 1000, priority: 'critical' },
      roaming: { minPriority: 'high' },
      gnss: { source: 'nmea', nmeaPort: '/dev/ttyUSB1', nmeaBaudRate: 9600, pollIntervalMs: 1000, everyMs: 1000, priority: 'low' },
    },
    ota: {
      imageRepo: 'https://ota.example.com/image',
      directorRepo: '/media/usb/director',
      stateDir: '/var/lib/tcu-agent/ota',
      // Each backend type reads its own field; the others are ignored (but allowed).
      backend: { type: 'command', dir: '/slots', script: '/usr/libexec/tcu-install', command: '/usr/bin/rauc' },
      checkCron: '0 30 2 * * *',
      hmi: { url: 'mqtt://127.0.0.1:1884', topic: 'vehicle/hmi', consentTimeoutS: 1 },
      signals: { socPercent: 'BMS.Soc', speedKmh: 'ESP.Speed', bus: 'can0', maxAgeMs: 1, parkedMaxSpeedKmh: 0 },
      maxBootAttempts: 1,
      healthTimeoutS: 3600,
      ecu: 'tcu-main',
      download: { bandwidthBytesPerS: 1_000_000, minRateBytesPerS: 100_000, slowWindowMs: 30_000 },
    },
    jobs: { heartbeat: '* * * * *', housekeeping: '0 0 * * * *' },
    logging: { level: 'silent' },
  };
}
