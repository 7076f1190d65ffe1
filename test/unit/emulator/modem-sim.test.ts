import { PassThrough } from 'node:stream';
import { SerialPortStream } from '@serialport/stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isTcuError } from '../../../core/errors.js';
import { tcuEmulator } from '../../../hw-emulator/cli/main.js';
import {
  findScenario,
  modemSimBinding,
  ModemSimulator,
  nmeaChecksum,
  nmeaCoordinate,
  parseCommandLine,
  phaseAt,
  SCENARIOS,
  validateScenario,
  withLuhn,
  type ModemSimulatorOptions,
  type Scenario,
} from '../../../hw-emulator/modem/index.js';
import { VehicleModel } from '../../../hw-emulator/vehicle/index.js';
import { FakeClock } from '../../helpers/fake-clock.js';

const SEED = 7;

/** A simulator on a fake clock with everything it writes recorded, with the clock time of each chunk. */
function rig(options: Partial<ModemSimulatorOptions> = {}) {
  const clock = new FakeClock();
  const t0 = clock.now();
  const sim = new ModemSimulator({ clock, seed: SEED, ...options });
  let out = '';
  const chunks: { at: number; text: string }[] = [];
  sim.onData((c) => {
    out += c.toString('latin1');
    chunks.push({ at: clock.now() - t0, text: c.toString('latin1') });
  });
  let nmea = '';
  sim.onNmea((c) => (nmea += c.toString('latin1')));
  sim.start();
  /** Sends one command line and returns what the modem wrote back by the time it is answered (no delays). */
  const send = (line: string, waitMs = 0): string => {
    const from = out.length;
    sim.receive(`${line}\r`);
    clock.advance(waitMs);
    return out.slice(from);
  };
  return { clock, t0, sim, send, chunks, out: () => out, nmea: () => nmea, elapsed: () => clock.now() - t0 };
}

/** The lines a modem wrote, blank lines dropped (what an AT engine splits on CR/LF). */
function lines(text: string): string[] {
  return text.split(/\r\n|\r|\n/).filter((l) => l !== '');
}

/** URC lines with the time they arrived (ms after start). */
function urcsMatching(r: ReturnType<typeof rig>, prefix: string): { at: number; line: string }[] {
  return r.chunks.flatMap((c) => lines(c.text).filter((l) => l.startsWith(prefix)).map((line) => ({ at: c.at, line })));
}

function validNmea(line: string): boolean {
  const m = /^\$([^*]*)\*([0-9A-F]{2})$/.exec(line);
  return m !== null && nmeaChecksum(m[1]!) === m[2];
}

/** NMEA ddmm.mmmmmm + hemisphere to degrees. */
function degrees(value: string, hemisphere: string, degDigits: number): number {
  const d = Number(value.slice(0, degDigits)) + Number(value.slice(degDigits)) / 60;
  return hemisphere === 'S' || hemisphere === 'W' ? -d : d;
}

