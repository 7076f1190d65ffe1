// Start-up time and idle memory of the PACKAGED agent, as a board runs it: `npm run package`'s
// tarball unpacked into a temporary root, the agent started from there with
// `node --max-semi-space-size=2 <root>/opt/tcu-agent/slots/current/tcu-agent.mjs run`.
//
// Start-up: from spawn to the first record committed in the outbox (the agent-start event), seen
// from outside by polling the outbox file read-only once it is in WAL mode (readers never block the
// agent's writer then); also spawn to the "agent started" log line, and spawn to exit of
// `tcu-agent --help` (loading the bundle, no agent). Baseline in the same run: `node -e 0`.
// Memory: VmRSS from /proc after the agent has settled, on a socketcand bus that sends nothing
// (a parked car), and with the packaged emulator playing vw_mqb. Skipped without tar.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import { SocketcandServer } from '../hw-emulator/socketcand-server.js';
import { Mosquitto, findMosquitto } from '../test/helpers/mosquitto.js';
import type { Emit } from './run.js';

const RUNS = 9;
const SETTLE_MS = 15_000;
const SAMPLE_MS = 5000;
const AGENT = 'opt/tcu-agent/slots/current/tcu-agent.mjs';
const NODE_FLAGS = ['--max-semi-space-size=2'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const exited = (p: ChildProcess): Promise<unknown> => new Promise((resolve) => (p.exitCode !== null || p.signalCode !== null ? resolve(p.exitCode) : p.once('exit', resolve)));

function status(pid: number): { rss: number; anon: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(text)?.[1] ?? 0) / 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon') };
}

/** The tarball for this machine, unpacked into a fresh root under the system's temporary folder. */
function packagedRoot(work: string): string {
  const made = spawnSync(process.execPath, ['scripts/package.mjs', '--out', join(work, 'out')], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`packaging failed: ${made.stderr}`);
  const root = join(work, 'root');
  mkdirSync(root);
  const tarball = readdirSync(join(work, 'out')).find((f) => f.endsWith('.tar.gz'))!;
  execFileSync('tar', ['-xzf', join(work, 'out', tarball), '-C', root]);
  return root;
}

interface Bus {
  port: number;
  bus: string;
}

/** A board-like configuration: a few signals periodic and on change, ignition, the default commit interval. */
function writeConfig(root: string, name: string, bus: Bus, broker: string): { config: string; outbox: string } {
  const state = join(root, 'var/lib/tcu-agent', name);
  mkdirSync(state, { recursive: true });
  const config = join(root, 'etc/tcu-agent', `${name}.json`);
  const outbox = join(state, 'outbox.db');
  writeFileSync(
    config,
    JSON.stringify({
      version: 1,
      vehicle: { vin: 'WVWZZZ1KZPW000071', deviceId: `bench-${name}` },
      can: { buses: [{ name: 'pt', driver: 'socketcand', host: '127.0.0.1', port: bus.port, bus: bus.bus, dbc: join(root, 'etc/tcu-agent/dbc/vw_mqb.dbc') }] },
      collect: {
        periodic: [{ name: 'driving', everyMs: 1000, signals: ['ESP_21.ESP_v_Signal', 'Motor_12.MO_Drehzahl_01', 'Getriebe_11.GE_Fahrstufe'] }],
        onChange: [{ signal: 'Motor_07.MO_Kuehlmittel_Temp', deadband: 2, minIntervalMs: 10000 }],
        ignition: { signal: 'Klemmen_Status_01.ZAS_Kl_15', onValues: [1] },
      },
      outbox: { path: outbox },
      uplink: { url: broker, backoff: { initialMs: 1000, maxMs: 10000 } },
      logging: { level: 'info' },
    }),
  );
  return { config, outbox };
}

/** The highest sequence number committed, or 0; undefined while the outbox is not in WAL mode with its schema yet. */
function committed(outbox: string, db: { handle?: Database.Database }): number | undefined {
  if (db.handle === undefined) {
    if (!existsSync(`${outbox}-wal`)) return undefined;
    db.handle = new Database(outbox, { readonly: true, fileMustExist: true });
  }
  try {
    return (db.handle.prepare('SELECT MAX(last_seq) AS n FROM boots').get() as { n: number | null }).n ?? 0;
  } catch {
    return undefined; // the schema is not committed yet
  }
}

