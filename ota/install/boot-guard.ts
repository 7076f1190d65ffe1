/**
 * The boot guard of `dir-slots` (docs/OTA.md, "dir-slots"; docs/BOARDS.md): what a bootloader's
 * boot counter does for A/B partitions, for a bundle that the service manager starts.
 *
 * The agent counts the boots of a slot on trial itself (ota/campaign/boot.ts), but a new bundle
 * that cannot even start (a crash while loading, a missing native addon) never gets to count. So the
 * service runs this small, separate program before every start (`ExecStartPre=`), from outside the
 * slots so an update never replaces it:
 *
 * - `current` points at a slot whose state is `trying`: one more start is counted in
 *   `<slots>/boot-guard.json` (written atomically, before the start). Past `maxStarts` starts the
 *   guard falls back as a bootloader would: `current` back to the previous slot (checked complete
 *   against its manifest), the slot on trial marked `bad`. The agent then starts from the previous
 *   slot and records the campaign `rolled-back` (OTA_HEALTH, "bootloader fallback").
 * - any other state: nothing is on trial; a leftover count is removed.
 *
 * `maxStarts` should equal the agent's `ota.maxBootAttempts`: the agent falls back on the same start
 * when it does get to run.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../core/atomic-file.js';
import type { Clock } from '../../core/clock.js';
import { TcuError } from '../../core/errors.js';
import { DirSlotsBackend } from './dir-slots.js';
import { readCurrent, readSlotStates, type DirSlot } from './slot-manifest.js';

export const BOOT_GUARD_FILE = 'boot-guard.json';

export interface BootGuardOptions {
  /** The slots folder. */
  dir: string;
  /** Starts of a slot on trial allowed before falling back. */
  maxStarts: number;
  clock: Clock;
}

export interface BootGuardResult {
  /** `none`: nothing on trial; `counted`: this start is counted; `fell-back`: `current` now points at `slot`. */
  action: 'none' | 'counted' | 'fell-back';
  /** The slot the coming start runs. */
  slot: DirSlot | null;
  /** Starts counted for the slot on trial (with this one). */
  starts: number;
}

interface GuardCount {
  format: 1;
  slot: DirSlot;
  starts: number;
}

function readCount(path: string, slot: DirSlot): number {
  if (!existsSync(path)) return 0;
  try {
    const c = JSON.parse(readFileSync(path, 'utf8')) as Partial<GuardCount>;
    // A count of another slot (an older trial) does not carry over; an unreadable one starts again
    // at the agent's own count, which still bounds the loop.
    return c.format === 1 && c.slot === slot && Number.isSafeInteger(c.starts) && c.starts! >= 0 ? c.starts! : 0;
  } catch {
    return 0;
  }
}

export async function guardBoot(options: BootGuardOptions): Promise<BootGuardResult> {
  if (!Number.isSafeInteger(options.maxStarts) || options.maxStarts < 1) {
    throw new TcuError('CLI_USAGE', `the number of starts allowed must be a positive integer, not ${options.maxStarts}`);
  }
  const path = join(options.dir, BOOT_GUARD_FILE);
  const current = readCurrent(options.dir);
  if (current === null || readSlotStates(options.dir)[current] !== 'trying') {
    rmSync(path, { force: true });
    return { action: 'none', slot: current, starts: 0 };
  }
  const starts = readCount(path, current) + 1;
  if (starts <= options.maxStarts) {
    writeFileAtomic(path, `${JSON.stringify({ format: 1, slot: current, starts } satisfies GuardCount)}\n`);
    return { action: 'counted', slot: current, starts };
  }
  // The backend opened here sees `current` as the running slot, on trial: its rollback is the fallback.
  const backend = DirSlotsBackend.open({ dir: options.dir, clock: options.clock });
  await backend.rollback();
  rmSync(path, { force: true });
  return { action: 'fell-back', slot: readCurrent(options.dir), starts };
}
