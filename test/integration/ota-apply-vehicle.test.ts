// `tcu-agent ota apply` (the bundled program, `npm run build` first) on the vehicle's side: the
// factory software's release counter blocks a signed downgrade from the first run; a campaign cut
// off while rebooting is settled (committed) before the check, so its release counter blocks a
// downgrade too; deferrals name their reason; the download shows its progress on standard error
// and keeps to --bandwidth; a partial download of a target rebuilt under the same name is not
// resumed into the new one; every check and refusal is in the audit log, whose chain verifies.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../core/clock.js';
import { factorySoftware } from '../../agent/ota/policy.js';
import { OtaRepoServer } from '../../hw-emulator/ota/index.js';
import { CampaignRunner, CampaignStore } from '../../ota/campaign/index.js';
import { DirSlotsBackend } from '../../ota/install/index.js';
import { folderDigest, serveFolder, vehicleRepos, type StaticServer, type VehicleRepos } from '../helpers/ota-repos.js';
import { provisionFactory, release } from '../helpers/ota-runtime.js';
import { makeImage, seededBytes } from '../helpers/ota-install.js';

interface Run {
  code: number | null;
  outcome: Record<string, unknown>;
  stderr: string;
  ms: number;
}

/** Runs `ota apply`; with `killWhen`, SIGKILLs it once its standard error matches (then no JSON line is expected). */
async function apply(v: VehicleRepos, extra: string[] = [], repos = { image: v.image.dir, director: v.director.dir }, killWhen?: (stderr: string) => boolean): Promise<Run> {
  const args = ['dist/tcu-agent.mjs', 'ota', 'apply', '--image-repo', repos.image, '--director-repo', repos.director, '--state-dir', v.stateDir, '--hardware-id', 'tcu-a', '--slots', join(v.base, 'slots'), ...extra];
  const started = performance.now();
  const child = spawn(process.execPath, args);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
    if (killWhen?.(stderr)) child.kill('SIGKILL');
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (killWhen) return { code, outcome: {}, stderr, ms: performance.now() - started };
  const lines = stdout.trim().split('\n');
  expect(lines, stderr).toHaveLength(1);
  return { code, outcome: JSON.parse(lines[0]!) as Record<string, unknown>, stderr, ms: performance.now() - started };
}

/**
 * The state a run killed during its "reboot" leaves: target `name` (release counter `counter`)
 * installed into slot b and activated (`current` → b, on trial), the campaign `rebooting`, the
 * inventory still holding the factory software, as the first run recorded it.
 */
async function rebootingOn(v: VehicleRepos, name: string, counter: number): Promise<void> {
  const clock = systemClock();
  const img = makeImage(v.base, name, Buffer.from(`application image ${counter}.0`), { hardwareIds: ['tcu-a'], version: `${counter}.0`, releaseCounter: counter, rxswin: [`R156-X${counter}`] });
  const backend = DirSlotsBackend.open({ dir: join(v.base, 'slots'), clock });
  const store = CampaignStore.open({ path: join(v.stateDir, 'ota.db'), clock });
  try {
    const factory = factorySoftware(await backend.status(), 'tcu');
    if (factory !== undefined) store.inventory.seed(factory);
    const runner = new CampaignRunner({
      store,
      backend,
      clock,
      ecu: 'tcu',
      hooks: { download: async () => img.path, consent: async () => 'given', healthCheck: async () => ({ ok: true }), reboot: () => undefined, onReport: () => undefined },
    });
    expect(await runner.start(img.target, { ecu: 'tcu' })).toMatchObject({ state: 'rebooting' });
    expect(store.inventory.get('tcu')).toMatchObject({ source: 'factory', releaseCounter: 3 });
  } finally {
    store.close();
  }
}

function vehicleState(v: VehicleRepos, state: Record<string, unknown>): string {
  const path = join(v.base, 'vehicle.json');
  writeFileSync(path, JSON.stringify(state));
  return path;
}