describe('modem simulator: commands, byte-exact', () => {
  it('echoes by default, ATE0 turns it off (its own reply is still echoed), ATE1 back on', () => {
    const r = rig();
    expect(r.send('AT')).toBe('AT\r\r\nOK\r\n');
    expect(r.send('ATE0')).toBe('ATE0\r\r\nOK\r\n');
    expect(r.send('AT')).toBe('\r\nOK\r\n');
    expect(r.send('ATE1')).toBe('\r\nOK\r\n');
    expect(r.send('at')).toBe('at\r\r\nOK\r\n');
  });

  it('echoes bytes as they arrive, honours backspace, ignores the LF after CR and text before AT', () => {
    const r = rig();
    let seen = '';
    r.sim.onData((c) => (seen += c.toString('latin1')));
    r.sim.receive('A');
    expect(seen).toBe('A');
    r.sim.receive('TX\bI\r\n');
    expect(seen).toBe('ATX\bI\r\n\r\nQuectel\r\nRM500Q-GL\r\nRevision: RM500QGLABR11A06M4G\r\n\r\nOK\r\n');
    r.send('ATE0');
    expect(r.send('\n\0 AT')).toBe('\r\nOK\r\n');
    expect(r.send('hello')).toBe('');
  });

  it('answers identity commands like a Quectel RM500Q, and an EC25 when asked', () => {
    const r = rig();
    r.send('ATE0');
    expect(r.send('ATI')).toBe('\r\nQuectel\r\nRM500Q-GL\r\nRevision: RM500QGLABR11A06M4G\r\n\r\nOK\r\n');
    expect(r.send('AT+CGMI')).toBe('\r\nQuectel\r\n\r\nOK\r\n');
    expect(r.send('AT+CGMM')).toBe('\r\nRM500Q-GL\r\n\r\nOK\r\n');
    expect(r.send('AT+CGMR')).toBe('\r\nRM500QGLABR11A06M4G\r\n\r\nOK\r\n');
    const imei = lines(r.send('AT+CGSN'))[0]!;
    expect(imei).toMatch(/^\d{15}$/);
    expect(withLuhn(imei.slice(0, 14))).toBe(imei);
    expect(r.send('AT+GSN')).toBe(`\r\n${imei}\r\n\r\nOK\r\n`);
    expect(lines(r.send('AT+CIMI'))[0]).toMatch(/^26202\d{10}$/);
    const iccid = /^\+QCCID: (\d{20})$/.exec(lines(r.send('AT+QCCID'))[0]!)![1]!;
    expect(withLuhn(iccid.slice(0, 19))).toBe(iccid);
    expect(r.send('AT+CCID')).toBe(`\r\n+CCID: ${iccid}\r\n\r\nOK\r\n`);
    expect(r.sim.identity.imei).toBe(imei);

    const ec25 = rig({ model: 'EC25' });
    ec25.send('ATE0');
    expect(ec25.send('ATI')).toBe('\r\nQuectel\r\nEC25\r\nRevision: EC25EFAR06A06M4G\r\n\r\nOK\r\n');
    expect(ec25.send('AT+C5GREG?')).toBe('\r\n+CME ERROR: 4\r\n');
  });

  it('answers registration, operator, signal and packet queries in 27.007 and Quectel formats', () => {
    const r = rig();
    r.send('ATE0');
    expect(r.send('AT+CPIN?')).toBe('\r\n+CPIN: READY\r\n\r\nOK\r\n');
    expect(r.send('AT+CFUN?')).toBe('\r\n+CFUN: 1\r\n\r\nOK\r\n');
    expect(r.send('AT+CREG?')).toBe('\r\n+CREG: 0,1\r\n\r\nOK\r\n');
    expect(r.send('AT+CEREG=2')).toBe('\r\nOK\r\n');
    expect(r.send('AT+CEREG?')).toMatch(/^\r\n\+CEREG: 2,1,"[0-9A-F]{4}","[0-9A-F]{7}",7\r\n\r\nOK\r\n$/);
    expect(r.send('AT+C5GREG?')).toBe('\r\n+C5GREG: 0,0\r\n\r\nOK\r\n');
    expect(r.send('AT+CREG=?')).toBe('\r\n+CREG: (0-2)\r\n\r\nOK\r\n');
    expect(r.send('AT+COPS?')).toBe('\r\n+COPS: 0,0,"Vodafone.de",7\r\n\r\nOK\r\n');
    expect(r.send('AT+COPS=3,2')).toBe('\r\nOK\r\n');
    expect(r.send('AT+COPS?')).toBe('\r\n+COPS: 0,2,"26202",7\r\n\r\nOK\r\n');
    expect(r.send('AT+CSQ')).toMatch(/^\r\n\+CSQ: ([12]\d|3[01]),99\r\n\r\nOK\r\n$/);
    expect(r.send('AT+QCSQ')).toMatch(/^\r\n\+QCSQ: "LTE",-\d+,-\d+,\d+,-\d+\r\n\+QCSQ: "NR5G",-\d+,-?\d+,-\d+\r\n\r\nOK\r\n$/);
    const qeng = lines(r.send('AT+QENG="servingcell"'));
    expect(qeng[0]).toBe('+QENG: "servingcell","NOCONN"');
    expect(qeng[1]).toMatch(/^\+QENG: "LTE","FDD",262,02,[0-9A-F]{7},\d+,\d+,\d+,[35],[35],[0-9A-F]{4},-\d+,-\d+,-\d+,-?\d+,\d+,-,\d+$/);
    expect(qeng[2]).toMatch(/^\+QENG: "NR5G-NSA",262,02,\d+,-\d+,-?\d+,-\d+,\d{6},78,12,1$/);
    expect(qeng[3]).toBe('OK');
    expect(r.send('AT+QNWINFO')).toMatch(/^\r\n\+QNWINFO: "FDD LTE","26202","LTE BAND \d+",\d+\r\n\r\nOK\r\n$/);
    expect(r.send('AT+QSPN')).toBe('\r\n+QSPN: "Vodafone.de","Vodafone","Vodafone",0,"26202"\r\n\r\nOK\r\n');
    expect(r.send('AT+CGATT?')).toBe('\r\n+CGATT: 1\r\n\r\nOK\r\n');
    expect(r.send('AT+CGPADDR')).toMatch(/^\r\n\+CGPADDR: 1,"10\.\d+\.\d+\.\d+"\r\n\r\nOK\r\n$/);
    expect(r.send('AT+CGDCONT?')).toBe('\r\n+CGDCONT: 1,"IP","web.vodafone.de","0.0.0.0",0,0,0,0\r\n\r\nOK\r\n');
    expect(r.send('AT+CGDCONT=1,"IPV4V6","internet"')).toBe('\r\nOK\r\n');
    expect(r.send('AT+CGDCONT?')).toBe('\r\n+CGDCONT: 1,"IPV4V6","internet","0.0.0.0",0,0,0,0\r\n\r\nOK\r\n');
    // Several commands on one line: all information lines, one final result code.
    expect(r.send('AT+CREG?;+CGREG?')).toBe('\r\n+CREG: 0,1\r\n+CGREG: 0,1\r\n\r\nOK\r\n');

    const ec25 = rig({ model: 'EC25' });
    ec25.send('ATE0');
    expect(lines(ec25.send('AT+QENG="servingcell"'))[0]).toMatch(/^\+QENG: "servingcell","NOCONN","LTE","FDD",262,02,[0-9A-F]{7},\d+,\d+,\d+,[35],[35],[0-9A-F]{4},-\d+,-\d+,-\d+,-?\d+,\d+$/);
    expect(lines(ec25.send('AT+QCSQ'))).toHaveLength(2);
  });

  it('reports errors as AT+CMEE asks: ERROR, a number, or the text', () => {
    const r = rig({ scenario: 'sim-missing' });
    r.send('ATE0');
    expect(r.send('AT+CMEE?')).toBe('\r\n+CMEE: 1\r\n\r\nOK\r\n');
    expect(r.send('AT+CPIN?')).toBe('\r\n+CME ERROR: 10\r\n');
    expect(r.send('AT+CMEE=2')).toBe('\r\nOK\r\n');
    expect(r.send('AT+CPIN?')).toBe('\r\n+CME ERROR: SIM not inserted\r\n');
    expect(r.send('AT+CIMI')).toBe('\r\n+CME ERROR: SIM not inserted\r\n');
    expect(r.send('AT+FOO')).toBe('\r\n+CME ERROR: operation not supported\r\n');
    expect(r.send('AT+CMEE=0')).toBe('\r\nOK\r\n');
    expect(r.send('AT+CPIN?')).toBe('\r\nERROR\r\n');
    expect(r.send('AT+FOO')).toBe('\r\nERROR\r\n');
    expect(r.send('AT+CMEE=9')).toBe('\r\nERROR\r\n');
    // Without a SIM: never registered, but the radio still measures.
    expect(r.send('AT+CREG?')).toBe('\r\n+CREG: 0,0\r\n\r\nOK\r\n');
    expect(r.send('AT+COPS?')).toBe('\r\n+COPS: 0\r\n\r\nOK\r\n');
    expect(r.send('AT+CSQ')).not.toContain('99,99');
    expect(lines(r.send('AT+QENG="servingcell"'))[0]).toBe('+QENG: "servingcell","LIMSRV"');
    // A syntax error is a plain ERROR whatever CMEE says.
    r.send('AT+CMEE=1');
    expect(r.send('AT+QGPSCFG="outport')).toBe('\r\nERROR\r\n');
    expect(r.sim.counters().errors).toBe(8);
  });

  it('GNSS: 505 before AT+QGPS=1, 516 before the fix, then +QGPSLOC on the vehicle track in each mode', () => {
    const r = rig();
    r.send('ATE0');
    expect(r.send('AT+QGPSLOC=2')).toBe('\r\n+CME ERROR: 505\r\n');
    expect(r.send('AT+QGPSEND')).toBe('\r\n+CME ERROR: 505\r\n');
    expect(r.send('AT+QGPS?')).toBe('\r\n+QGPS: 0\r\n\r\nOK\r\n');
    expect(r.send('AT+QGPS=1')).toBe('\r\nOK\r\n');
    expect(r.send('AT+QGPS=1')).toBe('\r\n+CME ERROR: 504\r\n');
    expect(r.send('AT+QGPS?')).toBe('\r\n+QGPS: 1\r\n\r\nOK\r\n');
    expect(r.send('AT+QGPSLOC=2')).toBe('\r\n+CME ERROR: 516\r\n');
    r.send('AT+CMEE=2');
    expect(r.send('AT+QGPSLOC=2')).toBe('\r\n+CME ERROR: Not fixed now\r\n');
    r.send('AT+CMEE=0');
    expect(r.send('AT+QGPSLOC=2')).toBe('\r\nERROR\r\n');
    r.send('AT+CMEE=1');
    r.clock.advance(40_000);
    const loc = lines(r.send('AT+QGPSLOC=2'))[0]!;
    const m = /^\+QGPSLOC: (\d{6}\.000),(-?\d+\.\d{5}),(-?\d+\.\d{5}),(\d+\.\d),(-?\d+\.\d),([23]),(\d{3}\.\d{2}),(\d+\.\d),(\d+\.\d),(\d{6}),(\d{2})$/.exec(loc);
    expect(m, loc).not.toBeNull();
    const reference = new VehicleModel({ seed: SEED });
    for (let s = 0; s < 40; s++) reference.step(1000);
    const g = reference.snapshot().gnss;
    expect(Number(m![2])).toBeCloseTo(g.latitude, 5);
    expect(Number(m![3])).toBeCloseTo(g.longitude, 5);
    expect(m![1]).toBe('221400.000'); // 1_700_000_040_000 ms is 2023-11-14 22:14:00 UTC
    expect(m![10]).toBe('141123');
    expect(lines(r.send('AT+QGPSLOC=0'))[0]).toMatch(/^\+QGPSLOC: \d{6}\.000,\d{4}\.\d{4}[NS],\d{5}\.\d{4}[EW],/);
    expect(lines(r.send('AT+QGPSLOC=1'))[0]).toMatch(/^\+QGPSLOC: \d{6}\.000,\d{4}\.\d{6},[NS],\d{5}\.\d{6},[EW],/);
    expect(r.send('AT+QGPSCFG="outport","usbnmea"')).toBe('\r\nOK\r\n');
    expect(r.send('AT+QGPSCFG="outport"')).toBe('\r\n+QGPSCFG: "outport","usbnmea"\r\n\r\nOK\r\n');
    expect(r.send('AT+QGPSCFG="nmeasrc",1')).toBe('\r\nOK\r\n');
    expect(lines(r.send('AT+QGPSGNMEA="GGA"'))[0]).toMatch(/^\+QGPSGNMEA: \$GPGGA,221400\.00,/);
    expect(r.send('AT+QGPSEND')).toBe('\r\nOK\r\n');
    expect(r.send('AT+QGPSLOC=2')).toBe('\r\n+CME ERROR: 505\r\n');
  });
});

