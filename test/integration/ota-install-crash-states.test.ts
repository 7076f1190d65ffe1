/**
 * Crash safety of a campaign, state by state (issue 5, "Faults: SIGKILL at every state of the
 * campaign ends on the old software or on the committed new one, never half-installed").
 *
 * A real child process (test/helpers/ota-install-crash-child.ts: the boot guard, the campaign
 * runner, dir-slots, the real downloader over HTTP from the emulator's OTA server, a consent wait)
 * runs one update from release 1 (slot a) to release 2, and is killed with SIGKILL exactly at one
 * point: in `downloading` (held there by the server's `slow` fault, killed once 1 MiB is on disk),
 * or where it parks and says `hold <point>` (test/helpers/ota-install-points.ts: every state, and
 * the writes that matter inside the install, the activation, the commit and the rollback). Then it
 * is started again, as the service manager would, until the campaign has ended. Checked:
 *   - at the kill, the store says the campaign was in the state the point belongs to (proof that
 *     each state was hit), with the boot phase and the `current` link expected there;
 *   - after every end of the child: `current` on a complete slot; slot a byte for byte as provisioned;
 *     slot b current only when committed or on trial; the audit chain verifies;
 *   - at the end: succeeded with slot b committed, or rolled-back/failed on slot a, consistently with
 *     the inventory; every transition reported, in order, `succeeded` under at most one seq.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadFileName } from '../../agent/ota/download.js';
import { systemClock } from '../../core/clock.js';
import { CAMPAIGN_STATES, type CampaignStateName } from '../../ota/campaign/states.js';
import { CampaignStore, type BootPhase } from '../../ota/campaign/store.js';
import { DirSlotsBackend, slotFileName } from '../../ota/install/dir-slots.js';
import { readCurrent, readSlotStates, verifySlot, type DirSlot, type SlotStates } from '../../ota/install/slot-manifest.js';
import { OtaRepoServer, type OtaFault, type OtaRequestRecord } from '../../hw-emulator/ota/index.js';
import { hashTree, seededBytes, targetFor } from '../helpers/ota-install.js';
import { HOLD_POINTS, encodeChildOptions, type HoldPoint } from '../helpers/ota-install-points.js';
import { integrityCheck, tempDir, type TempDir } from '../helpers/outbox-records.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHILD_SOURCE = join(ROOT, 'test', 'helpers', 'ota-install-crash-child.ts');
const IMAGE_BYTES = 3 * 1024 * 1024;
/** The slow server sends 1 MiB/s: the kill at 1 MiB on disk leaves 2 s of download to go. */
const SLOW: OtaFault = { kind: 'slow', bytesPerS: 1024 * 1024 };
const KILL_AT_BYTES = 1024 * 1024;
const TAMPER: OtaFault = { kind: 'tamper' };

const FACTORY = seededBytes(1, IMAGE_BYTES);
const factoryTarget = targetFor('tcu/agent-1.mjs', FACTORY, { version: '1.0.0', releaseCounter: 1, rxswin: ['R156-1'] });
const NEW = seededBytes(2, IMAGE_BYTES);
const target = targetFor('tcu/agent-2.mjs', NEW, { version: '2.0.0', releaseCounter: 2, rxswin: ['R156-2'], preconditions: { consentRequired: true } });
const FILE = slotFileName(target.name);

/** What the folders and the store say after the child ended. */
interface Observed {
  state: CampaignStateName;
  phase: BootPhase;
  attempts: number;
  current: DirSlot;
  slots: SlotStates;
  /** Bytes in the partial download (-1: none). */
  partBytes: number;
  /** Bytes in the half-made slot `.tmp-b/<file>` (-1: none). */
  tmpBytes: number;
  /** Slot b holds a complete install of the target. */
  bComplete: boolean;
}

interface Scenario {
  /** Where it parks; null: `downloading`, held by the slow server and killed at KILL_AT_BYTES. */
  hold: HoldPoint | null;
  health?: 'fail';
  faults?: OtaFault[];
  at: Pick<Observed, 'state' | 'phase' | 'current'>;
  also?: (o: Observed, sc: ScenarioRun) => void;
  final: 'succeeded' | 'rolled-back' | 'failed';
}

