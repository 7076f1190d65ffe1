import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { isTcuError } from '../../../core/errors.js';
import { createConfigLoader, loadConfig, parseConfig, type AgentConfig } from '../../../config/index.js';
import { everything, minimal } from './samples.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../../..');
const examples = join(root, 'config/examples');

let dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tcu-config-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

describe('example configurations', () => {
  it('emulator.json loads, with paths resolved against config/examples', () => {
    const config = loadConfig(join(examples, 'emulator.json'));
    const [bus] = config.can.buses;
    expect(bus).toMatchObject({ name: 'pt', driver: 'socketcand', host: '127.0.0.1', port: 29536, bus: 'vcan0' });
    expect(bus?.dbc).toBe(join(root, 'hw-emulator/dbc/vw_mqb.dbc'));
    expect(config.outbox.path).toBe(join(root, 'tcu-state/outbox.db'));
    expect(config.uplink.url).toBe('mqtt://127.0.0.1:1883');
    expect(config.collect.ignition).toEqual({ signal: 'Klemmen_Status_01.ZAS_Kl_15', onValues: [1], priority: 'high' });
  });

  it('emulator.json names signals that exist in the DBC it points at', () => {
    const config = loadConfig(join(examples, 'emulator.json'));
    const dbc = readFileSync(config.can.buses[0]?.dbc ?? '', 'utf8');
    const named = [
      ...config.collect.periodic.flatMap((p) => p.signals),
      ...config.collect.onChange.map((c) => c.signal),
      config.collect.ignition?.signal ?? '',
    ];
    for (const key of named) {
      const [message, signal] = key.split('.');
      const block = new RegExp(`^BO_ \\d+ ${message}:[^\\n]*\\n(?:[ \\t]+SG_[^\\n]*\\n)*?[ \\t]+SG_ ${signal} `, 'm');
      expect(block.test(dbc), key).toBe(true);
    }
  });

  it('board.json loads: two SocketCAN buses, mutual TLS, absolute paths kept', () => {
    const config = loadConfig(join(examples, 'board.json'));
    expect(config.can.buses.map((b) => [b.driver, b.driver === 'socketcan' ? b.iface : ''])).toEqual([
      ['socketcan', 'can0'],
      ['socketcan', 'can1'],
    ]);
    expect(config.uplink.url.startsWith('mqtts://')).toBe(true);
    expect(config.uplink.tls).toEqual({
      ca: '/etc/tcu-agent/tls/ca.pem',
      cert: '/etc/tcu-agent/tls/device.crt',
      key: '/etc/tcu-agent/tls/device.key',
      rejectUnauthorized: true,
    });
    expect(config.outbox).toMatchObject({ path: '/var/lib/tcu-agent/outbox.db', synchronous: 'NORMAL' });
  });

  it('the README documents every field of the schema', () => {
    const readme = readFileSync(join(examples, 'README.md'), 'utf8');
    const loaded = parseConfig(everything());
    const paths: string[] = [];
    const walk = (v: unknown, path: string): void => {
      if (Array.isArray(v)) v.forEach((x) => walk(x, `${path}[]`));
      else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) walk(x, path === '' ? k : `${path}.${k}`);
      else paths.push(path);
    };
    walk(loaded, '');
    const missing = [...new Set(paths.map((p) => p.split('.').pop()?.replace('[]', '') ?? ''))].filter((name) => !readme.includes(`\`${name}\``));
    expect(missing).toEqual([]);
  });
});

