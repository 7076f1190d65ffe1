// `tcu-agent ota apply`, the bundled program as a workshop runs it: real signed repositories (built
// with ota/repo, as `tcu-ota` does), served from folders and by the emulator's OTA repository
// server over HTTP with its fault modes, a real dir-slots folder, the state folder between runs.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OtaRepoServer } from '../../hw-emulator/ota/index.js';
import { folderDigest, vehicleRepos, type VehicleRepos } from '../helpers/ota-repos.js';

interface Run {
  code: number | null;
  outcome: { result: string; code: string; target: string | null; detail: string };
  stderr: string;
}

/** Runs the bundled program (asynchronously: the emulator's server answers from this process). */
async function apply(v: VehicleRepos, extra: string[] = [], repos = { image: v.image.dir, director: v.director.dir }): Promise<Run> {
  const args = ['dist/tcu-agent.mjs', 'ota', 'apply', '--image-repo', repos.image, '--director-repo', repos.director, '--state-dir', v.stateDir, '--hardware-id', 'tcu-a', '--slots', join(v.base, 'slots'), '--vin', 'WVWZZZ1KZPW000001', ...extra];
  const child = spawn(process.execPath, args);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const lines = stdout.trim().split('\n');
  expect(lines, stderr).toHaveLength(1);
  return { code, outcome: JSON.parse(lines[0]!) as Run['outcome'], stderr };
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

const active = (v: VehicleRepos): string | null => (existsSync(join(v.base, 'slots', 'current')) ? readlinkSync(join(v.base, 'slots', 'current')) : null);

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