const A = { current: 'a' } as const;
const B = { current: 'b' } as const;
const SCENARIOS: Scenario[] = [
  {
    hold: null,
    at: { state: 'downloading', phase: 'none', ...A },
    // 1 MiB or more on disk, and the restart resumed from there (a Range request), not from byte 0.
    also: (o, sc) => {
      expect(o.partBytes).toBeGreaterThanOrEqual(KILL_AT_BYTES);
      expect(o.partBytes).toBeLessThan(IMAGE_BYTES);
      expect(sc.requests.filter((r) => r.path.endsWith(FILE)).map((r) => r.range)).toContain(`bytes=${o.partBytes}-`);
    },
    final: 'succeeded',
  },
  { hold: 'report:downloaded', at: { state: 'downloaded', phase: 'none', ...A }, final: 'succeeded' },
  { hold: 'consent', at: { state: 'awaiting-consent', phase: 'none', ...A }, final: 'succeeded' },
  { hold: 'report:installing', at: { state: 'installing', phase: 'none', ...A }, also: (o) => expect(o.bComplete).toBe(false), final: 'succeeded' },
  { hold: 'copy', at: { state: 'installing', phase: 'none', ...A }, also: (o) => expect(o.tmpBytes).toBe(IMAGE_BYTES / 2), final: 'succeeded' },
  { hold: 'installed', at: { state: 'installing', phase: 'none', ...A }, also: (o) => expect([o.bComplete, o.slots.b]).toEqual([true, 'unknown']), final: 'succeeded' },
  { hold: 'activate', at: { state: 'installing', phase: 'activating', ...A }, also: (o) => expect(o.bComplete).toBe(true), final: 'succeeded' },
  { hold: 'switched', at: { state: 'installing', phase: 'activating', ...B }, also: (o) => expect(o.slots.b).toBe('trying'), final: 'succeeded' },
  { hold: 'report:rebooting', at: { state: 'rebooting', phase: 'trying', ...B }, also: (o) => expect(o.attempts).toBe(0), final: 'succeeded' },
  { hold: 'health', at: { state: 'rebooting', phase: 'trying', ...B }, also: (o) => expect([o.attempts, o.slots.b]).toEqual([1, 'trying']), final: 'succeeded' },
  { hold: 'marked-good', at: { state: 'rebooting', phase: 'trying', ...B }, also: (o) => expect(o.slots.b).toBe('good'), final: 'succeeded' },
  { hold: 'report:succeeded', at: { state: 'succeeded', phase: 'none', ...B }, final: 'succeeded' },
  { hold: 'rollback-switched', health: 'fail', at: { state: 'rebooting', phase: 'trying', ...A }, also: (o) => expect(o.slots.b).toBe('bad'), final: 'rolled-back' },
  { hold: 'report:rolled-back', health: 'fail', at: { state: 'rolled-back', phase: 'none', ...A }, also: (o) => expect(o.slots.b).toBe('bad'), final: 'rolled-back' },
  { hold: 'report:failed', faults: [TAMPER], at: { state: 'failed', phase: 'none', ...A }, final: 'failed' },
];

/** The test's folders, the OTA server and what it saw, made inside the describe block. */
interface Harness {
  tmp: TempDir;
  child: string;
  server: OtaRepoServer;
  url: string;
  requests: OtaRequestRecord[];
  table: string[];
}

function harness(): Harness {
  const tmp = tempDir('tcu-ota-states-');
  const repo = tmp.path('repo');
  mkdirSync(join(repo, 'targets', 'tcu'), { recursive: true });
  writeFileSync(join(repo, 'targets', 'tcu', FILE), NEW);
  return { tmp, child: tmp.path('ota-install-crash-child.cjs'), server: new OtaRepoServer({ root: repo }), url: '', requests: [], table: [] };
}

interface Run {
  /** Killed by the test at its point (not by the time limit). */
  killed: boolean;
  code: number | null;
  lines: string[];
  stderr: string;
}

/** One start of the child; SIGKILL as soon as `killOn` accepts a line it printed. Consent is given when asked. */
function runChild(h: Harness, args: string, killOn: (line: string) => boolean): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [h.child, args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NODE_PATH: join(ROOT, 'node_modules') } });
    const run: Run = { killed: false, code: null, lines: [], stderr: '' };
    let buffered = '';
    const giveUp = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (run.killed) return;
        run.lines.push(line);
        if (killOn(line)) run.killed = child.kill('SIGKILL');
        else if (line === 'consent?') child.stdin.write('consent\n');
      }
    });
    child.stdin.on('error', () => undefined); // a write to a child just killed
    child.stderr.on('data', (chunk: Buffer) => (run.stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(giveUp);
      run.code = code;
      run.killed &&= signal === 'SIGKILL';
      resolve(run);
    });
  });
}

function sizeOf(path: string): number {
  return existsSync(path) ? statSync(path).size : -1;
}

