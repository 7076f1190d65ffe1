// `tcu-agent ota apply`, the bundled program as a workshop runs it: real signed repositories (built
// with ota/repo, as `tcu-ota` does), served from folders and by the emulator's OTA repository
// server over HTTP with its fault modes, a real dir-slots folder, the state folder between runs.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OtaRepoServer } from '../../hw-emulator/ota/index.js';
import { activeSlot, provisionFactory, runApply, type ApplyRun } from '../helpers/ota-apply.js';
import { publishConsistent } from '../helpers/ota-consistent.js';
import { canMountTmpfs, mountTmpfs } from '../helpers/outbox-fixture.js';
import { folderDigest, vehicleRepos, type VehicleRepos } from '../helpers/ota-repos.js';

/** Runs the bundled program (asynchronously: the emulator's server answers from this process). */
function apply(v: VehicleRepos, extra: string[] = [], repos = { image: v.image.dir, director: v.director.dir }, slots = join(v.base, 'slots')): Promise<ApplyRun> {
  return runApply({ stateDir: v.stateDir, slots, ...repos }, extra);
}

/** The emulator's server in front of the repositories' folder. */
async function serve(v: VehicleRepos, faults: ConstructorParameters<typeof OtaRepoServer>[0]['faults'] = []): Promise<{ image: string; director: string }> {
  server = new OtaRepoServer({ root: v.base, faults });
  const url = (await server.start()).url.replace(/\/+$/, '');
  return { image: `${url}/image`, director: `${url}/director` };
}

function vehicleState(v: VehicleRepos, state: Record<string, unknown>): string {
  const path = join(v.base, 'vehicle.json');
  writeFileSync(path, JSON.stringify(state));
  return path;
}

const active = (v: VehicleRepos): string | null => activeSlot(join(v.base, 'slots'));

/** Another release: new bytes under a new name, signed and published by both repositories (the director names only it). */
function release(v: VehicleRepos, version: number, options: { releaseCounter: number; name: string; bytes: string }): void {
  v.image.addTarget(options.name, options.bytes, { hardwareIds: ['tcu-a'], version: `${options.releaseCounter}.0`, releaseCounter: options.releaseCounter, rxswin: [`R156-X${options.releaseCounter}`] });
  for (const old of v.director.builder.targetNames()) v.director.builder.removeTarget(old);
  v.director.addTarget(options.name, options.bytes, { hardwareIds: ['tcu-a'] });
  v.image.honestPublish(version);
  v.director.honestPublish(version);
}

const release2 = (v: VehicleRepos): void => release(v, 2, { releaseCounter: 2, name: 'tcu/app-2.0.tar', bytes: 'application image 2.0' });

let v: VehicleRepos | undefined;
let server: OtaRepoServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
  if (v) rmSync(v.base, { recursive: true, force: true });
  v = undefined;
});