async function startOnce(root: string, config: string, outbox: string): Promise<{ firstCommit: number; started: number }> {
  const t0 = performance.now();
  const agent = spawn(process.execPath, [...NODE_FLAGS, join(root, AGENT), 'run', '--config', config], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  let started = NaN;
  createInterface({ input: agent.stdout! }).on('line', (line) => {
    if (Number.isNaN(started) && line.includes('"agent started"')) started = performance.now() - t0;
  });
  const db: { handle?: Database.Database } = {};
  try {
    for (;;) {
      if ((committed(outbox, db) ?? 0) > 0) return { firstCommit: performance.now() - t0, started };
      if (agent.exitCode !== null) throw new Error(`the packaged agent exited with ${agent.exitCode}`);
      if (performance.now() - t0 > 15_000) throw new Error('no record committed within 15 s');
      await sleep(5);
    }
  } finally {
    db.handle?.close();
    agent.kill('SIGTERM');
    await exited(agent);
  }
}

async function settledMemory(root: string, config: string): Promise<{ rss: number; anon: number }> {
  const agent = spawn(process.execPath, [...NODE_FLAGS, join(root, AGENT), 'run', '--config', config], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    await sleep(SETTLE_MS);
    const samples: { rss: number; anon: number }[] = [];
    for (let t = 0; t < SAMPLE_MS; t += 500) {
      if (agent.exitCode !== null) throw new Error(`the packaged agent exited with ${agent.exitCode}`);
      samples.push(status(agent.pid!));
      await sleep(500);
    }
    return { rss: median(samples.map((s) => s.rss)), anon: median(samples.map((s) => s.anon)) };
  } finally {
    agent.kill('SIGTERM');
    await exited(agent);
  }
}

function timeToExit(args: string[], cwd: string): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { cwd, stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited with ${r.status}`);
  return performance.now() - t0;
}

export async function run(emit: Emit): Promise<void> {
  if (spawnSync('sh', ['-c', 'command -v tar']).status !== 0) {
    console.error('bench startup skipped: tar is not installed');
    return;
  }
  const work = mkdtempSync(join(tmpdir(), 'tcu-bench-startup-'));
  const children: ChildProcess[] = [];
  const silent = new SocketcandServer({ buses: ['vcan0'] });
  const broker = findMosquitto() === undefined ? undefined : await Mosquitto.start();
  if (broker === undefined) console.error('bench startup: mosquitto is not installed, the agent publishes to a closed port');
  try {
    const root = packagedRoot(work);
    const dbc = join(root, 'etc/tcu-agent/dbc/vw_mqb.dbc');
    mkdirSync(join(root, 'etc/tcu-agent/dbc'), { recursive: true });
    cpSync('hw-emulator/dbc/vw_mqb.dbc', dbc);
    const emulator = spawn(process.execPath, [join(root, 'opt/tcu-agent/tools/tcu-emulator.mjs'), '--dbc', dbc, '--socketcand', '127.0.0.1:0', '--seed', '7'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(emulator);
    const first = await createInterface({ input: emulator.stdout! })[Symbol.asyncIterator]().next();
    const traffic: Bus = { port: (JSON.parse(first.value as string) as { socketcand: { port: number } }).socketcand.port, bus: 'vcan0' };
    const quiet: Bus = { port: (await silent.start()).port, bus: 'vcan0' };
    const brokerUrl = broker?.url ?? 'mqtt://127.0.0.1:1';

    const baseline: number[] = [];
    const help: number[] = [];
    const firstCommit: number[] = [];
    const started: number[] = [];
    // Interleaved, so a burst of load on the shared machine hits every figure alike.
    for (let i = 0; i < RUNS; i++) {
      baseline.push(timeToExit(['-e', '0'], root));
      help.push(timeToExit([...NODE_FLAGS, join(root, AGENT), '--help'], root));
      const { config, outbox } = writeConfig(root, `start-${i}`, traffic, brokerUrl);
      const r = await startOnce(root, config, outbox);
      firstCommit.push(r.firstCommit);
      started.push(r.started);
    }
    emit('node.startup.baseline.median', median(baseline), 'ms');
    emit('agent.startup.help_exit.median', median(help), 'ms');
    emit('agent.startup.agent_started_log.median', median(started), 'ms');
    emit('agent.startup.first_commit.median', median(firstCommit), 'ms');
    emit('agent.startup.first_commit.max', Math.max(...firstCommit), 'ms');
    emit('agent.startup.first_commit.vs_node_baseline', median(firstCommit) / median(baseline), '×');

    for (const [label, bus] of [['no_traffic', quiet], ['emulator_traffic', traffic]] as const) {
      const { config } = writeConfig(root, `idle-${label}`, bus, brokerUrl);
      const m = await settledMemory(root, config);
      emit(`agent.idle.${label}.rss`, m.rss, 'MB');
      emit(`agent.idle.${label}.rss_anon`, m.anon, 'MB');
    }
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await silent.stop();
    await broker?.dispose();
    rmSync(work, { recursive: true, force: true });
  }
}