function withStore<T>(v: VehicleRepos, fn: (s: CampaignStore) => T): T {
  const s = CampaignStore.open({ path: join(v.stateDir, 'ota.db'), clock: systemClock() });
  try {
    return fn(s);
  } finally {
    s.close();
  }
}

let v: VehicleRepos | undefined;
let server: StaticServer | undefined;
let stopServer: (() => Promise<void>) | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  await stopServer?.();
  stopServer = undefined;
  if (v) rmSync(v.base, { recursive: true, force: true });
  v = undefined;
});

describe('tcu-agent ota apply: the vehicle side', () => {
  it('factory software with release counter 3, a validly signed target with counter 1: OTA_DOWNGRADE (exit 3), slots unchanged, recorded and audited', async () => {
    v = vehicleRepos({ releaseCounter: 1 });
    await provisionFactory(v.base, 3);
    const slots = folderDigest(join(v.base, 'slots'));
    const r = await apply(v);
    expect(r.outcome, r.stderr).toMatchObject({ result: 'rejected', code: 'OTA_DOWNGRADE', target: null });
    expect(r.code).toBe(3);
    expect(folderDigest(join(v.base, 'slots'))).toEqual(slots);
    expect(readlinkSync(join(v.base, 'slots', 'current'))).toBe('a');
    withStore(v!, (s) => {
      expect(s.inventory.get('tcu')).toMatchObject({ source: 'factory', version: '3.0', releaseCounter: 3, rxswin: ['R156-F3'] });
      expect(s.audit.entries().map((e) => [e.event, e.details['code']])).toEqual([['check.refused', 'OTA_DOWNGRADE']]);
      expect(s.audit.verify()).toMatchObject({ ok: true, rows: 1 });
      expect(s.current()).toBeNull(); // no campaign was started
    });
    // A newer release (counter 4) goes through, into the other slot.
    release(v, 2, { name: 'tcu/app-4.0.tar', bytes: 'application image 4.0', releaseCounter: 4 });
    expect(await apply(v)).toMatchObject({ code: 0, outcome: { result: 'installed', target: 'tcu/app-4.0.tar' } });
    expect(readlinkSync(join(v.base, 'slots', 'current'))).toBe('b');
    withStore(v!, (s) => {
      expect(s.audit.entries().filter((e) => e.event.startsWith('check.')).map((e) => [e.event, e.details['result'] ?? e.details['code']])).toEqual([
        ['check.refused', 'OTA_DOWNGRADE'],
        ['check.result', 'update'],
      ]);
      expect(s.audit.verify()).toMatchObject({ ok: true });
    });
  }, 60_000);

  it('a campaign cut off while rebooting on counter 5 is settled first: a signed counter-4 target is OTA_DOWNGRADE (exit 3), slots unchanged but for the commit', async () => {
    v = vehicleRepos({ releaseCounter: 1 });
    await provisionFactory(v.base, 3);
    await rebootingOn(v, 'tcu/app-5.0.tar', 5);
    const slotsDir = join(v.base, 'slots');
    expect(readlinkSync(join(slotsDir, 'current'))).toBe('b');
    const slotA = folderDigest(join(slotsDir, 'a'));
    const slotB = folderDigest(join(slotsDir, 'b'));
    // The director now names a validly signed target with counter 4: older than what is on trial.
    release(v, 2, { name: 'tcu/app-4.0.tar', bytes: 'application image 4.0', releaseCounter: 4 });
    const r = await apply(v);
    expect(r.outcome, r.stderr).toMatchObject({ result: 'rejected', code: 'OTA_DOWNGRADE', target: null });
    expect(r.code).toBe(3);
    // The settle committed slot b (its boot state); nothing of the counter-4 target went anywhere.
    expect(readlinkSync(join(slotsDir, 'current'))).toBe('b');
    expect(folderDigest(join(slotsDir, 'a'))).toEqual(slotA);
    expect(folderDigest(join(slotsDir, 'b'))).toEqual(slotB);
    const status = await DirSlotsBackend.open({ dir: slotsDir, clock: systemClock() }).status();
    expect(status.slots.map((s) => [s.name, s.target, s.bootState])).toEqual([
      ['a', 'tcu/app-3.0-factory.tar', 'good'],
      ['b', 'tcu/app-5.0.tar', 'good'],
    ]);
    withStore(v!, (s) => {
      expect(s.current()).toMatchObject({ state: 'succeeded', target: { name: 'tcu/app-5.0.tar' } });
      expect(s.inventory.get('tcu')).toMatchObject({ source: 'update', releaseCounter: 5, target: 'tcu/app-5.0.tar' });
      const events = s.audit.entries().map((e) => e.event);
      expect(events.indexOf('campaign.committed')).toBeGreaterThanOrEqual(0);
      expect(events.indexOf('campaign.committed')).toBeLessThan(events.indexOf('check.refused'));
      expect(s.audit.entries().find((e) => e.event === 'check.refused')?.details).toMatchObject({ code: 'OTA_DOWNGRADE', details: { releaseCounter: 4, installed: 5 } });
      expect(s.audit.verify()).toMatchObject({ ok: true });
    });
  }, 60_000);

  it('a partial download of a target, then the same name rebuilt (other hashes): the rebuilt one installs, the stale part is gone', async () => {
    v = vehicleRepos();
    const size = 3_000_000;
    release(v, 2, { name: 'tcu/app-2.0.tar', bytes: seededBytes(21, size), releaseCounter: 2 });
    // The emulator's server answers Range requests (a partial download resumes).
    const emulator = new OtaRepoServer({ root: v.base });
    const { url } = await emulator.start('127.0.0.1', 0);
    stopServer = () => emulator.stop();
    const repos = { image: `${url}image`, director: `${url}director` };
    // Killed mid-download (500 kB/s: six seconds) once past the first MiB, which the downloader
    // has then written to its partial file.
    const past = (stderr: string): boolean => [...stderr.matchAll(/"receivedBytes":(\d+)/g)].some((m) => Number(m[1]) > 1_200_000);
    const killed = await apply(v, ['--bandwidth', '500000'], repos, past);
    expect(killed.code, killed.stderr).toBeNull();
    const parts = (): string[] => readdirSync(join(v!.stateDir, 'downloads')).filter((f) => f.endsWith('.part'));
    expect(parts()).toHaveLength(1);
    const stale = parts()[0]!;
    expect(statSync(join(v.stateDir, 'downloads', stale)).size).toBeGreaterThanOrEqual(1024 * 1024);
    // The release is rebuilt under the same name: same length, other bytes and hashes.
    const rebuilt = seededBytes(22, size);
    release(v, 3, { name: 'tcu/app-2.0.tar', bytes: rebuilt, releaseCounter: 2 });
    const r = await apply(v, [], repos);
    expect(r.outcome, r.stderr).toMatchObject({ result: 'installed', code: 'OK', target: 'tcu/app-2.0.tar' });
    expect(parts()).toEqual([]);
    expect(readdirSync(join(v.stateDir, 'downloads'))).not.toContain(stale);
    withStore(v!, (s) => expect(s.inventory.get('tcu')).toMatchObject({ target: 'tcu/app-2.0.tar', hash: createHash('sha256').update(rebuilt).digest('hex') }));
  }, 60_000);

  it('a deferral names its reason: soc, ignition, consent (exit 4)', async () => {
    v = vehicleRepos(); // the director asks for 40 % state of charge
    const low = await apply(v, ['--vehicle-state', vehicleState(v, { socPercent: 20, parked: true, ignitionOff: true, consent: true })]);
    expect(low).toMatchObject({ code: 4, outcome: { result: 'deferred', code: 'OTA_PRECONDITION', reason: 'soc' } });
    expect(Object.keys(low.outcome)).toEqual(['result', 'code', 'reason', 'target', 'detail']);
    release(v, 2, { name: 'tcu/app-2.0.tar', bytes: 'application image 2.0', releaseCounter: 2, preconditions: { ignitionOff: true, consentRequired: true } });
    const ignition = await apply(v, ['--vehicle-state', vehicleState(v, { socPercent: 90, parked: true, ignitionOff: false, consent: true })]);
    expect(ignition).toMatchObject({ code: 4, outcome: { result: 'deferred', reason: 'ignition', detail: 'the ignition must be off' } });
    const consent = await apply(v, ['--vehicle-state', vehicleState(v, { socPercent: 90, parked: true, ignitionOff: true, consent: false })]);
    expect(consent).toMatchObject({ code: 4, outcome: { result: 'deferred', reason: 'consent', detail: 'the user refused the update' } });
    // Installed: no reason in the line.
    const done = await apply(v);
    expect(done.outcome).toMatchObject({ result: 'installed' });
    expect(done.outcome).not.toHaveProperty('reason');
  }, 60_000);

  it('prints the download progress on standard error (throttled) and keeps to --bandwidth', async () => {
    v = vehicleRepos();
    release(v, 2, { name: 'tcu/app-2.0.tar', bytes: seededBytes(2, 800_000), releaseCounter: 2 });
    server = await serveFolder(v.base);
    const r = await apply(v, ['--bandwidth', '400000'], { image: `${server.url}/image`, director: `${server.url}/director` });
    expect(r.outcome, r.stderr).toMatchObject({ result: 'installed', target: 'tcu/app-2.0.tar' });
    const progress = r.stderr
      .split('\n')
      .filter((l) => l.includes('"download progress"'))
      .map((l) => JSON.parse(l) as { percent: number; receivedBytes: number; totalBytes: number; bytesPerS: number });
    expect(progress.length).toBeGreaterThanOrEqual(4);
    expect(progress.length).toBeLessThanOrEqual(25); // every 5 % or second at most, not every chunk
    expect(progress.map((p) => p.percent)).toEqual([...progress.map((p) => p.percent)].sort((a, b) => a - b));
    expect(progress.at(-1)).toMatchObject({ percent: 100, receivedBytes: 800_000, totalBytes: 800_000 });
    // 800 kB at 400 kB/s: about two seconds (a burst allowed), not the milliseconds of a local server.
    expect(r.ms).toBeGreaterThan(1500);
    expect(Math.max(...progress.map((p) => p.bytesPerS))).toBeLessThan(600_000);
  }, 60_000);

  it('refuses a bad --bandwidth with exit 2, and --help documents it and the reason', async () => {
    v = vehicleRepos();
    const bad = spawn(process.execPath, ['dist/tcu-agent.mjs', 'ota', 'apply', '--image-repo', v.image.dir, '--director-repo', v.director.dir, '--state-dir', v.stateDir, '--hardware-id', 'tcu-a', '--slots', join(v.base, 'slots'), '--bandwidth', '1.5k']);
    let err = '';
    bad.stderr.on('data', (c: Buffer) => (err += c.toString()));
    expect(await new Promise((resolve) => bad.on('close', resolve))).toBe(2);
    expect(err).toMatch(/--bandwidth must be a whole number/);
    const help = spawn(process.execPath, ['dist/tcu-agent.mjs', 'ota', 'apply', '--help']);
    let out = '';
    help.stdout.on('data', (c: Buffer) => (out += c.toString()));
    await new Promise((resolve) => help.on('close', resolve));
    expect(out).toMatch(/--bandwidth BYTES_PER_S/);
    expect(out).toMatch(/"reason"\?: "soc" \| "parked" \| "ignition" \| "workshop" \| "consent"/);
  }, 30_000);
});
