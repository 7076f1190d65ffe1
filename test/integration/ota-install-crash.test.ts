/**
 * Crash safety of the install: a real child process (test/helpers/ota-install-runner.ts) runs
 * campaigns with dir-slots on a temporary folder, one release after another, and is killed with
 * SIGKILL at random moments until it has been killed 20 times (clean exits are its reboots). After
 * every end of the child:
 *   - `current` points at a complete slot: its .slot.json matches its file (never half-installed);
 *   - that slot holds the committed release (the inventory's), or, only while a new slot is being
 *     activated or on trial, the campaign's new release, with the committed one complete in the
 *     other slot;
 *   - the store passes SQLite's integrity check and the audit chain verifies.
 * Then the child runs without kills until the campaign ends: every transition reported, success
 * only for a committed release, the slots on the inventory's release.
 * The kills here land where chance puts them; ota-install-crash-states.test.ts kills a child at each
 * state of the campaign (and at the writes inside the install) deterministically.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../core/clock.js';
import { CampaignStore } from '../../ota/campaign/store.js';
import { DirSlotsBackend } from '../../ota/install/dir-slots.js';
import { readCurrent, verifySlot } from '../../ota/install/slot-manifest.js';
import { IMAGE_BYTES, releaseTarget, seededBytes } from '../helpers/ota-install.js';
import { integrityCheck, prng, tempDir } from '../helpers/outbox-records.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const RUNNER_SOURCE = join(ROOT, 'test', 'helpers', 'ota-install-runner.ts');
const KILLS = 20;

interface Run {
  killed: boolean;
  code: number | null;
  lines: string[];
  stderr: string;
}

const tmp = tempDir('tcu-ota-crash-');
afterAll(() => tmp.cleanup());

// The child is bundled once with esbuild (better-sqlite3 stays external, found through NODE_PATH):
// it starts in a quarter of a second instead of the second and more tsx takes, and it runs ~50 times.
const RUNNER = tmp.path('ota-install-runner.cjs');
beforeAll(() => {
  buildSync({ entryPoints: [RUNNER_SOURCE], bundle: true, platform: 'node', format: 'cjs', outfile: RUNNER, external: ['better-sqlite3'], logLevel: 'warning' });
});

/** Runs the child; kills it `delayMs` after it printed `ready` (never, when delayMs is null). */
function runChild(dir: string, delayMs: number | null, finish = false): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RUNNER, dir, ...(finish ? ['--finish'] : [])], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_PATH: join(ROOT, 'node_modules') },
    });
    const run: Run = { killed: false, code: null, lines: [], stderr: '' };
    let buffered = '';
    const giveUp = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        run.lines.push(line);
        if (line === 'ready' && delayMs !== null) {
          setTimeout(() => {
            run.killed = child.kill('SIGKILL') && child.exitCode === null;
          }, delayMs);
        }
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (run.stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(giveUp);
      run.code = code;
      run.killed = signal === 'SIGKILL';
      resolve(run);
    });
  });
}

interface Observed {
  state: string;
  phase: string;
}

/** The invariants after the child ended, however it ended. */
async function check(dir: string): Promise<Observed> {
  const slots = join(dir, 'slots');
  const current = readCurrent(slots);
  expect(current === 'a' || current === 'b').toBe(true);
  const manifest = await verifySlot(slots, current!);
  expect(integrityCheck(join(dir, 'ota.db'))).toBe('ok');
  const store = CampaignStore.open({ path: join(dir, 'ota.db'), clock: systemClock() });
  try {
    const committed = store.inventory.get('tcu')?.releaseCounter;
    const campaign = store.current();
    const boot = store.bootState();
    const onTrial = boot.phase === 'activating' || boot.phase === 'trying';
    const allowed = [committed];
    if (onTrial) allowed.push(campaign?.target.custom.releaseCounter);
    expect(allowed, `current -> ${current} holds release ${manifest.releaseCounter}; boot ${boot.phase}; campaign ${campaign?.state}`).toContain(manifest.releaseCounter);
    if (campaign?.state === 'succeeded') expect(committed).toBe(campaign.target.custom.releaseCounter);
    if (manifest.releaseCounter !== committed) {
      // On trial: the committed software is still complete in the other slot, ready to fall back to.
      const other = await verifySlot(slots, current === 'a' ? 'b' : 'a');
      expect(other.releaseCounter, 'the slot to fall back to').toBe(committed);
    }
    expect(store.audit.verify()).toMatchObject({ ok: true });
    return { state: campaign?.state ?? 'idle', phase: boot.phase };
  } finally {
    store.close();
  }
}

describe('OTA install crash safety (SIGKILL)', () => {
  it('ends on the old software or the committed new one after 20 kills at random points', async () => {
    const dir = tmp.path('work');
    mkdirSync(join(dir, 'images'), { recursive: true });
    const first = join(dir, 'images', '1.img');
    writeFileSync(first, seededBytes(1, IMAGE_BYTES));
    await DirSlotsBackend.provision({ dir: join(dir, 'slots'), clock: systemClock() }, first, releaseTarget(1));

    const random = prng(156);
    const reported = new Map<number, string>();
    const killedIn: Observed[] = [];
    let kills = 0;
    let runs = 0;
    while (kills < KILLS) {
      expect(runs++, 'too many runs without reaching 20 kills').toBeLessThan(400);
      const r = await runChild(dir, Math.floor(random() * 400));
      expect(r.killed || r.code === 0, `child failed (exit ${r.code}): ${r.stderr}`).toBe(true);
      for (const line of r.lines) {
        const [what, seq, state] = line.split(' ');
        if (what === 'report') reported.set(Number(seq), state!);
      }
      const observed = await check(dir);
      if (r.killed) {
        kills++;
        killedIn.push(observed);
      }
    }

    // Finish: no kills, no new campaign, until the campaign has ended.
    let final: string | undefined;
    for (let i = 0; i < 6 && final === undefined; i++) {
      const r = await runChild(dir, null, true);
      expect(r.code, r.stderr).toBe(0);
      for (const line of r.lines) {
        const [what, seq, state] = line.split(' ');
        if (what === 'report') reported.set(Number(seq), state!);
        if (what === 'final') final = seq;
      }
      await check(dir);
    }
    expect(['succeeded', 'rolled-back', 'failed']).toContain(final);

    const store = CampaignStore.open({ path: join(dir, 'ota.db'), clock: systemClock() });
    try {
      expect(store.unreported()).toEqual([]);
      const transitions = store.transitions();
      // Every transition was reported, with its state; success only for campaigns that committed.
      for (const t of transitions) expect(reported.get(t.seq), `transition ${t.seq}`).toBe(t.to);
      const succeeded = transitions.filter((t) => t.to === 'succeeded');
      expect(succeeded.length).toBeGreaterThan(0);
      const inventory = store.inventory.get('tcu')!;
      const manifest = await verifySlot(join(dir, 'slots'), readCurrent(join(dir, 'slots'))!);
      expect(manifest.releaseCounter).toBe(inventory.releaseCounter);
      expect(store.bootState().phase).toBe('none');
      expect(store.audit.verify()).toMatchObject({ ok: true });
      // The kills landed in more than one state of the campaign.
      const where = new Set(killedIn.map((o) => `${o.state}/${o.phase}`));
      expect(where.size, [...where].join(', ')).toBeGreaterThan(2);
      console.info(`kills landed in: ${[...where].join(', ')}; ${succeeded.length} releases committed, ${transitions.filter((t) => t.to === 'rolled-back').length} rolled back, ${runs} runs`);
    } finally {
      store.close();
    }
  }, 240_000);
});
