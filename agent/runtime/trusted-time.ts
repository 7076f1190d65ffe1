/**
 * The agent's trusted time (drivers/gnss/trusted-time.ts): the highest time a trusted source
 * (GNSS fixes; the signing time of verified OTA metadata) has given, carried forward on the monotonic clock, never going back. Its floor is kept in
 * a small file in the state folder (the outbox's folder; `ota apply --state-dir`), written atomically at each housekeeping and at stop, so after a
 * power cut that reset the board's clock the agent starts from the last trusted time, not 1970.
 *
 * Records are stamped with `trustedClock(...).now()`: the system clock, raised to the floor when
 * the system clock is behind it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../core/atomic-file.js';
import type { Clock } from '../../core/clock.js';
import { asTcuError, type TcuError } from '../../core/errors.js';
import { TrustedTime } from '../../drivers/gnss/index.js';

export const TRUSTED_TIME_FILE = 'trusted-time.json';

export class TrustedTimeStore {
  readonly time: TrustedTime;
  private readonly path: string | undefined;

  /** `stateDir` undefined keeps nothing on disk. Problems reading the file go to `report`. */
  constructor(stateDir: string | undefined, clock: Clock, report: (err: TcuError) => void) {
    this.time = new TrustedTime({ clock });
    this.path = stateDir === undefined ? undefined : join(stateDir, TRUSTED_TIME_FILE);
    if (this.path === undefined || !existsSync(this.path)) return;
    try {
      this.time.restore(JSON.parse(readFileSync(this.path, 'utf8')));
    } catch (err) {
      report(asTcuError(err, 'TIME_UNTRUSTED', `the trusted-time file ${this.path} was ignored`));
    }
  }

  /** Persists the floor (nothing when there is none). Throws FILE_WRITE. */
  save(): void {
    const state = this.time.state();
    if (this.path === undefined || state === undefined) return;
    try {
      writeFileAtomic(this.path, JSON.stringify(state) + '\n');
    } catch (err) {
      throw asTcuError(err, 'FILE_WRITE', `cannot write ${this.path}`);
    }
  }
}

/** The injected clock with `now()` raised to the trusted floor: what records are stamped with. */
export function trustedClock(clock: Clock, time: TrustedTime): Clock {
  return {
    now: () => time.now(),
    nowMicros: () => Math.max(clock.nowMicros(), time.now() * 1000),
    monotonic: () => clock.monotonic(),
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
    clearTimeout: (handle) => clock.clearTimeout(handle),
  };
}
