// The modem's costs, through REAL pseudo-terminals (socat) and the real serialport binding:
//
// (a) Command round trip, `AT` → `OK`: the agent's stack (SerialAtPort + AtEngine) against the
//     modem simulator running as a separate process (`dist/tcu-emulator.mjs modem --pty`), 2,000
//     commands one after another after a warm-up: median, p90, p99. Baselines in the same run, on a
//     raw pty pair with a trivial responder in this process (it answers every `\r` with `OK`): a
//     raw serialport client (the floor of a pty round trip in Node), and the AtEngine as the client
//     (the engine's own share). The three take turns in blocks of 100 commands, so a noisy machine
//     weighs on all of them alike. Target: median under 2 ms.
// (b) CPU share of the modem and GNSS polling at the configuration's default periods (modem poll
//     30 s, AT+QGPSLOC 10 s, `modem` record 60 s, `location` record 10 s): the agent's ModemRuntime
//     (AtEngine, Modem, queryQgpsloc) with a record sink that counts and an uplink that ignores,
//     against the separate simulator process, for 60 s; this process's CPU (process.cpuUsage()) less
//     an idle baseline of the same process over the same time. Target: under 1 % of one core.
//
// Skipped with a message without socat. Needs the bundle (`npm run bench` builds it).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { autoDetect } from '@serialport/bindings-cpp';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { systemClock } from '../core/clock.js';
import { silentLogger } from '../core/logger.js';
import type { TcuError } from '../core/errors.js';
import { parseConfig } from '../config/index.js';
import { ModemRuntime } from '../agent/runtime/modem.js';
import type { RecordInput } from '../agent/records.js';
import { TrustedTime } from '../drivers/gnss/index.js';
import { AtEngine, SerialAtPort } from '../drivers/modem/index.js';
import { PtyPair } from '../hw-emulator/modem/index.js';
import { findSocat, spawnModemSim } from '../test/helpers/modem-sim.js';
import type { Emit } from './run.js';

const WARMUP = 300;
const COMMANDS = 2000;
const CPU_WINDOW_MS = 60_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function emitTimes(emit: Emit, name: string, times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  const median = quantile(sorted, 0.5);
  emit(`${name}.median`, median, 'ms');
  emit(`${name}.p90`, quantile(sorted, 0.9), 'ms');
  emit(`${name}.p99`, quantile(sorted, 0.99), 'ms');
  return median;
}

/** One way to do an `AT` → `OK` round trip on a port. */
interface Client {
  once(): Promise<void>;
  close(): Promise<void>;
}

/** The agent's stack: SerialAtPort and AtEngine, echo off as the Modem's preamble leaves it. */
async function engineClient(path: string): Promise<Client> {
  const engine = new AtEngine({ port: new SerialAtPort({ path, binding: autoDetect() }), clock: systemClock() });
  await engine.start();
  await engine.send('ATE0');
  return {
    once: async () => {
      await engine.send('AT');
    },
    close: async () => {
      const c = engine.counters();
      await engine.stop();
      if (c.timeouts > 0 || c.failed > 0) throw new Error(`round trips went wrong: ${JSON.stringify(c)}`);
    },
  };
}

/** A bare serialport client: writes `AT\r`, waits for `OK\r\n`. */
async function rawClient(path: string): Promise<Client> {
  const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  let text = '';
  let waiting: (() => void) | undefined;
  port.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
    if (text.includes('OK\r\n')) {
      text = '';
      const w = waiting;
      waiting = undefined;
      w?.();
    }
  });
  return {
    once: () =>
      new Promise((resolve) => {
        waiting = resolve;
        port.write('AT\r');
      }),
    close: () => new Promise<void>((resolve) => port.close(() => resolve())),
  };
}

/**
 * Round trips of every client, timed from the call to the resolution: a warm-up, then COMMANDS
 * each in blocks of 100, the clients taking turns, so the noise of a shared machine falls on all
 * of them alike.
 */
async function interleaved(clients: Client[]): Promise<number[][]> {
  for (const c of clients) for (let i = 0; i < WARMUP; i++) await c.once();
  const times = clients.map(() => [] as number[]);
  for (let block = 0; block < COMMANDS / 100; block++) {
    for (let k = 0; k < clients.length; k++) {
      const i = (block + k) % clients.length;
      for (let n = 0; n < 100; n++) {
        const t0 = performance.now();
        await clients[i]!.once();
        times[i]!.push(performance.now() - t0);
      }
    }
  }
  return times;
}

/** A socat pty pair whose far end, in this process, answers every command line with OK. */
async function okResponder(dir: string, name: string): Promise<PtyPair> {
  const pair = new PtyPair({ link: join(dir, name) });
  await pair.open();
  pair.onData((chunk) => {
    for (const byte of chunk) if (byte === 0x0d) pair.write(Buffer.from('\r\nOK\r\n', 'latin1'));
  });
  return pair;
}

