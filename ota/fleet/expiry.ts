import { TcuError } from '../../core/errors.js';
import type { TufRole } from '../repo/index.js';

/** Metadata lifetimes for `--expires role=DURATION` (docs/OTA.md, "Expiry"). Pure. */

const DAY_MS = 24 * 3600 * 1000;

/** Lifetimes when none is given: root a year, targets 90 days, snapshot a week, timestamp a day. */
export const DEFAULT_LIFETIMES_MS: Readonly<Record<TufRole, number>> = {
  root: 365 * DAY_MS,
  targets: 90 * DAY_MS,
  snapshot: 7 * DAY_MS,
  timestamp: DAY_MS,
};

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: DAY_MS, w: 7 * DAY_MS, y: 365 * DAY_MS };
const ROLES: readonly TufRole[] = ['root', 'targets', 'snapshot', 'timestamp'];

/** `90d`, `12h`, `30m`, `3600s`, `2w`, `1y` → milliseconds (at least a second, at most 100 years). */
export function parseDuration(text: string): number {
  const m = /^(\d{1,9})([smhdwy])$/.exec(text.trim());
  const ms = m ? Number(m[1]) * UNIT_MS[m[2]!]! : NaN;
  if (!m || ms < 1000 || ms > 100 * 365 * DAY_MS) throw new TcuError('CLI_USAGE', `a duration is a number and a unit (s, m, h, d, w, y), e.g. 90d; not "${text}"`);
  return ms;
}

/** `role=DURATION` items (repeatable `--expires`) → lifetimes, the defaults for roles not named. */
export function parseLifetimes(items: readonly string[] | undefined): Record<TufRole, number> {
  const out = { ...DEFAULT_LIFETIMES_MS };
  for (const item of items ?? []) {
    const eq = item.indexOf('=');
    const role = item.slice(0, eq) as TufRole;
    if (eq < 0 || !ROLES.includes(role)) throw new TcuError('CLI_USAGE', `--expires takes role=DURATION with a role of ${ROLES.join(', ')}; not "${item}"`);
    out[role] = parseDuration(item.slice(eq + 1));
  }
  return out;
}

/** The expiry date of each role, `nowMs` plus its lifetime. */
export function expiryDates(nowMs: number, lifetimes: Record<TufRole, number>): Record<TufRole, Date> {
  return {
    root: new Date(nowMs + lifetimes.root),
    targets: new Date(nowMs + lifetimes.targets),
    snapshot: new Date(nowMs + lifetimes.snapshot),
    timestamp: new Date(nowMs + lifetimes.timestamp),
  };
}
