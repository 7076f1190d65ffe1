import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TcuError } from '../../../core/errors.js';
import { Modem, type ModemOptions } from '../../../drivers/modem/modem.js';
import type { AtCommandOptions, AtCommander, AtLinkState, AtResponse, ModemSnapshot, Unsubscribe } from '../../../drivers/modem/types.js';
import { FakeClock } from '../../helpers/fake-clock.js';

/**
 * A scripted AtCommander: each command gets reply lines (OK), a final failure line (`ERROR`,
 * `+CME ERROR: 10`) or a timeout, from a table the test changes as it goes. URCs and link states
 * are pushed by the test. Unknown commands answer ERROR, as a modem lacking them does.
 */
type Reply = string[] | { fail: string } | 'timeout';

class ScriptedCommander implements AtCommander {
  state: AtLinkState = 'open';
  readonly sent: string[] = [];
  private readonly urcListeners: Array<(line: string) => void> = [];
  private readonly stateListeners: Array<(s: AtLinkState) => void> = [];

  constructor(public script: Record<string, Reply | ((command: string) => Reply)>) {}

  send(command: string, _options?: AtCommandOptions): Promise<AtResponse> {
    this.sent.push(command);
    if (this.state !== 'open') return Promise.reject(new TcuError('AT_PORT_CLOSED', 'closed', { details: { command } }));
    const entry = this.script[command];
    const reply: Reply = typeof entry === 'function' ? entry(command) : (entry ?? { fail: 'ERROR' });
    if (reply === 'timeout') return Promise.reject(new TcuError('AT_TIMEOUT', `${command} timed out`, { details: { command, timeoutMs: 5000 } }));
    if (!Array.isArray(reply)) {
      const m = /^\+CME ERROR:\s*(.+)$/.exec(reply.fail);
      const cme = m ? (/^\d+$/.test(m[1]!) ? Number(m[1]) : m[1]) : undefined;
      return Promise.reject(new TcuError('AT_COMMAND_FAILED', `${command}: ${reply.fail}`, { details: { command, final: reply.fail, ...(cme === undefined ? {} : { cme }) } }));
    }
    return Promise.resolve({ command, lines: [...reply], final: 'OK', elapsedMs: 1 });
  }

  onUnsolicited(listener: (line: string) => void): Unsubscribe {
    this.urcListeners.push(listener);
    return () => this.urcListeners.splice(this.urcListeners.indexOf(listener), 1);
  }

  onState(listener: (state: AtLinkState) => void): Unsubscribe {
    this.stateListeners.push(listener);
    return () => this.stateListeners.splice(this.stateListeners.indexOf(listener), 1);
  }

  onError(): Unsubscribe {
    return () => undefined;
  }

  urc(line: string): void {
    for (const l of [...this.urcListeners]) l(line);
  }

  setState(state: AtLinkState): void {
    this.state = state;
    for (const l of [...this.stateListeners]) l(state);
  }

  count(command: string): number {
    return this.sent.filter((c) => c === command).length;
  }
}

/** Lets every pending promise of the fake (which resolves at once) run to its end. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const OK: string[] = [];

/** A SIMCom-like modem: no 5GS registration, +CCID for the ICCID, a long name after AT+COPS=3,0. */
function genericScript(): Record<string, Reply | ((c: string) => Reply)> {
  let format = 2;
  return {
    ATV1: OK,
    ATE0: OK,
    'AT+CMEE=1': OK,
    'AT+CGMI': ['SIMCOM INCORPORATED'],
    'AT+CGMM': ['SIMCOM_SIM7600E-H'],
    'AT+CGMR': ['+CGMR: LE20B04SIM7600M22'],
    'AT+CGSN': ['866758040012345'],
    'AT+CREG=2': OK,
    'AT+CGREG=2': OK,
    'AT+CEREG=2': OK,
    'AT+C5GREG=2': { fail: 'ERROR' },
    'AT+COPS=3,2': () => ((format = 2), OK),
    'AT+COPS=3,0': () => ((format = 0), OK),
    'AT+CPIN?': ['+CPIN: READY'],
    'AT+CCID': ['+CCID: "89014103211118510720"'],
    'AT+CIMI': ['262011234567890'],
    'AT+CREG?': ['+CREG: 2,1,"1A2B","01C3D4E5",7'],
    'AT+CGREG?': ['+CGREG: 2,1,"1A2B","01C3D4E5",7'],
    'AT+CEREG?': ['+CEREG: 2,1,"1A2B","01C3D4E5",7'],
    'AT+C5GREG?': { fail: 'ERROR' },
    'AT+COPS?': () => (format === 2 ? ['+COPS: 0,2,"26201",7'] : ['+COPS: 0,0,"Telekom.de",7']),
    'AT+CSQ': ['+CSQ: 20,99'],
    'AT+CGATT?': ['+CGATT: 1'],
    'AT+CGPADDR': ['+CGPADDR: 1,"10.45.0.2"'],
  };
}

