/**
 * The agent's OtaRuntime end to end in-process (test/helpers/ota-runtime.ts): real signed
 * repositories, a real dir-slots folder with factory software, a real campaign store.
 *
 * - The factory software's release counter is recorded at the first start, so a validly signed
 *   target OLDER than the factory software is refused (OTA_DOWNGRADE), audited, nothing installed.
 * - Preconditions watched during the install: a slow backend, the ignition switched on mid-install:
 *   failed with OTA_PRECONDITION and reason "ignition", the running slot untouched; the download
 *   capped by `ota.download.bandwidthBytesPerS`, its progress in HMI notices (a real Mosquitto).
 * - rauc's reboot through an injected CommandRunner (`systemctl reboot`): success restarts; a
 *   failure is reported, the agent stays, the campaign stays `rebooting`, and only the next check
 *   asks again (no restart loop).
 */
import { existsSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../core/clock.js';
import { TcuError } from '../../../core/errors.js';
import { HmiPlayer } from '../../../hw-emulator/hmi/index.js';
import { CampaignStore } from '../../../ota/campaign/index.js';
import { DirSlotsBackend, RaucBackend, type CommandResult, type CommandRunner, type InstallBackend } from '../../../ota/install/index.js';
import { folderDigest, serveFolder, vehicleRepos, type VehicleRepos } from '../../helpers/ota-repos.js';
import { otaRuntime, provisionFactory, release, type RuntimeHarness } from '../../helpers/ota-runtime.js';
import { seededBytes } from '../../helpers/ota-install.js';
import { Mosquitto, hasMosquitto } from '../../helpers/mosquitto.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { downloadLimits, throttledProgress } from '../../../agent/ota/download.js';
import { progressEvent } from '../../../ota/download/index.js';

let v: VehicleRepos | undefined;
let h: RuntimeHarness | undefined;
afterEach(async () => {
  await h?.runtime.stop();
  h = undefined;
  if (v) rmSync(v.base, { recursive: true, force: true });
  v = undefined;
});

const slots = (v: VehicleRepos): string => join(v.base, 'slots');
const current = (v: VehicleRepos): string => readlinkSync(join(slots(v), 'current'));
const store = (v: VehicleRepos): CampaignStore => CampaignStore.open({ path: join(v.stateDir, 'ota.db'), clock: systemClock() });

describe('the factory software’s release counter', () => {
  it('is recorded at the first start; a validly signed target with a lower counter is OTA_DOWNGRADE, audited, nothing installed', async () => {
    v = vehicleRepos({ releaseCounter: 1 }); // the repositories name tcu/app-1.0.tar, counter 1, validly signed
    await provisionFactory(v.base, 3); // the vehicle left the factory with counter 3
    const before = folderDigest(slots(v));
    h = otaRuntime(v);
    h.runtime.start();
    const check = await h.runtime.check();
    expect(check).toMatchObject({ result: 'error', code: 'OTA_DOWNGRADE', target: null });
    expect(check.detail).toMatch(/release counter 1, below the installed 3/);
    expect(h.errors.map((e) => e.code)).toContain('OTA_DOWNGRADE');
    expect(h.runtime.status()).toMatchObject({ campaign: null });
    await h.runtime.stop();
    expect(folderDigest(slots(v))).toEqual(before); // nothing written to any slot
    expect(current(v)).toBe('a');
    const s = store(v);
    try {
      expect(s.inventory.get('tcu')).toMatchObject({ source: 'factory', version: '3.0', releaseCounter: 3, rxswin: ['R156-F3'], hardwareIds: ['tcu-a'], target: 'tcu/app-3.0-factory.tar' });
      const refused = s.audit.entries().filter((e) => e.event === 'check.refused');
      expect(refused).toEqual([expect.objectContaining({ details: expect.objectContaining({ code: 'OTA_DOWNGRADE', step: 'resolve', details: { target: 'tcu/app-1.0.tar', releaseCounter: 1, installed: 3 } }) })]);
      expect(s.audit.verify()).toMatchObject({ ok: true });
    } finally {
      s.close();
    }
  }, 30_000);

  it('a target with a higher counter is an update; each check’s result is audited', async () => {
    v = vehicleRepos({ releaseCounter: 1 });
    await provisionFactory(v.base, 3);
    release(v, 2, { name: 'tcu/app-4.0.tar', bytes: 'application image 4.0', releaseCounter: 4 });
    h = otaRuntime(v);
    h.runtime.start();
    expect(await h.runtime.check()).toMatchObject({ result: 'started', target: 'tcu/app-4.0.tar' });
    await expect.poll(() => h!.restarts, { timeout: 10_000 }).toEqual(['ota-reboot']);
    await h.runtime.stop();
    const s = store(v);
    try {
      const result = s.audit.entries().find((e) => e.event === 'check.result');
      expect(result?.details).toMatchObject({ result: 'update', target: 'tcu/app-4.0.tar', releaseCounter: 4, installedReleaseCounter: 3, versions: { image: { timestamp: 2 }, director: { timestamp: 2 } } });
      expect(s.audit.verify()).toMatchObject({ ok: true });
    } finally {
      s.close();
    }
  }, 30_000);
});

/** dir-slots, but the install waits until `release()` (or the abort the runner sends on a cancel). */
function slowBackend(inner: DirSlotsBackend): { backend: InstallBackend; started: Promise<void>; release: () => void } {
  let started!: () => void;
  let go!: () => void;
  const startedP = new Promise<void>((r) => (started = r));
  const goP = new Promise<void>((r) => (go = r));
  const backend: InstallBackend = {
    name: 'dir-slots',
    activeSlot: () => inner.activeSlot(),
    status: () => inner.status(),
    install: async (path, target, options = {}) => {
      started();
      await new Promise<void>((resolve, reject) => {
        void goP.then(resolve);
        options.signal?.addEventListener('abort', () => reject(new TcuError('OTA_CANCELLED', 'the install was cancelled')));
      });
      return inner.install(path, target, options);
    },
    activate: () => inner.activate(),
    markGood: () => inner.markGood(),
    rollback: () => inner.rollback(),
  };
  return { backend, started: startedP, release: go };
}

describe('preconditions watched during the install (a real Mosquitto playing the HMI)', () => {
  const haveBroker = hasMosquitto();
  let broker: Mosquitto;
  beforeAll(async () => {
    if (haveBroker) broker = await Mosquitto.start();
  });
  afterAll(async () => {
    await broker?.dispose();
  });

  it.runIf(haveBroker)('the ignition switched on mid-install: failed, OTA_PRECONDITION, reason ignition, running slot untouched; the capped download showed its progress', async () => {
    v = vehicleRepos({ releaseCounter: 1 });
    await provisionFactory(v.base, 3);
    const bytes = seededBytes(4, 600_000);
    release(v, 2, { name: 'tcu/app-4.0.tar', bytes, releaseCounter: 4, preconditions: { ignitionOff: true, minSocPercent: 40 } });
    const player = new HmiPlayer({ url: broker.url, topic: 'watch/hmi', answer: 'consent', clock: systemClock() });
    await player.start();
    const slow = slowBackend(DirSlotsBackend.open({ dir: slots(v), clock: systemClock() }));
    // Over HTTP (a local file arrives in one piece): the bytes come in chunks, the cap spaces them.
    const server = await serveFolder(v.base);
    const repos = { image: `${server.url}/image`, director: `${server.url}/director` };
    h = otaRuntime(v, { backend: slow.backend, hmiUrl: broker.url, hmiTopic: 'watch/hmi', download: { bandwidthBytesPerS: 400_000 }, repos });
    const slotA = folderDigest(join(slots(v), 'a'));
    try {
      h.runtime.start();
      const started = performance.now();
      expect(await h.runtime.check()).toMatchObject({ result: 'started', target: 'tcu/app-4.0.tar' });
      await slow.started;
      // 600 kB at 400 kB/s (the cap): over a second, not the few milliseconds of a local copy.
      expect(performance.now() - started).toBeGreaterThan(1000);
      expect(h.runtime.status()).toMatchObject({ campaign: { state: 'installing' } });
      h.vehicle = { ...h.vehicle, ignitionOff: false }; // the driver switches the ignition on
      await expect.poll(() => (h!.runtime.status()['campaign'] as { state: string }).state, { timeout: 5000 }).toBe('failed');
      expect(h.runtime.status()['campaign']).toMatchObject({ code: 'OTA_PRECONDITION', reason: 'ignition', detail: 'during the install: the ignition must be off' });
      const failed = h.reports().find((r) => r['state'] === 'failed');
      expect(failed).toMatchObject({ code: 'OTA_PRECONDITION', reason: 'ignition', from: 'installing' });
      // The running slot untouched, nothing half-written into the other.
      expect(current(v)).toBe('a');
      expect(folderDigest(join(slots(v), 'a'))).toEqual(slotA);
      expect(existsSync(join(slots(v), 'b'))).toBe(false);
      // The HMI saw the download's progress (percent rising to 100) and the refusal with its reason.
      await expect.poll(() => player.notices.some((n) => n['state'] === 'failed')).toBe(true);
      const progress = player.notices.filter((n) => n['progress'] !== undefined).map((n) => (n['progress'] as { percent: number }).percent);
      expect(progress.length).toBeGreaterThanOrEqual(3);
      expect(progress).toEqual([...progress].sort((a, b) => a - b));
      expect(progress.at(-1)).toBe(100);
      expect(player.notices.find((n) => n['state'] === 'failed')).toMatchObject({ code: 'OTA_PRECONDITION', reason: 'ignition' });
    } finally {
      slow.release();
      await h.runtime.stop();
      await player.stop();
      await server.close();
    }
  }, 30_000);
});

/** rauc in memory (two slots, A booted) and `systemctl reboot` answering as `reboot` says. */
function fakeSystem(reboot: () => CommandResult): { runner: CommandRunner; reboots: number } {
  const slots: Record<string, { bootname: string; version: string; status: string }> = { 'rootfs.0': { bootname: 'A', version: '1.0', status: 'good' }, 'rootfs.1': { bootname: 'B', version: '0.9', status: 'good' } };
  let primary = 'rootfs.0';
  const ok = (stdout = ''): CommandResult => ({ code: 0, signal: null, stdout, stderr: '' });
  const sys = { reboots: 0 } as { runner: CommandRunner; reboots: number };
  sys.runner = {
    run: async (command, args) => {
      if (command === 'systemctl' && args.join(' ') === 'reboot') {
        sys.reboots++;
        return reboot();
      }
      const a = args.join(' ');
      if (a === 'status --detailed --output-format=json') {
        const list = Object.entries(slots).map(([name, s]) => ({ [name]: { bootname: s.bootname, state: name === 'rootfs.0' ? 'booted' : 'inactive', boot_status: s.status, slot_status: { bundle: { compatible: 'tcu-test', version: s.version } } } }));
        return ok(JSON.stringify({ booted: 'A', boot_primary: primary, slots: list }));
      }
      if (args[0] === 'install') {
        slots['rootfs.1'] = { bootname: 'B', version: '2.0', status: 'good' };
        return ok();
      }
      if (a === 'status mark-active other') {
        primary = 'rootfs.1';
        return ok();
      }
      return { code: 1, signal: null, stdout: '', stderr: `unexpected: ${command} ${a}` };
    },
  };
  return sys;
}

describe('rauc: systemctl reboot through the injected CommandRunner', () => {
  it('succeeds: the agent restarts, the campaign is rebooting', async () => {
    v = vehicleRepos({ releaseCounter: 2, name: 'tcu/rootfs-2.0.raucb', bytes: 'rauc bundle version=2.0' });
    const sys = fakeSystem(() => ({ code: 0, signal: null, stdout: '', stderr: '' }));
    h = otaRuntime(v, { backendType: 'rauc', backend: new RaucBackend({ runner: sys.runner }), runner: sys.runner });
    h.runtime.start();
    expect(await h.runtime.check()).toMatchObject({ result: 'started' });
    await expect.poll(() => h!.restarts, { timeout: 10_000 }).toEqual(['ota-reboot']);
    expect(sys.reboots).toBe(1);
    expect(h.runtime.status()).toMatchObject({ campaign: { state: 'rebooting' }, boot: 'trying' });
  }, 30_000);

  it('fails: reported as OTA_INSTALL, no restart, still rebooting; asked again only at the next check', async () => {
    v = vehicleRepos({ releaseCounter: 2, name: 'tcu/rootfs-2.0.raucb', bytes: 'rauc bundle version=2.0' });
    let answer: CommandResult = { code: 1, signal: null, stdout: '', stderr: 'Failed to reboot system via logind: Access denied' };
    const sys = fakeSystem(() => answer);
    h = otaRuntime(v, { backendType: 'rauc', backend: new RaucBackend({ runner: sys.runner }), runner: sys.runner });
    h.runtime.start();
    await h.runtime.check();
    await expect.poll(() => sys.reboots, { timeout: 10_000 }).toBe(1);
    await expect.poll(() => h!.errors.some((e) => e.code === 'OTA_INSTALL')).toBe(true);
    expect(h.errors.find((e) => e.code === 'OTA_INSTALL')?.message).toMatch(/systemctl reboot failed: Failed to reboot system via logind: Access denied; asked again at the next check/);
    await new Promise((r) => setTimeout(r, 500));
    expect(sys.reboots).toBe(1); // no loop
    expect(h.restarts).toEqual([]);
    expect(h.runtime.status()).toMatchObject({ campaign: { state: 'rebooting' } });
    // The next check carries the campaign on: the reboot is asked for again, and now it works.
    answer = { code: 0, signal: null, stdout: '', stderr: '' };
    expect(await h.runtime.check()).toMatchObject({ result: 'in-progress' });
    await expect.poll(() => h!.restarts, { timeout: 10_000 }).toEqual(['ota-reboot']);
    expect(sys.reboots).toBe(2);
  }, 30_000);
});

describe('ota.download limits and progress', () => {
  it('downloadLimits: no cap by default; with a cap the minimum rate is at most half of it', () => {
    expect(downloadLimits(undefined)).toEqual({});
    expect(downloadLimits({ minRateBytesPerS: 0, slowWindowMs: 5000 })).toEqual({ minRateBytesPerS: 0, slowWindowMs: 5000 });
    expect(downloadLimits({ bandwidthBytesPerS: 100_000 })).toEqual({ bandwidthBytesPerS: 100_000, minRateBytesPerS: 1024 });
    expect(downloadLimits({ bandwidthBytesPerS: 1000 })).toEqual({ bandwidthBytesPerS: 1000, minRateBytesPerS: 500 });
    expect(() => downloadLimits({ bandwidthBytesPerS: 1000, minRateBytesPerS: 501 }, '--bandwidth')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringMatching(/^--bandwidth\/minRateBytesPerS/) }));
  });

  it('throttledProgress passes the first event, one per 5 % crossed or per interval, and 100 % once; a throwing display is ignored', () => {
    const clock = new FakeClock();
    const seen: number[] = [];
    const total = 1000;
    const on = throttledProgress(clock, (p) => seen.push(p.percent), { stepPercent: 5, intervalMs: 1000 });
    const at = (bytes: number) => on(progressEvent(bytes, total, 100, 0));
    for (const b of [0, 10, 30, 49, 50, 51, 99, 100, 101]) at(b); // 0, then 5 % at 50 and 10 % at 100
    clock.advance(1000);
    at(120); // a second later: through, though within the same 5 %
    at(125);
    at(1000);
    at(1000);
    expect(seen).toEqual([0, 5, 10, 12, 100]);
    const failing = throttledProgress(clock, () => {
      throw new Error('display gone');
    });
    expect(() => failing(progressEvent(1, 2, 1, 0))).not.toThrow();
  });

  it('a minimum rate above half the bandwidth cap is refused when the agent starts (CONFIG_INVALID naming the field)', () => {
    v = vehicleRepos();
    expect(() => otaRuntime(v!, { download: { bandwidthBytesPerS: 1000, minRateBytesPerS: 600 } })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringMatching(/^\/ota\/download\/minRateBytesPerS: 600 B\/s must be at most half/) }),
    );
  });
});
