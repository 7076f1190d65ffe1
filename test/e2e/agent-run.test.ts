import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import { decode } from 'cbor-x';
import { connect, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mosquitto, hasMosquitto } from '../helpers/mosquitto.js';

// The bundled agent as a separate process, the emulator as another, a real Mosquitto, and a
// subscriber standing in for the cloud. Nothing here is mocked.
const DBC = 'hw-emulator/dbc/vw_mqb.dbc';
const VIN = 'WVWZZZ1KZPW000002';

interface Received {
  topic: string;
  boot: string;
  seq: number;
  kind: string;
  body: Record<string, unknown>;
}

describe.runIf(hasMosquitto())('tcu-agent run, end to end', () => {
  let dir: string;
  let broker: Mosquitto;
  let emulator: ChildProcess;
  let socketcandPort: number;
  let cloud: MqttClient;
  const received: Received[] = [];
  const statuses: Record<string, unknown>[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tcu-run-'));
    broker = await Mosquitto.start();
    emulator = spawn(process.execPath, ['dist/tcu-emulator.mjs', '--dbc', DBC, '--socketcand', '127.0.0.1:0', '--seed', '4']);
    const first = await createInterface({ input: emulator.stdout! })[Symbol.asyncIterator]().next();
    socketcandPort = (JSON.parse(first.value as string) as { socketcand: { port: number } }).socketcand.port;
    cloud = connect(broker.url, { clientId: 'cloud', clean: false, reconnectPeriod: 200 });
    await new Promise<void>((resolve) => cloud.once('connect', () => resolve()));
    await cloud.subscribeAsync(`tcu/${VIN}/#`, { qos: 1 });
    cloud.on('message', (topic, payload) => {
      const m = decode(payload) as { boot?: string; records?: Record<string, unknown>[] } & Record<string, unknown>;
      if (topic.endsWith('/status')) statuses.push(m);
      for (const r of m.records ?? []) {
        const { seq, kind, ...body } = r;
        received.push({ topic, boot: m.boot!, seq: Number(seq), kind: String(kind), body });
      }
    });
  });

  afterAll(async () => {
    emulator?.kill('SIGTERM');
    await cloud?.endAsync(true);
    await broker?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  function config(name: string, extra: Record<string, unknown> = {}): string {
    const path = join(dir, `${name}.json`);
    writeFileSync(
      path,
      JSON.stringify({
        version: 1,
        vehicle: { vin: VIN, deviceId: name },
        can: { buses: [{ name: 'pt', driver: 'socketcand', host: '127.0.0.1', port: socketcandPort, bus: 'vcan0', dbc: join(process.cwd(), DBC) }] },
        collect: {
          periodic: [{ name: 'fast', everyMs: 20, signals: ['ESP_21.ESP_v_Signal', 'Motor_12.MO_Drehzahl_01', 'Kombi_02.KBI_Kilometerstand'] }],
        },
        outbox: { path: join(dir, `${name}.db`), commitIntervalMs: 50 },
        uplink: { url: broker.url, backoff: { initialMs: 100, maxMs: 500 } },
        jobs: { heartbeat: '* * * * * *' },
        ...extra,
      }),
    );
    return path;
  }

  function startAgent(configPath: string): ChildProcess {
    return spawn(process.execPath, ['dist/tcu-agent.mjs', 'run', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** Resolves once the agent logs that it started (its outbox is open and it is committing). */
  async function started(agent: ChildProcess): Promise<void> {
    for await (const line of createInterface({ input: agent.stdout! })) if (line.includes('"agent started"')) break;
    agent.stdout!.resume(); // keep draining its log so it never blocks on a full pipe
  }

  const exited = (p: ChildProcess): Promise<number | null> => new Promise((resolve) => (p.exitCode !== null ? resolve(p.exitCode) : p.once('exit', resolve)));
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  async function until(check: () => boolean, ms: number, what: string): Promise<void> {
    const end = Date.now() + ms;
    while (!check()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await sleep(50);
    }
  }

  it('sends signals and events, publishes a retained status, and stops cleanly on SIGTERM', async () => {
    const agent = startAgent(config('clean'));
    await until(() => received.filter((r) => r.kind === 'signals').length >= 20, 15_000, 'telemetry');
    await until(() => statuses.some((s) => s['online'] === true && s['outbox'] !== undefined), 5000, 'a heartbeat status');
    agent.kill('SIGTERM');
    expect(await exited(agent)).toBe(0);
    await until(() => received.some((r) => r.body['name'] === 'agent-stop'), 5000, 'the agent-stop event');
    const boot = received.find((r) => r.body['name'] === 'agent-start')!.boot;
    const seqs = received.filter((r) => r.boot === boot).map((r) => r.seq);
    // Everything the run committed arrived: 1..max without a hole, agent-stop last.
    const max = Math.max(...seqs);
    expect(new Set(seqs).size).toBe(max);
    expect(received.find((r) => r.body['name'] === 'agent-stop')!.seq).toBe(max);
    const signals = received.filter((r) => r.kind === 'signals').at(-1)!;
    expect(signals.topic).toBe(`tcu/${VIN}/telemetry`);
    expect(signals.body['values']).toHaveProperty(['Kombi_02.KBI_Kilometerstand']);
    expect(statuses.at(-1)!['online']).toBe(false);

    // `tcu-agent status` reads the stopped agent's outbox.
    const status = spawnSync(process.execPath, ['dist/tcu-agent.mjs', 'status', '--config', join(dir, 'clean.json'), '--json']);
    expect(status.status, status.stderr.toString()).toBe(0);
    const stats = JSON.parse(status.stdout.toString()) as { depth: number; delivered: number; lastUploadTs: number; evicted: Record<string, number> };
    expect(stats.delivered).toBeGreaterThanOrEqual(max - 1);
    expect(stats.lastUploadTs).toBeGreaterThan(Date.now() - 60_000);
    expect(stats.evicted).toEqual({ low: 0, normal: 0, high: 0, critical: 0 });
    const text = spawnSync(process.execPath, ['dist/tcu-agent.mjs', 'status', '--config', join(dir, 'clean.json')]).stdout.toString();
    expect(text).toMatch(/^outbox {5}.*clean\.db$/m);
    expect(text).toMatch(/^evicted {4}low 0, normal 0, high 0, critical 0$/m);
  });

  it('loses no committed record across 20 SIGKILLs at random moments, and the database stays sound', async () => {
    const path = config('crash');
    const db = join(dir, 'crash.db');
    const committedAtKill = new Map<string, number>();
    for (let i = 0; i < 20; i++) {
      const agent = startAgent(path);
      // Killed at a random moment of its work: collecting, committing, publishing, acknowledging.
      await started(agent);
      await sleep(Math.random() * 700);
      agent.kill('SIGKILL');
      await exited(agent);
      if (!existsSync(db)) continue; // killed before it created its outbox
      const check = new Database(db, { readonly: true });
      try {
        expect(check.pragma('integrity_check', { simple: true })).toBe('ok');
        // The outbox keeps, per boot, the last sequence number it committed.
        for (const row of check.prepare('SELECT boot, last_seq AS max FROM boots').all() as { boot: string; max: number }[]) {
          committedAtKill.set(row.boot, Math.max(committedAtKill.get(row.boot) ?? 0, row.max));
        }
      } finally {
        check.close();
      }
    }
    // A last run drains the backlog, then stops cleanly.
    const bootsBefore = new Set(received.map((r) => r.boot));
    const agent = startAgent(path);
    await until(() => received.some((r) => !bootsBefore.has(r.boot)), 15_000, 'the last run to send');
    await until(() => {
      const check = new Database(db, { readonly: true });
      try {
        return (check.prepare('SELECT SUM(depth) AS n FROM counters').get() as { n: number }).n === 0;
      } finally {
        check.close();
      }
    }, 20_000, 'the backlog to drain');
    agent.kill('SIGTERM');
    expect(await exited(agent)).toBe(0);

    const byBoot = new Map<string, Set<number>>();
    for (const r of received) {
      if (!byBoot.has(r.boot)) byBoot.set(r.boot, new Set());
      byBoot.get(r.boot)!.add(r.seq);
    }
    const crashBoots = [...committedAtKill.keys()];
    expect(crashBoots.length).toBeGreaterThanOrEqual(20);
    for (const boot of crashBoots) {
      const got = byBoot.get(boot) ?? new Set<number>();
      const max = Math.max(committedAtKill.get(boot)!, ...got);
      const missing = Array.from({ length: max }, (_, k) => k + 1).filter((s) => !got.has(s));
      expect(missing, `boot ${boot}`).toEqual([]);
    }
  }, 120_000);

  it('stops cleanly (exit 0, no stack trace) on SIGTERM while the broker refuses its telemetry', async () => {
    const acl = join(dir, 'acl');
    writeFileSync(acl, [`topic write tcu/${VIN}/events`, `topic write tcu/${VIN}/status`, `topic read tcu/${VIN}/cmd/#`].join('\n') + '\n');
    const strict = await Mosquitto.start({ extra: [`acl_file ${acl}`] });
    try {
      const path = config('refused', { uplink: { url: strict.url, backoff: { initialMs: 100, maxMs: 500 } } });
      const agent = startAgent(path);
      let err = '';
      agent.stderr!.on('data', (c: Buffer) => (err += c.toString()));
      await started(agent);
      await sleep(1000);
      const t0 = Date.now();
      agent.kill('SIGTERM');
      expect(await exited(agent)).toBe(0);
      expect(Date.now() - t0).toBeLessThan(12_000);
      expect(err).not.toMatch(/at .*\.mjs|Error:/);
    } finally {
      await strict.dispose();
    }
  }, 30_000);

  it('refuses to start without a TLS file it was given, exits 2 at once, and leaves nothing running', async () => {
    const path = config('tls', { uplink: { url: 'mqtts://127.0.0.1:1', tls: { ca: join(dir, 'missing-ca.pem') } } });
    const agent = startAgent(path);
    let err = '';
    agent.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    const t0 = Date.now();
    expect(await exited(agent)).toBe(2);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(err).toMatch(/missing-ca\.pem/);
  }, 20_000);
});
