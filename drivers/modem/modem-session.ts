import type { Counters } from '../../core/counters.js';
import { TcuError, isTcuError } from '../../core/errors.js';
import type { ModemCounterName } from './modem-state.js';
import type { AtCommandOptions, AtCommander } from './types.js';

/**
 * How the Modem and its profiles send commands. Three outcomes:
 * - the modem answered OK: `{ ok: true, lines }`;
 * - it answered ERROR/+CME ERROR: `{ ok: false, error }` — the sequence goes on;
 * - it did not answer (AT_TIMEOUT), the port is closed (AT_PORT_CLOSED) or the queue is full:
 *   the TcuError is thrown and ends the sequence (a poll or an initialisation).
 *
 * Commands sent as `optional` that fail with plain `ERROR` or `+CME ERROR: 4` (operation not
 * supported) are remembered as unsupported and never sent again; a read (`AT+C5GREG?`) that is
 * unsupported marks the whole command (`AT+C5GREG`), so its other forms are skipped too.
 */

export type RunResult = { ok: true; lines: string[] } | { ok: false; error: TcuError; unsupported: boolean };

export interface RunOptions extends AtCommandOptions {
  /** The modem may lack this command: remember it when it says so, and stop asking. */
  optional?: boolean;
}

export interface SessionHooks {
  counters: Counters<ModemCounterName>;
  /** A problem the Modem survived: goes to the Modem's error listeners. */
  report(error: TcuError): void;
}

/** `AT+C5GREG?` → `AT+C5GREG`; `AT+QENG="servingcell"` → `AT+QENG`. */
export function commandBase(command: string): string {
  const m = /^(AT[+$%^#*!]?[A-Z0-9_]*)/i.exec(command.trim());
  return (m ? m[1]! : command.trim()).toUpperCase();
}

function isUnsupportedFailure(err: TcuError): boolean {
  const final = typeof err.details.final === 'string' ? err.details.final.trim().toUpperCase() : '';
  const cme = err.details.cme;
  if (final === 'ERROR') return true;
  if (cme === 4 || cme === '4') return true;
  return typeof cme === 'string' && cme.trim().toLowerCase() === 'operation not supported';
}

export class AtSession {
  private readonly unsupported = new Set<string>();
  /** Whole commands already reported, so `AT+X=2` and then `AT+X?` make one error event. */
  private readonly reported = new Set<string>();
  private timeoutsInARow = 0;

  constructor(
    private readonly commander: AtCommander,
    private readonly hooks: SessionHooks,
  ) {}

  /** Commands that answered with no final result code, in a row (reset by any answer). */
  get consecutiveTimeouts(): number {
    return this.timeoutsInARow;
  }

  resetTimeouts(): void {
    this.timeoutsInARow = 0;
  }

  isUnsupported(command: string): boolean {
    const exact = command.trim().toUpperCase();
    return this.unsupported.has(exact) || this.unsupported.has(commandBase(command));
  }

  /** The commands found unsupported so far (exact forms and whole commands). */
  unsupportedCommands(): string[] {
    return [...this.unsupported].sort();
  }

  async run(command: string, options: RunOptions = {}): Promise<RunResult> {
    if (options.optional && this.isUnsupported(command)) {
      return { ok: false, unsupported: true, error: new TcuError('MODEM_PROFILE', `the modem does not support ${command}`, { details: { command } }) };
    }
    const { optional, ...sendOptions } = options;
    try {
      const response = await this.commander.send(command, sendOptions);
      this.timeoutsInARow = 0;
      return { ok: true, lines: response.lines };
    } catch (err) {
      if (isTcuError(err, 'AT_TIMEOUT')) {
        this.timeoutsInARow++;
        this.hooks.counters.inc('commandTimeouts');
        throw err;
      }
      if (!isTcuError(err, 'AT_COMMAND_FAILED')) {
        throw err instanceof TcuError ? err : new TcuError('AT_PORT_CLOSED', `${command}: ${String(err)}`, { cause: err, details: { command } });
      }
      this.timeoutsInARow = 0;
      this.hooks.counters.inc('commandFailures');
      if (optional && isUnsupportedFailure(err)) {
        this.markUnsupported(command, err);
        return { ok: false, error: err, unsupported: true };
      }
      return { ok: false, error: err, unsupported: false };
    }
  }

  /**
   * Sends and returns the reply lines; undefined when the modem refused the command. A refusal
   * other than "unsupported" is reported (the caller expected the command to work).
   */
  async lines(command: string, options: RunOptions = {}): Promise<string[] | undefined> {
    const r = await this.run(command, options);
    if (r.ok) return r.lines;
    if (!r.unsupported) this.hooks.report(r.error);
    return undefined;
  }

  /** Hands a problem to the Modem's error listeners. */
  report(error: TcuError): void {
    this.hooks.report(error);
  }

  /** Runs a parser; a TcuError it throws is counted and reported, and undefined returned. */
  parse<T>(fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      this.hooks.counters.inc('malformedReplies');
      this.hooks.report(err instanceof TcuError ? err : new TcuError('AT_REPLY_MALFORMED', String(err), { cause: err }));
      return undefined;
    }
  }

  private markUnsupported(command: string, err: TcuError): void {
    const exact = command.trim().toUpperCase();
    const isWrite = exact.includes('=') && !exact.endsWith('?');
    const key = isWrite ? exact : commandBase(command);
    if (this.unsupported.has(key)) return;
    this.unsupported.add(key);
    this.hooks.counters.inc('unsupportedCommands');
    const base = commandBase(command);
    if (this.reported.has(base)) return;
    this.reported.add(base);
    this.hooks.report(new TcuError('MODEM_PROFILE', `the modem does not support ${command}; it is not asked again`, { cause: err, details: { command, final: err.details.final } }));
  }
}
