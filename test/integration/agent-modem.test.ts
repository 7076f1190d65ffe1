/**
 * The uplink's behaviour under each connectivity state, end to end: the agent (Agent.start, the
 * composition root) with a `modem` section whose port is a REAL socat pty, opened with the real
 * serialport binding, on the far side of which the modem simulator plays a scenario (compressed in
 * time: `scaledScenario`); a candump log replayed as the CAN bus producing records; a REAL
 * Mosquitto broker behind a TCP proxy that counts the agent's connections; and a subscriber
 * standing in for the cloud.
 *
 * The runs are independent (their own simulator, proxy, VIN and outbox) and run concurrently
 * against one broker: the file takes about 30 s.
 *
 * A test headed by a `Regression` comment guards a defect this file found (and that was fixed).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, it, type ExpectStatic } from 'vitest';
import { systemClock } from '../../core/clock.js';
import { createLogger } from '../../core/logger.js';
import { parseConfig, type ModemConfigInput } from '../../config/index.js';
import { Agent } from '../../agent/runtime/agent.js';
import { createWireDecoder } from '../../agent/uplink/wire.js';
import { HOME_OPERATOR, ROAMING_OPERATOR } from '../../hw-emulator/modem/index.js';
import { agentConfig, candumpBus, ENGINE_DBC } from '../helpers/agent-config.js';
import { Mosquitto, TcpProxy, hasMosquitto } from '../helpers/mosquitto.js';
import { hasSocat, scaledScenario, startModemSim, type InProcessModemSim, type ModemSimOptions } from '../helpers/modem-sim.js';
import { CloudClient } from '../unit/uplink/harness.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const haveSystem = hasSocat() && hasMosquitto();

let dir: string;
let broker: Mosquitto;
let cloud: CloudClient;
/** When the subscriber first saw each message (index in cloud.messages), ms of performance.now(). */
const arrivals: number[] = [];
let stamping: ReturnType<typeof setInterval> | undefined;

beforeAll(async () => {
  if (!haveSystem) return;
  dir = mkdtempSync(join(tmpdir(), 'tcu-agent-modem-'));
  // The Engine message (0x100) ten times a second for ten seconds, replayed in a loop.
  const lines: string[] = [];
  for (let i = 0; i < 100; i++) {
    const rpm = 800 + ((i * 37) % 4000);
    const raw = Math.round(rpm / 0.25);
    const data = Buffer.from([raw & 0xff, raw >> 8, 40 + (i % 60), 3, 0, 0, 0, 0]).toString('hex').toUpperCase();
    lines.push(`(${(1_700_000_000 + i / 10).toFixed(6)}) can0 100#${data}`);
  }
  writeFileSync(join(dir, 'engine.log'), `${lines.join('\n')}\n`);
  broker = await Mosquitto.start();
  cloud = await CloudClient.connect(broker.url, ['tcu/#']);
  stamping = setInterval(() => {
    while (arrivals.length < cloud.messages.length) arrivals.push(performance.now());
  }, 5);
});