describe('modem simulator: NMEA', () => {
  it('writes GGA, RMC, GSA, GSV and VTG once a second with valid checksums, on the vehicle track', () => {
    const r = rig({ autoGps: true });
    r.clock.advance(60_000);
    const all = lines(r.nmea());
    expect(all.length).toBeGreaterThan(60 * 5);
    for (const l of all) expect(validNmea(l), l).toBe(true);
    const gga = all.filter((l) => l.startsWith('$GPGGA'));
    const rmc = all.filter((l) => l.startsWith('$GPRMC'));
    expect(gga).toHaveLength(60);
    expect(rmc).toHaveLength(60);
    expect(all.filter((l) => l.startsWith('$GPGSA'))).toHaveLength(60);
    expect(all.filter((l) => l.startsWith('$GPVTG'))).toHaveLength(60);

    const reference = new VehicleModel({ seed: SEED });
    let fixes = 0;
    gga.forEach((line, i) => {
      reference.step(1000);
      const f = line.split(',');
      const r2 = rmc[i]!.split(',');
      expect(f[1]).toBe(r2[1]);
      if (f[6] === '0') return;
      fixes++;
      const g = reference.snapshot().gnss;
      expect(degrees(f[2]!, f[3]!, 2)).toBeCloseTo(g.latitude, 7);
      expect(degrees(f[4]!, f[5]!, 3)).toBeCloseTo(g.longitude, 7);
      expect(Number(f[9])).toBeCloseTo(g.altitudeM, 1);
      expect(Number(f[7])).toBeGreaterThanOrEqual(3);
      expect(r2[2]).toBe('A');
      expect(degrees(r2[3]!, r2[4]!, 2)).toBeCloseTo(g.latitude, 7);
      expect(Number(r2[7])).toBeCloseTo(g.speedKmh / 1.852, 1);
    });
    // A fix within the time to first fix (3 to 8 s), then every second.
    expect(fixes).toBeGreaterThanOrEqual(52);
  });

  it('has no fix while the sky is lost (a tunnel), and fixes again after it', () => {
    const tunnel = validateScenario({
      name: 'short-tunnel',
      description: 'test',
      cycleMs: Infinity,
      simPresent: true,
      phases: [
        { atMs: 0, label: 'home', network: 'home', rsrpDbm: -90, nr: false, sky: 'auto' },
        { atMs: 20_000, label: 'tunnel', network: 'searching', rsrpDbm: -140, nr: false, sky: 'lost' },
        { atMs: 40_000, label: 'home', network: 'home', rsrpDbm: -90, nr: false, sky: 'auto' },
      ],
    });
    const r = rig({ autoGps: true, scenario: tunnel });
    r.clock.advance(60_000);
    const quality = lines(r.nmea()).filter((l) => l.startsWith('$GPGGA')).map((l) => l.split(',')[6]);
    expect(quality.slice(10, 19)).toEqual(Array(9).fill('1'));
    expect(quality.slice(19, 39)).toEqual(Array(20).fill('0'));
    expect(quality.slice(45)).toEqual(Array(15).fill('1'));
    expect(r.send('AT+QGPSLOC=2', 0)).toContain('+QGPSLOC: ');
  });

  it('the tunnel scenario loses GNSS and the network between 60 and 105 s', () => {
    const r = rig({ autoGps: true, scenario: 'tunnel' });
    r.clock.advance(80_000);
    expect(r.sim.status()).toMatchObject({ phase: 'tunnel', stat: 2, fix: false });
    r.clock.advance(40_000);
    expect(r.sim.status()).toMatchObject({ phase: 'home', stat: 1, fix: true });
  });
});