async function roundTrip(emit: Emit): Promise<void> {
  const sim = await spawnModemSim({ scenario: 'steady-home' });
  const dir = mkdtempSync(join(tmpdir(), 'tcu-bench-modem-'));
  const pairs: PtyPair[] = [];
  const clients: Client[] = [];
  try {
    // Each client has its own pty (a port is opened by one program at a time: bindings-cpp locks it).
    pairs.push(await okResponder(dir, 'raw'), await okResponder(dir, 'engine'));
    clients.push(await engineClient(sim.at), await rawClient(pairs[0]!.path), await engineClient(pairs[1]!.path));
    const [toSim, raw, local] = await interleaved(clients);
    const median = emitTimes(emit, 'modem.round_trip', toSim!);
    const rawMedian = emitTimes(emit, 'modem.round_trip.baseline_raw', raw!);
    const localMedian = emitTimes(emit, 'modem.round_trip.baseline_engine_local', local!);
    emit('modem.round_trip.vs_raw_baseline', median / rawMedian, 'ratio');
    emit('modem.round_trip.engine_local_vs_raw_baseline', localMedian / rawMedian, 'ratio');
  } finally {
    for (const c of clients) await c.close();
    for (const p of pairs) await p.dispose();
    rmSync(dir, { recursive: true, force: true });
    await sim.stop();
  }
}

/** CPU microseconds (user + system) this process spends over `ms`. */
async function cpuOver(ms: number): Promise<number> {
  const before = process.cpuUsage();
  await sleep(ms);
  const d = process.cpuUsage(before);
  return d.user + d.system;
}

async function pollingCpu(emit: Emit): Promise<void> {
  const sim = await spawnModemSim({ scenario: 'steady-home' });
  try {
    // The defaults of the configuration schema, with the GNSS read by AT+QGPSLOC.
    const config = parseConfig({
      version: 1,
      vehicle: { vin: 'WVWZZZ1KZPW000009', deviceId: 'bench' },
      can: { buses: [{ name: 'pt', driver: 'socketcan', iface: 'can0', dbc: 'unused.dbc' }] },
      outbox: { path: ':memory:' },
      uplink: { url: 'mqtt://127.0.0.1:1' },
      modem: { port: sim.at, gnss: { source: 'qgpsloc' } },
    }).modem!;
    const records: RecordInput[] = [];
    const errors: TcuError[] = [];
    const clock = systemClock();
    const runtime = new ModemRuntime(config, {
      clock,
      logger: silentLogger(),
      binding: autoDetect(),
      sink: { push: (r) => void records.push(r) },
      uplink: { setAllowed: () => undefined, setMinPriority: () => undefined },
      report: (err) => void errors.push(err),
      trustedTime: new TrustedTime({ clock }),
    });
    runtime.start();
    // Warm-up: initialisation, the first poll, AT+QGPS=1, the first position (the first fix takes 3 to 8 s).
    await sleep(12_000);
    const commandsBefore = runtime.engine.counters().commands;
    const pollsBefore = runtime.modem.counters().polls;
    const busy = await cpuOver(CPU_WINDOW_MS);
    const commands = runtime.engine.counters().commands - commandsBefore;
    const polls = runtime.modem.counters().polls - pollsBefore;
    const status = runtime.status() as { connectivity: { state: string } };
    await runtime.stop();
    if (status.connectivity.state !== 'home' || polls < 1) throw new Error(`the modem runtime did not run as it should: ${JSON.stringify(status)}, ${polls} polls, errors ${errors.map((e) => e.code).join(', ')}`);
    await sleep(2000);
    const idle = await cpuOver(CPU_WINDOW_MS);
    const share = (us: number): number => (us / 1000 / CPU_WINDOW_MS) * 100;
    emit('modem.polling.cpu', Math.max(0, share(busy - idle)), '% of one core');
    emit('modem.polling.cpu_gross', share(busy), '% of one core');
    emit('modem.polling.cpu_idle_baseline', share(idle), '% of one core');
    emit('modem.polling.commands_per_minute', (commands * 60_000) / CPU_WINDOW_MS, 'commands/min');
    emit('modem.polling.cpu_per_command', (busy - idle) / 1000 / Math.max(1, commands), 'ms');
    emit('modem.polling.records_per_minute', (records.filter((r) => r.kind === 'modem' || r.kind === 'location').length * 60_000) / (CPU_WINDOW_MS + 12_000), 'records/min');
  } finally {
    await sim.stop();
  }
}

export async function run(emit: Emit): Promise<void> {
  if (findSocat() === undefined) {
    console.error('bench modem skipped: socat is not installed (Debian package socat)');
    return;
  }
  if (!existsSync('dist/tcu-emulator.mjs')) {
    console.error('bench modem skipped: dist/tcu-emulator.mjs is missing (npm run build)');
    return;
  }
  await roundTrip(emit);
  await pollingCpu(emit);
}
