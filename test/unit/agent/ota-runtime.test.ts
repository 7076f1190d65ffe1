/**
 * The pieces of the agent's update campaigns (agent/ota/, agent/runtime/ota.ts): the download's
 * network policy for each connectivity state and target policy, the vehicle state read from CAN
 * signals against the target's preconditions, the health check, and consent over a REAL Mosquitto
 * broker with the emulator's HMI player answering (consent, refusal, delay, silence, a late answer).
 * The whole campaign, with the bundled agent, is test/integration/agent-ota.test.ts.
 */
import { PassThrough } from 'node:stream';
import { connectAsync } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignalState } from '../../../agent/collect/signal-state.js';
import { type Connectivity, type ConnectivityName } from '../../../agent/connectivity/state.js';
import { checkHealth, healthNow } from '../../../agent/ota/health.js';
import { HmiChannel, parseConsentResponse } from '../../../agent/ota/hmi.js';
import { inWindow, networkDecision, networkGate } from '../../../agent/ota/network-gate.js';
import { checkPreconditions } from '../../../agent/ota/shared.js';
import { StopGate } from '../../../agent/ota/stop-gate.js';
import { SignalVehicleState } from '../../../agent/ota/vehicle-state.js';
import { Uplink } from '../../../agent/uplink/index.js';
import { systemClock } from '../../../core/clock.js';
import { silentLogger } from '../../../core/logger.js';
import type { OtaSignalsConfig } from '../../../config/index.js';
import { compileDbc } from '../../../drivers/can/dbc/codec.js';
import { parseDbc } from '../../../drivers/can/dbc/parser.js';
import { makeFrame } from '../../../drivers/can/frame.js';
import { tcuEmulator } from '../../../hw-emulator/cli/main.js';
import { HmiPlayer, type HmiPlayerAnswer } from '../../../hw-emulator/hmi/index.js';
import type { TargetCustom, VerifiedTarget } from '../../../ota/types.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { Mosquitto, hasMosquitto } from '../../helpers/mosquitto.js';
import { openTestOutbox } from '../uplink/harness.js';

function target(custom: Partial<TargetCustom> = {}, length = 1000): VerifiedTarget {
  return { name: 'tcu/app-2.0.tar', length, hashes: { sha256: 'ab'.repeat(32) }, custom: { hardwareIds: ['tcu-a'], version: '2.0', ...custom } };
}

/** Local time (the window is in local time, whatever the machine's zone). */
const at = (h: number, m: number): Date => new Date(2024, 5, 1, h, m);

