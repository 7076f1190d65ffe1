import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TcuError } from '../../../core/errors.js';
import { parseConfig, parseConfigText, loadConfig, type ConfigProblem } from '../../../config/index.js';
import { minimal } from './samples.js';

/** The one CONFIG_INVALID error `run` throws. */
function failure(run: () => unknown): TcuError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(TcuError);
    expect((err as TcuError).code).toBe('CONFIG_INVALID');
    return err as TcuError;
  }
  throw new Error('expected CONFIG_INVALID, nothing was thrown');
}

function problems(input: unknown): ConfigProblem[] {
  return failure(() => parseConfig(input)).details.problems as ConfigProblem[];
}

/** Stands for "remove this property" in `variant`. */
const REMOVE = Symbol('remove');

/** minimal() with values set (or removed) at JSON pointers; missing objects on the way are created. */
function variant(...changes: [pointer: string, value: unknown][]): Record<string, unknown> {
  const c = minimal();
  for (const [pointer, value] of changes) {
    const keys = pointer.split('/').slice(1);
    const last = keys.pop() as string;
    let node = c as Record<string, unknown>;
    for (const k of keys) node = (node[k] ??= {}) as Record<string, unknown>;
    if (value === REMOVE) delete node[last];
    else node[last] = value;
  }
  return c;
}

