/**
 * The kill points of the deterministic OTA crash test (test/integration/ota-install-crash-states.test.ts)
 * and what its child (test/helpers/ota-install-crash-child.ts) needs to stop at them.
 *
 * The child stops ("parks") at a hold point: it prints `hold <point> [info]` and waits, with its
 * event loop alive, until the parent kills it with SIGKILL. Points are of three kinds:
 *   - `report:<state>`: inside the campaign's report of the transition to <state>, i.e. right after
 *     that transition was committed to the store and before it is marked reported;
 *   - `consent`: inside the consent hook (the campaign is `awaiting-consent`, waiting for the user);
 *   - points inside the install, the activation, the health check, the commit and the rollback,
 *     through `holdingBackend` (a wrapper of the real backend) and the child's health hook. No hook
 *     is added to production code: the wrapper calls the real `DirSlotsBackend` and stops around it.
 * `downloading` needs no hold point: the emulator's `slow` fault holds the real downloader there.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { InstallBackend, InstallOptions, InstallResult } from '../../ota/install/backend.js';
import { slotFileName } from '../../ota/install/dir-slots.js';
import type { VerifiedTarget } from '../../ota/types.js';

export const HOLD_POINTS = [
  'report:downloaded',
  'consent',
  'report:installing',
  /** Mid-copy of the image into `<slots>/.tmp-b/`: half of it written, the copy blocked on the rest. */
  'copy',
  /** `install()` returned (slot b complete, manifest written), the `activating` boot state not yet persisted. */
  'installed',
  /** `activating` persisted, `activate()` not yet called (`current` still on a). */
  'activate',
  /** `activate()` returned: b marked trying, `current` switched to b; the campaign not yet `rebooting`. */
  'switched',
  'report:rebooting',
  /** Started again in slot b: the boot attempt counted, the health check under way. */
  'health',
  /** `markGood()` returned (b marked good), the commit transaction not yet written. */
  'marked-good',
  'report:succeeded',
  /** A failed health check: `rollback()` returned (`current` back on a, b marked bad), `rolled-back` not yet written. */
  'rollback-switched',
  'report:rolled-back',
  /** The download refused (a tampered image): `failed` committed, its report not yet marked sent. */
  'report:failed',
] as const;
export type HoldPoint = (typeof HOLD_POINTS)[number];

/** One start of the child, as a single JSON argument. */
export interface CrashChildOptions {
  /** Holds `slots/`, `ota.db`, `downloads/`. */
  dir: string;
  /** The image repository's URL (the emulator's OTA server); the target is fetched from `<repo>/targets/<name>`. */
  repo: string;
  target: VerifiedTarget;
  /** Where this start parks, waiting to be killed; null: nowhere. */
  hold: HoldPoint | null;
  /** What the health check of the new slot answers. */
  health: 'ok' | 'fail';
}

export function encodeChildOptions(o: CrashChildOptions): string {
  return JSON.stringify(o);
}

export function decodeChildOptions(text: string | undefined): CrashChildOptions {
  const o = JSON.parse(text ?? '') as Partial<CrashChildOptions>;
  const hold = o.hold ?? null;
  if (typeof o.dir !== 'string' || typeof o.repo !== 'string' || typeof o.target?.name !== 'string') throw new Error('dir, repo and target are required');
  if (hold !== null && !(HOLD_POINTS as readonly string[]).includes(hold)) throw new Error(`unknown hold point ${String(hold)}`);
  if (o.health !== 'ok' && o.health !== 'fail') throw new Error('health must be ok or fail');
  return { dir: o.dir, repo: o.repo, target: o.target, hold, health: o.health };
}

/** Prints `hold <point> [info]` and never resolves; the process stays alive until it is killed. */
export type Park = (point: HoldPoint, info?: string, keep?: unknown) => Promise<never>;

export function parker(say: (line: string) => void): Park {
  return (point, info, keep) => {
    say(info === undefined ? `hold ${point}` : `hold ${point} ${info}`);
    return new Promise<never>(() => {
      // The interval keeps the event loop (and `keep`, e.g. an open pipe) alive until the SIGKILL.
      setInterval(() => void keep, 60_000);
    });
  };
}

async function until(what: string, condition: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return -1;
  }
}

/**
 * Mid-copy: the real backend installs from a FIFO into which only the first half of the image is
 * written, so its copy into `<slots>/.tmp-<slot>/<file>` stops, deterministically, after exactly
 * that many bytes (it waits for the rest, which never comes). Parks once they are in the file.
 */
async function parkMidCopy(inner: InstallBackend, slotsDir: string, scratch: string, imagePath: string, target: VerifiedTarget, options: InstallOptions | undefined, park: Park): Promise<never> {
  const status = await inner.status();
  const slot = status.booted === 'b' ? 'a' : 'b';
  const copy = join(slotsDir, `.tmp-${slot}`, slotFileName(target.name));
  const fifo = join(scratch, 'image.fifo');
  rmSync(fifo, { force: true });
  execFileSync('mkfifo', [fifo]);
  const bytes = readFileSync(imagePath);
  const half = Math.floor(bytes.length / 2);
  const installing = inner.install(fifo, target, options);
  installing.catch(() => undefined); // it never ends: the process is killed first
  const writer = await open(fifo, 'w');
  await writer.write(bytes, 0, half);
  await until(`${half} bytes in ${copy}`, () => sizeOf(copy) === half);
  return park('copy', `${half}/${bytes.length}`, writer);
}

/**
 * The real backend, stopping at `hold` when it is one of the install's points: `copy`, `installed`,
 * `activate`, `switched`, `marked-good`, `rollback-switched`. Other holds pass straight through.
 */
export function holdingBackend(inner: InstallBackend, o: { hold: HoldPoint | null; slotsDir: string; scratch: string; park: Park }): InstallBackend {
  const { hold, park } = o;
  return {
    name: inner.name,
    activeSlot: () => inner.activeSlot(),
    status: () => inner.status(),
    async install(imagePath: string, target: VerifiedTarget, options?: InstallOptions): Promise<InstallResult> {
      if (hold === 'copy') return parkMidCopy(inner, o.slotsDir, o.scratch, imagePath, target, options, park);
      const result = await inner.install(imagePath, target, options);
      if (hold === 'installed') await park('installed', result.slot);
      return result;
    },
    async activate(): Promise<void> {
      if (hold === 'activate') await park('activate');
      await inner.activate();
      if (hold === 'switched') await park('switched');
    },
    async markGood(): Promise<void> {
      await inner.markGood();
      if (hold === 'marked-good') await park('marked-good');
    },
    async rollback(): Promise<void> {
      await inner.rollback();
      if (hold === 'rollback-switched') await park('rollback-switched');
    },
  };
}
