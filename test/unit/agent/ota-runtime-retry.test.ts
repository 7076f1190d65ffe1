/**
 * Which failed downloads keep the agent from trying a target again (docs/OTA.md, "Download" and
 * "The agent's campaigns"), and where partial downloads live, with the agent's OtaRuntime
 * in-process (test/helpers/ota-runtime.ts) behind the emulator's OTA server:
 *
 * - a target the server holds SHORT (a truncated or still-syncing upload on a CDN: the `short`
 *   fault) fails that campaign with OTA_TARGET_MISMATCH, `cause: 'source-length'`, but does not
 *   block the target: once the file is whole on the server the next check installs it;
 * - a TAMPERED target (full length, wrong hash: the `tamper` fault) stays blocked after the
 *   server is fixed, until the director names another target;
 * - a partial download of target T (hash A), stopped mid-way, then the director names T rebuilt
 *   (same name, hash B): B installs (the old bytes are not resumed into it), the stale part is gone.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../core/clock.js';
import { OtaRepoServer, parseFault } from '../../../hw-emulator/ota/index.js';
import { CampaignStore, type Campaign } from '../../../ota/campaign/index.js';
import { folderDigest, vehicleRepos, type VehicleRepos } from '../../helpers/ota-repos.js';
import { otaRuntime, provisionFactory, release, type RuntimeHarness, type RuntimeOptions } from '../../helpers/ota-runtime.js';
import { seededBytes } from '../../helpers/ota-install.js';

let v: VehicleRepos | undefined;
let h: RuntimeHarness | undefined;
let server: OtaRepoServer | undefined;
afterEach(async () => {
  await h?.runtime.stop();
  h = undefined;
  await server?.stop();
  server = undefined;
  if (v) rmSync(v.base, { recursive: true, force: true });
  v = undefined;
});

const TARGET = 'tcu/app-4.0.tar';
const slots = (v: VehicleRepos): string => join(v.base, 'slots');
const current = (v: VehicleRepos): string => readlinkSync(join(slots(v), 'current'));
/** The status's campaign: the target by its name, the download's progress while downloading. */
type CampaignStatus = { state: string; target: string; code: string | null; progress?: { receivedBytes: number } };
const campaign = (h: RuntimeHarness): CampaignStatus => h.runtime.status()['campaign'] as CampaignStatus;
const downloads = (v: VehicleRepos): string[] => (existsSync(join(v.stateDir, 'downloads')) ? readdirSync(join(v.stateDir, 'downloads')).sort() : []);

function lastCampaign(v: VehicleRepos): Campaign | null {
  const s = CampaignStore.open({ path: join(v.stateDir, 'ota.db'), clock: systemClock() });
  try {
    return s.current();
  } finally {
    s.close();
  }
}

/** Factory software (counter 3), a release with counter 4, both repositories served by the emulator with `faults`. */
async function served(faults: string[], bytes: Uint8Array = seededBytes(4, 200_000)): Promise<RuntimeOptions['repos'] & object> {
  v = vehicleRepos({ releaseCounter: 1 });
  await provisionFactory(v.base, 3);
  release(v, 2, { name: TARGET, bytes, releaseCounter: 4 });
  server = new OtaRepoServer({ root: v.base, faults: faults.map(parseFault) });
  const { url } = await server.start('127.0.0.1', 0);
  return { image: `${url}image`, director: `${url}director` };
}

async function failedDownload(repos: RuntimeOptions['repos']): Promise<CampaignStatus> {
  h = otaRuntime(v!, { repos });
  h.runtime.start();
  expect(await h.runtime.check()).toMatchObject({ result: 'started', target: TARGET });
  await expect.poll(() => campaign(h!).state, { timeout: 10_000 }).toBe('failed');
  return campaign(h);
}

