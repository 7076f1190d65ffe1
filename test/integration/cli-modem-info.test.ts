/**
 * `tcu-agent modem-info`, the bundled program (dist/tcu-agent.mjs: `npm run build` first) as a
 * separate process, against the modem simulator as another (`dist/tcu-emulator.mjs modem --pty`)
 * on a REAL socat pseudo-terminal: what a developer bringing up a board would run.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOME_OPERATOR } from '../../hw-emulator/modem/index.js';
import { hasSocat, spawnModemSim, type ChildModemSim } from '../helpers/modem-sim.js';

interface Result {
  code: number;
  out: string;
  err: string;
}

function modemInfo(args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['dist/tcu-agent.mjs', 'modem-info', ...args], { timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, out: stdout, err: stderr });
    });
  });
}

/** The value of a line `name   value` of the text output. */
function field(text: string, name: string): string {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`no "${name}" line in:\n${text}`);
  return line.slice(name.length).trim();
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!hasSocat())('tcu-agent modem-info (bundled) against the simulator on a pty', () => {
  let home: ChildModemSim;
  const sims: ChildModemSim[] = [];

  beforeAll(async () => {
    home = await spawnModemSim({ scenario: 'steady-home', seed: 2 });
    sims.push(home);
  });

  afterAll(async () => {
    for (const sim of sims) await sim.stop();
  });

  it('prints identity, SIM, registration, operator, technology, signal and packet as text', async () => {
    const r = await modemInfo(['--port', home.at]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(field(r.out, 'port')).toBe(`${home.at} (quectel profile)`);
    expect(field(r.out, 'modem')).toMatch(/^Quectel RM500Q-GL, firmware RM500Q\w+$/);
    expect(field(r.out, 'IMEI')).toMatch(/^\d{15}$/);
    expect(field(r.out, 'SIM')).toMatch(/^ready, ICCID \d{19,20}, IMSI 26202\d{10}$/);
    expect(field(r.out, 'connectivity')).toBe('home');
    const registration = field(r.out, 'registration');
    for (const domain of ['cs', 'gprs', 'eps']) expect(registration).toMatch(new RegExp(`(^|; )${domain} home \\(LTE\\) area [0-9A-F]{4} cell [0-9A-F]{7}`));
    expect(registration).toContain('5gs not-registered');
    expect(field(r.out, 'operator')).toBe(`${HOME_OPERATOR.long} (${HOME_OPERATOR.mcc} ${HOME_OPERATOR.mnc})`);
    expect(field(r.out, 'technology')).toBe('NR');
    expect(field(r.out, 'signal')).toMatch(/^[1-5]\/5 bars, RSSI -\d+ dBm, RSRP -\d+ dBm, RSRQ -?\d+ dB, SINR -?\d+ dB$/);
    expect(field(r.out, 'packet')).toMatch(/^attached, address 10\.\d+\.\d+\.\d+$/);
    // Without the NMEA port the simulator's GNSS is off until AT+QGPS=1, which modem-info does not send.
    expect(field(r.out, 'position')).toMatch(/GNSS is off \(\+CME ERROR: 505\)/);
  });

  it('--json: one object with the snapshot, the connectivity and the position', async () => {
    const r = await modemInfo(['--port', home.at, '--json']);
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines).toHaveLength(1);
    const info = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(info).toMatchObject({
      link: 'open',
      profile: 'quectel',
      identity: { manufacturer: 'Quectel', model: 'RM500Q-GL', imei: expect.stringMatching(/^\d{15}$/), imsi: expect.stringMatching(/^26202\d{10}$/), iccid: expect.stringMatching(/^\d{19,20}$/) },
      sim: 'ready',
      registrations: { eps: { domain: 'eps', status: 'home', tech: 'LTE' }, gprs: { status: 'home' }, cs: { status: 'home' }, '5gs': { status: 'not-registered' } },
      operator: { name: HOME_OPERATOR.long, mcc: HOME_OPERATOR.mcc, mnc: HOME_OPERATOR.mnc },
      tech: 'NR',
      signal: { bars: expect.any(Number), rssiDbm: expect.any(Number), rsrpDbm: expect.any(Number) },
      packet: { attached: true, address: expect.stringMatching(/^10\./) },
      updatedAtMs: expect.any(Number),
      connectivity: { state: 'home', tech: 'NR', operator: HOME_OPERATOR.long, plmn: `${HOME_OPERATOR.mcc}${HOME_OPERATOR.mnc}` },
      position: { problem: expect.stringContaining('505') },
    });
  });

  it('--profile generic: no Quectel commands, so no position asked; --no-gnss leaves the position out', async () => {
    const generic = await modemInfo(['--port', home.at, '--profile', 'generic']);
    expect(generic.code).toBe(0);
    expect(field(generic.out, 'port')).toBe(`${home.at} (generic profile)`);
    expect(field(generic.out, 'technology')).toBe('LTE'); // +QENG would have shown the NR leg
    expect(field(generic.out, 'position')).toMatch(/^not asked: AT\+QGPSLOC needs a Quectel modem/);
    const json = await modemInfo(['--port', home.at, '--json', '--no-gnss']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.out)).not.toHaveProperty('position');
  });

  it('with the GNSS running (the simulator started with an NMEA port): the position', { timeout: 30_000 }, async () => {
    const sim = await spawnModemSim({ scenario: 'steady-home', seed: 3, nmea: true });
    sims.push(sim);
    // The first fix comes 3 to 8 s after power-on; the simulator says so on standard error.
    const deadline = Date.now() + 15_000;
    while (!sim.stderr().includes('"gnss":"fix"')) {
      if (Date.now() > deadline) throw new Error(`no GNSS fix reported: ${sim.stderr()}`);
      await sleep(100);
    }
    const r = await modemInfo(['--port', sim.at, '--json']);
    expect(r.code).toBe(0);
    const position = (JSON.parse(r.out) as { position: Record<string, unknown> }).position;
    expect(position).toMatchObject({ valid: true, source: 'qgpsloc', latitude: expect.any(Number), longitude: expect.any(Number), fixType: expect.stringMatching(/^[23]d$/) });
    const text = await modemInfo(['--port', sim.at]);
    expect(field(text.out, 'position')).toMatch(/^-?\d+\.\d{6}, -?\d+\.\d{6}(, [\d.]+ m)?, \d+ satellites, HDOP [\d.]+$/);
  });

  it('with no SIM: the SIM line says missing, and the connectivity offline', async () => {
    const sim = await spawnModemSim({ scenario: 'sim-missing' });
    sims.push(sim);
    const r = await modemInfo(['--port', sim.at]);
    expect(r.code).toBe(0);
    expect(field(r.out, 'SIM')).toBe('missing');
    expect(field(r.out, 'connectivity')).toBe('offline (sim-missing)');
    expect(field(r.out, 'operator')).toBe('unknown');
    expect(field(r.out, 'technology')).toBe('unknown');
    expect(field(r.out, 'IMEI')).toMatch(/^\d{15}$/);
    const json = JSON.parse((await modemInfo(['--port', sim.at, '--json'])).out) as { sim: string; identity: Record<string, unknown> };
    expect(json.sim).toBe('missing');
    expect(json.identity).not.toHaveProperty('imsi');
  });

  it('a port that does not exist: exit 1 and AT_PORT_OPEN naming it', async () => {
    const r = await modemInfo(['--port', '/nonexistent/ttyUSB9']);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^error AT_PORT_OPEN: the modem port \/nonexistent\/ttyUSB9 does not exist/);
  });

  it('a file that is not a serial port: exit 1 and AT_PORT_OPEN', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcu-modem-info-'));
    try {
      writeFileSync(join(dir, 'plain'), 'x');
      const r = await modemInfo(['--port', join(dir, 'plain')]);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/^error AT_PORT_OPEN: .* is not a serial port/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('bad usage: exit 2 with a message naming the problem', async () => {
    const cases: [string[], RegExp][] = [
      [[], /CLI_USAGE: --port is required/],
      [['--port', home.at, '--profile', 'huawei'], /CLI_USAGE: --profile must be auto, generic or quectel/],
      [['--port', home.at, '--timeout', '0'], /CLI_USAGE: --timeout must be a positive integer/],
      [['--port', home.at, '--baud', 'fast'], /CLI_USAGE: --baud must be a positive integer/],
      [['--port', home.at, '--bogus'], /CLI_USAGE/],
    ];
    for (const [args, message] of cases) {
      const r = await modemInfo(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err, args.join(' ')).toMatch(message);
    }
    const help = await modemInfo(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/^Usage: tcu-agent modem-info --port PATH/);
  });
});
