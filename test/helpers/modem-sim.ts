/**
 * The modem simulator (hw-emulator/modem) on a REAL pseudo-terminal pair made by socat, for the
 * modem's integration tests and benchmark. Two ways to run it:
 *
 * - in this process (`startModemSim`): a ModemSimulator behind a ModemPty, so a test can read the
 *   simulator's status and counters and give it a scenario object (a named scenario with its
 *   phases compressed in time by `scaledScenario`);
 * - as a separate process (`spawnModemSim`): the bundled `dist/tcu-emulator.mjs modem --pty PATH`,
 *   exactly as a developer runs it (named scenarios at their own time scale only: the program has
 *   no time-scale option). Needs `npm run build` first.
 *
 * Either way the agent's side opens `at` (and `nmea`) as it would open /dev/ttyUSB2, with the real
 * serialport binding. `stop()` tears everything down and removes the temporary folder.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { systemClock, type Clock, type TimerHandle } from '../../core/clock.js';
import { findScenario, ModemPty, ModemSimulator, type ModemModel, type Scenario } from '../../hw-emulator/modem/index.js';
import { hasProgram } from './system.js';

/** The socat binary, or undefined (no message: for benchmarks, which say so themselves). */
export function findSocat(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v socat'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** True when socat exists; otherwise skips with a message naming it (fails with TCU_REQUIRE_SYSTEM_TESTS=1). */
export function hasSocat(): boolean {
  return hasProgram('socat');
}

/**
 * A named scenario with its script compressed in time by `factor` (0.1: ten times faster): the
 * phases, the cycle, the crashes and the intervals between URC storms and garbage. What happens on
 * the line itself (reply delays, split chunks and their gaps, attach and boot times) keeps its real
 * duration, so the AT engine sees the same timing it would see on a board.
 */
export function scaledScenario(name: string, factor: number): Scenario {
  const s = findScenario(name);
  const t = (ms: number): number => Math.round(ms * factor);
  const range = (r: { min: number; max: number }) => ({ min: t(r.min), max: t(r.max) });
  return {
    ...s,
    name: `${s.name}@${factor}`,
    phases: s.phases.map((p) => ({ ...p, atMs: t(p.atMs) })),
    cycleMs: Number.isFinite(s.cycleMs) ? t(s.cycleMs) : s.cycleMs,
    ...(s.crashes ? { crashes: { firstAtMs: t(s.crashes.firstAtMs), everyMs: t(s.crashes.everyMs) } } : {}),
    ...(s.urcStorm ? { urcStorm: { ...s.urcStorm, everyMs: range(s.urcStorm.everyMs) } } : {}),
    ...(s.garbage ? { garbage: { ...s.garbage, everyMs: range(s.garbage.everyMs) } } : {}),
  };
}

/**
 * The system clock, except that a timer never fires before `monotonic()` says its time has come.
 * Node's timers can fire up to about a millisecond early by `performance.now()` (libuv measures
 * them from the loop's cached time); the simulator's end of attaching (`registerAfter` in
 * hw-emulator/modem/simulator.ts) compares the two, and then sends its registration code only at
 * its next 1 Hz tick. The tests that time registration changes run the simulator on this clock;
 * `test/integration/modem-scenarios.test.ts` shows the bug on a clock whose timers fire early.
 */
export function punctualClock(): Clock {
  const base = systemClock();
  interface Handle extends TimerHandle {
    timer: ReturnType<typeof setTimeout>;
  }
  return {
    ...base,
    setTimeout(fn, ms) {
      const due = performance.now() + ms;
      const handle: Handle = { timer: undefined as unknown as ReturnType<typeof setTimeout> };
      const arm = (delay: number): void => {
        handle.timer = setTimeout(() => {
          const left = due - performance.now();
          if (left > 0) arm(Math.ceil(left));
          else fn();
        }, delay);
      };
      arm(ms);
      return handle;
    },
    clearTimeout(handle) {
      clearTimeout((handle as Handle).timer);
    },
  };
}

/** The system clock with timers that fire `earlyMs` before their time (as Node's sometimes do, by less). */
export function earlyClock(earlyMs: number): Clock {
  const base = systemClock();
  return { ...base, setTimeout: (fn, ms) => base.setTimeout(fn, Math.max(0, ms - earlyMs)) };
}

export interface InProcessModemSim {
  sim: ModemSimulator;
  pty: ModemPty;
  /** The agent's AT port (a symbolic link socat made). */
  at: string;
  /** The agent's NMEA port, when asked for. */
  nmea: string | undefined;
  /** `performance.now()` when the simulator's scenario clock started. */
  startedAt: number;
  stop(): Promise<void>;
}

export interface ModemSimOptions {
  /** A scenario name or object; default steady-home. */
  scenario?: string | Scenario;
  seed?: number;
  model?: ModemModel;
  /** How long the ports are gone during a reset, ms (default 3000). */
  resetDownMs?: number;
  /** Also an NMEA port (the GNSS then runs from power-on). */
  nmea?: boolean;
  /** The simulator's clock; default `punctualClock()`. */
  clock?: Clock;
}

/** A simulator in this process behind real ptys (socat). */
export async function startModemSim(options: ModemSimOptions = {}): Promise<InProcessModemSim> {
  const dir = mkdtempSync(join(tmpdir(), 'tcu-modem-sim-'));
  const at = join(dir, 'ttyUSB2');
  const nmea = options.nmea ? join(dir, 'ttyUSB1') : undefined;
  const sim = new ModemSimulator({
    clock: options.clock ?? punctualClock(),
    seed: options.seed ?? 1,
    scenario: options.scenario ?? 'steady-home',
    model: options.model,
    autoGps: options.nmea === true,
    resetDownMs: options.resetDownMs,
  });
  const pty = new ModemPty({ sim, atLink: at, nmeaLink: nmea });
  try {
    await pty.start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  sim.start();
  const startedAt = performance.now();
  let stopped = false;
  return {
    sim,
    pty,
    at,
    nmea,
    startedAt,
    async stop() {
      if (stopped) return;
      stopped = true;
      sim.stop();
      await pty.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ChildModemSim {
  child: ChildProcess;
  at: string;
  nmea: string | undefined;
  /** What the simulator wrote on standard error (JSON status lines, the counters at stop). */
  stderr(): string;
  /** SIGTERM and wait (SIGKILL after 5 s); resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** `node dist/tcu-emulator.mjs modem --pty PATH ...` as a separate process; resolves once it printed its paths. */
export async function spawnModemSim(options: Omit<ModemSimOptions, 'scenario' | 'resetDownMs' | 'clock'> & { scenario?: string; resetDownSeconds?: number } = {}): Promise<ChildModemSim> {
  const dir = mkdtempSync(join(tmpdir(), 'tcu-modem-cli-'));
  const at = join(dir, 'ttyUSB2');
  const nmea = options.nmea ? join(dir, 'ttyUSB1') : undefined;
  const args = ['dist/tcu-emulator.mjs', 'modem', '--pty', at, '--scenario', options.scenario ?? 'steady-home', '--seed', String(options.seed ?? 1)];
  if (nmea !== undefined) args.push('--nmea-pty', nmea);
  if (options.model !== undefined) args.push('--model', options.model);
  if (options.resetDownSeconds !== undefined) args.push('--reset-down', String(options.resetDownSeconds));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-50_000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  const stop = async (): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    const code = await exited;
    clearTimeout(timer);
    cleanup();
    return code;
  };
  const wanted = nmea === undefined ? 1 : 2;
  const lines: string[] = [];
  const reader = createInterface({ input: child.stdout! });
  const ready = new Promise<void>((resolve, reject) => {
    reader.on('line', (line) => {
      lines.push(line);
      if (lines.length === wanted) resolve();
    });
    void exited.then((code) => reject(new Error(`tcu-emulator modem exited (${code}) before printing its paths: ${err}`)));
  });
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`tcu-emulator modem printed no paths within 10 s: ${err}`)), 10_000).unref());
  try {
    await Promise.race([ready, timeout]);
  } catch (e) {
    await stop();
    throw e;
  }
  if (lines[0] !== at || (nmea !== undefined && lines[1] !== nmea)) {
    await stop();
    throw new Error(`tcu-emulator modem printed ${JSON.stringify(lines)}, expected ${at}${nmea ? ` and ${nmea}` : ''}`);
  }
  return { child, at, nmea, stderr: () => err, stop };
}