describe('a target refused by its download: blocked or tried again', () => {
  it('served short (a CDN still syncing): OTA_TARGET_MISMATCH, not blocked; once the file is whole the next check installs it', async () => {
    const repos = await served(['short']);
    const slotsBefore = folderDigest(slots(v!));
    expect(await failedDownload(repos)).toMatchObject({ code: 'OTA_TARGET_MISMATCH', target: TARGET });
    expect(h!.reports().find((r) => r['state'] === 'failed')).toMatchObject({ code: 'OTA_TARGET_MISMATCH', from: 'downloading' });
    expect(folderDigest(slots(v!))).toEqual(slotsBefore); // nothing installed
    expect(downloads(v!).filter((f) => f.endsWith('.part'))).toEqual([]); // the short bytes were not kept
    // The upload finishes on the server; the same target (same name and hashes) is tried again.
    server!.setFaults([]);
    expect(await h!.runtime.check()).toMatchObject({ result: 'started', target: TARGET });
    await expect.poll(() => h!.restarts, { timeout: 10_000 }).toEqual(['ota-reboot']);
    expect(current(v!)).toBe('b');
    await h!.runtime.stop();
    expect(lastCampaign(v!)).toMatchObject({ state: 'rebooting', target: { name: TARGET } });
  }, 30_000);

  it('the failed campaign records why: cause source-length', async () => {
    const repos = await served(['short']);
    await failedDownload(repos);
    await h!.runtime.stop();
    expect(lastCampaign(v!)).toMatchObject({ state: 'failed', code: 'OTA_TARGET_MISMATCH', cause: 'source-length' });
  }, 30_000);

  it('tampered (full length, wrong hash): OTA_TARGET_MISMATCH, and still blocked once the server serves it right', async () => {
    const repos = await served(['tamper']);
    const slotsBefore = folderDigest(slots(v!));
    expect(await failedDownload(repos)).toMatchObject({ code: 'OTA_TARGET_MISMATCH' });
    server!.setFaults([]);
    expect(await h!.runtime.check()).toMatchObject({ result: 'blocked', code: 'OTA_TARGET_MISMATCH', target: TARGET });
    await new Promise((r) => setTimeout(r, 200));
    expect(campaign(h!)).toMatchObject({ state: 'failed' });
    expect(h!.restarts).toEqual([]);
    expect(folderDigest(slots(v!))).toEqual(slotsBefore);
    await h!.runtime.stop();
    expect(lastCampaign(v!)).not.toHaveProperty('cause');
  }, 30_000);
});

describe('partial downloads are named by the target’s hash', () => {
  it('a part of T (hash A) left by a stop mid-download; the director now names T rebuilt (hash B): B installs, the stale part is gone', async () => {
    const size = 400_000;
    const repos = await served([], seededBytes(41, size));
    // Capped at 100 kB/s: four seconds to download, stopped (a power cut) after the first bytes.
    h = otaRuntime(v!, { repos, download: { bandwidthBytesPerS: 100_000 } });
    h.runtime.start();
    expect(await h.runtime.check()).toMatchObject({ result: 'started', target: TARGET });
    await expect.poll(() => campaign(h!).progress?.receivedBytes ?? 0, { timeout: 10_000 }).toBeGreaterThan(0);
    await h.runtime.stop();
    const parts = (): string[] => downloads(v!).filter((f) => f.endsWith('.part'));
    // The aborted download writes what it received (bytes of A) before it lets go of the part.
    await expect.poll(() => parts().map((f) => statSync(join(v!.stateDir, 'downloads', f)).size), { timeout: 5000 }).toEqual([expect.any(Number)]);
    await expect.poll(() => statSync(join(v!.stateDir, 'downloads', parts()[0]!)).size, { timeout: 5000 }).toBeGreaterThan(0);
    for (let i = 0; server!.inFlight() > 0 && i < 200; i++) await new Promise((r) => setTimeout(r, 10));
    const stale = parts();
    expect(stale).toHaveLength(1);
    // The same name rebuilt: the same length, other bytes, other hashes.
    const rebuilt = seededBytes(42, size);
    release(v!, 3, { name: TARGET, bytes: rebuilt, releaseCounter: 4 });
    h = otaRuntime(v!, { repos });
    h.runtime.start();
    expect(await h.runtime.check()).toMatchObject({ result: 'started', target: TARGET });
    await expect.poll(() => h!.restarts, { timeout: 10_000 }).toEqual(['ota-reboot']);
    expect(h.errors.map((e) => e.code)).not.toContain('OTA_TARGET_MISMATCH');
    expect(current(v!)).toBe('b');
    expect(parts()).toEqual([]);
    expect(downloads(v!)).not.toContain(stale[0]);
    await h.runtime.stop();
    expect(lastCampaign(v!)).toMatchObject({ state: 'rebooting', target: { hashes: { sha256: createHash('sha256').update(rebuilt).digest('hex') } } });
  }, 30_000);
});

describe('a check while the update on trial is health-checked after the restart', () => {
  it('answers at once (in-progress) instead of waiting out the health check; the check after settling runs as usual', async () => {
    v = vehicleRepos({ releaseCounter: 1 });
    await provisionFactory(v.base, 1);
    release(v, 2, { name: 'tcu/app-2.0.tar', bytes: 'application image 2.0', releaseCounter: 2 });
    h = otaRuntime(v);
    h.runtime.start();
    await expect.poll(() => h!.restarts, { timeout: 10_000 }).toEqual(['ota-reboot']);
    await h.runtime.stop();

    // Started again from slot b: settling runs the health check.
    h = otaRuntime(v);
    h.runtime.start();
    const t0 = Date.now();
    const during = await h.runtime.check();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(during).toMatchObject({ result: 'in-progress', target: 'tcu/app-2.0.tar', detail: expect.stringMatching(/health-checked/) });
    await expect.poll(() => h!.reports().map((r) => r['state']), { timeout: 15_000 }).toContain('succeeded');
    await expect.poll(async () => (await h!.runtime.check()).result, { timeout: 10_000 }).toBe('up-to-date');
  }, 40_000);
});
