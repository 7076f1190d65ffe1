import { spawnSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { tcuAgent } from '../../agent/cli/main.js';

const DBC = 'test/fixtures/dbc-small/engine.dbc';
const LOG = 'test/fixtures/logs/engine.log';

async function run(argv: string[], stdinText = '') {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  stdin.end(stdinText);
  const code = await tcuAgent(argv, { stdin, stdout, stderr });
  return { code, out, err };
}

const EXPECTED = [
  { ts: 1700000000.0001, bus: 'can0', id: 256, ext: false, name: 'Engine', signals: { EngineSpeed: 2000, CoolantTemp: 50, Gear: 3 } },
  { ts: 1700000000.0002, bus: 'can0', id: 0x18fef1fe, ext: true, name: 'Wheels', signals: { WheelSpeed: 100 } },
  { ts: 1700000000.0005, bus: 'can1', id: 256, ext: false, name: 'Engine', signals: { EngineSpeed: 2000 } },
];

describe('tcu-agent decode', () => {
  it('decodes a log file into the documented JSON lines, counting what it skipped', async () => {
    const r = await run(['decode', '--dbc', DBC, '--log', LOG]);
    expect(r.code).toBe(0);
    expect(r.out.trim().split('\n').map((l) => JSON.parse(l) as unknown)).toEqual(EXPECTED);
    expect(r.err).toMatch(/5 frames read, 3 decoded, 1 unknown ids, 1 remote or error frames, 1 malformed lines/);
    expect(r.err).toMatch(/malformed line 4/);
  });

  it('reads standard input without --log and prints value-table text with --choices', async () => {
    const r = await run(['decode', '--dbc', DBC, '--choices'], '(1700000000.000100) can0 100#401F5A0300000000');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ ...EXPECTED[0], signals: { EngineSpeed: 2000, CoolantTemp: 50, Gear: 'D' } });
  });

  it('refuses bad usage and missing files with exit code 2', async () => {
    expect((await run(['decode'])).code).toBe(2);
    expect((await run(['decode', '--dbc', DBC, '--bogus'])).code).toBe(2);
    expect((await run(['decode', '--dbc', 'no/such.dbc'])).code).toBe(2);
    expect((await run(['decode', '--dbc', DBC, '--log', 'no/such.log'])).code).toBe(2);
    expect((await run(['nonsense'])).code).toBe(2);
  });

  it('loads a DBC with warnings by default and refuses it with --strict', async () => {
    const dbc = 'test/fixtures/dbc/chrysler_cusw.dbc';
    const tolerant = await run(['decode', '--dbc', dbc], '');
    expect(tolerant.code).toBe(0);
    expect(tolerant.err).toMatch(/DBC_EXTENDED_ID/);
    const strict = await run(['decode', '--dbc', dbc, '--strict'], '');
    expect(strict.code).toBe(2);
    expect(strict.err).toMatch(/DBC_EXTENDED_ID/);
  });

  it('prints help for the program and the command', async () => {
    expect((await run(['--help'])).out).toMatch(/Usage: tcu-agent <command>/);
    expect((await run(['decode', '--help'])).out).toMatch(/--choices/);
  });

  it('works as the bundled program reading a pipe', () => {
    const r = spawnSync(process.execPath, ['dist/tcu-agent.mjs', 'decode', '--dbc', DBC], {
      input: '(1700000000.000100) can0 100#401F5A0300000000\n',
    });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout.toString())).toEqual(EXPECTED[0]);
  });
});
