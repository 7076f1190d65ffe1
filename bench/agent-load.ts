// The agent as on a board, under the realistic load: 4 CAN buses at about 2,000 frames/s
// each (the emulator over socketcand), 500 signals sampled at 10 Hz, records sent to a real
// Mosquitto. Reports the agent process's CPU share of one core and its resident memory, read from
// /proc, over a measured window after a warm-up. Skipped with a message without mosquitto.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { compileDbc } from '../drivers/can/dbc/codec.js';
import { loadDbcFile } from '../drivers/can/dbc/parser.js';
import { decode } from 'cbor-x';
import { connect, type MqttClient } from 'mqtt';
import { socketcandBus, writeAgentConfig } from '../test/helpers/agent-config.js';
import { Mosquitto, hasMosquitto } from '../test/helpers/mosquitto.js';
import type { Emit } from './run.js';

const DBC = join(process.cwd(), 'hw-emulator/dbc/vw_mqb.dbc');
const BUSES = ['pt0', 'pt1', 'pt2', 'pt3'];
const FRAMES_PER_BUS = 2000;
const SIGNALS = 500;
const WARMUP_MS = 5000;
const MEASURE_MS = 20_000;

/** utime + stime of a process, in clock ticks (100 per second on Linux). */
function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function run(emit: Emit): Promise<void> {
  if (!hasMosquitto()) {
    console.error('bench agent-load skipped: mosquitto is not installed');
    return;
  }
  // Node's defaults, then the setting recommended for boards (a smaller young generation).
  await measure(emit, 'default', []);
  await measure(emit, 'semi_space_2mb', ['--max-semi-space-size=2']);
}

async function measure(emit: Emit, label: string, nodeFlags: string[]): Promise<void> {
  const codec = compileDbc(loadDbcFile(DBC));
  const cycleMs = (codec.messages.length * 1000) / FRAMES_PER_BUS;
  const signals = codec.messages.flatMap((m) => m.signalNames.map((s) => `${m.message.name}.${s}`));
  const perBus = SIGNALS / BUSES.length;
  const dir = mkdtempSync(join(tmpdir(), 'tcu-bench-load-'));
  const broker = await Mosquitto.start();
  const children: ChildProcess[] = [];
  let cloud: MqttClient | undefined;
  try {
    const emulator = spawn(process.execPath, ['dist/tcu-emulator.mjs', '--dbc', DBC, ...BUSES.flatMap((b) => ['--bus', b]), '--socketcand', '127.0.0.1:0', '--cycle-ms', String(cycleMs)]);
    children.push(emulator);
    const first = await createInterface({ input: emulator.stdout! })[Symbol.asyncIterator]().next();
    const port = (JSON.parse(first.value as string) as { socketcand: { port: number } }).socketcand.port;
    const config = writeAgentConfig(join(dir, 'agent.json'), {
      vin: 'WVWZZZ1KZPW000009',
      deviceId: 'bench',
      buses: BUSES.map((b) => socketcandBus({ name: b, port, bus: b, dbc: DBC })),
      collect: { periodic: BUSES.map((b, i) => ({ name: b, bus: b, everyMs: 100, signals: signals.slice(i * perBus, (i + 1) * perBus) })) },
      outbox: join(dir, 'outbox.db'),
      uplink: broker.url,
      jobs: { heartbeat: '*/5 * * * * *' },
      logging: { level: 'warn' },
    });
    // The agent's retained heartbeat status says how many frames its buses received.
    const statuses: { ts: number; frames: number }[] = [];
    cloud = connect(broker.url);
    cloud.on('connect', () => cloud?.subscribe('tcu/+/status'));
    cloud.on('message', (_t, payload) => {
      const s = decode(payload) as { ts?: number | bigint; buses?: Record<string, { rxFrames: number }> };
      if (s.buses) statuses.push({ ts: Number(s.ts), frames: Object.values(s.buses).reduce((n, b) => n + b.rxFrames, 0) });
    });
    const agent = spawn(process.execPath, [...nodeFlags, 'dist/tcu-agent.mjs', 'run', '--config', config], { stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(agent);
    await sleep(WARMUP_MS);
    const pid = agent.pid!;
    const t0 = performance.now();
    const c0 = cpuTicks(pid);
    let maxRss = 0;
    while (performance.now() - t0 < MEASURE_MS) {
      maxRss = Math.max(maxRss, rssBytes(pid));
      await sleep(250);
    }
    const cpu = (cpuTicks(pid) - c0) / 100 / ((performance.now() - t0) / 1000);
    const name = `agent.load.4x2000fps_500signals_10hz.${label}`;
    emit(`${name}.cpu`, cpu * 100, '% of one core');
    emit(`${name}.rss_max`, maxRss / 1024 / 1024, 'MB');
    emit(`${name}.frames_offered`, FRAMES_PER_BUS * BUSES.length, 'frames/s');
    const [a, b] = [statuses.at(-2), statuses.at(-1)];
    if (a && b && b.ts > a.ts) emit(`${name}.frames_received`, ((b.frames - a.frames) * 1000) / (b.ts - a.ts), 'frames/s');
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await cloud?.endAsync(true);
    await sleep(500);
    await broker.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}