afterAll(async () => {
  if (stamping) clearInterval(stamping);
  await cloud?.end();
  await broker?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Received {
  topic: string;
  boot: string;
  seq: number;
  kind: string;
  ts: number;
  body: Record<string, unknown>;
  /** ms after the simulator's start when the subscriber got it. */
  at: number;
}

interface ModemStatus {
  connectivity: { state: string; reason?: string; tech?: string; operator?: string; plmn?: string };
  sim: string;
  link: string;
  identity: Record<string, unknown>;
  counters: Record<string, number>;
  location?: { lat: number; lon: number };
  time: { trusted: boolean };
}

interface Timeline {
  /** ms after the simulator's start. */
  at: number;
  stat: number;
  connections: number;
  connectivity: string;
  depth: number;
  polls: number;
}

interface Run {
  vin: string;
  sim: InProcessModemSim;
  proxy: TcpProxy;
  agent: Agent;
  timeline: Timeline[];
  log(): string;
  elapsed(): number;
  modem(): ModemStatus;
  /** Records for this VIN, in arrival order. */
  records(): Received[];
  /** Status messages for this VIN, in arrival order. */
  statuses(): Record<string, unknown>[];
  /** Waits for the first moment (timeline sample) at which `check` held, and returns it. */
  reached(what: string, check: (t: Timeline) => boolean, timeoutMs?: number): Promise<Timeline>;
  until(what: string, check: () => boolean, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

let vins = 0;

/** The simulator, a proxy in front of the broker, and the agent with a modem section pointing at the simulator's pty. */
async function startRun(scenario: ModemSimOptions['scenario'], modem: Omit<ModemConfigInput, 'port'> = {}): Promise<Run> {
  const n = ++vins;
  const vin = `TESTMDM00000000${String(n).padStart(2, '0')}`;
  const sim = await startModemSim({ scenario, seed: 5 });
  const proxy = await TcpProxy.start(broker.port);
  let logText = '';
  const logStream = new PassThrough();
  logStream.on('data', (c: Buffer) => (logText = (logText + c.toString()).slice(-100_000)));
  const input = agentConfig({
    vin,
    deviceId: `modem-${n}`,
    buses: [candumpBus({ path: join(dir, 'engine.log'), dbc: ENGINE_DBC, loop: true })],
    collect: {
      periodic: [
        { name: 'norm', everyMs: 500, signals: ['Engine.EngineSpeed'], priority: 'normal' },
        { name: 'hi', everyMs: 1000, signals: ['Engine.CoolantTemp'], priority: 'high' },
      ],
    },
    outbox: { path: join(dir, `outbox-${n}.db`), commitIntervalMs: 50 },
    // A back-off far longer than any test: a reconnection that waited for it would time out.
    uplink: { url: proxy.url, backoff: { initialMs: 60_000, maxMs: 60_000, jitter: 0 } },
    jobs: { heartbeat: '* * * * * *' },
    logging: { level: 'info' },
  });
  const config = parseConfig({ ...input, modem: { port: sim.at, record: { everyMs: 1000 }, ...modem } });
  const logger = createLogger({ level: 'info', name: 'tcu-agent', destination: logStream });
  let agent: Agent;
  try {
    agent = await Agent.start(config, { clock: systemClock(), logger, version: 'test' });
  } catch (err) {
    await proxy.close();
    await sim.stop();
    throw err;
  }
  const elapsed = (): number => performance.now() - sim.startedAt;
  const modemStatus = (): ModemStatus => agent.status()['modem'] as ModemStatus;
  const timeline: Timeline[] = [];
  let stopped = false;
  const sample = setInterval(() => {
    if (stopped) return;
    const status = agent.status();
    const m = status['modem'] as ModemStatus;
    timeline.push({
      at: elapsed(),
      stat: sim.sim.status().stat,
      connections: proxy.connections,
      connectivity: m.connectivity.state,
      depth: (status['outbox'] as { depth: number }).depth,
      polls: m.counters['polls'] ?? 0,
    });
  }, 20);
  const decoder = createWireDecoder();
  const decoded = new Map<number, Received[]>();
  const mine = (topic: string): boolean => topic.startsWith(`tcu/${vin}/`);
  const run: Run = {
    vin,
    sim,
    proxy,
    agent,
    timeline,
    log: () => logText,
    elapsed,
    modem: modemStatus,
    records() {
      const out: Received[] = [];
      cloud.messages.forEach((m, i) => {
        if (!mine(m.topic) || !(m.topic.endsWith('/telemetry') || m.topic.endsWith('/events'))) return;
        let got = decoded.get(i);
        if (got === undefined) {
          const p = decoder.decode(m.payload) as { boot: string; records: Record<string, unknown>[] };
          const at = (arrivals[i] ?? performance.now()) - sim.startedAt;
          got = p.records.map(({ seq, ts, kind, ...body }) => ({ topic: m.topic, boot: p.boot, seq: Number(seq), kind: String(kind), ts: Number(ts), body, at }));
          decoded.set(i, got);
        }
        out.push(...got);
      });
      return out;
    },
    statuses: () => cloud.messages.filter((m) => m.topic === `tcu/${vin}/status`).map((m) => m.body as Record<string, unknown>),
    async reached(what, check, timeoutMs = 10_000) {
      let found: Timeline | undefined;
      await run.until(what, () => (found = timeline.find(check)) !== undefined, timeoutMs);
      return found!;
    },
    async until(what, check, timeoutMs = 10_000) {
      const deadline = performance.now() + timeoutMs;
      while (!check()) {
        if (performance.now() > deadline) {
          throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; at ${Math.round(elapsed())} ms: sim ${JSON.stringify(sim.sim.status())}, modem ${JSON.stringify(modemStatus().connectivity)}, connections ${proxy.connections}\nagent log:\n${logText.slice(-5000)}`);
        }
        await sleep(20);
      }
    },
    async stop() {
      stopped = true;
      clearInterval(sample);
      await agent.stop('test');
      await proxy.close();
      await sim.stop();
    },
  };
  return run;
}

/** Runs `body` with a run, and always tears it down. */
async function withRun(scenario: ModemSimOptions['scenario'], modem: Omit<ModemConfigInput, 'port'>, body: (r: Run) => Promise<void>): Promise<void> {
  const r = await startRun(scenario, modem);
  try {
    await body(r);
  } finally {
    await r.stop();
  }
}

/** Every record of the boot arrived: seqs 1..max, none missing (duplicates allowed: at least once). */
function expectGapless(expect: ExpectStatic, records: Received[]): { boot: string; max: number } {
  const boots = [...new Set(records.map((r) => r.boot))];
  expect(boots).toHaveLength(1);
  const seqs = new Set(records.map((r) => r.seq));
  const max = Math.max(...seqs);
  const missing = Array.from({ length: max }, (_, i) => i + 1).filter((s) => !seqs.has(s));
  expect(missing, `seqs missing of 1..${max}`).toEqual([]);
  return { boot: boots[0]!, max };
}

/** The states of the `connectivity` events in seq order, consecutive repeats merged. */
function connectivityStates(records: Received[]): string[] {
  const events = records.filter((r) => r.kind === 'event' && r.body['name'] === 'connectivity').sort((a, b) => a.seq - b.seq);
  const unique = [...new Map(events.map((e) => [e.seq, e])).values()];
  return unique.map((e) => String(e.body['state'])).filter((s, i, all) => i === 0 || all[i - 1] !== s);
}

describe.skipIf(!haveSystem).concurrent('the agent with a modem: connectivity steers the uplink (real pty, real Mosquitto)', () => {
  it('coverage lost and regained: no connection while not registered, records buffer; on registration it connects at once and the backlog arrives gapless', { timeout: 60_000 }, async ({ expect }) => {
    // coverage-loss compressed: home, fading at 3 s, searching at 6 s, no coverage at 8.25 s, home
    // at 12.75 s (registered 1.5 s later); the next outage would be at 24 s.
    await withRun(scaledScenario('coverage-loss', 0.15), { pollIntervalMs: 60_000 }, async (r) => {
      await r.until('the first connection (home)', () => r.proxy.connections === 1 && r.modem().connectivity.state === 'home', 8000);
      await r.until('records at the cloud', () => r.records().some((x) => x.kind === 'signals'), 5000);

      await r.until('the network lost (searching)', () => r.modem().connectivity.state === 'searching', 10_000);
      const lostAt = r.elapsed();
      expect(lostAt).toBeGreaterThanOrEqual(5900);
      // The connection is dropped without DISCONNECT: the broker publishes the will (offline).
      await r.until('the will (offline status)', () => r.statuses().at(-1)?.['online'] === false, 3000);
      const depthAtLoss = r.agent.status()['outbox'] as { depth: number };

      const back = await r.reached('registered again at the simulator', (t) => t.at > 12_000 && t.stat === 1, 12_000);
      // Throughout the outage (to the last sample before the simulator registered again): no
      // connection attempt, nothing delivered, records piling up.
      const outage = r.timeline.filter((t) => t.at > lostAt && t.at < back.at);
      const outageEnd = outage.at(-1)!.at;
      expect(outage.length).toBeGreaterThan(100);
      expect(outage.every((t) => t.connections === 1)).toBe(true);
      expect(outage.every((t) => t.connectivity === 'searching' || t.connectivity === 'offline')).toBe(true);
      expect(outage.map((t) => t.connectivity)).toContain('offline');
      expect(outage.at(-1)!.depth).toBeGreaterThan(depthAtLoss.depth + 10);
      const deliveredInOutage = r.records().filter((x) => x.at > lostAt + 300 && x.at < outageEnd);
      expect(deliveredInOutage).toEqual([]);

      // Registration returns: the unsolicited code allows the uplink, which connects at once (not
      // after its 60 s back-off, and before the poll the registration change brought forward).
      const connected = await r.reached('the second connection', (t) => t.connections === 2, 5000);
      expect(connected.at - back.at).toBeLessThan(1500);
      expect(connected.polls).toBe(back.polls);

      // The backlog arrives; the agent stops cleanly (its stop event is the last record).
      await r.until('the backlog delivered', () => r.timeline.at(-1)!.depth === 0 && r.timeline.at(-1)!.at > connected.at, 10_000);
      expect(r.elapsed()).toBeLessThan(23_000); // still before the next outage
      // The heartbeat's status says so (the one sent at the connect itself is the last one kept
      // from before: it still says searching until the next heartbeat).
      const lastOnline = (): ModemStatus | undefined => r.statuses().filter((s) => s['online'] === true).at(-1)?.['modem'] as ModemStatus | undefined;
      await r.until('a status saying home, on the home network', () => lastOnline()?.connectivity.state === 'home' && lastOnline()?.connectivity.plmn !== undefined, 4000);
      expect(lastOnline()!.connectivity).toMatchObject({ state: 'home', operator: HOME_OPERATOR.long, plmn: `${HOME_OPERATOR.mcc}${HOME_OPERATOR.mnc}` });
      await r.stop();
      await r.until('the stop event', () => r.records().some((x) => x.body['name'] === 'agent-stop'), 5000);
      const records = r.records();
      const { max } = expectGapless(expect, records);
      expect(records.find((x) => x.body['name'] === 'agent-stop')!.seq).toBe(max);
      // What was committed during the outage arrived after the reconnection.
      const duringOutage = records.filter((x) => x.ts >= Date.now() - (r.elapsed() - lostAt) + 500 && x.kind === 'signals');
      expect(duringOutage.length).toBeGreaterThan(10);
      // The connectivity events tell the story, in order.
      expect(connectivityStates(records)).toEqual(['home', 'searching', 'offline', 'searching', 'home']);
      // The registration code says home at once; the poll after it names the network (a second event).
      const homeAgain = records.filter((x) => x.body['name'] === 'connectivity' && x.body['state'] === 'home' && x.seq > records.find((y) => y.body['state'] === 'offline')!.seq);
      expect(homeAgain[0]!.topic).toBe(`tcu/${r.vin}/events`);
      expect(homeAgain[0]!.body).toMatchObject({ from: 'searching', tech: expect.stringMatching(/^(LTE|NR)$/) });
      expect(homeAgain.at(-1)!.body).toMatchObject({ operator: HOME_OPERATOR.long, plmn: `${HOME_OPERATOR.mcc}${HOME_OPERATOR.mnc}` });
      // The modem records (telemetry) carry the outage too.
      const modemRecords = records.filter((x) => x.kind === 'modem');
      expect(modemRecords.every((x) => x.topic === `tcu/${r.vin}/telemetry`)).toBe(true);
      expect(new Set(modemRecords.map((x) => x.body['state']))).toEqual(new Set(['home', 'searching', 'offline']));
    });
  });

  // Regression (found by this test): on every connect the retained status was the last one the
  // heartbeat computed; with a modem, every reconnection follows a change of connectivity, so it
  // said "searching" until the next heartbeat. The uplink now publishes the status of the moment.
  it('the status published when registration brings the connection back says home', { timeout: 60_000 }, async ({ expect }) => {
    await withRun(scaledScenario('coverage-loss', 0.15), { pollIntervalMs: 60_000 }, async (r) => {
      await r.until('the network lost', () => r.modem().connectivity.state === 'searching', 12_000);
      await r.until('the second connection', () => r.proxy.connections === 2, 12_000);
      const lastWill = (): number => r.statuses().map((s) => s['online']).lastIndexOf(false);
      await r.until('a status after the will', () => lastWill() >= 0 && lastWill() < r.statuses().length - 1, 3000);
      const onReconnect = r.statuses()[lastWill() + 1]!;
      expect(onReconnect['online']).toBe(true);
      expect((onReconnect['modem'] as ModemStatus).connectivity.state).toBe('home');
    });
  });

  it('roaming with minPriority high: only high records go while roaming; the rest, connectivity events included, once home', { timeout: 60_000 }, async ({ expect }) => {
    // roaming compressed: home, border (searching) at 6 s, roaming from 7.5 s (registered at 9 s),
    // border at 21 s, home at 22.5 s (registered at 24 s).
    await withRun(scaledScenario('roaming', 0.15), { pollIntervalMs: 60_000, roaming: { minPriority: 'high' } }, async (r) => {
      await r.until('the first connection (home)', () => r.proxy.connections === 1 && r.modem().connectivity.state === 'home', 8000);
      await r.until('roaming', () => r.modem().connectivity.state === 'roaming', 15_000);
      const roamingFrom = (await r.reached('connected while roaming', (t) => t.connections === 2, 3000)).at;
      await r.until('the border again', () => r.modem().connectivity.state !== 'roaming', 16_000);
      const roamingTo = r.elapsed();
      expect(roamingTo - roamingFrom).toBeGreaterThan(10_000);
      const status = r.statuses().filter((s) => s['online'] === true).at(-1)!;
      expect((status['modem'] as ModemStatus).connectivity).toMatchObject({ state: 'roaming', operator: ROAMING_OPERATOR.long, plmn: `${ROAMING_OPERATOR.mcc}${ROAMING_OPERATOR.mnc}` });

      // While roaming, only records of priority high or above arrived.
      const whileRoaming = r.records().filter((x) => x.at > roamingFrom && x.at < roamingTo);
      const hi = whileRoaming.filter((x) => x.kind === 'signals' && x.body['collector'] === 'hi');
      expect(hi.length).toBeGreaterThanOrEqual(8);
      const low = whileRoaming.filter((x) => !(x.kind === 'signals' && x.body['collector'] === 'hi') && !(x.kind === 'event' && ['error', 'agent-start'].includes(String(x.body['name']))));
      expect(low.map((x) => `${x.kind} ${JSON.stringify(x.body).slice(0, 80)}`)).toEqual([]);

      await r.until('home again and connected', () => r.modem().connectivity.state === 'home' && r.proxy.connections === 3, 8000);
      await r.until('the backlog delivered', () => r.timeline.at(-1)!.depth === 0, 10_000);
      await r.stop();
      await r.until('the stop event', () => r.records().some((x) => x.body['name'] === 'agent-stop'), 5000);
      const records = r.records();
      expectGapless(expect, records);
      // The normal records of the roaming time, and the roaming connectivity event, came once home.
      // (Two of them: the registration code says roaming at once, the next poll names the network.)
      const roamingEvents = records.filter((x) => x.body['name'] === 'connectivity' && x.body['state'] === 'roaming');
      expect(roamingEvents.length).toBeGreaterThanOrEqual(1);
      for (const e of roamingEvents) expect(e.at).toBeGreaterThan(roamingTo);
      expect(roamingEvents.at(-1)!.body).toMatchObject({ operator: ROAMING_OPERATOR.long, plmn: `${ROAMING_OPERATOR.mcc}${ROAMING_OPERATOR.mnc}` });
      const normalLater = records.filter((x) => x.kind === 'signals' && x.body['collector'] === 'norm' && x.at > roamingTo);
      expect(normalLater.length).toBeGreaterThan(15);
      expect(connectivityStates(records)).toEqual(['home', 'searching', 'roaming', 'searching', 'home']);
    });
  });

  it('no SIM: never a connection, records buffer in the outbox, connectivity offline (sim-missing)', { timeout: 30_000 }, async ({ expect }) => {
    await withRun('sim-missing', {}, async (r) => {
      await r.until('the modem initialised (SIM missing)', () => r.modem().sim === 'missing', 5000);
      await sleep(4000);
      expect(r.modem().connectivity).toMatchObject({ state: 'offline', reason: 'sim-missing' });
      expect(r.timeline.every((t) => t.connections === 0)).toBe(true);
      expect(r.proxy.connections).toBe(0);
      const depths = r.timeline.map((t) => t.depth);
      expect(depths.at(-1)!).toBeGreaterThan(depths[0]! + 5);
      expect(cloud.messages.filter((m) => m.topic.startsWith(`tcu/${r.vin}/`))).toEqual([]);
    });
  });

  it('at home with GNSS by AT+QGPSLOC: modem and location records on telemetry, connectivity events, the status names the connectivity', { timeout: 60_000 }, async ({ expect }) => {
    await withRun('steady-home', { gnss: { source: 'qgpsloc', pollIntervalMs: 1000, everyMs: 1000 } }, async (r) => {
      await r.until('location records', () => r.records().filter((x) => x.kind === 'location').length >= 2, 20_000);
      await r.until('modem records', () => r.records().filter((x) => x.kind === 'modem').length >= 2, 5000);
      await r.until('a status with the modem', () => r.statuses().some((s) => s['online'] === true && s['modem'] !== undefined), 5000);
      const records = r.records();
      const location = records.filter((x) => x.kind === 'location').at(-1)!;
      expect(location.topic).toBe(`tcu/${r.vin}/telemetry`);
      expect(location.body).toMatchObject({ lat: expect.any(Number), lon: expect.any(Number), sats: expect.any(Number), fix: expect.stringMatching(/^[23]d$/), gnssTs: expect.any(Number) });
      expect(Math.abs(location.body['lat'] as number)).toBeLessThanOrEqual(90);
      expect(Math.abs(location.body['lon'] as number)).toBeLessThanOrEqual(180);
      expect(Math.abs((location.body['gnssTs'] as number) - location.ts)).toBeLessThan(5000);
      const modem = records.filter((x) => x.kind === 'modem').at(-1)!;
      expect(modem.topic).toBe(`tcu/${r.vin}/telemetry`);
      expect(modem.body).toMatchObject({
        state: 'home',
        tech: 'NR',
        operator: HOME_OPERATOR.long,
        plmn: `${HOME_OPERATOR.mcc}${HOME_OPERATOR.mnc}`,
        bars: expect.any(Number),
        registrations: { eps: 'home', gprs: 'home', cs: 'home' },
        attached: true,
      });
      expect(connectivityStates(records)).toEqual(['home']);
      const connectivity = records.find((x) => x.body['name'] === 'connectivity' && x.body['state'] === 'home')!;
      expect(connectivity.body).toMatchObject({ from: 'offline', tech: 'NR', operator: HOME_OPERATOR.long });
      const status = r.statuses().filter((s) => s['online'] === true && s['modem'] !== undefined).at(-1)!;
      const m = status['modem'] as ModemStatus;
      expect(m.connectivity).toMatchObject({ state: 'home', tech: 'NR', operator: HOME_OPERATOR.long });
      expect(m).toMatchObject({ link: 'open', sim: 'ready', identity: { manufacturer: 'Quectel', imei: r.sim.sim.identity.imei, iccid: r.sim.sim.identity.iccid } });
      expect(JSON.stringify(status)).not.toContain(r.sim.sim.identity.imsi); // the subscriber's identity stays on the vehicle
      await r.until('a status with the location', () => r.statuses().some((s) => (s['modem'] as ModemStatus | undefined)?.location !== undefined), 5000);
      expect(r.proxy.connections).toBe(1);
    });
  });
});