describe('tcu-agent ota apply', () => {
  it('installs, commits and records a release, then is up to date; the next release goes to the other slot', async () => {
    v = vehicleRepos();
    const first = await apply(v);
    expect(first.outcome, first.stderr).toMatchObject({ result: 'installed', code: 'OK', target: 'tcu/app-1.0.tar' });
    expect(first.code).toBe(0);
    expect(active(v)).toBe('a');
    expect(readFileSync(join(v.base, 'slots', 'a', 'app-1.0.tar'), 'utf8')).toBe('application image 1.0');
    // Every step is reported, success only after the commit.
    expect(first.stderr).toMatch(/"state":"rebooting"[\s\S]*update committed[\s\S]*"state":"succeeded"/);

    expect(await apply(v)).toMatchObject({ code: 0, outcome: { result: 'up-to-date', code: 'UP_TO_DATE' } });

    release2(v);
    const slotA = folderDigest(join(v.base, 'slots', 'a'));
    expect(await apply(v)).toMatchObject({ code: 0, outcome: { result: 'installed', target: 'tcu/app-2.0.tar' } });
    expect(active(v)).toBe('b');
    expect(folderDigest(join(v.base, 'slots', 'a'))).toEqual(slotA); // the previous slot untouched
    const inventory = spawnSync(process.execPath, ['dist/tcu-agent.mjs', 'inventory', '--state-dir', v.stateDir, '--json'], { encoding: 'utf8' });
    expect(JSON.parse(inventory.stdout)).toMatchObject({ ecus: [{ ecu: 'tcu', version: '2.0', releaseCounter: 2, rxswin: ['R156-X2'], source: 'update' }] });
  }, 60_000);

  it('defers when the preconditions are not met (exit 4), writing nothing to a slot, then installs once they are', async () => {
    v = vehicleRepos(); // the director asks for at least 40 % state of charge
    const low = await apply(v, ['--vehicle-state', vehicleState(v, { socPercent: 20, parked: true, ignitionOff: true, consent: true })]);
    expect(low).toMatchObject({ code: 4, outcome: { result: 'deferred', code: 'OTA_PRECONDITION', target: 'tcu/app-1.0.tar' } });
    expect(low.outcome.detail).toMatch(/20 % is below the 40 %/);
    expect(active(v)).toBeNull();
    expect(existsSync(join(v.base, 'slots', 'a'))).toBe(false);
    const charged = await apply(v, ['--vehicle-state', vehicleState(v, { socPercent: 80, parked: true, ignitionOff: true, consent: true })]);
    expect(charged).toMatchObject({ code: 0, outcome: { result: 'installed' } });
  }, 60_000);

  it('a deferred campaign does not go on when the director now names another target: the new one is installed', async () => {
    v = vehicleRepos();
    const low = await apply(v, ['--vehicle-state', vehicleState(v, { socPercent: 20, parked: true, ignitionOff: true, consent: true })]);
    expect(low.outcome).toMatchObject({ result: 'deferred', target: 'tcu/app-1.0.tar' });
    release2(v); // the director withdraws 1.0 and names 2.0
    const next = await apply(v);
    expect(next, next.stderr).toMatchObject({ code: 0, outcome: { result: 'installed', target: 'tcu/app-2.0.tar' } });
    expect(next.stderr).toMatch(/superseded by tcu\/app-2\.0\.tar/);
    expect(existsSync(join(v.base, 'slots', active(v)!, 'app-2.0.tar'))).toBe(true);
    expect(existsSync(join(v.base, 'slots', active(v)!, 'app-1.0.tar'))).toBe(false);
  }, 60_000);

  it('rejects a validly signed downgrade (exit 3) and keeps the installed release', async () => {
    v = vehicleRepos();
    release(v, 2, { releaseCounter: 5, name: 'tcu/app-5.0.tar', bytes: 'application image 5.0' });
    expect((await apply(v)).outcome).toMatchObject({ result: 'installed', target: 'tcu/app-5.0.tar' });
    // The repositories now name an older build, validly signed, under a new name.
    release(v, 3, { releaseCounter: 3, name: 'tcu/app-3.0.tar', bytes: 'application image 3.0' });
    const down = await apply(v);
    expect(down).toMatchObject({ code: 3, outcome: { result: 'rejected', code: 'OTA_DOWNGRADE' } });
    expect(active(v)).toBe('a');
  }, 60_000);

  it('rejects expired metadata at the reference time (exit 3), and a tampered image over HTTP', async () => {
    v = vehicleRepos();
    const future = new Date(Date.now() + 400 * 24 * 3600 * 1000).toISOString();
    expect(await apply(v, ['--now', future])).toMatchObject({ code: 3, outcome: { result: 'rejected', code: 'OTA_EXPIRED' } });

    const http = await serve(v, [{ kind: 'tamper', path: 'image/targets/tcu/app-1.0.tar' }]);
    const tampered = await apply(v, [], http);
    expect(tampered).toMatchObject({ code: 3, outcome: { result: 'rejected', code: 'OTA_TARGET_MISMATCH' } });
    expect(active(v)).toBeNull();
    server!.setFaults([]);
    expect(await apply(v, [], http)).toMatchObject({ code: 0, outcome: { result: 'installed' } });
  }, 60_000);

  it('resumes a download the server dropped half-way, over HTTP', async () => {
    v = vehicleRepos();
    const http = await serve(v, [{ kind: 'drop-mid-file', at: { percent: 50 }, path: 'image/targets/tcu/app-1.0.tar' }]);
    const r = await apply(v, [], http);
    expect(r, r.stderr).toMatchObject({ code: 0, outcome: { result: 'installed' } });
    expect(server!.counters().faultsApplied).toBeGreaterThan(0);
  }, 60_000);

  it('refuses bad usage with exit 2', () => {
    const r = spawnSync(process.execPath, ['dist/tcu-agent.mjs', 'ota', 'apply', '--image-repo', '/x'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--director-repo/);
    const bad = spawnSync(process.execPath, ['dist/tcu-agent.mjs', 'ota', 'frobnicate'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
  });
});

describe('tcu-agent ota apply: a failure leaves the previous software (exit 5)', () => {
  it('a target missing on the server (404): failed with OTA_FETCH, slot a untouched; once it is back, it installs', async () => {
    v = vehicleRepos();
    const slots = join(v.base, 'slots');
    await provisionFactory(slots, v.base);
    const http = await serve(v);
    const file = join(v.image.dir, 'targets', 'tcu', 'app-1.0.tar');
    renameSync(file, `${file}.away`);
    const before = folderDigest(slots);
    const missing = await apply(v, [], http);
    expect(missing, missing.stderr).toMatchObject({ code: 5, outcome: { result: 'failed', code: 'OTA_FETCH', target: 'tcu/app-1.0.tar' } });
    expect(missing.outcome.detail).toMatch(/404/);
    expect(folderDigest(slots)).toEqual(before);
    renameSync(`${file}.away`, file);
    expect(await apply(v, [], http)).toMatchObject({ code: 0, outcome: { result: 'installed' } });
    expect(active(v)).toBe('b');
  }, 60_000);

  it.runIf(canMountTmpfs())('the slots on a full file system: failed with OTA_DISK_FULL, slot a intact and still active', async () => {
    v = vehicleRepos({ bytes: 'x'.repeat(1024 * 1024) });
    const disk = mountTmpfs('512k');
    try {
      const slots = disk.path('slots');
      await provisionFactory(slots, v.base);
      const slotA = folderDigest(join(slots, 'a'));
      const full = await apply(v, [], undefined, slots);
      expect(full, full.stderr).toMatchObject({ code: 5, outcome: { result: 'failed', code: 'OTA_DISK_FULL' } });
      expect(activeSlot(slots)).toBe('a');
      expect(folderDigest(join(slots, 'a'))).toEqual(slotA);
    } finally {
      disk.unmount();
    }
  }, 60_000);
});

describe('tcu-agent ota apply from a repository published with consistent_snapshot: true', () => {
  it.each(['folder', 'http'] as const)('installs from it (%s): versioned metadata, the target under <sha256>.<name>', async (transport) => {
    v = vehicleRepos();
    const dir = join(v.base, 'image-cs');
    const bytes = 'application image 1.0';
    publishConsistent(dir, { keys: v.image.keys, thresholds: { root: 2, targets: 2, snapshot: 1, timestamp: 1 }, version: 1, targets: [{ name: 'tcu/app-1.0.tar', bytes, custom: { hardwareIds: ['tcu-a'], version: '1.0', releaseCounter: 1 } }] });
    copyFileSync(join(dir, 'root.json'), join(v.stateDir, 'image', 'root.json')); // the integrator's root
    const requests: string[] = [];
    let repos = { image: dir, director: v.director.dir };
    if (transport === 'http') {
      const http = await serve(v);
      server!.onRequest((r) => requests.push(`${r.status} ${r.path}`));
      repos = { image: `${http.image}-cs`, director: http.director };
    }
    const r = await apply(v, [], repos);
    expect(r, r.stderr).toMatchObject({ code: 0, outcome: { result: 'installed', target: 'tcu/app-1.0.tar' } });
    expect(readFileSync(join(v.base, 'slots', active(v)!, 'app-1.0.tar'), 'utf8')).toBe(bytes);
    if (transport === 'http') {
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      expect(requests).toEqual(expect.arrayContaining(['200 image-cs/1.snapshot.json', '200 image-cs/1.targets.json', `200 image-cs/targets/tcu/${sha256}.app-1.0.tar`]));
      expect(requests.filter((p) => / image-cs\/(snapshot\.json|targets\.json|targets\/tcu\/app-1\.0\.tar)$/.test(p))).toEqual([]);
    }
  }, 60_000);
});