describe('network gate', () => {
  const states: (ConnectivityName | undefined)[] = [undefined, 'offline', 'searching', 'home', 'roaming'];
  const allowed = (custom: Partial<TargetCustom>, state: ConnectivityName | undefined, bytesSoFar = 0, now = at(12, 0)): boolean =>
    networkDecision(target(custom), { connectivity: state, now }, bytesSoFar).allowed;

  it('with the default policy: a fixed network and the home network download, roaming and no network do not', () => {
    expect(states.map((s) => allowed({}, s))).toEqual([true, false, false, true, false]);
  });

  it('roamingAllowed opens roaming; cellularAllowed false closes every cellular state but not a fixed network', () => {
    expect(states.map((s) => allowed({ network: { roamingAllowed: true } }, s))).toEqual([true, false, false, true, true]);
    expect(states.map((s) => allowed({ network: { cellularAllowed: false, roamingAllowed: true } }, s))).toEqual([true, false, false, false, false]);
  });

  it('maxBytes caps what is left to fetch over cellular, not over a fixed network', () => {
    const capped = { network: { maxBytes: 600, roamingAllowed: true } };
    expect(allowed(capped, 'home')).toBe(false); // 1000 bytes left
    expect(allowed(capped, 'home', 400)).toBe(true); // 600 left: at the cap
    expect(allowed(capped, 'roaming', 399)).toBe(false);
    expect(allowed(capped, undefined)).toBe(true);
    const refusal = networkDecision(target(capped), { connectivity: 'home', now: at(12, 0) }, 0);
    expect(refusal).toEqual({ allowed: false, code: 'OTA_NETWORK_POLICY', reason: "1000 bytes left to download over cellular, above the target's cap of 600" });
  });

  it('the window applies on every network, in local time, and may wrap midnight', () => {
    expect(inWindow('01:00-05:00', at(0, 59))).toBe(false);
    expect(inWindow('01:00-05:00', at(1, 0))).toBe(true);
    expect(inWindow('01:00-05:00', at(5, 0))).toBe(false);
    expect(inWindow('22:30-02:00', at(23, 0))).toBe(true);
    expect(inWindow('22:30-02:00', at(1, 59))).toBe(true);
    expect(inWindow('22:30-02:00', at(12, 0))).toBe(false);
    expect(inWindow('00:00-00:00', at(12, 0))).toBe(true);
    expect(inWindow('25:00-01:00', at(12, 0))).toBeUndefined();
    expect(allowed({ network: { window: '22:30-02:00' } }, undefined, 0, at(12, 0))).toBe(false);
    expect(allowed({ network: { window: '22:30-02:00' } }, 'home', 0, at(23, 0))).toBe(true);
    expect(allowed({ network: { window: '22:30-02:00' } }, 'roaming', 0, at(23, 0))).toBe(false);
  });

  it('the gate reads the connectivity and the clock at every question', () => {
    const clock = new FakeClock(at(12, 0).getTime());
    let now: Connectivity | undefined = { state: 'home', tech: 'LTE' };
    const gate = networkGate(target({ network: { window: '12:00-13:00' } }), { connectivity: () => now, clock });
    expect(gate(0).allowed).toBe(true);
    now = { state: 'roaming', tech: 'LTE' };
    expect(gate(0)).toMatchObject({ allowed: false, reason: expect.stringMatching(/roaming/) });
    now = { state: 'home', tech: 'LTE' };
    clock.advance(3600_000);
    expect(gate(0)).toMatchObject({ allowed: false, reason: expect.stringMatching(/outside the download window 12:00-13:00/) });
  });
});

const DBC = `VERSION ""

NS_ :

BS_:

BU_: BMS ESP TCU

BO_ 512 BMS: 8 BMS
 SG_ Soc : 0|8@1+ (0.5,0) [0|100] "%" TCU

BO_ 513 ESP: 8 ESP
 SG_ Speed : 0|16@1+ (0.01,0) [0|655.35] "km/h" TCU
`;

