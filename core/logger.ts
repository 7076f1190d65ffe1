import { destination, pino } from 'pino';
import type { ErrorCode } from './errors.js';

/** The structured logger every component takes as an option (pino's calling convention). */
export interface Logger {
  debug(obj: Record<string, unknown>, msg?: string): void;
  info(obj: Record<string, unknown>, msg?: string): void;
  warn(obj: Record<string, unknown>, msg?: string): void;
  error(obj: Record<string, unknown>, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/**
 * JSON lines, ready for journald. `destination` is a file descriptor (default 1, standard output)
 * or a stream (a command's injected standard error, so tests see what it logs).
 */
export function createLogger(options: { level?: LogLevel; name?: string; destination?: number | NodeJS.WritableStream } = {}): Logger {
  const dest = options.destination ?? 1;
  return pino(
    { level: options.level ?? 'info', base: options.name ? { name: options.name } : null },
    typeof dest === 'number' ? destination({ dest, sync: true }) : dest,
  );
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * Logs the first occurrence of each error code, then only counts. Bad input is logged once
 * per kind so a flood of garbage cannot flood the journal.
 */
export class OncePerKind {
  private readonly seen = new Map<string, number>();

  constructor(private readonly logger: Logger) {}

  report(code: ErrorCode, obj: Record<string, unknown>, msg: string): void {
    const n = (this.seen.get(code) ?? 0) + 1;
    this.seen.set(code, n);
    if (n === 1) this.logger.warn({ code, ...obj }, `${msg} (further ${code} reports are counted, not logged)`);
  }

  counts(): Record<string, number> {
    return Object.fromEntries(this.seen);
  }
}
