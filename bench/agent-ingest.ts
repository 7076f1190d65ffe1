// Ingest through the agent's own pipeline, in-process: flood frames from the emulator's traffic
// generator → SignalState (decode) → on-change collectors → Committer → the SQLite outbox.
// Reports frames/s and committed records/s, with the number of signals collected; the baseline in
// the same run is the decode-into-state step alone.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OnChangeCollector, type BoundSignal } from '../agent/collect/collectors.js';
import { Committer } from '../agent/collect/committer.js';
import { SignalState } from '../agent/collect/signal-state.js';
import { openOutbox } from '../agent/outbox/index.js';
import { systemClock } from '../core/clock.js';
import { compileDbc } from '../drivers/can/dbc/codec.js';
import { loadDbcFile } from '../drivers/can/dbc/parser.js';
import type { CanFrame } from '../drivers/can/frame.js';
import { TrafficGenerator } from '../hw-emulator/traffic/index.js';
import { SeededRng, VehicleModel } from '../hw-emulator/vehicle/index.js';
import type { Emit } from './run.js';

const DBC = 'hw-emulator/dbc/vw_mqb.dbc';
const FRAMES = 200_000;
const SIGNALS = 500;

export async function run(emit: Emit): Promise<void> {
  const clock = systemClock();
  const codec = compileDbc(loadDbcFile(DBC));
  const gen = new TrafficGenerator({ codec, model: new VehicleModel({ seed: 1 }), rng: new SeededRng(1), clock, bus: 'pt' });
  const frames: CanFrame[] = Array.from({ length: FRAMES }, () => gen.nextFrameFlood());

  // Baseline: decode into the signal state only.
  const bare = new SignalState('pt', codec, clock);
  for (let i = 0; i < 20_000; i++) bare.ingest(frames[i]!);
  let start = performance.now();
  for (const f of frames) bare.ingest(f);
  const decodeRate = FRAMES / ((performance.now() - start) / 1000);
  emit('agent.ingest.decode_to_state', decodeRate, 'frames/s');

  const dir = mkdtempSync(join(tmpdir(), 'tcu-bench-ingest-'));
  try {
    const { outbox } = openOutbox({ path: join(dir, 'outbox.db'), bootId: 'bench', maxBytes: 1 << 30, synchronous: 'NORMAL', clock });
    const committer = new Committer(outbox, { intervalMs: 200, maxRecords: 1000 }, clock);
    const state = new SignalState('pt', codec, clock);
    // Every change of 500 signals becomes a record (dead band 0, no minimum interval): the worst case.
    const keys = codec.messages.flatMap((m) => m.signalNames.map((s) => `${m.message.name}.${s}`)).slice(0, SIGNALS);
    const bound: BoundSignal[] = keys.map((k) => ({ ref: state.resolve(k), state }));
    const collectors = bound.map((signal) => new OnChangeCollector({ signal, deadband: 0, minIntervalMs: 0, priority: 'normal' }, committer, clock));
    for (let i = 0; i < 20_000; i++) state.ingest(frames[i]!);
    committer.commit();
    const before = committer.counters().committed;
    start = performance.now();
    for (const f of frames) state.ingest(f);
    committer.commit();
    const seconds = (performance.now() - start) / 1000;
    const records = committer.counters().committed - before;
    emit('agent.ingest.on_change_500.frames', FRAMES / seconds, 'frames/s');
    emit('agent.ingest.on_change_500.records', records / seconds, 'records/s');
    emit('agent.ingest.on_change_500.signals', SIGNALS, 'signals');
    emit('agent.ingest.on_change_500.vs_decode_only', FRAMES / seconds / decodeRate, 'ratio');
    collectors.forEach((c) => c.stop());
    committer.stop();
    outbox.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
