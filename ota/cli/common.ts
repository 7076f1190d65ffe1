import type { CommandIO, Options } from '../../core/cli.js';
import { parseCommandArgs } from '../../core/cli.js';
import type { Clock } from '../../core/clock.js';
import { TcuError } from '../../core/errors.js';
import { expiryDates, parseLifetimes } from '../fleet/expiry.js';
import type { DirectorKeys } from '../fleet/director.js';
import { readKeyFile, type KeyFile } from '../fleet/signing.js';
import type { TufRole } from '../repo/index.js';

/** What every tcu-ota command gets besides its arguments and streams. */
export interface CliDeps {
  clock: Clock;
}

export type Command = (argv: string[], io: CommandIO, deps: CliDeps) => Promise<number>;

/**
 * `parseCommandArgs`, where an option declared `multiple` also takes several values in a row:
 * `--key a.pem b.pem` is `--key a.pem --key b.pem` (no tcu-ota command takes positionals).
 */
export function parseOptions<O extends Options>(argv: string[], options: O): ReturnType<typeof parseCommandArgs<O>>['values'] {
  const multiple = new Set(Object.entries(options).filter(([, o]) => o.multiple === true).map(([name]) => `--${name}`));
  const out: string[] = [];
  let current: string | undefined;
  for (const arg of argv) {
    if (arg.startsWith('-')) {
      current = multiple.has(arg) ? arg : undefined;
      out.push(arg);
      continue;
    }
    const previous = out[out.length - 1];
    if (current !== undefined && previous !== current) out.push(current);
    out.push(arg);
  }
  return parseCommandArgs(out, options).values;
}

export function required<T>(value: T | undefined, flag: string): T {
  if (value === undefined || (typeof value === 'string' && value === '') || (Array.isArray(value) && value.length === 0)) throw new TcuError('CLI_USAGE', `${flag} is required`);
  return value;
}

/** A whole number option within [min, max]. */
export function integerOption(value: string | undefined, flag: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n) || n < min || n > max) throw new TcuError('CLI_USAGE', `${flag} must be a whole number from ${min} to ${max}, not "${value}"`);
  return n;
}

export function numberOption(value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new TcuError('CLI_USAGE', `${flag} must be a number from ${min} to ${max}, not "${value}"`);
  return n;
}

export function keyFiles(paths: readonly string[] | undefined, flag: string): KeyFile[] {
  return required(paths, flag).map((p) => readKeyFile(p));
}

/** `--expires role=DURATION ...` → each role's expiry date from now. */
export function expiriesFrom(items: readonly string[] | undefined, clock: Clock): Record<TufRole, Date> {
  return expiryDates(clock.now(), parseLifetimes(items));
}

/** What a signing command needs of the time: each role's expiry, and now (the timestamp's `issued`). */
export function signingTimes(items: readonly string[] | undefined, clock: Clock): { expires: Record<TufRole, Date>; issued: Date } {
  return { expires: expiriesFrom(items, clock), issued: new Date(clock.now()) };
}

/** Each role's key files and threshold, and `--image` (the image repository's rules): init and root rotate. */
export const ROLE_KEY_OPTIONS = {
  'root-key': { type: 'string', multiple: true },
  'targets-key': { type: 'string', multiple: true },
  'snapshot-key': { type: 'string', multiple: true },
  'timestamp-key': { type: 'string', multiple: true },
  'root-threshold': { type: 'string' },
  'targets-threshold': { type: 'string' },
  'snapshot-threshold': { type: 'string' },
  'timestamp-threshold': { type: 'string' },
  image: { type: 'boolean', default: false },
} as const;

/** Options every repository-signing command shares. */
export const EXPIRES_OPTION = { expires: { type: 'string', multiple: true } } as const;
export const HELP_OPTION = { help: { type: 'boolean', short: 'h', default: false } } as const;

/** The keys that re-sign targets (`--key`), snapshot and timestamp. */
export const SIGNING_KEY_OPTIONS = {
  key: { type: 'string', multiple: true },
  'snapshot-key': { type: 'string', multiple: true },
  'timestamp-key': { type: 'string', multiple: true },
} as const;

/** The three key sets of SIGNING_KEY_OPTIONS, each required, read from their files. */
export function signingKeys(values: { key?: string[]; 'snapshot-key'?: string[]; 'timestamp-key'?: string[] }): DirectorKeys {
  return { targets: keyFiles(values.key, '--key'), snapshot: keyFiles(values['snapshot-key'], '--snapshot-key'), timestamp: keyFiles(values['timestamp-key'], '--timestamp-key') };
}

export function printJson(io: CommandIO, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value)}\n`);
}

export function note(io: CommandIO, text: string): void {
  io.stderr.write(`${text}\n`);
}

export const EXPIRES_HELP = `  --expires ROLE=DURATION     lifetime of a role signed now (repeatable): root, targets, snapshot,
                              timestamp; DURATION is a number and s, m, h, d, w or y (default:
                              root=1y targets=90d snapshot=7d timestamp=1d)`;