describe('defaults', () => {
  it('fills in every default of a minimal configuration', () => {
    const config: AgentConfig = parseConfig(minimal());
    expect(config).toEqual({
      version: 1,
      vehicle: { vin: 'WVWZZZAUZLW000001', deviceId: 'dev-1', hardwareId: 'tcu-generic' },
      can: { buses: [{ name: 'can0', driver: 'socketcan', iface: 'can0', dbc: 'car.dbc' }] },
      collect: { periodic: [], onChange: [] },
      outbox: { path: 'state/outbox.db', maxBytes: 67108864, synchronous: 'NORMAL', commitIntervalMs: 200, commitMaxRecords: 1000, maxAgeSeconds: {} },
      uplink: {
        url: 'mqtt://127.0.0.1:1883',
        protocolVersion: 5,
        tls: { rejectUnauthorized: true },
        topicPrefix: 'tcu',
        keepaliveSeconds: 30,
        maxPayloadBytes: 131072,
        batchMaxRecords: 500,
        inflightWindow: 8,
        backoff: { initialMs: 1000, maxMs: 60000, jitter: 0.2 },
        connectTimeoutMs: 30000,
      },
      jobs: { heartbeat: '*/60 * * * * *', housekeeping: '*/30 * * * * *' },
      logging: { level: 'info' },
    });
    expect(config.uplink.clientId).toBeUndefined();
  });

  it('fills defaults inside list items and bus kinds', () => {
    const input = minimal();
    input.can = { buses: [{ name: 'log', driver: 'candump', path: 'a.log', dbc: 'car.dbc' }] };
    input.collect = {
      periodic: [{ name: 'p', everyMs: 100, signals: ['A.B'] }],
      onChange: [{ signal: 'A.C' }],
      ignition: { signal: 'A.D', onValues: ['On'] },
    };
    const config = parseConfig(input);
    expect(config.can.buses[0]).toEqual({ name: 'log', driver: 'candump', path: 'a.log', dbc: 'car.dbc', speed: 1, loop: false });
    expect(config.collect.periodic[0]?.priority).toBe('normal');
    expect(config.collect.onChange[0]).toEqual({ signal: 'A.C', deadband: 0, minIntervalMs: 1000, priority: 'normal' });
    expect(config.collect.ignition?.priority).toBe('high');
  });

  it('never changes the object it is given', () => {
    const input = minimal();
    const copy = structuredClone(input);
    parseConfig(input, { baseDir: '/somewhere' });
    expect(input).toEqual(copy);
  });

  it('is idempotent: a loaded configuration loads to itself', () => {
    const once = loadConfig(join(examples, 'emulator.json'));
    expect(parseConfig(once, { baseDir: '/elsewhere' })).toEqual(once);
  });

  it('a loader compiles once and can be used many times', () => {
    const loader = createConfigLoader();
    for (let i = 0; i < 3; i++) expect(loader.parse(minimal()).vehicle.hardwareId).toBe('tcu-generic');
  });
});

describe('relative paths', () => {
  it('are resolved against the configuration file folder; absolute ones stay', () => {
    const dir = tempDir();
    const input = minimal();
    input.can = {
      buses: [
        { name: 'a', driver: 'candump', path: 'logs/drive.log', dbc: '../shared/car.dbc' },
        { name: 'b', driver: 'socketcan', iface: 'can1', dbc: '/opt/dbc/b.dbc' },
      ],
    };
    input.uplink = { url: 'mqtts://broker:8883', tls: { ca: 'tls/ca.pem', cert: './tls/c.pem', key: '/k.pem' } };
    writeFileSync(join(dir, 'agent.json'), JSON.stringify(input));
    const config = loadConfig(join(dir, 'agent.json'));
    expect(config.can.buses[0]).toMatchObject({ path: join(dir, 'logs/drive.log'), dbc: resolve(dir, '../shared/car.dbc') });
    expect(config.can.buses[1]?.dbc).toBe('/opt/dbc/b.dbc');
    expect(config.outbox.path).toBe(join(dir, 'state/outbox.db'));
    expect(config.uplink.tls).toEqual({ ca: join(dir, 'tls/ca.pem'), cert: join(dir, 'tls/c.pem'), key: '/k.pem', rejectUnauthorized: true });
  });

  it('a relative file name is relative to the working directory, then to its folder', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'agent.json'), JSON.stringify(minimal()));
    const config = loadConfig(join(dir, '.', 'agent.json'));
    expect(config.can.buses[0]?.dbc).toBe(join(dir, 'car.dbc'));
  });

  it('parseConfig resolves against baseDir when given, and leaves paths as written otherwise; ":memory:" stays', () => {
    expect(parseConfig(minimal(), { baseDir: '/etc/tcu' }).outbox.path).toBe('/etc/tcu/state/outbox.db');
    expect(parseConfig(minimal()).outbox.path).toBe('state/outbox.db');
    const input = minimal();
    input.outbox = { path: ':memory:' };
    expect(parseConfig(input, { baseDir: '/etc/tcu' }).outbox.path).toBe(':memory:');
  });
});

describe('reading the file', () => {
  it('a missing file is FILE_READ naming the path', () => {
    const path = join(tempDir(), 'nope.json');
    let caught: unknown;
    try {
      loadConfig(path);
    } catch (err) {
      caught = err;
    }
    expect(isTcuError(caught, 'FILE_READ')).toBe(true);
    expect((caught as Error).message).toBe(`cannot read the configuration file ${path}: no such file`);
  });

  it('a folder is FILE_READ too', () => {
    expect(() => loadConfig(tempDir())).toThrow(expect.objectContaining({ code: 'FILE_READ' }));
  });

  it('a byte-order mark at the start is allowed', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'agent.json'), `\uFEFF${JSON.stringify(minimal(), null, 2)}`);
    expect(loadConfig(join(dir, 'agent.json')).vehicle.deviceId).toBe('dev-1');
  });
});