/** A Quectel RM500Q in EN-DC: LTE anchor in +CEREG, NR leg in +QENG. */
function quectelScript(): Record<string, Reply | ((c: string) => Reply)> {
  return {
    ...genericScript(),
    'AT+CGMI': ['Quectel'],
    'AT+CGMM': ['RM500Q-GL'],
    'AT+CGMR': ['RM500QGLABR11A06M4G'],
    'AT+C5GREG=2': OK,
    'AT+CCID': { fail: 'ERROR' },
    'AT+QCCID': ['+QCCID: 89860318760234557178'],
    'AT+CREG?': ['+CREG: 2,1,"4AA3","3359966",7'],
    'AT+CGREG?': ['+CGREG: 2,1,"4AA3","3359966",7'],
    'AT+CEREG?': ['+CEREG: 2,1,"4AA3","3359966",7'],
    'AT+C5GREG?': ['+C5GREG: 2,0'],
    'AT+COPS?': ['+COPS: 0,2,"51503",7'],
    'AT+CSQ': ['+CSQ: 27,99'],
    'AT+QCSQ': ['+QCSQ: "LTE",-58,-89,160,-13'],
    'AT+QENG="servingcell"': ['+QENG: "servingcell","NOCONN"', '+QENG: "LTE","FDD",515,03,3359966,1,150,1,5,5,4AA3,-89,-13,-58,16,15,20,-', '+QENG:"NR5G-NSA",515,03,832,-76,21,-11,528030,41,8,1'],
    'AT+QNWINFO': ['+QNWINFO: "FDD LTE","51503","LTE BAND 1",150'],
    'AT+QSPN': ['+QSPN: "SUN","SUN","SUN",0,"51503"'],
    'AT+CGPADDR': ['+CGPADDR: 1,"10.1.2.3","32.1.13.184.0.0.0.0.0.0.0.0.0.0.0.1"'],
    'AT+QGPS=1': { fail: '+CME ERROR: 504' },
    'AT+QGPSLOC=2': ['+QGPSLOC: 062522.000,31.16373,121.36288,1.0,37.0,3,0.00,0.0,0.0,291117,05'],
  };
}

function setup(script: Record<string, Reply | ((c: string) => Reply)>, options: Partial<ModemOptions> = {}) {
  const commander = new ScriptedCommander(script);
  const clock = new FakeClock();
  const modem = new Modem({ commander, clock, profile: 'auto', ...options });
  const errors: TcuError[] = [];
  const changes: Array<{ snapshot: ModemSnapshot; changes: string[] }> = [];
  modem.onError((e) => errors.push(e));
  modem.onChange((snapshot, c) => changes.push({ snapshot, changes: c }));
  return { commander, clock, modem, errors, changes };
}