describe('modem simulator: scenarios over time', () => {
  it('coverage-loss: +CEREG/+CREG codes at the right moments, no service while lost, home again', () => {
    const r = rig({ scenario: 'coverage-loss' });
    r.send('ATE0');
    r.send('AT+CEREG=1');
    r.send('AT+CREG=1');
    r.clock.advance(50_000);
    expect(r.send('AT+CSQ')).toBe('\r\n+CSQ: 99,99\r\n\r\nOK\r\n');
    r.clock.advance(10_000);
    expect(r.send('AT+COPS?')).toBe('\r\n+COPS: 0\r\n\r\nOK\r\n');
    expect(r.send('AT+QCSQ')).toBe('\r\n+QCSQ: "NOSERVICE"\r\n\r\nOK\r\n');
    expect(r.send('AT+QENG="servingcell"')).toBe('\r\n+QENG: "servingcell","SEARCH"\r\n\r\nOK\r\n');
    expect(r.send('AT+QNWINFO')).toBe('\r\n+QNWINFO: No Service\r\n\r\nOK\r\n');
    expect(r.send('AT+CGATT?')).toBe('\r\n+CGATT: 0\r\n\r\nOK\r\n');
    expect(r.send('AT+CGPADDR')).toBe('\r\n+CGPADDR: 1\r\n\r\nOK\r\n');
    r.clock.advance(60_000);
    const cereg = urcsMatching(r, '+CEREG:');
    expect(cereg).toEqual([
      { at: 40_000, line: '+CEREG: 2' },
      { at: 55_000, line: '+CEREG: 0' },
      { at: 85_000, line: '+CEREG: 2' },
      { at: 86_500, line: '+CEREG: 1' },
    ]);
    expect(urcsMatching(r, '+CREG:').map((u) => u.line)).toEqual(['+CREG: 2', '+CREG: 0', '+CREG: 2', '+CREG: 1']);
    expect(r.send('AT+COPS?')).toBe('\r\n+COPS: 0,0,"Vodafone.de",7\r\n\r\nOK\r\n');
    // The cycle repeats.
    r.clock.advance(120_000);
    expect(urcsMatching(r, '+CEREG:')).toHaveLength(8);
  });

  it('coverage-loss with n=2: the URC on return carries area, cell and AcT', () => {
    const r = rig({ scenario: 'coverage-loss' });
    r.send('ATE0');
    r.send('AT+CEREG=2');
    r.clock.advance(87_000);
    const back = urcsMatching(r, '+CEREG: 1');
    expect(back.at(-1)!.line).toMatch(/^\+CEREG: 1,"[0-9A-F]{4}","[0-9A-F]{7}",7$/);
  });

  it('while the car drives, cells change: +CEREG with n=2 reports each new cell, +CREG with n=1 stays quiet', () => {
    const r = rig();
    r.send('ATE0');
    r.send('AT+CEREG=2');
    r.send('AT+CREG=1');
    r.clock.advance(15 * 60_000);
    const cereg = urcsMatching(r, '+CEREG:').map((u) => u.line);
    expect(cereg.length).toBeGreaterThan(1);
    for (const line of cereg) expect(line).toMatch(/^\+CEREG: 1,"[0-9A-F]{4}","[0-9A-F]{7}",7$/);
    expect(new Set(cereg).size).toBe(cereg.length);
    expect(urcsMatching(r, '+CREG:')).toEqual([]);
    expect(r.send('AT+CEREG?')).toBe(`\r\n+CEREG: 2,${cereg.at(-1)!.slice('+CEREG: '.length)}\r\n\r\nOK\r\n`);
  });

  it('roaming: registers on A1 Austria with stat 5, the SIM stays Vodafone', () => {
    const r = rig({ scenario: 'roaming' });
    r.send('ATE0');
    r.send('AT+CEREG=1');
    r.clock.advance(60_000);
    expect(urcsMatching(r, '+CEREG:').map((u) => [u.at, u.line])).toEqual([
      [40_000, '+CEREG: 2'],
      [51_500, '+CEREG: 5'],
    ]);
    expect(r.send('AT+CEREG?')).toBe('\r\n+CEREG: 1,5\r\n\r\nOK\r\n');
    expect(r.send('AT+COPS?')).toBe('\r\n+COPS: 0,0,"A1",7\r\n\r\nOK\r\n');
    expect(r.send('AT+QSPN')).toBe('\r\n+QSPN: "A1","A1","Vodafone",0,"23201"\r\n\r\nOK\r\n');
    expect(r.send('AT+QNWINFO')).toMatch(/"23201"/);
  });

  it('AT+CFUN=1,1: OK, the port goes away, comes back, then RDY and the SIM codes; settings are back to defaults', () => {
    const r = rig();
    const port: { at: number; state: string }[] = [];
    r.sim.onPort((state) => port.push({ at: r.elapsed(), state }));
    r.send('ATE0');
    r.send('AT+CEREG=2');
    expect(r.send('AT+CFUN=1,1')).toBe('\r\nOK\r\n');
    r.sim.receive('AT\r'); // the modem is going down: ignored
    r.clock.advance(10_000);
    expect(port).toEqual([
      { at: 200, state: 'down' },
      { at: 3200, state: 'up' },
    ]);
    const boot = r.chunks.filter((c) => c.at >= 3200).flatMap((c) => lines(c.text).map((line) => [c.at, line]));
    expect(boot).toEqual([
      [3700, 'RDY'],
      [5200, '+CFUN: 1'],
      [5200, '+CPIN: READY'],
      [5200, '+QUSIM: 1'],
      [7200, '+QIND: SMS DONE'],
      [7700, '+QIND: PB DONE'],
    ]);
    expect(r.send('AT')).toBe('AT\r\r\nOK\r\n'); // echo is on again
    expect(r.send('AT+CEREG?')).toBe('AT+CEREG?\r\r\n+CEREG: 0,1\r\n\r\nOK\r\n');
    expect(r.sim.counters().resets).toBe(1);
  });

  it('AT+CFUN=4 / =1, AT+COPS=2 / =0 and AT+CGATT change the registration; the codes follow the OK', () => {
    const r = rig();
    r.send('ATE0');
    r.send('AT+CEREG=1');
    expect(r.send('AT+CFUN=4')).toBe('\r\nOK\r\n\r\n+CEREG: 0\r\n');
    expect(r.send('AT+CSQ')).toBe('\r\n+CSQ: 99,99\r\n\r\nOK\r\n');
    expect(r.send('AT+CFUN=1')).toBe('\r\nOK\r\n\r\n+CEREG: 2\r\n');
    expect(r.send('AT+CEREG?', 1500)).toBe('\r\n+CEREG: 1,2\r\n\r\nOK\r\n\r\n+CEREG: 1\r\n');
    expect(r.send('AT+COPS=2')).toBe('\r\nOK\r\n\r\n+CEREG: 0\r\n');
    expect(r.send('AT+COPS=0', 1500)).toBe('\r\nOK\r\n\r\n+CEREG: 2\r\n\r\n+CEREG: 1\r\n');
    const before = r.send('AT+CGPADDR');
    expect(r.send('AT+CGATT=0')).toBe('\r\nOK\r\n');
    expect(r.send('AT+CGPADDR')).toBe('\r\n+CGPADDR: 1\r\n\r\nOK\r\n');
    expect(r.send('AT+CGATT=1')).toBe('\r\nOK\r\n');
    expect(r.send('AT+CGPADDR')).toMatch(/^\r\n\+CGPADDR: 1,"10\./);
    expect(r.send('AT+CGPADDR')).not.toBe(before);
    expect(r.send('AT+CFUN=7')).toBe('\r\n+CME ERROR: 50\r\n');
  });

  it('right after RDY the SIM is busy and the modem searches', () => {
    const r = rig();
    r.send('ATE0');
    r.send('AT+CFUN=1,1');
    r.clock.advance(3700);
    expect(r.send('ATE0;+CPIN?')).toBe('ATE0;+CPIN?\r\r\n+CME ERROR: 14\r\n');
    expect(r.send('AT+CREG?')).toBe('\r\n+CREG: 0,2\r\n\r\nOK\r\n');
  });

  it('reboot scenario: the modem resets on its own at 30 s and every 60 s after', () => {
    const r = rig({ scenario: 'reboot', resetDownMs: 2000 });
    const port: [number, string][] = [];
    r.sim.onPort((state) => port.push([r.elapsed(), state]));
    r.clock.advance(100_000);
    expect(port).toEqual([
      [30_200, 'down'],
      [32_200, 'up'],
      [90_200, 'down'],
      [92_200, 'up'],
    ]);
    expect(urcsMatching(r, 'RDY').map((u) => u.at)).toEqual([32_700, 92_700]);
  });

  it('slow-replies: the echo at once, the reply 300 to 1500 ms later; commands are answered in order', () => {
    const r = rig({ scenario: 'slow-replies' });
    const delays: number[] = [];
    for (let i = 0; i < 20; i++) {
      const sent = r.elapsed();
      expect(r.send('AT+CSQ')).toBe(i === 0 ? 'AT+CSQ\r' : '');
      if (i === 0) r.send('ATE0'); // typed while the first reply is pending: queued behind it
      r.clock.advance(3100);
      const ok = r.chunks.filter((c) => c.at > sent && c.text.includes('+CSQ'))[0]!;
      delays.push(ok.at - sent);
    }
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(300);
    expect(Math.max(...delays)).toBeLessThanOrEqual(1500);
    expect(new Set(delays).size).toBeGreaterThan(5);
  });

  it('split-replies: replies come in chunks of at most 7 bytes with gaps, and add up to the same bytes', () => {
    const r = rig({ scenario: 'split-replies' });
    r.sim.receive('ATE0\rATI\r');
    r.clock.advance(5000);
    expect(r.out()).toBe('ATE0\r\r\nOK\r\n\r\nQuectel\r\nRM500Q-GL\r\nRevision: RM500QGLABR11A06M4G\r\n\r\nOK\r\n');
    expect(r.chunks.length).toBeGreaterThan(10);
    expect(Math.max(...r.chunks.map((c) => c.text.length))).toBeLessThanOrEqual(7);
    expect(new Set(r.chunks.map((c) => c.at)).size).toBeGreaterThan(3);
  });

  it('urc-storm: bursts of unsolicited codes, some inside replies, every reply still ends in one OK', () => {
    const r = rig({ scenario: 'urc-storm' });
    r.send('ATE0');
    r.send('AT+CEREG=1');
    let inReply = 0;
    for (let i = 0; i < 60; i++) {
      const reply = lines(r.send('AT+CSQ', 500));
      const at = reply.findIndex((l) => l.startsWith('+CSQ:'));
      const ok = reply.indexOf('OK');
      expect(ok).toBeGreaterThan(at);
      expect(reply.filter((l) => l === 'OK')).toHaveLength(1);
      if (ok - at > 1) inReply++;
    }
    expect(inReply).toBeGreaterThan(3);
    const urcs = lines(r.out()).filter((l) => /^\+(QIND|CTZE|CGEV|QNETDEVSTATUS|CEREG)/.test(l));
    expect(urcs.length).toBeGreaterThan(60);
    for (const l of urcs.filter((u) => u.startsWith('+CEREG'))) expect(l).toBe('+CEREG: 1');
  });

  it('garbage: noise between replies never forms a final result code; corrupt NMEA sentences among good ones', () => {
    const r = rig({ scenario: 'garbage', autoGps: true });
    r.send('ATE0');
    let finals = 0;
    for (let i = 0; i < 50; i++) {
      r.clock.advance(1000);
      finals += lines(r.send('AT+CGMI')).filter((l) => l === 'OK' || l.includes('ERROR')).length;
    }
    expect(finals).toBe(50);
    expect(r.sim.counters().garbageBytes).toBeGreaterThan(20);
    expect(r.out()).toMatch(/[\x80-\xff\0]/);
    const nmea = lines(r.nmea());
    expect(nmea.filter((l) => !validNmea(l)).length).toBeGreaterThan(0);
    expect(nmea.filter((l) => validNmea(l) && l.startsWith('$GPGGA'))).toHaveLength(50);
  });
});

describe('modem simulator: untrusted input', () => {
  it('any bytes: never throws, and the modem still answers the next command', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 10 }), (writes) => {
        const r = rig();
        r.send('ATE0');
        for (const w of writes) r.sim.receive(w.filter((b) => b !== 0x0d));
        r.sim.receive('\r');
        const reply = r.send('AT+CGMI');
        expect(reply.endsWith('\r\nQuectel\r\n\r\nOK\r\n')).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('NMEA coordinates read back to the same degrees for any position, carries included', () => {
    fc.assert(
      fc.property(fc.double({ min: -89.999, max: 89.999, noNaN: true }), fc.double({ min: -179.999, max: 179.999, noNaN: true }), (lat, lon) => {
        const la = nmeaCoordinate(lat, true);
        const lo = nmeaCoordinate(lon, false);
        expect(la.text).toMatch(/^\d{4}\.\d{6}$/);
        expect(lo.text).toMatch(/^\d{5}\.\d{6}$/);
        expect(Number(la.text.slice(2))).toBeLessThan(60);
        expect(Math.abs(degrees(la.text, la.hemisphere, 2) - lat)).toBeLessThan(1e-8);
        expect(Math.abs(degrees(lo.text, lo.hemisphere, 3) - lon)).toBeLessThan(1e-8);
      }),
    );
    expect(nmeaCoordinate(52.99999999999, true).text).toBe('5300.000000');
  });

  it('parseCommandLine never throws and round-trips quoted arguments', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (text) => {
        parseCommandLine(text);
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 10 }).filter((s) => !s.includes('"')), { minLength: 1, maxLength: 4 }), (args) => {
        const cmds = parseCommandLine(`+QGPSCFG=${args.map((a) => `"${a}"`).join(',')}`);
        expect(cmds?.[0]?.args).toEqual(args);
      }),
    );
  });
});