describe('vehicle state from signals', () => {
  const codec = compileDbc(parseDbc(DBC));
  const soc = (percent: number) => makeFrame({ id: 512, data: Uint8Array.of(Math.round(percent / 0.5), 0, 0, 0, 0, 0, 0, 0) });
  const speed = (kmh: number) => {
    const raw = Math.round(kmh / 0.01);
    return makeFrame({ id: 513, data: Uint8Array.of(raw & 0xff, raw >> 8, 0, 0, 0, 0, 0, 0) });
  };
  function setup(signals: Partial<OtaSignalsConfig> = { socPercent: 'BMS.Soc', speedKmh: 'ESP.Speed' }) {
    const clock = new FakeClock();
    const state = new SignalState('pt', codec, clock);
    let ignition: boolean | undefined;
    const vehicle = SignalVehicleState.bind({ maxAgeMs: 5000, parkedMaxSpeedKmh: 0.5, ...signals }, { states: new Map([['pt', state]]), ignition: () => ignition, clock });
    return { clock, state, vehicle, setIgnition: (on: boolean | undefined) => (ignition = on) };
  }
  const strict = target({ preconditions: { minSocPercent: 40, parked: true, ignitionOff: true } });

  it('nothing seen yet: everything unknown, and each precondition refuses with its reason', () => {
    const { vehicle } = setup();
    expect(vehicle.read()).toEqual({ workshop: false });
    expect(checkPreconditions(strict, vehicle.read())).toEqual({ ok: false, code: 'OTA_PRECONDITION', reason: 'soc', detail: 'state of charge unknown (at least 40 % required)' });
  });

  it('fresh values satisfy the preconditions; a low charge, a moving car or the ignition on refuse', () => {
    const { state, vehicle, setIgnition } = setup();
    state.ingest(soc(80));
    state.ingest(speed(0.3));
    setIgnition(false);
    expect(vehicle.read()).toEqual({ workshop: false, socPercent: 80, parked: true, ignitionOff: true });
    expect(checkPreconditions(strict, vehicle.read())).toEqual({ ok: true });
    state.ingest(soc(30));
    expect(checkPreconditions(strict, vehicle.read())).toMatchObject({ ok: false, reason: 'soc', detail: 'state of charge 30 % is below the 40 % required' });
    state.ingest(soc(90));
    state.ingest(speed(12));
    expect(checkPreconditions(strict, vehicle.read())).toMatchObject({ ok: false, reason: 'parked', detail: 'the vehicle must be parked' });
    state.ingest(speed(0));
    setIgnition(true);
    expect(checkPreconditions(strict, vehicle.read())).toMatchObject({ ok: false, reason: 'ignition', detail: 'the ignition must be off' });
    expect(checkPreconditions(target({ preconditions: { workshopOnly: true } }), vehicle.read())).toMatchObject({ ok: false, reason: 'workshop', detail: 'this update is installed in a workshop only' });
  });

  it('a value older than maxAgeMs is unknown again', () => {
    const { clock, state, vehicle } = setup();
    state.ingest(soc(80));
    clock.advance(5000);
    expect(vehicle.read().socPercent).toBe(80);
    clock.advance(1);
    expect(vehicle.read().socPercent).toBeUndefined();
  });

  it('without a speed signal, the ignition off means parked', () => {
    const { vehicle, setIgnition } = setup({ socPercent: 'BMS.Soc' });
    expect(vehicle.read().parked).toBeUndefined();
    setIgnition(true);
    expect(vehicle.read().parked).toBeUndefined();
    setIgnition(false);
    expect(vehicle.read()).toMatchObject({ parked: true, ignitionOff: true });
  });

  it('a signal no DBC has is CONFIG_INVALID naming the configuration path', () => {
    expect(() => setup({ speedKmh: 'ESP.Nope' })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringMatching(/^\/ota\/signals\/speedKmh: signal ESP.Nope/) }));
    expect(() => setup({ socPercent: 'BMS.Soc', bus: 'other' })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});

describe('health check', () => {
  it('passes once the broker is reached and every bus has frames; else fails at its deadline naming what is missing', async () => {
    const clock = new FakeClock();
    let connected = false;
    const frames: Record<string, number> = { pt: 0, body: 5 };
    const probe = { uplinkConnected: () => connected, busFrames: () => ({ ...frames }) };
    expect(healthNow(probe)).toEqual({ ok: false, checks: { agent: true, broker: false, can: false }, detail: 'the broker was not reached; no CAN frames on pt' });
    const pending = checkHealth(probe, { clock, timeoutMs: 2000 });
    clock.advance(1000);
    connected = true;
    frames.pt = 1;
    clock.advance(200);
    expect(await pending).toEqual({ ok: true, checks: { agent: true, broker: true, can: true } });

    frames.pt = 0;
    const failing = checkHealth(probe, { clock, timeoutMs: 2000 });
    clock.advance(2000);
    expect(await failing).toEqual({ ok: false, checks: { agent: true, broker: true, can: false }, detail: 'no CAN frames on pt within 2000 ms' });
  });

  it('does not hold against the new software what it cannot judge: the broker without a network, CAN with the ignition off', () => {
    let noNetwork = true;
    let ignitionOff = true;
    const probe = { uplinkConnected: () => false, busFrames: () => ({ pt: 0 }), noNetwork: () => noNetwork, ignitionOff: () => ignitionOff };
    expect(healthNow(probe)).toEqual({ ok: true, checks: { agent: true, broker: true, can: true }, detail: 'not judged: broker (no network), CAN (ignition off)' });
    noNetwork = false; // registered, yet the broker is not reached: that counts
    expect(healthNow(probe)).toMatchObject({ ok: false, checks: { broker: false, can: true }, detail: 'the broker was not reached' });
    noNetwork = true;
    ignitionOff = false; // the ignition is on and a bus is silent: that counts
    expect(healthNow(probe)).toMatchObject({ ok: false, checks: { broker: true, can: false }, detail: 'no CAN frames on pt' });
  });
});

describe('stopping the campaigns', () => {
  const settled = async (p: Promise<unknown>): Promise<boolean> => {
    let done = false;
    void p.then(
      () => (done = true),
      () => (done = true),
    );
    for (let i = 0; i < 5; i++) await Promise.resolve();
    return done;
  };

  it('a hook waiting when the agent stops never settles, and the stop does not wait for it', async () => {
    const clock = new FakeClock();
    const gate = new StopGate();
    let finish!: (v: string) => void;
    const hook = gate.hold(() => new Promise<string>((resolve) => (finish = resolve)));
    const running = hook.then(() => 'the runner went on');
    await gate.stop(running, clock, 10_000);
    finish('downloaded');
    expect(await settled(hook)).toBe(false);
    expect(await settled(gate.hold(() => Promise.resolve(1)))).toBe(false);
  });

  it('a step that is not a hook is waited for, up to the limit', async () => {
    const clock = new FakeClock();
    const gate = new StopGate();
    let finish!: () => void;
    const running = new Promise<void>((resolve) => (finish = resolve));
    const stopped = gate.stop(running, clock, 10_000);
    expect(await settled(stopped)).toBe(false);
    finish();
    expect(await settled(stopped)).toBe(true);
    const stuck = new StopGate().stop(new Promise(() => undefined), clock, 10_000);
    clock.advance(9_999);
    expect(await settled(stuck)).toBe(false);
    clock.advance(1);
    expect(await settled(stuck)).toBe(true);
  });
});

describe('consent over the HMI topic (a real Mosquitto, the emulator playing the HMI)', () => {
  const haveBroker = hasMosquitto();
  let broker: Mosquitto;
  let n = 0;
  beforeAll(async () => {
    if (haveBroker) broker = await Mosquitto.start();
  });
  afterAll(async () => {
    await broker?.dispose();
  });

  async function pair(answer: HmiPlayerAnswer, delayMs = 0) {
    const topic = `test/hmi${++n}`;
    const clock = systemClock();
    const player = new HmiPlayer({ url: broker.url, topic, answer, delayMs, clock });
    await player.start();
    const channel = new HmiChannel({ url: broker.url, topic, clientId: `agent-${n}`, clock, logger: silentLogger() });
    channel.start();
    return { player, channel, topic, close: async () => Promise.all([player.stop(), channel.close()]) };
  }
  const request = (campaign: string) => ({ campaign, target: 'tcu/app-2.0.tar', version: '2.0', userInfo: { purpose: 'security fix', changes: 'TLS library', durationSeconds: 120, unavailableFunctions: ['remote unlock'] } });

  it.runIf(haveBroker)('the user consents: given; the request carries the user information and the time limit', async () => {
    const { player, channel, close } = await pair('consent');
    try {
      expect(await channel.askConsent(request('c1'), 5000)).toBe('given');
      expect(player.requests).toEqual([{ v: 1, ...request('c1'), timeoutS: 5, at: expect.any(String) }]);
      expect(player.answers).toEqual([{ campaign: 'c1', answer: 'consent' }]);
      // Remembered: not asked again.
      expect(await channel.askConsent(request('c1'), 5000)).toBe('given');
      expect(player.requests).toHaveLength(1);
    } finally {
      await close();
    }
  });

  it.runIf(haveBroker)('the user refuses: refused, and asked again next time', async () => {
    const { player, channel, close } = await pair('refuse');
    try {
      expect(await channel.askConsent(request('c2'), 5000)).toBe('refused');
      player.setAnswer('consent');
      expect(await channel.askConsent(request('c2'), 5000)).toBe('given');
      expect(player.requests).toHaveLength(2);
    } finally {
      await close();
    }
  });

  it.runIf(haveBroker)('an answer after a delay within the time limit counts; an answer for another campaign does not', async () => {
    const { player, channel, close } = await pair('consent', 300);
    try {
      const asked = channel.askConsent(request('c3'), 5000);
      await player.respond('other-campaign', 'refuse');
      const started = performance.now();
      expect(await asked).toBe('given');
      expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    } finally {
      await close();
    }
  });

  it.runIf(haveBroker)('no answer: pending at the time limit; a late consent is remembered for the next ask; malformed answers are counted', async () => {
    const { player, channel, topic, close } = await pair('ignore');
    try {
      const started = performance.now();
      expect(await channel.askConsent(request('c4'), 400)).toBe('pending');
      expect(performance.now() - started).toBeGreaterThanOrEqual(350);
      await player.respond('c4', 'consent');
      const raw = player['client']!;
      await raw.publishAsync(`${topic}/consent/response`, '{"campaign":"c4","answer":"maybe"}', { qos: 1 });
      await raw.publishAsync(`${topic}/consent/response`, 'not json', { qos: 1 });
      await expect.poll(() => channel.counters()).toMatchObject({ answers: 1, malformed: 2 });
      expect(await channel.askConsent(request('c4'), 400)).toBe('given');
      expect(player.requests).toHaveLength(1);
    } finally {
      await close();
    }
  });

  it.runIf(haveBroker)('notices reach the HMI; a consent wait ends pending when aborted', async () => {
    const { player, channel, close } = await pair('ignore');
    try {
      channel.notice({ v: 1, campaign: 'c5', state: 'succeeded', target: 't', version: '2.0', code: null, detail: null, at: new Date().toISOString() });
      await expect.poll(() => player.notices).toEqual([expect.objectContaining({ campaign: 'c5', state: 'succeeded' })]);
      const abort = new AbortController();
      const asked = channel.askConsent(request('c5'), 60_000, abort.signal);
      setTimeout(() => abort.abort(), 100);
      expect(await asked).toBe('pending');
    } finally {
      await close();
    }
  });

  it('answers are parsed strictly', () => {
    expect(parseConsentResponse(Buffer.from('{"campaign":"x","answer":"refuse","extra":1}'))).toEqual({ campaign: 'x', answer: 'refuse' });
    for (const bad of ['[]', '{"answer":"consent"}', '{"campaign":"","answer":"consent"}', '{"campaign":"x","answer":true}', '\u0000']) {
      expect(() => parseConsentResponse(Buffer.from(bad))).toThrow(expect.objectContaining({ code: 'UPLINK_COMMAND_MALFORMED' }));
    }
  });

  it.runIf(haveBroker)('no HMI broker at all: pending at the time limit, nothing thrown', async () => {
    const channel = new HmiChannel({ url: 'mqtt://127.0.0.1:1', topic: 'x', clientId: 'nobody', clock: systemClock(), logger: silentLogger() });
    channel.start();
    try {
      expect(await channel.askConsent(request('c6'), 300)).toBe('pending');
      expect(channel.counters()).toMatchObject({ requests: 0, connected: false });
    } finally {
      await channel.close();
    }
  });

  it.runIf(haveBroker)('the uplink publishes a report on <prefix>/<vin>/<suffix> (QoS 1, PUBACK), and refuses while not connected', async () => {
    const o = openTestOutbox({ fake: true });
    const u = new Uplink({ vin: 'WVWZZZ1KZPW000099', outbox: o.outbox, random: () => 0.5, config: { url: broker.url, backoff: { initialMs: 100, maxMs: 100 }, connectTimeoutMs: 2000 } });
    const cloud = await connectAsync(broker.url, { clean: true });
    const got: { topic: string; text: string; retain: boolean }[] = [];
    cloud.on('message', (topic, payload, packet) => got.push({ topic, text: payload.toString(), retain: packet.retain }));
    await cloud.subscribeAsync('tcu/WVWZZZ1KZPW000099/ota/#', { qos: 1 });
    try {
      await expect(u.publishMessage('ota', '{}')).rejects.toMatchObject({ code: 'UPLINK_PUBLISH' });
      await expect(u.publishMessage('ota/+', '{}')).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
      await expect(u.publishMessage('/ota', '{}')).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
      u.start();
      await expect.poll(() => u.state).toBe('connected');
      await u.publishMessage('ota/inventory', '{"format":1}', { retain: true });
      await expect.poll(() => got).toEqual([{ topic: 'tcu/WVWZZZ1KZPW000099/ota/inventory', text: '{"format":1}', retain: false }]);
      // Retained: a subscriber that comes later gets it.
      const late = await connectAsync(broker.url, { clean: true });
      const retained: string[] = [];
      late.on('message', (_t, payload, packet) => packet.retain && retained.push(payload.toString()));
      await late.subscribeAsync('tcu/WVWZZZ1KZPW000099/ota/inventory', { qos: 1 });
      await expect.poll(() => retained).toEqual(['{"format":1}']);
      await late.endAsync(true);
    } finally {
      await u.stop(500);
      await cloud.endAsync(true);
      o.close();
    }
  });

  it.runIf(haveBroker)('tcu-emulator hmi: answers as told, prints what it sees as JSON lines; bad usage is exit 2', async () => {
    const run = async (argv: string[], stop?: AbortSignal, onLine?: (line: string) => void) => {
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      let out = '';
      let err = '';
      stdout.on('data', (c: Buffer) => {
        out += c.toString();
        for (const line of c.toString().split('\n')) if (line !== '') onLine?.(line);
      });
      stderr.on('data', (c: Buffer) => (err += c.toString()));
      const code = await tcuEmulator(argv, { stdin: new PassThrough(), stdout, stderr, stop, isTTY: false });
      return { code, out, err };
    };
    expect((await run(['hmi', '--help'])).out).toMatch(/^Usage: tcu-emulator hmi --broker URL/);
    expect(await run(['hmi', '--broker', broker.url, '--answer', 'maybe'])).toMatchObject({ code: 2, err: expect.stringMatching(/--answer must be one of consent, refuse, ignore/) });
    expect(await run(['hmi'])).toMatchObject({ code: 2, err: expect.stringMatching(/--broker is required/) });

    const stop = new AbortController();
    let listening!: () => void;
    const ready = new Promise<void>((resolve) => (listening = resolve));
    const cli = run(['hmi', '--broker', broker.url, '--topic', 'cli/hmi', '--answer', 'refuse', '--delay-ms', '50'], stop.signal, (line) => {
      if (line.includes('"listening"')) listening();
    });
    await ready;
    const channel = new HmiChannel({ url: broker.url, topic: 'cli/hmi', clientId: 'agent-cli', clock: systemClock(), logger: silentLogger() });
    channel.start();
    try {
      expect(await channel.askConsent(request('c7'), 5000)).toBe('refused');
    } finally {
      await channel.close();
      stop.abort();
    }
    const { code, out } = await cli;
    expect(code).toBe(0);
    const events = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.map((e) => e['event'])).toEqual(['listening', 'request', 'answer']);
    expect(events[2]).toEqual({ event: 'answer', campaign: 'c7', answer: 'refuse' });
  });
});