describe('Modem: profiles', () => {
  it('picks the Quectel profile from AT+CGMI, and generic for other makers', async () => {
    const q = setup(quectelScript(), { pollIntervalMs: 0 });
    await q.modem.start();
    expect(q.modem.snapshot().profile).toBe('quectel');
    expect(q.commander.count('AT+QCSQ')).toBe(1);

    const g = setup(genericScript(), { pollIntervalMs: 0 });
    await g.modem.start();
    expect(g.modem.snapshot().profile).toBe('generic');
    expect(g.commander.count('AT+QCSQ')).toBe(0);
  });

  it('recognises a Quectel model when AT+CGMI fails, and falls back to ATI when both fail', async () => {
    const byModel = setup({ ...genericScript(), 'AT+CGMI': { fail: 'ERROR' }, 'AT+CGMM': ['EG25-G'] }, { pollIntervalMs: 0 });
    await byModel.modem.start();
    expect(byModel.modem.snapshot().profile).toBe('quectel');

    const byAti = setup({ ...genericScript(), 'AT+CGMI': { fail: 'ERROR' }, 'AT+CGMM': { fail: 'ERROR' }, ATI: ['Quectel', 'EC25', 'Revision: EC25EFAR06A06M4G'] }, { pollIntervalMs: 0 });
    await byAti.modem.start();
    expect(byAti.modem.snapshot()).toMatchObject({ profile: 'quectel', identity: { manufacturer: 'Quectel', model: 'EC25', firmware: 'LE20B04SIM7600M22' } });
  });

  it('keeps the configured profile whatever the modem says', async () => {
    const forced = setup(quectelScript(), { profile: 'generic', pollIntervalMs: 0 });
    await forced.modem.start();
    expect(forced.modem.snapshot().profile).toBe('generic');
    expect(forced.commander.count('AT+QENG="servingcell"')).toBe(0);
  });
});

