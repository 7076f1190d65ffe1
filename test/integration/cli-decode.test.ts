import { spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { runAgent } from '../helpers/cli.js';

const DBC = 'test/fixtures/dbc-small/engine.dbc';
const LOG = 'test/fixtures/logs/engine.log';

const run = runAgent;

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

  it('counts an over-long line as malformed without holding it, and carries on', async () => {
    const long = 'x'.repeat(1_000_000);
    const r = await run(['decode', '--dbc', DBC], `${long}\n(1700000000.000100) can0 100#401F5A0300000000\n${long}`);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual(EXPECTED[0]);
    expect(r.err).toMatch(/1 frames read, 1 decoded, 0 unknown ids, 0 remote or error frames, 2 malformed lines/);
    expect(r.err).toMatch(/malformed line 1: line longer than 4096 characters/);
  });

  it('writes a float signal holding NaN or an infinity as null, with and without --choices', async () => {
    // FloatSig is an IEEE float32 (SIG_VALTYPE_ 1): 7FC00000 is NaN, 7F800000 is +Infinity.
    for (const choices of [[], ['--choices']]) {
      const r = await run(['decode', '--dbc', 'test/fixtures/dbc-small/float.dbc', ...choices], '(1.000000) can0 200#0000C07F\n(2.000000) can0 200#0000807F\n(3.000000) can0 200#0000C03F\n');
      expect(r.out.trim().split('\n').map((l) => (JSON.parse(l) as { signals: unknown }).signals)).toEqual([{ FloatSig: null }, { FloatSig: null }, { FloatSig: 1.5 }]);
    }
  });

  it('reports an unreadable log as FILE_READ with exit code 2', async () => {
    const r = await run(['decode', '--dbc', DBC, '--log', 'test/fixtures']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/FILE_READ/);
  });

  it('stops quietly when the reader of its output goes away (| head)', async () => {
    const child = spawn(process.execPath, ['dist/tcu-agent.mjs', 'decode', '--dbc', DBC]);
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const line = '(1700000000.000100) can0 100#401F5A0300000000\n'.repeat(2000);
    child.stdin.on('error', () => undefined);
    child.stdout.once('data', () => child.stdout.destroy());
    const feed = setInterval(() => child.stdin.write(line), 5);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearInterval(feed);
    expect(code).toBe(0);
    expect(err).not.toMatch(/Error|at /);
  });

  it('prints the program help on standard error with exit code 2 when no command is given', async () => {
    const r = await run([]);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/Usage: tcu-agent <command>/);
  });

  it('works as the bundled program reading a pipe', () => {
    const r = spawnSync(process.execPath, ['dist/tcu-agent.mjs', 'decode', '--dbc', DBC], {
      input: '(1700000000.000100) can0 100#401F5A0300000000\n',
    });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout.toString())).toEqual(EXPECTED[0]);
  });
});
