import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../core/clock.js';
import { BOOT_GUARD_FILE } from '../../ota/install/boot-guard.js';
import { DirSlotsBackend } from '../../ota/install/dir-slots.js';
import { readCurrent, readSlotStates } from '../../ota/install/slot-manifest.js';
import { makeImage } from '../helpers/ota-install.js';

// The dir-slots boot guard as the service manager runs it: the real tcu-boot-guard program before
// each start, then the slot's bundle, restarted while it fails (Restart=always), all real processes.

const GOOD = 'console.log("running");\n';
const BROKEN = 'throw new Error("this bundle cannot start");\n';

let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Slot a confirmed with a bundle that runs; `next` installed into b and activated (on trial). */
async function slotsWithTrial(next: string): Promise<string> {
  dir = mkdtempSync(join(tmpdir(), 'tcu-guard-'));
  const slots = join(dir, 'slots');
  const clock = systemClock();
  const v1 = makeImage(dir, 'tcu/app.mjs', Buffer.from(GOOD), { version: '1.0' });
  await DirSlotsBackend.provision({ dir: slots, clock }, v1.path, v1.target);
  mkdirSync(join(dir, 'v2'));
  const v2 = makeImage(join(dir, 'v2'), 'tcu/app.mjs', Buffer.from(next), { version: '2.0' });
  const running = DirSlotsBackend.open({ dir: slots, clock });
  await running.install(v2.path, v2.target);
  await running.activate();
  expect([readCurrent(slots), readSlotStates(slots).b]).toEqual(['b', 'trying']);
  return slots;
}

function guard(slots: string, maxStarts = 3): { action: string; slot: string | null; starts: number } {
  const r = spawnSync(process.execPath, ['dist/tcu-boot-guard.mjs', '--slots', slots, '--max-starts', String(maxStarts)], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { action: string; slot: string | null; starts: number };
}

/** One start as systemd makes it: ExecStartPre (the guard), then ExecStart (the current slot's bundle). */
function start(slots: string): { guard: ReturnType<typeof guard>; exit: number | null } {
  const g = guard(slots);
  const app = spawnSync(process.execPath, [join(slots, 'current', 'app.mjs')], { encoding: 'utf8' });
  return { guard: g, exit: app.status };
}

describe('tcu-boot-guard', () => {
  it('falls back to the previous slot when the bundle on trial cannot even start', async () => {
    const slots = await slotsWithTrial(BROKEN);
    const starts: ReturnType<typeof start>[] = [];
    for (let i = 0; i < 8; i++) {
      const s = start(slots);
      starts.push(s);
      if (s.exit === 0) break;
    }
    expect(starts.map((s) => [s.guard.action, s.guard.slot, s.guard.starts, s.exit])).toEqual([
      ['counted', 'b', 1, 1],
      ['counted', 'b', 2, 1],
      ['counted', 'b', 3, 1],
      ['fell-back', 'a', 4, 0],
    ]);
    expect([readCurrent(slots), readSlotStates(slots)]).toEqual(['a', { a: 'good', b: 'bad' }]);
    expect(existsSync(join(slots, BOOT_GUARD_FILE))).toBe(false);
    // Later starts: nothing on trial, nothing done.
    expect(guard(slots)).toEqual({ action: 'none', slot: 'a', starts: 0 });
  });

  it('counts nothing once the agent confirmed the new slot; power cycles after the commit never fall back', async () => {
    const slots = await slotsWithTrial(GOOD);
    expect(start(slots)).toEqual({ guard: { action: 'counted', slot: 'b', starts: 1 }, exit: 0 });
    // The agent started from b passes its health check and confirms the slot.
    await DirSlotsBackend.open({ dir: slots, clock: systemClock() }).markGood();
    for (let i = 0; i < 5; i++) expect(start(slots)).toEqual({ guard: { action: 'none', slot: 'b', starts: 0 }, exit: 0 });
    expect(existsSync(join(slots, BOOT_GUARD_FILE))).toBe(false);
    expect(readSlotStates(slots)).toEqual({ a: 'good', b: 'good' });
  });

  it('refuses a bad --max-starts (exit 2) and changes nothing', async () => {
    const slots = await slotsWithTrial(GOOD);
    const r = spawnSync(process.execPath, ['dist/tcu-boot-guard.mjs', '--slots', slots, '--max-starts', 'zero'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('CLI_USAGE');
    expect(existsSync(join(slots, BOOT_GUARD_FILE))).toBe(false);
  });
});