describe('Modem: initialisation and polls', () => {
  it('initialises a generic modem, tolerating a missing command, and builds the snapshot from a full poll', async () => {
    const { commander, clock, modem, errors, changes } = setup(genericScript(), { pollIntervalMs: 0 });
    await modem.start();
    expect(commander.sent.slice(0, 3)).toEqual(['ATV1', 'ATE0', 'AT+CMEE=1']);
    expect(modem.snapshot()).toEqual({
      link: 'open',
      profile: 'generic',
      identity: { manufacturer: 'SIMCOM INCORPORATED', model: 'SIMCOM_SIM7600E-H', firmware: 'LE20B04SIM7600M22', imei: '866758040012345', imsi: '262011234567890', iccid: '89014103211118510720' },
      sim: 'ready',
      registrations: {
        cs: { domain: 'cs', status: 'home', area: '1A2B', cellId: '01C3D4E5', tech: 'LTE' },
        gprs: { domain: 'gprs', status: 'home', area: '1A2B', cellId: '01C3D4E5', tech: 'LTE' },
        eps: { domain: 'eps', status: 'home', area: '1A2B', cellId: '01C3D4E5', tech: 'LTE' },
      },
      operator: { mcc: '262', mnc: '01', tech: 'LTE', name: 'Telekom.de' },
      tech: 'LTE',
      signal: { rssiDbm: -73, bars: 4 },
      packet: { attached: true, address: '10.45.0.2' },
      updatedAtMs: clock.now(),
    });
    // The missing command became an error event, not an exception, and is asked no more.
    expect(errors.map((e) => e.code)).toEqual(['MODEM_PROFILE']); // one event per missing command
    expect(errors[0]!.details).toMatchObject({ command: 'AT+C5GREG=2', final: 'ERROR' });
    expect(modem.unsupportedCommands()).toEqual(['AT+C5GREG', 'AT+C5GREG=2']);
    expect(changes.at(-1)!.changes).toEqual(expect.arrayContaining(['registrations', 'operator', 'tech', 'signal', 'packet']));

    await modem.poll();
    expect(commander.count('AT+C5GREG?')).toBe(1);
    expect(commander.count('AT+COPS=3,0')).toBe(1); // the name is fetched once per PLMN
    expect(modem.counters()).toMatchObject({ polls: 2, unsupportedCommands: 2, pollsAborted: 0 });
  });

  it('builds a Quectel snapshot: EN-DC shows as NR, signal from +QENG and +QCSQ, name from +QSPN', async () => {
    const { modem, commander } = setup(quectelScript(), { pollIntervalMs: 0 });
    await modem.start();
    const s = modem.snapshot();
    expect(s.identity).toEqual({ manufacturer: 'Quectel', model: 'RM500Q-GL', firmware: 'RM500QGLABR11A06M4G', imei: '866758040012345', imsi: '262011234567890', iccid: '89860318760234557178' });
    expect(s.registrations['5gs']).toEqual({ domain: '5gs', status: 'not-registered' });
    expect(s.registrations.eps?.tech).toBe('LTE');
    expect(s.tech).toBe('NR');
    expect(s.operator).toEqual({ mcc: '515', mnc: '03', tech: 'LTE', name: 'SUN' });
    expect(s.signal).toEqual({ rssiDbm: -58, rsrpDbm: -76, rsrqDb: -11, sinrDb: 21, bars: 5 });
    expect(s.packet).toEqual({ attached: true, address: '10.1.2.3' });
    expect(commander.count('AT+CCID')).toBe(0);

    await expect(modem.gnssLocation()).resolves.toEqual(['+QGPSLOC: 062522.000,31.16373,121.36288,1.0,37.0,3,0.00,0.0,0.0,291117,05']);
    await expect(modem.gnssStart()).resolves.toBeUndefined(); // 504: already running
    commander.script['AT+QGPSLOC=2'] = { fail: '+CME ERROR: 516' };
    await expect(modem.gnssLocation()).rejects.toMatchObject({ code: 'GNSS_UNAVAILABLE' });
  });

  it('refuses GNSS commands on a generic modem', async () => {
    const { modem } = setup(genericScript(), { pollIntervalMs: 0 });
    await modem.start();
    await expect(modem.gnssLocation()).rejects.toMatchObject({ code: 'MODEM_PROFILE' });
  });

  it('reports a SIM that is not inserted (+CME ERROR: 10) without error events, and reads it once it is back', async () => {
    const script = { ...genericScript(), 'AT+CPIN?': { fail: '+CME ERROR: 10' }, 'AT+CIMI': { fail: '+CME ERROR: 10' }, 'AT+CREG?': ['+CREG: 2,0'], 'AT+CGREG?': ['+CGREG: 2,0'], 'AT+CEREG?': ['+CEREG: 2,0'], 'AT+CGATT?': ['+CGATT: 0'], 'AT+COPS?': ['+COPS: 0'] };
    const { modem, commander, errors } = setup(script, { pollIntervalMs: 0 });
    await modem.start();
    const s = modem.snapshot();
    expect(s.sim).toBe('missing');
    expect(s.identity.imsi).toBeUndefined();
    expect(s.identity.iccid).toBeUndefined();
    expect(commander.count('AT+CCID')).toBe(0);
    expect(s.tech).toBe('unknown');
    expect(s.operator).toBeUndefined();
    expect(s.packet).toEqual({ attached: false });
    expect(errors.filter((e) => e.code !== 'MODEM_PROFILE')).toEqual([]);

    commander.script['AT+CIMI'] = ['262011234567890'];
    commander.urc('+CPIN: READY');
    expect(modem.snapshot().sim).toBe('ready');
    await settle();
    expect(modem.snapshot().identity).toMatchObject({ imsi: '262011234567890', iccid: '89014103211118510720' });

    commander.urc('+CPIN: NOT INSERTED');
    expect(modem.snapshot().sim).toBe('missing');
    expect(modem.snapshot().identity.imsi).toBeUndefined();
  });
});