/** The invariants after any end of the child, and what the folders and the store say. */
async function observe(dir: string, slotA: string): Promise<Observed> {
  const slots = join(dir, 'slots');
  const current = readCurrent(slots);
  expect(current === 'a' || current === 'b', `current -> ${current}`).toBe(true);
  const running = await verifySlot(slots, current!); // complete: the manifest matches the file
  expect(hashTree(join(slots, 'a')), 'slot a is never written').toBe(slotA);
  let bComplete = false;
  try {
    bComplete = (await verifySlot(slots, 'b')).sha256 === target.hashes['sha256'];
  } catch {
    bComplete = false;
  }
  expect(integrityCheck(join(dir, 'ota.db'))).toBe('ok');
  const store = CampaignStore.open({ path: join(dir, 'ota.db'), clock: systemClock() });
  try {
    const campaign = store.current();
    const boot = store.bootState();
    const committed = store.inventory.get('tcu')?.releaseCounter;
    if (current === 'b') {
      // The new software is current only when complete, and committed or on trial (slot a ready to fall back to).
      expect(running.sha256).toBe(target.hashes['sha256']);
      if (boot.phase === 'none') expect([campaign?.state, committed]).toEqual(['succeeded', 2]);
      else expect(['activating', 'trying']).toContain(boot.phase);
    } else {
      expect(committed, 'nothing committed while slot a is current').toBe(1);
    }
    expect(campaign?.state === 'succeeded').toBe(committed === 2);
    expect(store.audit.verify()).toMatchObject({ ok: true });
    return {
      state: campaign?.state ?? 'idle',
      phase: boot.phase,
      attempts: boot.attempts,
      current: current!,
      slots: readSlotStates(slots),
      partBytes: sizeOf(join(dir, 'downloads', `${downloadFileName(target)}.part`)),
      tmpBytes: sizeOf(join(slots, '.tmp-b', FILE)),
      bComplete,
    };
  } finally {
    store.close();
  }
}

interface ScenarioRun {
  runs: Run[];
  killedAt: Observed | undefined;
  requests: OtaRequestRecord[];
  reports: Map<number, CampaignStateName>;
  copies: number;
}

async function runScenario(h: Harness, name: string, sc: Scenario): Promise<ScenarioRun> {
  const dir = h.tmp.path(name);
  mkdirSync(join(dir, 'factory'), { recursive: true });
  writeFileSync(join(dir, 'factory', 'agent-1.mjs'), FACTORY);
  await DirSlotsBackend.provision({ dir: join(dir, 'slots'), clock: systemClock() }, join(dir, 'factory', 'agent-1.mjs'), factoryTarget);
  const slotA = hashTree(join(dir, 'slots', 'a'));
  h.server.setFaults(sc.hold === null ? [SLOW] : (sc.faults ?? []));
  h.requests.length = 0;
  const out: ScenarioRun = { runs: [], killedAt: undefined, requests: h.requests, reports: new Map(), copies: 0 };
  const killOn = (line: string): boolean => {
    if (out.killedAt !== undefined) return false;
    if (sc.hold !== null) return line === `hold ${sc.hold}` || line.startsWith(`hold ${sc.hold} `);
    const [what, bytes] = line.split(' ');
    return what === 'progress' && Number(bytes) >= KILL_AT_BYTES;
  };
  while (!out.runs.some((r) => r.lines.some((l) => l.startsWith('final ')))) {
    expect(out.runs.length, 'too many starts').toBeLessThan(6);
    const hold = out.killedAt === undefined ? sc.hold : null;
    const run = await runChild(h, encodeChildOptions({ dir, repo: h.url, target, hold, health: sc.health ?? 'ok' }), killOn);
    out.runs.push(run);
    expect(run.killed || run.code === 0, `child failed (exit ${run.code}): ${run.stderr}`).toBe(true);
    expect(run.lines.filter((l) => l.startsWith('hold ') && !run.killed), 'parked but not killed').toEqual([]);
    for (const line of run.lines) {
      const [what, seq, state] = line.split(' ');
      if (what !== 'report') continue;
      if (out.reports.has(Number(seq))) out.copies++;
      expect(out.reports.get(Number(seq)) ?? state, `report ${seq} sent again with another state`).toBe(state);
      out.reports.set(Number(seq), state as CampaignStateName);
    }
    const observed = await observe(dir, slotA);
    if (run.killed) {
      out.killedAt = observed;
      h.server.setFaults(sc.faults ?? []);
    }
  }
  return out;
}