describe('modem simulator: the serialport binding', () => {
  const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  it('a SerialPortStream talks to the simulator in-process; a reset disconnects it and the path is gone until the modem is back', async () => {
    const clock = new FakeClock();
    const sim = new ModemSimulator({ clock, seed: SEED, resetDownMs: 1000 });
    sim.start();
    const binding = modemSimBinding(sim);
    expect((await binding.list()).map((p) => p.path)).toEqual(['sim://modem/at', 'sim://modem/nmea']);
    const open = async (): Promise<{ port: SerialPortStream; text: () => string; closed: Promise<Error | null> }> => {
      const port = new SerialPortStream({ binding, path: 'sim://modem/at', baudRate: 115200, autoOpen: false });
      await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
      let text = '';
      port.on('data', (c: Buffer) => (text += c.toString('latin1')));
      const closed = new Promise<Error | null>((resolve) => port.once('close', (err: Error | null) => resolve(err)));
      return { port, text: () => text, closed };
    };
    const a = await open();
    a.port.write('ATE0\rAT+CGMM\r');
    for (let i = 0; i < 5; i++) await flush();
    expect(a.text()).toBe('ATE0\r\r\nOK\r\n\r\nRM500Q-GL\r\n\r\nOK\r\n');
    await expect(open()).rejects.toThrow(/lock/i);

    a.port.write('AT+CFUN=1,1\r');
    for (let i = 0; i < 5; i++) await flush();
    clock.advance(200);
    const err = await a.closed;
    expect((err as Error & { disconnected?: boolean }).disconnected).toBe(true);
    await expect(open()).rejects.toThrow(/ENOENT/);

    clock.advance(1000);
    const b = await open();
    clock.advance(600);
    for (let i = 0; i < 5; i++) await flush();
    expect(b.text()).toBe('\r\nRDY\r\n');
    b.port.write('AT\r');
    for (let i = 0; i < 5; i++) await flush();
    expect(b.text()).toBe('\r\nRDY\r\nAT\r\r\nOK\r\n');
    await new Promise<void>((resolve) => b.port.close(() => resolve()));
    expect(await b.closed).toBeNull();
  });
});