describe('Modem: unsolicited codes', () => {
  it('applies registration URCs at once, emits a change, and brings the next poll closer', async () => {
    const { modem, commander, clock, changes } = setup(genericScript(), { pollIntervalMs: 30_000 });
    await modem.start();
    const sentBefore = commander.sent.length;
    const seen = changes.length;

    commander.urc('+CREG: 0');
    commander.urc('+CGREG: 0');
    commander.urc('+CEREG: 2');
    expect(modem.snapshot().registrations.eps).toEqual({ domain: 'eps', status: 'searching' });
    expect(modem.snapshot().tech).toBe('unknown');
    expect(commander.sent.length).toBe(sentBefore); // no command was needed
    expect(changes.length).toBe(seen + 3);
    expect(changes.at(-2)!.changes).toEqual(['registrations']); // +CGREG: 0, still on LTE through EPS
    expect(changes.at(-1)!.changes).toEqual(['registrations', 'tech']); // +CEREG: 2, registered nowhere

    commander.urc('+CEREG: 5,"D5A1","0A8B4C01",7');
    expect(modem.snapshot().registrations.eps).toEqual({ domain: 'eps', status: 'roaming', area: 'D5A1', cellId: '0A8B4C01', tech: 'LTE' });
    expect(modem.snapshot().tech).toBe('LTE');
    expect(changes.at(-1)!.changes).toEqual(['registrations', 'tech']);

    clock.advance(1_999);
    await settle();
    expect(commander.count('AT+CSQ')).toBe(1);
    clock.advance(1);
    await settle();
    expect(commander.count('AT+CSQ')).toBe(2); // the refresh poll, 2 s after the change
    expect(modem.counters()).toMatchObject({ registrationUrcs: 4 });
  });

  it('reports a malformed URC and carries on', async () => {
    const { modem, commander, errors } = setup(genericScript(), { pollIntervalMs: 0 });
    await modem.start();
    commander.urc('+CEREG: x,"1"');
    expect(errors.at(-1)).toMatchObject({ code: 'AT_REPLY_MALFORMED', details: { line: '+CEREG: x,"1"' } });
    expect(modem.counters().malformedReplies).toBe(1);
    commander.urc('+CEREG: 3');
    expect(modem.snapshot().registrations.eps?.status).toBe('denied');
  });

  it('initialises again after RDY (the modem restarted), and forgets the network on POWERED DOWN', async () => {
    const { modem, commander } = setup(genericScript(), { pollIntervalMs: 0 });
    await modem.start();
    commander.urc('RDY');
    expect(modem.snapshot()).toMatchObject({ registrations: {}, tech: 'unknown', sim: 'unknown' });
    expect(modem.snapshot().signal).toBeUndefined();
    await settle();
    expect(commander.count('ATV1')).toBe(2);
    expect(modem.counters().reinits).toBe(1);
    expect(modem.snapshot()).toMatchObject({ sim: 'ready', tech: 'LTE', packet: { attached: true } });

    commander.urc('POWERED DOWN');
    await settle();
    expect(modem.snapshot()).toMatchObject({ registrations: {}, tech: 'unknown', sim: 'unknown' });
    expect(commander.count('ATV1')).toBe(2); // a powered-down modem is not initialised
  });

  it('survives any unsolicited line: bad ones are error events, never exceptions', async () => {
    const { modem, commander, errors } = setup(genericScript(), { pollIntervalMs: 0 });
    await modem.start();
    const line = fc.oneof(fc.string(), fc.constantFrom('+CREG: ', '+CEREG: ', '+C5GREG: ', '+CPIN: ', 'RDY', '+QIND: ').chain((p) => fc.string({ maxLength: 30 }).map((rest) => p + rest)));
    fc.assert(
      fc.property(line, (l) => {
        expect(() => commander.urc(l)).not.toThrow();
      }),
      { numRuns: 300 },
    );
    await settle();
    expect(errors.every((e) => e instanceof TcuError)).toBe(true);
    expect(modem.counters().urcs).toBeGreaterThanOrEqual(300);
  });

  it('isolates a listener that throws', async () => {
    const { modem, commander, changes } = setup(genericScript(), { pollIntervalMs: 0 });
    modem.onChange(() => {
      throw new Error('consumer bug');
    });
    await modem.start();
    const seen = changes.length;
    commander.urc('+CEREG: 2');
    expect(changes.length).toBe(seen + 1);
    expect(modem.counters().listenerErrors).toBeGreaterThan(0);
  });
});

