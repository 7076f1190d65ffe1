// tcu-ota (dist/tcu-ota.mjs) and tcu-agent ota apply (dist/tcu-agent.mjs) as real processes, `npm run
// build` first: a rollout whose first stage is a vehicle group, and the life of a repository's keys
// and expiries (a vehicle that trusts root 1 follows a rotation; a rotation signed only by the new
// keys is refused; an expired repository is renewed). test/integration/tcu-ota.test.ts covers the
// percentage stages, status over MQTT and serve.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RepositoryBuilder, writePrivateKeyFile } from '../../ota/repo/index.js';
import { testKey } from '../helpers/ota-repos.js';
import { activeSlot, applyAs, fleetVehicle, reportsOf, type Applied, type FleetVehicle } from '../helpers/fleet-vehicle.js';

const OTA = join(process.cwd(), 'dist', 'tcu-ota.mjs');
const NAME = 'tcu/app-2.0.tar';
const DAY = 24 * 3600 * 1000;

let base: string;
const p = (...parts: string[]): string => join(base, ...parts);

function ota(...args: string[]): { status: number | null; stdout: string; stderr: string; json: Record<string, unknown> } {
  const r = spawnSync(process.execPath, [OTA, ...args], { cwd: base, encoding: 'utf8' });
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as Record<string, unknown>;
  } catch {
    // text output
  }
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, json };
}

function okOta(...args: string[]): ReturnType<typeof ota> {
  const r = ota(...args);
  expect(r.status, `tcu-ota ${args.join(' ')}\n${r.stderr}`).toBe(0);
  return r;
}

const vehicle = (vin: string, repos: { image: string; director: string }): FleetVehicle => fleetVehicle(p('vehicles', vin), vin, { image: p(repos.image), director: p(repos.director) });
const apply = (v: FleetVehicle, repos: { image: string; director: string }, ...extra: string[]): Applied => applyAs(v, { image: p(repos.image), director: p(repos.director) }, extra);
const trustedRoot = (v: FleetVehicle, repo: string): number => (JSON.parse(readFileSync(join(v.dir, 'state', repo, 'root.json'), 'utf8')) as { signed: { version: number } }).signed.version;

const KEYS = ['ir1', 'ir2', 'ir3', 'ir4', 'it1', 'it2', 'is', 'its', 'its2', 'dr', 'dt', 'ds', 'dts'];
const IMAGE_TARGET_KEYS = ['--key', 'it1.pem', 'it2.pem'];
const DIRECTOR_KEYS = ['--key', 'dt.pem', '--snapshot-key', 'ds.pem', '--timestamp-key', 'dts.pem'];

/** An image repository (root and targets thresholds 2) with NAME published, and a director; `expires` for every role signed. */
function repositories(image: string, director: string, expires: string[] = []): void {
  okOta('init', '--repo', image, '--image', '--root-key', 'ir1.pem', 'ir2.pem', '--root-threshold', '2', '--targets-key', 'it1.pem', 'it2.pem', '--targets-threshold', '2', '--snapshot-key', 'is.pem', '--timestamp-key', 'its.pem', ...expires);
  okOta('add', '--repo', image, '--target', NAME, '--file', 'app-2.0.tar', '--hardware-id', 'tcu-a', '--version', '2.0', '--release-counter', '2', ...IMAGE_TARGET_KEYS, '--snapshot-key', 'is.pem', '--timestamp-key', 'its.pem', ...expires);
  okOta('init', '--repo', director, '--root-key', 'dr.pem', '--root-threshold', '1', '--targets-key', 'dt.pem', '--targets-threshold', '1', '--snapshot-key', 'ds.pem', '--timestamp-key', 'dts.pem', ...expires);
}

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'tcu-ota-life-'));
  // Key files as `tcu-ota keygen` writes them (PKCS#8 PEM); keygen itself runs in tcu-ota.test.ts.
  KEYS.forEach((k, i) => writePrivateKeyFile(p(`${k}.pem`), testKey(150 + i)));
  writeFileSync(p('app-2.0.tar'), Buffer.alloc(64 * 1024, 9));
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

