import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Clock } from './clock.js';
import { TcuError, type ErrorCode } from './errors.js';

/** Exit codes shared by every program; documented in the README. */
export const EXIT = {
  OK: 0,
  /** An unexpected runtime failure. */
  FAILURE: 1,
  /** Bad usage, or a file named on the command line is missing or invalid. */
  USAGE: 2,
} as const;

export type Options = NonNullable<ParseArgsConfig['options']>;

/** `parseArgs` with unknown options and bad values turned into CLI_USAGE errors. */
export function parseCommandArgs<O extends Options>(argv: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (err) {
    throw new TcuError('CLI_USAGE', err instanceof Error ? err.message : String(err), { cause: err });
  }
}

export function requireString(value: string | boolean | undefined, flag: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new TcuError('CLI_USAGE', `${flag} is required`);
  return value;
}

export function parseNumber(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new TcuError('CLI_USAGE', `${flag} must be a number, not "${value}"`);
  return n;
}

/** The standard streams a command writes to, injected so commands run in-process in tests. */
export interface CommandIO {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Aborted when a long-running command should stop (SIGINT, SIGTERM, or a test). */
  stop?: AbortSignal;
  /** Whether stdout is an interactive terminal (live views redraw in place there). */
  isTTY?: boolean;
  /** The environment the command may read (the service manager's NOTIFY_SOCKET); none when absent. */
  env?: NodeJS.ProcessEnv;
}

/**
 * The process's own streams. The first SIGINT or SIGTERM aborts `stop` (a clean shutdown); a second
 * one ends the process at once with 128 + the signal number, for a shutdown that hangs.
 */
export function processIO(): CommandIO {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) process.exit(signal === 'SIGINT' ? 130 : 143);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, stop: controller.signal, isTTY: process.stdout.isTTY === true, env: process.env };
}

/**
 * Writes `chunk`; when the stream is full, resolves once it drains, and rejects if the stream
 * fails or closes first (a reader that went away), so a writer never waits forever.
 */
export function write(stream: NodeJS.WritableStream, chunk: string | Uint8Array): Promise<void> | undefined {
  if (stream.write(chunk)) return undefined;
  return new Promise((resolve, reject) => {
    const settle = (err?: unknown): void => {
      stream.off('drain', onDrain);
      stream.off('error', settle);
      stream.off('close', onClose);
      if (err === undefined) resolve();
      else reject(err instanceof Error ? err : new Error(String(err)));
    };
    const onDrain = (): void => settle();
    const onClose = (): void => settle(new TcuError('OUTPUT_CLOSED', 'the output was closed by its reader'));
    stream.on('drain', onDrain);
    stream.on('error', settle);
    stream.on('close', onClose);
  });
}

/**
 * Resolves after `ms` (Infinity: never) or when `stop` aborts, whichever comes first, including
 * when `stop` was aborted before the call.
 */
export function waitForStop(stop: AbortSignal | undefined, ms: number, clock: Clock): Promise<void> {
  return new Promise((resolve) => {
    if (stop?.aborted) return resolve();
    const timer = Number.isFinite(ms) ? clock.setTimeout(finish, Math.min(ms, 2 ** 31 - 1)) : undefined;
    stop?.addEventListener('abort', finish, { once: true });
    function finish(): void {
      if (timer !== undefined) clock.clearTimeout(timer);
      stop?.removeEventListener('abort', finish);
      resolve();
    }
  });
}

/** Errors that mean the user asked for something unusable: exit code 2. */
const USAGE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['CLI_USAGE', 'FILE_READ', 'CONFIG_INVALID', 'EMULATOR_MAPPING', 'EMULATOR_CONFIG']);

/** Runs a command's main function with the shared exit-code policy. */
export async function runMain(main: () => Promise<number>, io: CommandIO): Promise<number> {
  try {
    return await main();
  } catch (err) {
    if (err instanceof TcuError) {
      const usage = USAGE_CODES.has(err.code) || err.code.startsWith('DBC_');
      io.stderr.write(`error ${err.code}: ${err.message}\n`);
      return usage ? EXIT.USAGE : EXIT.FAILURE;
    }
    io.stderr.write(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return EXIT.FAILURE;
  }
}

/** `HOST:PORT`, `[::1]:PORT` or `:PORT` (localhost); port 0 asks a server for any free port. */
export function parseHostPort(text: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new TcuError('CLI_USAGE', `${flag} must be HOST:PORT, not "${text}"`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

/**
 * A program's command dispatch: `--help`, an unknown command (exit 2, with the help), then the
 * command under `runMain`. `commands` maps a name to a runner; only its own keys count (not
 * `toString` and the like).
 */
export async function dispatchCommand(
  argv: readonly string[],
  io: CommandIO,
  help: string,
  commands: Readonly<Record<string, (rest: string[]) => Promise<number>>>,
): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr.write(help);
    return EXIT.USAGE;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(help);
    return EXIT.OK;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (command === undefined) {
    io.stderr.write(`error CLI_USAGE: unknown command "${name}"\n\n${help}`);
    return EXIT.USAGE;
  }
  return runMain(() => command(rest), io);
}