describe('Modem: recovery', () => {
  it('initialises again after N commands in a row time out', async () => {
    const { modem, commander, errors } = setup(genericScript(), { pollIntervalMs: 0, reinitAfterTimeouts: 3 });
    await modem.start();
    commander.script['AT+CPIN?'] = 'timeout';
    await modem.poll();
    await modem.poll();
    expect(modem.counters().reinits).toBe(0);
    commander.script['AT+CPIN?'] = (() => {
      let calls = 0;
      return (): Reply => (++calls === 1 ? 'timeout' : ['+CPIN: READY']);
    })();
    await modem.poll();
    const unresponsive = errors.filter((e) => e.code === 'MODEM_UNRESPONSIVE');
    expect(unresponsive).toHaveLength(1);
    expect(unresponsive[0]!.details).toMatchObject({ action: 'reinit', consecutiveTimeouts: 3 });
    expect(modem.counters()).toMatchObject({ reinits: 1, reinitsFailed: 0, resets: 0, pollsAborted: 3, commandTimeouts: 3 });
    expect(commander.count('ATV1')).toBe(2);
    const polled = await modem.poll();
    expect(polled.sim).toBe('ready');
  });

  it('resets the modem (AT+CFUN=1,1) after repeated failed re-initialisations', async () => {
    const { modem, commander, errors } = setup(genericScript(), { pollIntervalMs: 0, reinitAfterTimeouts: 3, resetAfterFailedReinits: 2 });
    await modem.start();
    const healthy = { ...commander.script };
    for (const key of Object.keys(commander.script)) commander.script[key] = 'timeout';
    for (let i = 0; i < 3; i++) await modem.poll();
    expect(modem.counters()).toMatchObject({ reinits: 1, reinitsFailed: 1, resets: 0 });
    expect(commander.count('AT+CFUN=1,1')).toBe(0);
    for (let i = 0; i < 2; i++) await modem.poll();
    expect(modem.counters()).toMatchObject({ reinits: 2, reinitsFailed: 2, resets: 1 });
    expect(commander.count('AT+CFUN=1,1')).toBe(1);
    expect(errors.filter((e) => e.code === 'MODEM_UNRESPONSIVE').map((e) => e.details.action)).toEqual(['reinit', 'reinit', 'reset']);
    expect(modem.snapshot()).toMatchObject({ registrations: {}, tech: 'unknown', sim: 'unknown' });

    // The modem comes back: the next poll initialises it and all is well again.
    commander.script = healthy;
    const s = await modem.poll();
    expect(s).toMatchObject({ sim: 'ready', tech: 'LTE' });
  });

  it('initialises again when the link comes back open after it was lost', async () => {
    const { modem, commander, changes } = setup(genericScript(), { pollIntervalMs: 0 });
    await modem.start();
    commander.setState('lost');
    expect(modem.snapshot()).toMatchObject({ link: 'lost', registrations: {}, tech: 'unknown' });
    expect(changes.at(-1)!.changes).toEqual(expect.arrayContaining(['link', 'registrations', 'tech']));
    await modem.poll(); // nothing is sent while the link is down
    expect(commander.count('ATV1')).toBe(1);

    commander.setState('open');
    await settle();
    expect(commander.count('ATV1')).toBe(2);
    expect(modem.counters().reinits).toBe(1);
    expect(modem.snapshot()).toMatchObject({ link: 'open', tech: 'LTE', sim: 'ready' });
  });
});

describe('Modem: polling and one-off queries', () => {
  it('polls on the injected clock until stopped', async () => {
    const { modem, commander, clock } = setup(genericScript(), { pollIntervalMs: 30_000 });
    await modem.start();
    expect(commander.count('AT+CSQ')).toBe(1);
    clock.advance(30_000);
    await settle();
    expect(commander.count('AT+CSQ')).toBe(2);
    clock.advance(30_000);
    await settle();
    expect(commander.count('AT+CSQ')).toBe(3);
    await modem.stop();
    clock.advance(120_000);
    await settle();
    expect(commander.count('AT+CSQ')).toBe(3);
    expect(clock.pendingTimers).toBe(0);
  });

  it('answers queryOnce without start, and rejects when the link is down or the modem silent', async () => {
    const { modem, commander } = setup(quectelScript());
    const s = await modem.queryOnce();
    expect(s).toMatchObject({ profile: 'quectel', sim: 'ready', tech: 'NR', operator: { name: 'SUN' }, packet: { attached: true } });

    const silent = setup(Object.fromEntries(Object.keys(genericScript()).map((k) => [k, 'timeout' as const])));
    await expect(silent.modem.queryOnce()).rejects.toMatchObject({ code: 'MODEM_UNRESPONSIVE' });

    commander.state = 'closed';
    const closed = new Modem({ commander, clock: new FakeClock(), profile: 'auto' });
    await expect(closed.queryOnce()).rejects.toMatchObject({ code: 'AT_PORT_CLOSED' });
  });
});
