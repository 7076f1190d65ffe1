/**
 * Running an external program (rauc, an integrator's script) behind an interface, so backends are
 * tested against real scripts and the agent can add its own policy (logging, a sandbox).
 */
import { spawn } from 'node:child_process';
import { systemClock, type Clock } from '../../core/clock.js';
import { TcuError } from '../../core/errors.js';

export interface CommandResult {
  /** The exit code, or null when a signal ended the program. */
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Added to the runner's base environment. */
  env?: Record<string, string>;
  /** The program is killed (SIGKILL) after this long; the result then has signal 'SIGKILL'. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface CommandRunner {
  /** Runs `command args...`. Rejects (OTA_INSTALL) only when the program cannot be started at all. */
  run(command: string, args: readonly string[], options?: RunOptions): Promise<CommandResult>;
}

export interface ChildProcessRunnerOptions {
  /** The environment every program starts with; default this process's. */
  env?: NodeJS.ProcessEnv;
  /** Output kept per stream, bytes (the end is kept). Default 256 KiB. */
  maxOutputBytes?: number;
  /** Times the timeout; default the system clock. */
  clock?: Clock;
}

/** The real runner: node:child_process, no shell, bounded output. */
/**
 * The environment without the service manager's variables: under systemd with NotifyAccess=all a
 * child (an integrator's install script, rauc) could otherwise notify as the agent (STOPPING,
 * WATCHDOG=trigger) or believe the watchdog is its own.
 */
export function withoutServiceManager(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NOTIFY_SOCKET: _n, WATCHDOG_USEC: _u, WATCHDOG_PID: _p, ...rest } = env;
  return rest;
}

export function childProcessRunner(options: ChildProcessRunnerOptions = {}): CommandRunner {
  const max = options.maxOutputBytes ?? 256 * 1024;
  const clock = options.clock ?? systemClock();
  const keep = (text: string, chunk: Buffer): string => {
    const next = text + chunk.toString('utf8');
    return next.length > max ? next.slice(next.length - max) : next;
  };
  return {
    run(command, args, runOptions = {}) {
      return new Promise((resolve, reject) => {
        if (runOptions.signal?.aborted) {
          reject(new TcuError('OTA_CANCELLED', `${command} was not started: cancelled`));
          return;
        }
        const child = spawn(command, [...args], {
          env: { ...withoutServiceManager(options.env ?? process.env), ...runOptions.env },
          stdio: ['ignore', 'pipe', 'pipe'],
          signal: runOptions.signal,
        });
        let stdout = '';
        let stderr = '';
        let settled = false;
        const timer = runOptions.timeoutMs === undefined ? undefined : clock.setTimeout(() => child.kill('SIGKILL'), runOptions.timeoutMs);
        child.stdout.on('data', (chunk: Buffer) => (stdout = keep(stdout, chunk)));
        child.stderr.on('data', (chunk: Buffer) => (stderr = keep(stderr, chunk)));
        child.on('error', (err: NodeJS.ErrnoException) => {
          if (settled) return;
          settled = true;
          if (timer) clock.clearTimeout(timer);
          if (err.name === 'AbortError') reject(new TcuError('OTA_CANCELLED', `${command} was cancelled`, { cause: err }));
          else reject(new TcuError('OTA_INSTALL', `cannot run ${command}: ${err.message}`, { cause: err, details: { command } }));
        });
        child.on('close', (code, signal) => {
          if (settled) return;
          settled = true;
          if (timer) clock.clearTimeout(timer);
          resolve({ code, signal, stdout, stderr });
        });
      });
    },
  };
}

/** The last lines of a program's error output, for an error message. */
export function tail(text: string, lines = 5): string {
  return text.trim().split('\n').slice(-lines).join(' | ');
}