describe('modem scenarios and the modem command line', () => {
  it('ships the scenarios the issue asks for, each valid', () => {
    const names = SCENARIOS.map((s) => s.name);
    for (const n of ['steady-home', 'coverage-loss', 'roaming', 'sim-missing', 'reboot', 'slow-replies', 'split-replies', 'urc-storm', 'garbage']) expect(names).toContain(n);
    for (const s of SCENARIOS) expect(validateScenario(s)).toBe(s);
  });

  it('refuses unknown scenarios and inconsistent ones with EMULATOR_CONFIG', () => {
    expect(() => findScenario('nope')).toThrow(/known: steady-home/);
    const bad: Scenario = { ...findScenario('coverage-loss'), cycleMs: 10 };
    let caught: unknown;
    try {
      new ModemSimulator({ clock: new FakeClock(), scenario: bad });
    } catch (err) {
      caught = err;
    }
    expect(isTcuError(caught, 'EMULATOR_CONFIG')).toBe(true);
    expect(phaseAt(findScenario('coverage-loss'), 130_000)).toMatchObject({ index: 0, nextAtMs: 140_000 });
  });

  async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = '';
    let err = '';
    stdout.on('data', (c: Buffer) => (out += c.toString()));
    stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = await tcuEmulator(argv, { stdin: new PassThrough(), stdout, stderr, isTTY: false });
    return { code, out, err };
  }

  it('tcu-emulator modem --list-scenarios, --help, and usage errors exit 2', async () => {
    const list = await run(['modem', '--list-scenarios']);
    expect(list.code).toBe(0);
    expect(list.out.split('\n').filter(Boolean).map((l) => l.split(/\s+/)[0])).toEqual(SCENARIOS.map((s) => s.name));
    const help = await run(['modem', '--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/Exit codes: 0 done, 1 runtime failure/);
    expect((await run(['--help'])).out).toContain('tcu-emulator modem --pty PATH');
    expect((await run(['modem'])).code).toBe(2);
    const unknown = await run(['modem', '--pty', '/tmp/never-created-modem', '--scenario', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/EMULATOR_CONFIG: unknown modem scenario "nope"/);
    expect((await run(['modem', '--pty', '/tmp/x', '--model', 'SIM7600'])).code).toBe(2);
  });
});
