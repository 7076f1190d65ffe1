// `tcu-agent ota apply` (the bundled program, `npm run build` first) on the vehicle's side: the
// factory software's release counter blocks a signed downgrade from the first run; deferrals name
// their reason; the download shows its progress on standard error and keeps to --bandwidth; every
// check and refusal is in the audit log, whose chain verifies.
import { spawn } from 'node:child_process';
import { readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../core/clock.js';
import { CampaignStore } from '../../ota/campaign/index.js';
import { folderDigest, serveFolder, vehicleRepos, type StaticServer, type VehicleRepos } from '../helpers/ota-repos.js';
import { provisionFactory, release } from '../helpers/ota-runtime.js';
import { seededBytes } from '../helpers/ota-install.js';

interface Run {
  code: number | null;
  outcome: Record<string, unknown>;
  stderr: string;
  ms: number;
}

async function apply(v: VehicleRepos, extra: string[] = [], repos = { image: v.image.dir, director: v.director.dir }): Promise<Run> {
  const args = ['dist/tcu-agent.mjs', 'ota', 'apply', '--image-repo', repos.image, '--director-repo', repos.director, '--state-dir', v.stateDir, '--hardware-id', 'tcu-a', '--slots', join(v.base, 'slots'), ...extra];
  const started = performance.now();
  const child = spawn(process.execPath, args);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const lines = stdout.trim().split('\n');
  expect(lines, stderr).toHaveLength(1);
  return { code, outcome: JSON.parse(lines[0]!) as Record<string, unknown>, stderr, ms: performance.now() - started };
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
afterEach(async () => {
  await server?.close();
  server = undefined;
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