describe('a rollout by vehicle group', () => {
  it('group:pilot first: `ota apply --group pilot` installs, other vehicles wait for the percentage stage; status per group stage pauses it', () => {
    const repos = { image: 'image', director: 'director' };
    repositories(repos.image, repos.director);
    const created = okOta('rollout', 'create', '--repo', 'director', '--image-repo', 'image', '--campaign', 'g-1', '--target', NAME, '--stages', 'group:pilot,100', ...DIRECTOR_KEYS);
    expect(created.json).toMatchObject({ state: { campaign: 'g-1', stages: [{ groups: ['pilot'] }, 100], stage: 0 } });
    const signed = JSON.parse(readFileSync(p('director', 'targets.json'), 'utf8')) as { signed: { targets: Record<string, { custom: { rollout: unknown } }> } };
    expect(signed.signed.targets[NAME]!.custom.rollout).toEqual({ campaign: 'g-1', stages: [{ groups: ['pilot'] }, 100], stage: 0 });

    // In the group (given twice, once among others): installed, whatever its VIN.
    const pilot = vehicle('WVWZZZ1KZPG000001', repos);
    const rp = apply(pilot, repos, '--group', 'fleet-b', '--group', 'pilot');
    expect(rp.outcome, rp.stderr).toMatchObject({ result: 'installed', code: 'OK', target: NAME });
    expect(rp.status).toBe(0);
    expect(readFileSync(join(pilot.dir, 'slots', activeSlot(pilot)!, 'app-2.0.tar'))).toEqual(readFileSync(p('app-2.0.tar')));
    // Not in the group, or in no group at all: up to date, nothing downloaded or installed.
    for (const [vin, groups] of [['WVWZZZ1KZPG000002', ['--group', 'fleet-b']], ['WVWZZZ1KZPG000003', []]] as const) {
      const other = vehicle(vin, repos);
      const r = apply(other, repos, ...groups);
      expect(r).toMatchObject({ status: 0, outcome: { result: 'up-to-date', code: 'UP_TO_DATE', target: NAME } });
      expect(r.outcome.detail).toBe('not-in-rollout-stage: rollout "g-1" is at stage 0 (groups pilot); this vehicle is in none of those groups');
      expect(activeSlot(other)).toBeNull();
      expect(existsSync(join(other.dir, 'state', 'downloads'))).toBe(false);
    }

    // status: the pilot's own reports (they name its groups) and a rolled-back pilot: stage 0 at 50 %.
    const reports = reportsOf(rp, pilot.vin);
    expect(reports.find((r) => r['state'] === 'succeeded')).toMatchObject({ groups: ['fleet-b', 'pilot'] });
    const failed = { vin: 'WVWZZZ1KZPG000004', state: 'rolled-back', seq: 9, campaign: `g-1:${NAME}:1`, target: NAME, code: 'OTA_HEALTH', groups: ['pilot'] };
    writeFileSync(p('group-reports.jsonl'), [...reports, failed].map((r) => JSON.stringify(r)).join('\n'));
    const text = ota('status', '--reports', 'group-reports.jsonl', '--director', 'director', '--threshold', '20');
    expect(text.status, text.stderr).toBe(3);
    expect(text.stdout).toMatch(/campaign g-1: stages group:pilot, 100 %, at stage 0 \(group:pilot\); 2 vehicles reported/);
    expect(text.stdout).toMatch(/ {2}stage 0 \(groups pilot\): 2 vehicles \(succeeded 1, rolled-back 1\); failures: OTA_HEALTH 1; failure rate 50 % OVER THE 20 % THRESHOLD/);
    const paused = ota('status', '--reports', 'group-reports.jsonl', '--director', 'director', '--threshold', '20', '--json', ...DIRECTOR_KEYS);
    expect(paused.status).toBe(3);
    expect(paused.json).toMatchObject({ campaigns: [{ campaign: 'g-1', action: 'paused', groups: [{ stage: 0, group: 'stage', percent: null, stageGroups: ['pilot'], vehicles: 2, failureRate: 50 }] }] });
    expect(paused.stderr).toMatch(/campaign g-1 paused: stage 0 failure rate 50 % is above 20 %/);
    const late = vehicle('WVWZZZ1KZPG000005', repos);
    expect(apply(late, repos, '--group', 'pilot').outcome.detail).toMatch(/^rollout-paused/);

    // Resumed and advanced to 100 %: the vehicle in no group installs too.
    okOta('rollout', 'resume', '--repo', 'director', '--campaign', 'g-1', ...DIRECTOR_KEYS);
    okOta('rollout', 'advance', '--repo', 'director', '--campaign', 'g-1', ...DIRECTOR_KEYS);
    expect(apply(vehicle('WVWZZZ1KZPG000006', repos), repos).outcome).toMatchObject({ result: 'installed', target: NAME });
    expect(ota('rollout', 'create', '--repo', 'director', '--image-repo', 'image', '--campaign', 'g-2', '--target', NAME, '--stages', 'group:a b', '--replace', ...DIRECTOR_KEYS).status).toBe(2);
  }, 120_000);
});

