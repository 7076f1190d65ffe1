// Sustained ingest with the emulator and the agent as separate processes, as on a bench rig: the
// emulator floods one bus over socketcand as fast as it can, the agent (the bundled program) decodes
// every frame, 500 signals are collected on change (dead band 0, no minimum interval: every change
// is a record, the worst case) and committed to the SQLite outbox. No broker: this measures ingest
// to committed records, not the uplink. Frames received come from the agent's own counters (its
// status, logged at each housekeeping), committed records from the outbox file (read-only), both
// differenced over a measured window after a warm-up. The emulator takes one of the two cores.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { readOutboxStats } from '../agent/outbox/index.js';
import { compileDbc } from '../drivers/can/dbc/codec.js';
import { loadDbcFile } from '../drivers/can/dbc/parser.js';
import type { Emit } from './run.js';

const DBC = join(process.cwd(), 'hw-emulator/dbc/vw_mqb.dbc');
const SIGNALS = 500;
const WARMUP_MS = 4000;
const MEASURE_MS = 10_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Sample {
  at: number;
  frames: number;
  records: number;
}

export async function run(emit: Emit): Promise<void> {
  const codec = compileDbc(loadDbcFile(DBC));
  const signals = codec.messages.flatMap((m) => m.signalNames.map((s) => `${m.message.name}.${s}`)).slice(0, SIGNALS);
  const dir = mkdtempSync(join(tmpdir(), 'tcu-bench-flood-'));
  const children: ChildProcess[] = [];
  try {
    const emulator = spawn(process.execPath, ['dist/tcu-emulator.mjs', '--dbc', DBC, '--bus', 'pt', '--socketcand', '127.0.0.1:0', '--flood'], { stdio: ['ignore', 'pipe', 'ignore'] });
    children.push(emulator);
    const first = await createInterface({ input: emulator.stdout! })[Symbol.asyncIterator]().next();
    const port = (JSON.parse(first.value as string) as { socketcand: { port: number } }).socketcand.port;
    const outbox = join(dir, 'outbox.db');
    const config = join(dir, 'agent.json');
    writeFileSync(
      config,
      JSON.stringify({
        version: 1,
        vehicle: { vin: 'WVWZZZ1KZPW000009', deviceId: 'bench' },
        can: { buses: [{ name: 'pt', driver: 'socketcand', host: '127.0.0.1', port, bus: 'pt', dbc: DBC }] },
        collect: { onChange: signals.map((signal) => ({ signal, deadband: 0, minIntervalMs: 0 })) },
        // A cap large enough that nothing is evicted during the run.
        outbox: { path: outbox, maxBytes: 4 * 1024 ** 3 },
        uplink: { url: 'mqtt://127.0.0.1:1' },
        jobs: { housekeeping: '* * * * * *' },
        logging: { level: 'debug' },
      }),
    );
    const agent = spawn(process.execPath, ['dist/tcu-agent.mjs', 'run', '--config', config], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(agent);
    let frames = 0;
    createInterface({ input: agent.stdout! }).on('line', (line) => {
      if (!line.includes('"counters"')) return;
      try {
        const status = (JSON.parse(line) as { status?: { buses?: Record<string, { rxFrames: number }> } }).status;
        if (status?.buses) frames = Object.values(status.buses).reduce((n, b) => n + b.rxFrames, 0);
      } catch {
        // a line that is not ours
      }
    });
    const sample = (): Sample => {
      const s = readOutboxStats(outbox);
      return { at: performance.now(), frames, records: s === undefined ? 0 : s.depth + s.delivered };
    };
    await sleep(WARMUP_MS);
    const a = sample();
    await sleep(MEASURE_MS);
    const b = sample();
    const seconds = (b.at - a.at) / 1000;
    // The frame counter is logged once a second: its window is within a second of the outbox's.
    emit('agent.flood.vw_mqb.frames_received', (b.frames - a.frames) / seconds, 'frames/s');
    emit('agent.flood.vw_mqb.records_committed', (b.records - a.records) / seconds, 'records/s');
    emit('agent.flood.vw_mqb.signals_collected', signals.length, 'signals');
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await sleep(1500);
    rmSync(dir, { recursive: true, force: true });
  }
}