/** The end: old software or the committed new one, consistent with the campaign, the inventory and the reports. */
async function checkEnd(dir: string, sc: Scenario, r: ScenarioRun): Promise<void> {
  const slots = join(dir, 'slots');
  const final = r.runs.at(-1)!.lines.find((l) => l.startsWith('final '))?.slice('final '.length);
  expect(final).toBe(sc.final);
  // No half-made slot or link left. (The boot guard's count of a trial committed in the start it
  // counted stays until the next start removes it; it counts only while `current` is on trial.)
  const left = readdirSync(slots).filter((n) => n !== 'boot-guard.json');
  expect(left.sort(), 'no half-made slot or link left').toEqual(['a', 'b', 'current', 'slots.json'].filter((n) => n !== 'b' || existsSync(join(slots, 'b'))));
  const store = CampaignStore.open({ path: join(dir, 'ota.db'), clock: systemClock() });
  try {
    expect(store.current()?.state).toBe(sc.final);
    expect(store.current()?.code).toBe({ succeeded: null, 'rolled-back': 'OTA_HEALTH', failed: 'OTA_TARGET_MISMATCH' }[sc.final]);
    expect(store.bootState().phase).toBe('none');
    const inventory = store.inventory.get('tcu')!;
    if (sc.final === 'succeeded') {
      expect(readCurrent(slots)).toBe('b');
      expect((await verifySlot(slots, 'b')).releaseCounter).toBe(2);
      expect(readSlotStates(slots).b).toBe('good');
      expect([inventory.releaseCounter, inventory.hash]).toEqual([2, target.hashes['sha256']]);
    } else {
      expect(readCurrent(slots)).toBe('a');
      expect([inventory.releaseCounter, inventory.version]).toEqual([1, '1.0.0']);
      if (sc.final === 'rolled-back') expect(readSlotStates(slots).b).toBe('bad');
    }
    // Every transition reported (at least once, copies under the same seq), in order, success once at most.
    expect(store.unreported()).toEqual([]);
    const transitions = store.transitions();
    expect(new Map(transitions.map((t) => [t.seq, t.to]))).toEqual(r.reports);
    const path: CampaignStateName[] =
      sc.final === 'failed' ? ['downloading', 'failed'] : ['downloading', 'downloaded', 'awaiting-consent', 'installing', 'rebooting', sc.final];
    expect(transitions.map((t) => t.to)).toEqual(path);
    expect([...r.reports.values()].filter((s) => s === 'succeeded').length).toBe(sc.final === 'succeeded' ? 1 : 0);
    expect(store.audit.verify()).toMatchObject({ ok: true });
  } finally {
    store.close();
  }
}

describe('OTA campaign crash safety, state by state (SIGKILL of a real process)', () => {
  const h = harness();
  beforeAll(async () => {
    // Bundled once (the packages better-sqlite3 and node-cron stay external, found through NODE_PATH): it starts ~4x faster than with tsx.
    buildSync({ entryPoints: [CHILD_SOURCE], bundle: true, platform: 'node', format: 'cjs', outfile: h.child, external: ['better-sqlite3', 'node-cron'], logLevel: 'warning' });
    h.server.onRequest((r) => h.requests.push(r));
    h.url = (await h.server.start()).url;
  });
  afterAll(async () => {
    await h.server.stop();
    h.tmp.cleanup();
    if (h.table.length > 0) console.info(`killed at:\n${h.table.join('\n')}`);
  });

  it('the kill points cover every state of the campaign and every hold point', () => {
    const covered = new Set(SCENARIOS.map((s) => s.at.state));
    expect(CAMPAIGN_STATES.filter((s) => s !== 'idle' && !covered.has(s))).toEqual([]);
    expect(HOLD_POINTS.filter((p) => !SCENARIOS.some((s) => s.hold === p)), 'hold points no scenario uses').toEqual([]);
  });

  for (const sc of SCENARIOS) {
    const name = sc.hold === null ? 'downloading' : sc.hold.replace(':', '-');
    it(`killed at ${sc.hold ?? 'downloading (slow server, 1 MiB held)'}: ends ${sc.final}`, async () => {
      const started = performance.now();
      const r = await runScenario(h, name, sc);
      // Proof that the kill landed where it should: exactly one kill, in the state, phase and slot expected there.
      expect(r.runs.filter((run) => run.killed)).toHaveLength(1);
      const at = r.killedAt!;
      expect({ state: at.state, phase: at.phase, current: at.current }).toEqual(sc.at);
      sc.also?.(at, r);
      await checkEnd(h.tmp.path(name), sc, r);
      const ms = Math.round(performance.now() - started);
      h.table.push(`  ${(sc.hold ?? 'downloading').padEnd(20)} ${at.state}/${at.phase}/current=${at.current} -> ${sc.final}; ${r.runs.length} starts, ${r.copies} report copies, ${ms} ms`);
    });
  }
});