describe('keys and expiries over the life of a repository', () => {
  it('a vehicle trusting root 1 follows a rotation; one signed only by the new keys is refused; an expired repository is renewed', () => {
    expect(okOta('root', '--help').stdout).toMatch(/^Usage: tcu-ota root renew/);
    expect(ota('root').status).toBe(2);
    expect(ota('root', 'replace', '--repo', 'x').stderr).toMatch(/unknown root command "replace" \(renew, rotate\)/);
    const repos = { image: 'rimage', director: 'rdirector' };
    const short = ['--expires', 'root=30d', 'targets=30d', 'snapshot=30d', 'timestamp=30d'];
    repositories(repos.image, repos.director, short);
    okOta('rollout', 'create', '--repo', 'rdirector', '--image-repo', 'rimage', '--campaign', 'r-1', '--target', NAME, '--stages', '100', ...DIRECTOR_KEYS, ...short);
    const first = vehicle('WVWZZZ1KZPR000001', repos);
    const second = vehicle('WVWZZZ1KZPR000002', repos);
    const later = vehicle('WVWZZZ1KZPR000003', repos);

    // An attacker's (or a broken tool's) root 2, signed only by keys of its own: refused, nothing installed.
    cpSync(p('rimage'), p('rimage-bad'), { recursive: true });
    const bad = RepositoryBuilder.load(p('rimage-bad'));
    const attacker = [testKey(240), testKey(241)];
    bad.rotateRoot({ roles: { root: { keys: attacker.map((k) => k.publicKey()), threshold: 2 } } }, attacker);
    bad.write(p('rimage-bad'));
    const refused = apply(second, { image: 'rimage-bad', director: repos.director });
    expect(refused.outcome, refused.stderr).toMatchObject({ result: 'rejected', code: 'OTA_ROOT_ROTATION' });
    expect(refused.status).toBe(3);
    expect(activeSlot(second)).toBeNull();
    expect(trustedRoot(second, 'image')).toBe(1);
    // tcu-ota does not sign such a rotation either: the old root's keys are required.
    expect(ota('root', 'rotate', '--repo', 'rimage', '--key', 'ir3.pem', 'ir4.pem', '--root-key', 'ir3.pem', 'ir4.pem').stderr).toMatch(/ir3\.pem is not a root key of this repository/);

    // The operator rotates the root keys (ir1, ir2 → ir3, ir4) and the timestamp key (its → its2).
    const rotated = okOta('root', 'rotate', '--repo', 'rimage', '--image', '--key', 'ir1.pem', 'ir2.pem', '--root-key', 'ir3.pem', 'ir4.pem', '--root-threshold', '2', '--timestamp-key', 'its2.pem', ...short);
    expect(rotated.json).toMatchObject({ versions: { root: 2 }, changed: ['root', 'timestamp'], resigned: ['timestamp'] });
    expect(existsSync(p('rimage', '2.root.json'))).toBe(true);
    for (const v of [first, second]) {
      const r = apply(v, repos);
      expect(r.outcome, r.stderr).toMatchObject({ result: 'installed', code: 'OK', target: NAME });
      expect(trustedRoot(v, 'image')).toBe(2);
    }

    // 40 days on, every role has expired (30 days): refused. A new root and a publish without
    // re-signing targets are not enough; with "publish --key" the vehicle installs.
    const future = ['--now', new Date(Date.now() + 40 * DAY).toISOString()];
    const expired = apply(later, repos, ...future);
    expect(expired.outcome, expired.stderr).toMatchObject({ result: 'rejected', code: 'OTA_EXPIRED' });
    const renew = ['--expires', 'root=1y', 'targets=90d', 'snapshot=60d', 'timestamp=60d'];
    expect(okOta('root', 'renew', '--repo', 'rimage', '--key', 'ir3.pem', 'ir4.pem', ...renew).json).toMatchObject({ from: { root: 2 }, versions: { root: 3 } });
    okOta('root', 'renew', '--repo', 'rdirector', '--key', 'dr.pem', ...renew);
    okOta('publish', '--repo', 'rimage', '--snapshot-key', 'is.pem', '--timestamp-key', 'its2.pem', ...renew);
    okOta('publish', '--repo', 'rdirector', '--key', 'dt.pem', '--snapshot-key', 'ds.pem', '--timestamp-key', 'dts.pem', ...renew);
    const stale = apply(later, repos, ...future);
    expect(stale.outcome).toMatchObject({ result: 'rejected', code: 'OTA_EXPIRED' });
    expect(stale.outcome.detail).toMatch(/targets/);
    expect(activeSlot(later)).toBeNull();
    okOta('publish', '--repo', 'rimage', ...IMAGE_TARGET_KEYS, '--snapshot-key', 'is.pem', '--timestamp-key', 'its2.pem', ...renew);
    const renewed = apply(later, repos, ...future);
    expect(renewed.outcome, renewed.stderr).toMatchObject({ result: 'installed', target: NAME });
    expect(trustedRoot(later, 'image')).toBe(3);
    expect(trustedRoot(later, 'director')).toBe(2);
  }, 120_000);
});