describe('schema errors name the path and the rule', () => {
  it.each([
    ['unknown property', '/can/buses/0/ifface', 'can0', { path: '/can/buses/0', message: 'unknown property "ifface" (did you mean "iface"?)' }],
    ['unknown property, nothing close', '/uplink/colour', 'red', { path: '/uplink', message: 'unknown property "colour"' }],
    ['unknown top-level property', '/mqtt', {}, { path: '/', message: 'unknown property "mqtt"' }],
    ['missing property', '/vehicle/deviceId', REMOVE, { path: '/vehicle', message: 'missing required property "deviceId"' }],
    ['wrong type', '/uplink/keepaliveSeconds', '30', { path: '/uplink/keepaliveSeconds', message: 'must be an integer' }],
    ['wrong type: boolean', '/uplink/tls', { rejectUnauthorized: 'no' }, { path: '/uplink/tls/rejectUnauthorized', message: 'must be true or false' }],
    ['wrong type: object', '/vehicle', 'car', { path: '/vehicle', message: 'must be an object' }],
    ['below minimum', '/uplink/keepaliveSeconds', 4, { path: '/uplink/keepaliveSeconds', message: 'must be >= 5' }],
    ['above maximum', '/uplink/inflightWindow', 101, { path: '/uplink/inflightWindow', message: 'must be <= 100' }],
    ['port out of range', '/can/buses/0', { name: 'x', driver: 'socketcand', host: 'h', port: 70000, bus: 'b', dbc: 'd' }, { path: '/can/buses/0/port', message: 'must be <= 65535' }],
    ['bad enum', '/outbox/synchronous', 'normal', { path: '/outbox/synchronous', message: 'must be one of "OFF", "NORMAL", "FULL"' }],
    ['bad numeric enum', '/uplink/protocolVersion', 3, { path: '/uplink/protocolVersion', message: 'must be one of 4, 5' }],
    ['bad VIN (letter O)', '/vehicle/vin', 'WVWZZZAUZLWO00001', { path: '/vehicle/vin', message: 'must match the VIN format (17 characters, no I, O or Q)' }],
    ['bad VIN (length)', '/vehicle/vin', 'WVWZZZ', { path: '/vehicle/vin', message: 'must match the VIN format (17 characters, no I, O or Q)' }],
    ['bad signal name', '/collect', { onChange: [{ signal: 'EngineSpeed' }] }, { path: '/collect/onChange/0/signal', message: 'must be a signal name "Message.Signal" (two DBC identifiers joined by a dot)' }],
    ['empty signal list', '/collect', { periodic: [{ name: 'p', everyMs: 100, signals: [] }] }, { path: '/collect/periodic/0/signals', message: 'must have at least one item' }],
    ['no buses', '/can/buses', [], { path: '/can/buses', message: 'must have at least one item' }],
    ['bad bus name', '/can/buses/0/name', 'my bus', { path: '/can/buses/0/name', message: "must be 1 to 15 letters, digits, '_', '.' or '-'" }],
    ['unknown driver', '/can/buses/0/driver', 'slcan', { path: '/can/buses/0/driver', message: 'must be one of "socketcan", "socketcand", "candump"' }],
    ['no driver', '/can/buses/0/driver', REMOVE, { path: '/can/buses/0', message: 'missing required property "driver" (one of "socketcan", "socketcand", "candump")' }],
    ['bad URL scheme', '/uplink/url', 'http://broker', { path: '/uplink/url', message: 'must be a broker URL starting with mqtt://, mqtts://, tcp://, ssl://, ws:// or wss://' }],
    ['bad topic prefix', '/uplink/topicPrefix', 'tcu/', { path: '/uplink/topicPrefix', message: "must be a topic prefix without '+', '#', spaces or a leading or trailing '/'" }],
    ['wildcard in topic prefix', '/uplink/topicPrefix', 'a/+/b', { path: '/uplink/topicPrefix', message: "must be a topic prefix without '+', '#', spaces or a leading or trailing '/'" }],
    ['empty string', '/outbox/path', '', { path: '/outbox/path', message: 'must not be empty' }],
    ['repeated signal', '/collect', { periodic: [{ name: 'p', everyMs: 100, signals: ['A.B', 'A.B'] }] }, { path: '/collect/periodic/0/signals', message: 'must not repeat an item (items 0 and 1 are the same)' }],
    ['ignition value of a wrong type', '/collect', { ignition: { signal: 'A.B', onValues: [true] } }, { path: '/collect/ignition/onValues/0', message: 'must be a number or a string' }],
  ])('%s', (_name, pointer, value, expected) => {
    expect(problems(variant([pointer, value]))).toEqual([expected]);
  });

  it('a misspelt required property is reported once, as unknown with a suggestion; a wrong guess still reports both', () => {
    expect(problems(variant(['/vehicle/vinn', 'WVWZZZAUZLW000001'], ['/vehicle/vin', REMOVE]))).toEqual([
      { path: '/vehicle', message: 'unknown property "vinn" (did you mean "vin"?)' },
    ]);
    expect(problems(variant(['/vehicle/hardwareid', 'x'], ['/vehicle/vin', REMOVE]))).toEqual([
      { path: '/vehicle', message: 'missing required property "vin"' },
      { path: '/vehicle', message: 'unknown property "hardwareid" (did you mean "hardwareId"?)' },
    ]);
  });

  it('"__proto__" and other inherited names are unknown properties like any other', () => {
    const text = JSON.stringify(minimal()).replace('{"version":1', '{"version":1,"__proto__":{"polluted":true}');
    expect(failure(() => parseConfigText(text)).details.problems).toEqual([{ path: '/', message: 'unknown property "__proto__"' }]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(problems(variant(['/vehicle/constructor', 1]))).toEqual([{ path: '/vehicle', message: 'unknown property "constructor"' }]);
  });

  it('a bus reports only the errors of the kind its driver names, not of the other kinds', () => {
    const got = problems(variant(['/can/buses/0', { name: 'x', driver: 'socketcand', host: 'h', port: 0, dbc: 'd' }]));
    expect(got).toEqual([
      { path: '/can/buses/0', message: 'missing required property "bus"' },
      { path: '/can/buses/0/port', message: 'must be >= 1' },
    ]);
  });

  it('every problem is reported at once, one line each, in the message and in details', () => {
    const err = failure(() =>
      parseConfig(
        variant(['/uplink/keepaliveSeconds', 1], ['/can/buses/0/ifface', 'x'], ['/vehicle/vin', 'x']),
        { source: '/etc/tcu-agent/config.json' },
      ),
    );
    expect(err.message).toBe(
      [
        'the configuration /etc/tcu-agent/config.json is invalid (3 problems):',
        '  /vehicle/vin: must match the VIN format (17 characters, no I, O or Q)',
        '  /can/buses/0: unknown property "ifface" (did you mean "iface"?)',
        '  /uplink/keepaliveSeconds: must be >= 5',
      ].join('\n'),
    );
    expect(err.details.source).toBe('/etc/tcu-agent/config.json');
    expect(err.details.problems).toHaveLength(3);
  });

  it('a password never appears in an error', () => {
    const err = failure(() => parseConfig(variant(['/uplink', { url: 'mqtt://user:s3cret@', password: 's3cret', keepaliveSeconds: 0 }])));
    expect(JSON.stringify({ m: err.message, d: err.details })).not.toContain('s3cret');
  });
});

describe('consistency errors', () => {
  it('duplicate bus names name the second one and the first', () => {
    const got = problems(
      variant(['/can/buses/1', { name: 'can0', driver: 'socketcan', iface: 'can1', dbc: 'x.dbc' }], ['/can/buses/2', { name: 'can0', driver: 'socketcan', iface: 'can2', dbc: 'x.dbc' }]),
    );
    expect(got).toEqual([
      { path: '/can/buses/1/name', message: 'duplicate bus name "can0" (already used by /can/buses/0)' },
      { path: '/can/buses/2/name', message: 'duplicate bus name "can0" (already used by /can/buses/0)' },
    ]);
  });

  it('a reference to a bus that does not exist', () => {
    const got = problems(
      variant(['/collect', {
          periodic: [{ name: 'p', everyMs: 100, signals: ['A.B'], bus: 'can9' }],
          onChange: [{ signal: 'A.B', bus: 'can0' }, { signal: 'A.C', bus: 'body' }],
          ignition: { signal: 'A.D', onValues: [1], bus: 'CAN0' },
        }]),
    );
    expect(got).toEqual([
      { path: '/collect/periodic/0/bus', message: 'no bus named "can9" in /can/buses (the buses are "can0")' },
      { path: '/collect/onChange/1/bus', message: 'no bus named "body" in /can/buses (the buses are "can0")' },
      { path: '/collect/ignition/bus', message: 'no bus named "CAN0" in /can/buses (the buses are "can0")' },
    ]);
  });

  it('duplicate periodic group names', () => {
    const group = { name: 'g', everyMs: 100, signals: ['A.B'] };
    expect(problems(variant(['/collect', { periodic: [group, group] }]))).toEqual([
      { path: '/collect/periodic/1/name', message: 'duplicate periodic group name "g" (already used by /collect/periodic/0)' },
    ]);
  });

  it('TLS: cert without key, and TLS files on a plain URL', () => {
    expect(problems(variant(['/uplink', { url: 'mqtts://b', tls: { cert: 'c.pem' } }]))).toEqual([
      { path: '/uplink/tls', message: '"cert" and "key" go together (a client certificate needs its private key); only "cert" is set' },
    ]);
    expect(problems(variant(['/uplink', { url: 'mqtt://b', tls: { ca: 'ca.pem' } }]))).toEqual([
      { path: '/uplink/tls', message: '"ca" set, but the URL scheme "mqtt" does not use TLS (use mqtts://, ssl:// or wss://)' },
    ]);
  });

  it('modem: NMEA without its port, and the NMEA port on the AT port', () => {
    expect(problems(variant(['/modem', { port: '/dev/ttyUSB2', gnss: { source: 'nmea' } }]))).toEqual([
      { path: '/modem/gnss', message: 'source "nmea" needs "nmeaPort" (the modem\'s NMEA serial port, e.g. "/dev/ttyUSB1")' },
    ]);
    expect(problems(variant(['/modem', { port: '/dev/ttyUSB2', gnss: { source: 'nmea', nmeaPort: '/dev/ttyUSB2' } }]))).toEqual([
      { path: '/modem/gnss/nmeaPort', message: 'must differ from /modem/port ("/dev/ttyUSB2"): NMEA and AT commands use separate ports' },
    ]);
  });

  it('back-off maximum below its start', () => {
    expect(problems(variant(['/uplink/backoff', { initialMs: 5000, maxMs: 1000 }]))).toEqual([{ path: '/uplink/backoff/maxMs', message: 'must be >= initialMs (5000)' }]);
  });

  it('a URL that matches the scheme but does not parse', () => {
    expect(problems(variant(['/uplink/url', 'mqtt://broker:99999']))).toEqual([
      { path: '/uplink/url', message: 'must be a valid URL (scheme, host and optional port, e.g. "mqtts://broker.example.com:8883")' },
    ]);
  });

  it('a cron expression node-cron refuses', () => {
    expect(problems(variant(['/jobs', { heartbeat: '60 * * * * *', housekeeping: 'every minute' }]))).toEqual([
      { path: '/jobs/heartbeat', message: 'must be a cron expression (5 fields, or 6 with seconds first): 60 is a invalid expression for second' },
      { path: '/jobs/housekeeping', message: 'must be a cron expression (5 fields, or 6 with seconds first): expected 5 or 6 fields but got 2' },
    ]);
  });
});

describe('versions', () => {
  it('a file without a version is refused, saying which version to write', () => {
    const input = minimal();
    delete input.version;
    expect(problems(input)).toEqual([{ path: '/', message: 'missing required property "version" (this agent reads configuration version 1: add "version": 1)' }]);
  });

  it('a file newer than the agent is refused', () => {
    expect(problems(variant(['/version', 2]))).toEqual([
      { path: '/version', message: 'version 2 is newer than this agent supports (it reads up to version 1); update the agent or write a version 1 file' },
    ]);
  });

  it('a version that is not a whole number is refused', () => {
    for (const v of ['1', 1.5, -1, null]) {
      expect(problems(variant(['/version', v]))).toEqual([{ path: '/version', message: 'must be a whole number (the configuration version; this agent reads 1)' }]);
    }
  });

  it('a version older than any migration is refused', () => {
    expect(problems(variant(['/version', 0]))).toEqual([{ path: '/version', message: 'version 0 is too old: this agent has no migration from version 0 to 1' }]);
  });

  it('not an object at all', () => {
    for (const v of [null, [], 'config', 42]) expect(problems(v)).toEqual([{ path: '/', message: 'must be an object' }]);
  });
});

describe('JSON syntax', () => {
  it.each([
    ['a missing comma', '{\n  "version": 1\n  "vehicle": {}\n}', 3, 3, "expected ',' or '}' after property value"],
    ['a trailing comma', '{\n  "version": 1,\n}', 3, 1, 'expected double-quoted property name'],
    ['a missing value (Node gives no position)', '{\n  "version": 1,\n  "vehicle": }', 3, 14, "unexpected token '}'"],
    ['a bad literal (Node gives no position)', '{"a": tru}', 1, 10, "unexpected token '}'"],
    ['a cut-off file', '{\n  "version": 1,\n', 3, 1, 'expected double-quoted property name'],
    ['a cut-off string', '{\n  "version": 1,\n  "veh', 3, 7, 'unterminated string'],
    ['an unexpected end (Node gives no position)', '{"a":', 1, 6, 'unexpected end of JSON input'],
    ['two commas (Node gives no position)', '[1,2,,]', 1, 6, "unexpected token ','"],
    ['text after the JSON', '{}\n{}', 2, 1, 'unexpected non-whitespace character after JSON'],
    ['an empty file', '', 1, 1, 'unexpected end of JSON input'],
  ])('%s: line and column', (_name, text, line, column, reason) => {
    const err = failure(() => parseConfigText(text, { source: 'agent.json' }));
    expect(err.message).toBe(`the configuration agent.json is invalid (1 problem):\n  /: invalid JSON at line ${line}, column ${column}: ${reason}`);
    expect(err.details).toMatchObject({ line, column, problems: [{ path: '/' }] });
  });

  it('the error never quotes the file (it could hold a password)', () => {
    const err = failure(() => parseConfigText('{"uplink": {"password": "s3cret", "x": }}'));
    expect(err.message).not.toContain('s3cret');
  });

  it('loadConfig reports the file name and position', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcu-config-'));
    try {
      writeFileSync(join(dir, 'agent.json'), '{\n  "version": 1,\n  "vehicle": {"vin": tru}\n}');
      const err = failure(() => loadConfig(join(dir, 'agent.json')));
      expect(err.message).toBe(`the configuration ${join(dir, 'agent.json')} is invalid (1 problem):\n  /: invalid JSON at line 3, column 25: unexpected token '}'`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
