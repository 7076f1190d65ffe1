// The composition root (agent/runtime/agent.ts) with injected dependencies: a FakeClock, a
// scheduler that records the jobs and lets the test fire them, a recording logger, a candump log
// replayed as the bus, the real outbox in a temporary folder, and the uplink either unconnected (a
// port nothing listens on) or on a real Mosquitto. What cannot be injected (the buses are built
// from the configuration by createBus, the outbox opened from its path) is reached through the
// configuration.
import { writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../../core/logger.js';
import { parseConfig, type AgentConfig } from '../../../config/index.js';
import type { Scheduler } from '../../../agent/jobs.js';
import { Agent } from '../../../agent/runtime/agent.js';
import { ENGINE_DBC, agentConfig, candumpBus, type AgentConfigSpec } from '../../helpers/agent-config.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { Mosquitto, freePort, hasMosquitto } from '../../helpers/mosquitto.js';
import { storedRecords } from '../../helpers/outbox-fixture.js';
import { tempDir, type TempDir } from '../../helpers/outbox-records.js';
import { CloudClient, waitFor } from '../uplink/harness.js';

const VIN = 'WVWZZZ1KZPW000005';
const BOOT = 'boot-agent-test';

/** Records every call, as pino would log it; children share the lines and add their bindings. */
class RecordingLogger implements Logger {
  constructor(
    readonly lines: { level: string; msg: string | undefined; obj: Record<string, unknown> }[] = [],
    private readonly bindings: Record<string, unknown> = {},
  ) {}
  debug(obj: Record<string, unknown>, msg?: string): void {
    this.lines.push({ level: 'debug', msg, obj: { ...this.bindings, ...obj } });
  }
  info(obj: Record<string, unknown>, msg?: string): void {
    this.lines.push({ level: 'info', msg, obj: { ...this.bindings, ...obj } });
  }
  warn(obj: Record<string, unknown>, msg?: string): void {
    this.lines.push({ level: 'warn', msg, obj: { ...this.bindings, ...obj } });
  }
  error(obj: Record<string, unknown>, msg?: string): void {
    this.lines.push({ level: 'error', msg, obj: { ...this.bindings, ...obj } });
  }
  child(bindings: Record<string, unknown>): Logger {
    return new RecordingLogger(this.lines, { ...this.bindings, ...bindings });
  }
}

/** Keeps the jobs the agent schedules; the test fires them. */
class FakeScheduler implements Scheduler {
  readonly jobs = new Map<string, { expression: string; task: () => void; stopped: boolean }>();
  schedule(name: string, expression: string, task: () => void): { stop(): void } {
    const job = { expression, task, stopped: false };
    this.jobs.set(name, job);
    return { stop: () => void (job.stopped = true) };
  }
  fire(name: string): void {
    const job = this.jobs.get(name);
    if (job === undefined) throw new Error(`no job ${name} (have ${[...this.jobs.keys()].join(', ')})`);
    if (job.stopped) throw new Error(`job ${name} was stopped`);
    job.task();
  }
}

// Four frames the engine DBC knows (or not: 7FF), three malformed lines between them.
const LOG = [
  '(1700000000.000100) can0 100#401F5A0300000000', // Engine: 2000 rpm, 50 °C, gear 3
  'garbage one',
  '(1700000000.000200) can0 18FEF1FE#2710000000000000', // Wheels
  'garbage two',
  '(1700000000.000300) can0 100#801F5A0300000000', // Engine: 2016 rpm
  '(1700000000.000400) can0 7FF#00', // not in the DBC
  'garbage three',
].join('\n');

let tmp: TempDir;
let clock: FakeClock;
let logger: RecordingLogger;
let scheduler: FakeScheduler;
let agent: Agent | undefined;
let port: number;

beforeEach(async () => {
  tmp = tempDir('tcu-agent-unit-');
  writeFileSync(tmp.path('bus.log'), LOG + '\n');
  clock = new FakeClock();
  logger = new RecordingLogger();
  scheduler = new FakeScheduler();
  port = await freePort(); // nothing listens: the uplink stays unconnected
});

afterEach(async () => {
  if (agent !== undefined) await stopAgent(agent);
  agent = undefined;
  tmp.cleanup();
});

function config(spec: Partial<AgentConfigSpec> = {}): AgentConfig {
  return parseConfig(
    agentConfig({
      vin: VIN,
      buses: [candumpBus({ path: tmp.path('bus.log'), dbc: ENGINE_DBC, speed: 0 })],
      collect: { periodic: [{ name: 'engine', everyMs: 100, priority: 'low', signals: ['Engine.EngineSpeed', 'Engine.CoolantTemp'] }] },
      outbox: { path: tmp.path('outbox.db') },
      uplink: { url: `mqtt://127.0.0.1:${port}`, backoff: { initialMs: 1000, maxMs: 1000, jitter: 0 } },
      jobs: { heartbeat: '*/7 * * * * *', housekeeping: '*/11 * * * * *' },
      ...spec,
    }),
  );
}

async function startAgent(c: AgentConfig = config()): Promise<Agent> {
  agent = await Agent.start(c, { clock, logger, scheduler, bootId: BOOT, version: '9.8.7-test', random: () => 0.5 });
  return agent;
}

/** The log replayed to its end (the replay bus closes itself then). */
async function replayed(a: Agent): Promise<void> {
  await waitFor('the candump log to be replayed', () => (a.status()['buses'] as Record<string, { state: string }>)['pt']!.state === 'closed');
}

/** The uplink's first connection attempt failed (and was reported: an error event is pushed). */
async function refused(a: Agent): Promise<void> {
  await waitFor('the first failed connection attempt', () => ((a.status()['errors'] as Record<string, number>)['uplink:UPLINK_CONNECT'] ?? 0) >= 1);
}

/**
 * stop(), with the fake clock moving meanwhile: the uplink's stop waits on clock timers (its poll
 * while it sends what is left, its time limits), which only move when the test moves them.
 */
async function stopAgent(a: Agent): Promise<void> {
  let done = false;
  const stopping = a.stop('test').finally(() => (done = true));
  while (!done) {
    clock.advance(10);
    await new Promise((r) => setTimeout(r, 2));
  }
  await stopping;
}

const events = (path: string) => storedRecords(path).filter((r) => r.kind === 'event');

describe('Agent with injected clock, scheduler and logger', () => {
  it('status(): identity, uptime by the injected clock, outbox, committer, uplink, per-bus counters and errors per kind', async () => {
    const a = await startAgent();
    await replayed(a);
    await refused(a);
    clock.advance(5000);
    const s = a.status();
    expect(s).toMatchObject({
      v: 1,
      vin: VIN,
      boot: BOOT,
      ts: clock.now(),
      version: '9.8.7-test',
      uptimeS: 5,
      outbox: { depth: expect.any(Number), evicted: { 0: 0, 1: 0, 2: 0, 3: 0 }, delivered: 0, lastUploadTs: null },
      committer: { accepted: expect.any(Number), droppedOutboxFull: 0, droppedMemoryFull: 0 },
      uplink: { connects: 0, connectFailures: expect.any(Number), inFlightPublishes: 0 },
      buses: { pt: { state: 'closed', rxFrames: 4, rxMalformed: 3, decoded: 3, unknown: 1 } },
    });
    expect((s['uplink'] as { connectFailures: number }).connectFailures).toBeGreaterThanOrEqual(1);
    // Errors are counted per `where:code`: three malformed lines, one kind.
    expect(s['errors']).toMatchObject({ 'pt:CANDUMP_SYNTAX': 3 });
    expect((s['errors'] as Record<string, number>)['uplink:UPLINK_CONNECT']).toBeGreaterThanOrEqual(1);
    // The engine group sampled every 100 ms; what the committer committed is what the outbox holds.
    const committer = s['committer'] as { accepted: number; committed: number };
    expect(committer.accepted).toBeGreaterThanOrEqual(50);
    expect(committer.committed).toBeLessThanOrEqual(committer.accepted);
    expect((s['outbox'] as { depth: number }).depth).toBe(committer.committed);
  });

  it('turns a bus error into one error event record per kind, logged once, counted every time', async () => {
    const a = await startAgent();
    await replayed(a);
    await refused(a);
    clock.advance(200); // the commit interval
    const errors = events(tmp.path('outbox.db')).filter((r) => r.body['name'] === 'error');
    expect(errors.filter((r) => r.body['where'] === 'pt')).toEqual([
      expect.objectContaining({ priority: 2, boot: BOOT, body: expect.objectContaining({ name: 'error', code: 'CANDUMP_SYNTAX', where: 'pt', message: expect.stringMatching(/line 2/) }) }),
    ]);
    expect(errors.filter((r) => r.body['where'] === 'uplink')).toEqual([expect.objectContaining({ body: expect.objectContaining({ code: 'UPLINK_CONNECT' }) })]);
    expect(logger.lines.filter((l) => l.level === 'warn' && l.obj['code'] === 'CANDUMP_SYNTAX')).toHaveLength(1);
    expect(a.status()['errors']).toMatchObject({ 'pt:CANDUMP_SYNTAX': 3 });
    // More of a kind already reported: counted, no new record.
    clock.advance(1000); // the uplink's next attempt (back-off 1 s)
    const connectErrors = () => (a.status()['errors'] as Record<string, number>)['uplink:UPLINK_CONNECT'] ?? 0;
    await waitFor('a second failed connection attempt', () => connectErrors() >= 2);
    clock.advance(200);
    expect(events(tmp.path('outbox.db')).filter((r) => r.body['name'] === 'error')).toHaveLength(2);
  });

  it('schedules the heartbeat and housekeeping on the configured expressions, and stops them at stop()', async () => {
    const a = await startAgent();
    expect([...scheduler.jobs].map(([name, j]) => [name, j.expression])).toEqual([
      ['heartbeat', '*/7 * * * * *'],
      ['housekeeping', '*/11 * * * * *'],
    ]);
    agent = undefined;
    await stopAgent(a);
    expect([...scheduler.jobs.values()].every((j) => j.stopped)).toBe(true);
  });

  it('the housekeeping job runs the outbox housekeeping at the clock’s time: age limits evict, counted', async () => {
    const a = await startAgent(config({ outbox: { path: tmp.path('outbox.db'), maxAgeSeconds: { low: 60 } } }));
    await replayed(a);
    clock.advance(1000);
    const first = storedRecords(tmp.path('outbox.db')).find((r) => r.kind === 'signals');
    expect(first?.body).toEqual({ collector: 'engine', values: { 'Engine.EngineSpeed': 2016, 'Engine.CoolantTemp': 50 } });
    scheduler.fire('housekeeping');
    expect(a.status()['outbox']).toMatchObject({ evicted: { 0: 0 } }); // none 60 s old yet
    // 70 s on: the bus has been silent since the log ended, so sampling stopped after 5 s (stale
    // values are left out) and every sample is now past the 60 s limit.
    clock.advance(70_000);
    const samples = storedRecords(tmp.path('outbox.db')).filter((r) => r.kind === 'signals');
    expect(samples.length).toBeGreaterThanOrEqual(45);
    scheduler.fire('housekeeping');
    expect(a.status()['outbox']).toMatchObject({ evicted: { 0: samples.length, 1: 0, 2: 0, 3: 0 } });
    expect(storedRecords(tmp.path('outbox.db')).filter((r) => r.kind === 'signals')).toEqual([]);
    expect(logger.lines.filter((l) => l.level === 'debug' && l.msg === 'counters')).toHaveLength(2);
  });

  it('stop() commits what is still in memory, the agent-stop event last, and closes the outbox', async () => {
    // Nothing commits on its own: a long interval and a large batch.
    const a = await startAgent(config({ outbox: { path: tmp.path('outbox.db'), commitIntervalMs: 60_000, commitMaxRecords: 100_000 } }));
    await replayed(a);
    await refused(a);
    clock.advance(1000);
    const counters = a.status()['committer'] as { accepted: number; committed: number };
    expect(counters.committed).toBe(0);
    expect(counters.accepted).toBe(13); // agent-start, two errors, ten samples
    agent = undefined;
    await stopAgent(a);
    const stored = storedRecords(tmp.path('outbox.db'));
    expect(stored).toHaveLength(counters.accepted + 1);
    const seqs = stored.map((r) => r.seq).sort((x, y) => x - y);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    const last = stored.reduce((m, r) => (r.seq > m.seq ? r : m));
    expect(last).toMatchObject({ kind: 'event', body: { name: 'agent-stop', reason: 'test' } });
    expect(logger.lines.find((l) => l.msg === 'agent stopped')?.obj).toMatchObject({ reason: 'test', droppedAtStop: 0, waitingInOutbox: counters.accepted + 1 });
  });
});

describe.runIf(hasMosquitto())('Agent with its uplink on a real Mosquitto', () => {
  let broker: Mosquitto;
  let cloud: CloudClient;

  beforeEach(async () => {
    broker = await Mosquitto.start();
    port = broker.port;
    cloud = await CloudClient.connect(broker.url, [`tcu/${VIN}/status`, `tcu/${VIN}/events`, `tcu/${VIN}/telemetry`]);
  });

  afterEach(async () => {
    if (agent !== undefined) await stopAgent(agent);
    agent = undefined;
    await cloud.end();
    await broker.dispose();
  });

  it('the heartbeat job publishes status() on <prefix>/<vin>/status, retained, online', async () => {
    const a = await startAgent();
    await waitFor('the uplink to connect', () => (a.status()['uplink'] as { connects: number }).connects === 1);
    await replayed(a);
    clock.advance(200);
    await waitFor('the agent-start event', () => cloud.records.some((r) => r.kind === 'event'));
    const before = cloud.on(`tcu/${VIN}/status`).length;
    const expected = a.status();
    scheduler.fire('heartbeat');
    await waitFor('a status', () => cloud.on(`tcu/${VIN}/status`).length > before);
    const published = cloud.on(`tcu/${VIN}/status`).at(-1) as Record<string, unknown>;
    expect(published).toMatchObject({ v: 1, vin: VIN, online: true, boot: BOOT, version: '9.8.7-test', uptimeS: expected['uptimeS'], errors: { 'pt:CANDUMP_SYNTAX': 3 } });
    expect(published['buses']).toEqual(expected['buses']);
    expect(published['outbox']).toMatchObject({ evicted: { 0: 0, 1: 0, 2: 0, 3: 0 } });
    expect(published['uplink']).toMatchObject({ connects: 1 });
    // Retained: a subscriber that comes later gets it.
    const late = await CloudClient.connect(broker.url, [`tcu/${VIN}/status`]);
    try {
      await waitFor('the retained status', () => late.messages.length > 0);
      expect(late.messages[0]!.packet.retain).toBe(true);
      expect(late.on(`tcu/${VIN}/status`)[0]).toMatchObject({ boot: BOOT, online: true });
    } finally {
      await late.end();
    }
  });
});
