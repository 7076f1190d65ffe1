/**
 * The campaign: the pure transition function for every state and event; the runner on real
 * dir-slots folders and a real SQLite store, with "boots" (the store, backend and runner opened
 * afresh) between steps: resume in every state, commit after the health check, roll back when it
 * fails, fall back after a boot loop, and no fallback from power cycles after the commit. Reports
 * go out once each, success only after the commit; the inventory changes only at the commit.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isTcuError } from '../../../core/errors.js';
import { CAMPAIGN_STATES, canApply, transition, type Campaign, type CampaignEvent, type CampaignEventType } from '../../../ota/campaign/states.js';
import { CampaignRunner, type CampaignHooks } from '../../../ota/campaign/campaign.js';
import { CampaignStore, NO_BOOT_STATE } from '../../../ota/campaign/store.js';
import { childProcessRunner, CommandBackend } from '../../../ota/install/index.js';
import { readInventory } from '../../../ota/inventory.js';
import { readCurrent, readSlotStates, verifySlot } from '../../../ota/install/slot-manifest.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { campaignHarness, type CampaignHarness } from '../../helpers/ota-campaign.js';
import { targetFor } from '../../helpers/ota-install.js';
import { tempDir, type TempDir } from '../../helpers/outbox-records.js';

let tmp: TempDir;
let clock: FakeClock;
let h: CampaignHarness;
beforeEach(async () => {
  tmp = tempDir('tcu-ota-campaign-');
  clock = new FakeClock();
  h = await campaignHarness(tmp.dir, clock);
});
afterEach(() => {
  h.close();
  tmp.cleanup();
});

const states = () => h.reports.map((r) => r.state);
const currentVersion = async () => (await verifySlot(h.slotsDir, readCurrent(h.slotsDir)!)).version;

describe('transition (pure)', () => {
  const target = targetFor('t', Buffer.from('x'), { version: '2' });
  const events: Record<CampaignEventType, CampaignEvent> = {
    start: { type: 'start', id: 'c2', target, ecu: 'tcu' },
    downloaded: { type: 'downloaded', imagePath: '/img' },
    'await-consent': { type: 'await-consent' },
    deferred: { type: 'deferred', code: 'OTA_PRECONDITION', detail: 'parked: false' },
    install: { type: 'install' },
    activated: { type: 'activated' },
    committed: { type: 'committed' },
    'rolled-back': { type: 'rolled-back', code: 'OTA_HEALTH', detail: 'broker down' },
    fail: { type: 'fail', code: 'OTA_INSTALL', detail: 'x' },
  };
  const allowed: Record<string, CampaignEventType[]> = {
    idle: ['start'],
    downloading: ['downloaded', 'deferred', 'fail'],
    downloaded: ['await-consent', 'deferred', 'fail'],
    'awaiting-consent': ['deferred', 'install', 'fail'],
    installing: ['activated', 'fail'],
    rebooting: ['committed', 'rolled-back'],
    succeeded: ['start'],
    failed: ['start'],
    'rolled-back': ['start'],
  };
  const next: Record<CampaignEventType, string> = {
    start: 'downloading',
    downloaded: 'downloaded',
    'await-consent': 'awaiting-consent',
    deferred: 'same',
    install: 'installing',
    activated: 'rebooting',
    committed: 'succeeded',
    'rolled-back': 'rolled-back',
    fail: 'failed',
  };

  for (const state of CAMPAIGN_STATES) {
    it(`from ${state}: only ${allowed[state]!.join(', ')}`, () => {
      const campaign: Campaign | null =
        state === 'idle' ? null : { id: 'c1', state, target, ecu: 'tcu', imagePath: null, code: null, detail: null, startedAt: 1, updatedAt: 1 };
      for (const [type, event] of Object.entries(events) as [CampaignEventType, CampaignEvent][]) {
        expect(canApply(state, type), `${state} + ${type}`).toBe(allowed[state]!.includes(type));
        if (!allowed[state]!.includes(type)) {
          expect(() => transition(campaign, event, 5), `${state} + ${type}`).toThrow(expect.objectContaining({ code: 'OTA_STATE' }));
          continue;
        }
        const after = transition(campaign, event, 5);
        expect(after.state).toBe(next[type] === 'same' ? state : next[type]);
        expect(after.updatedAt).toBe(5);
        if (type === 'start') expect(after).toMatchObject({ id: 'c2', imagePath: null, code: null, startedAt: 5 });
        if (type === 'downloaded') expect(after.imagePath).toBe('/img');
        if (type === 'deferred') expect(after).toMatchObject({ code: 'OTA_PRECONDITION', detail: 'parked: false' });
        if (type === 'rolled-back' || type === 'fail') expect(after.code).toBe(type === 'fail' ? 'OTA_INSTALL' : 'OTA_HEALTH');
      }
    });
  }
});

describe('campaign runner', () => {
  it('runs idle → … → rebooting, and commits after the restart: inventory and success only then, each report once', async () => {
    const v2 = h.image(2);
    const first = h.boot();
    expect(first.runner.current()).toBeNull();
    const c = await first.runner.start(v2.target, { id: 'camp-2' });
    expect(c?.state).toBe('rebooting');
    expect(h.reboots).toBe(1);
    expect(readCurrent(h.slotsDir)).toBe('b');
    expect(await currentVersion()).toBe('2.0.0');
    expect(first.store.inventory.get('tcu')?.version).toBe('1.0.0');
    expect(states()).toEqual(['downloading', 'downloaded', 'awaiting-consent', 'installing', 'rebooting']);
    expect(first.store.bootState()).toMatchObject({ phase: 'trying', previousSlot: 'a', targetSlot: 'b', attempts: 0 });

    const second = h.boot();
    const done = await second.runner.resume();
    expect(done).toMatchObject({ id: 'camp-2', state: 'succeeded', code: null });
    expect(h.healthCalls).toBe(1);
    expect(states()).toEqual(['downloading', 'downloaded', 'awaiting-consent', 'installing', 'rebooting', 'succeeded']);
    expect(h.reports.map((r) => r.details.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(second.store.bootState().phase).toBe('none');
    expect(readSlotStates(h.slotsDir)).toEqual({ a: 'good', b: 'good' });
    const inv = second.store.inventory.get('tcu');
    expect(inv).toMatchObject({ version: '2.0.0', hash: v2.target.hashes['sha256'], rxswin: ['R156-TCU-2'], releaseCounter: 2, campaign: 'camp-2', source: 'update' });
    // Reported before (at the start) and after (at the end) the update.
    expect(h.reports[0]!.details.inventory?.ecus[0]?.version).toBe('1.0.0');
    expect(h.reports[5]!.details.inventory?.ecus[0]?.version).toBe('2.0.0');
    expect(h.reports[5]!.details.auditHead).toBe(second.store.audit.head().hash);
    expect(second.store.audit.verify()).toMatchObject({ ok: true });
    const events = second.store.audit.entries().map((e) => e.event);
    expect(events).toEqual(expect.arrayContaining(['campaign.start', 'install.started', 'install.done', 'campaign.activated', 'boot.attempt', 'boot.health', 'campaign.committed']));
    h.close();
    expect(readInventory(h.storePath)).toEqual([inv]);
    expect(readInventory(join(tmp.dir, 'nothing.db'))).toEqual([]);
  });

  it('power cycles after the commit never fall back and count nothing', async () => {
    const v2 = h.image(2);
    await h.boot().runner.start(v2.target);
    await h.boot().runner.resume();
    const reports = h.reports.length;
    for (let i = 0; i < 10; i++) {
      const b = h.boot({ maxBootAttempts: 1 });
      expect((await b.runner.resume())?.state).toBe('succeeded');
    }
    expect(readCurrent(h.slotsDir)).toBe('b');
    expect(h.healthCalls).toBe(1);
    expect(h.reports).toHaveLength(reports);
    const store = h.boot().store;
    expect(store.audit.entries().filter((e) => e.event === 'boot.attempt')).toHaveLength(1);
  });

  it('a failed health check rolls back to the previous software, reported with OTA_HEALTH', async () => {
    const v2 = h.image(2);
    await h.boot().runner.start(v2.target, { id: 'bad' });
    h.health = async () => ({ ok: false, detail: 'broker unreachable', checks: { agent: true, broker: false } });
    const b = h.boot();
    const c = await b.runner.resume();
    expect(c).toMatchObject({ state: 'rolled-back', code: 'OTA_HEALTH' });
    expect(c?.detail).toContain('broker unreachable');
    expect(readCurrent(h.slotsDir)).toBe('a');
    expect(readSlotStates(h.slotsDir).b).toBe('bad');
    expect(h.reboots).toBe(2);
    expect(b.store.inventory.get('tcu')?.version).toBe('1.0.0');
    expect(states().at(-1)).toBe('rolled-back');
    expect(h.reports.at(-1)!.details.code).toBe('OTA_HEALTH');
    // The previous software starts: nothing more happens.
    expect((await h.boot().runner.resume())?.state).toBe('rolled-back');
    expect(await currentVersion()).toBe('1.0.0');
    // A health check that throws, or never answers, fails too.
    h.health = async () => {
      throw new Error('agent crashed');
    };
    await h.boot().runner.start(h.image(3).target);
    expect((await h.boot().runner.resume())?.detail).toContain('agent crashed');
    h.health = () => new Promise(() => undefined);
    await h.boot().runner.start(h.image(4).target);
    const pending = h.boot({ healthTimeoutMs: 5000 }).runner.resume();
    await waitFor(() => h.healthCalls === 3);
    clock.advance(5000);
    expect((await pending)?.detail).toContain('did not answer within 5000 ms');
    expect(readCurrent(h.slotsDir)).toBe('a');
  });

  it('a boot loop (boots that never confirm) falls back after maxBootAttempts', async () => {
    const v2 = h.image(2);
    await h.boot().runner.start(v2.target);
    h.health = () => new Promise(() => undefined); // the new software hangs or dies before it can confirm
    for (let attempt = 1; attempt <= 3; attempt++) {
      void h.boot({ maxBootAttempts: 3 }).runner.resume();
      await waitFor(() => h.healthCalls === attempt);
      expect(readCurrent(h.slotsDir)).toBe('b');
    }
    const last = h.boot({ maxBootAttempts: 3 });
    const c = await last.runner.resume();
    expect(h.healthCalls).toBe(3);
    expect(c).toMatchObject({ state: 'rolled-back', code: 'OTA_HEALTH' });
    expect(c?.detail).toContain('boot loop: 3 boots');
    expect(readCurrent(h.slotsDir)).toBe('a');
    expect(last.store.audit.entries().filter((e) => e.event === 'boot.attempt').map((e) => e.details['attempts'])).toEqual([1, 2, 3, 4]);
  });

  it('the bootloader fell back on its own: the previous slot runs, so rolled-back', async () => {
    await h.boot().runner.start(h.image(2).target);
    // What a bootloader does after its own attempts ran out: the next start is the old slot.
    symlinkSync('a', join(h.slotsDir, 'cur.tmp'));
    renameSync(join(h.slotsDir, 'cur.tmp'), join(h.slotsDir, 'current'));
    const c = await h.boot().runner.resume();
    expect(c).toMatchObject({ state: 'rolled-back', code: 'OTA_HEALTH' });
    expect(c?.detail).toContain('bootloader fallback');
    expect(h.healthCalls).toBe(0);
  });

  it('a failed health check whose rollback was cut short (power lost after the switch back) is reported as the failed check', async () => {
    await h.boot().runner.start(h.image(2).target);
    const onTrial = h.boot();
    // The health check failed and was audited; the switch back to a happened; the power went
    // before rolled-back was recorded.
    onTrial.store.record('boot.health', { ok: false, detail: 'no CAN frames on pt', checks: { can: false }, attempt: 1 }, onTrial.store.current()!.id);
    symlinkSync('a', join(h.slotsDir, 'cur.tmp'));
    renameSync(join(h.slotsDir, 'cur.tmp'), join(h.slotsDir, 'current'));
    const c = await h.boot().runner.resume();
    expect(c).toMatchObject({ state: 'rolled-back', code: 'OTA_HEALTH' });
    expect(c?.detail).toMatch(/^health check failed: no CAN frames on pt/);
    expect(c?.detail).not.toContain('bootloader fallback');
  });

  it('consent and preconditions: deferred with the reason, reported once per reason, then installed', async () => {
    const v2 = h.image(2);
    const target = { ...v2.target, custom: { ...v2.target.custom, preconditions: { consentRequired: true } } };
    h.consent = async () => 'pending';
    const b = h.boot();
    expect(await b.runner.start(target)).toMatchObject({ state: 'awaiting-consent', code: 'OTA_PRECONDITION', detail: 'waiting for the user to consent' });
    await b.runner.run();
    await b.runner.run();
    expect(states()).toEqual(['downloading', 'downloaded', 'awaiting-consent', 'awaiting-consent']);
    h.consent = async () => 'refused';
    expect((await b.runner.run())?.detail).toBe('the user refused the update');
    h.consent = async () => 'given';
    h.preconditions = async () => ({ ok: false, code: 'OTA_PRECONDITION', detail: 'state of charge 12 % < 40 %' });
    expect(await h.boot().runner.resume()).toMatchObject({ state: 'awaiting-consent', detail: 'state of charge 12 % < 40 %' });
    expect(existsSync(join(h.slotsDir, 'b'))).toBe(false);
    expect(readCurrent(h.slotsDir)).toBe('a');
    h.preconditions = async () => ({ ok: true });
    expect((await h.boot().runner.resume())?.state).toBe('rebooting');
    expect(states().filter((s) => s === 'awaiting-consent')).toHaveLength(4);
  });

  it('a network policy defers the download; a cancel mid-download fails it with OTA_CANCELLED', async () => {
    const { TcuError } = await import('../../../core/errors.js');
    h.download = async () => {
      throw new TcuError('OTA_NETWORK_POLICY', 'roaming');
    };
    const b = h.boot();
    expect(await b.runner.start(h.image(2).target)).toMatchObject({ state: 'downloading', code: 'OTA_NETWORK_POLICY' });
    let started!: () => void;
    const downloading = new Promise<void>((r) => (started = r));
    h.download = (_t, signal) =>
      new Promise((_resolve, reject) => {
        started();
        signal.addEventListener('abort', () => reject(new Error('aborted')));
      });
    const run = b.runner.run();
    await downloading;
    expect(await b.runner.cancel()).toMatchObject({ state: 'failed', code: 'OTA_CANCELLED' });
    expect((await run)?.state).toBe('failed');
    expect(readCurrent(h.slotsDir)).toBe('a');
    expect(states().at(-1)).toBe('failed');
  });

  it('an image that does not match its target fails the install; the running software stays', async () => {
    const v2 = h.image(2);
    h.download = async () => {
      const path = join(tmp.dir, 'tampered');
      const bytes = readFileSync(v2.path);
      bytes[100] = (bytes[100]! + 1) % 256;
      writeFileSync(path, bytes);
      return path;
    };
    const b = h.boot();
    expect(await b.runner.start(v2.target)).toMatchObject({ state: 'failed', code: 'OTA_TARGET_MISMATCH' });
    expect(readCurrent(h.slotsDir)).toBe('a');
    expect(existsSync(join(h.slotsDir, 'b'))).toBe(false);
    expect(b.store.bootState().phase).toBe('none');
    await expect(b.runner.cancel()).resolves.toMatchObject({ state: 'failed' });
    // A campaign id is never reused: the default one gets a suffix, a given one is refused.
    const again = await b.runner.start(v2.target);
    expect(again?.id).toMatch(/#2$/);
    expect(again?.id).not.toBe(b.store.transitions()[0]!.campaign);
    await expect(b.runner.start(v2.target, { id: b.store.transitions()[0]!.campaign })).rejects.toMatchObject({ code: 'OTA_STATE' });
    // A valid update afterwards still succeeds.
    h.download = async () => v2.path;
    await b.runner.start(v2.target);
    expect((await h.boot().runner.resume())?.state).toBe('succeeded');
    await expect(h.boot().runner.cancel()).resolves.toMatchObject({ state: 'succeeded' });
  });

  it('a report that fails is sent again at the next start, once; success is reported once', async () => {
    await h.boot().runner.start(h.image(2).target);
    h.failReportsOf = 'succeeded';
    const b = h.boot();
    expect((await b.runner.resume())?.state).toBe('succeeded');
    expect(states().filter((s) => s === 'succeeded')).toHaveLength(0);
    expect(b.store.unreported().map((t) => t.to)).toEqual(['succeeded']);
    h.failReportsOf = null;
    await h.boot().runner.resume();
    await h.boot().runner.resume();
    expect(states().filter((s) => s === 'succeeded')).toHaveLength(1);
  });

  it('cancelling while activating or rebooting is too late (OTA_STATE)', async () => {
    const installing = h.boot();
    installing.store.apply({ type: 'start', id: 'x', target: h.image(5).target, ecu: 'tcu' });
    installing.store.apply({ type: 'downloaded', imagePath: h.image(5).path });
    installing.store.apply({ type: 'await-consent' });
    installing.store.apply({ type: 'install' });
    await expect(installing.runner.cancel()).rejects.toMatchObject({ code: 'OTA_STATE' });
    installing.store.apply({ type: 'fail', code: 'OTA_INSTALL', detail: 'test' });
    const b = h.boot();
    await b.runner.start(h.image(2).target);
    await expect(b.runner.cancel()).rejects.toMatchObject({ code: 'OTA_STATE' });
    await expect(b.runner.start(h.image(3).target)).rejects.toSatisfy((e: unknown) => isTcuError(e, 'OTA_STATE'));
  });
});

describe('resume after a restart in every state', () => {
  /** Puts the campaign into `upTo` through the store alone (as a power cut right after that step leaves it). */
  function leaveIn(upTo: 'downloading' | 'downloaded' | 'awaiting-consent' | 'installing'): void {
    const { store } = h.boot();
    const v2 = h.image(2);
    const steps: CampaignEvent[] = [
      { type: 'start', id: 'c', target: v2.target, ecu: 'tcu' },
      { type: 'downloaded', imagePath: v2.path },
      { type: 'await-consent' },
      { type: 'install' },
    ];
    const count = { downloading: 1, downloaded: 2, 'awaiting-consent': 3, installing: 4 }[upTo];
    for (const e of steps.slice(0, count)) store.apply(e);
    h.close();
  }

  for (const state of ['downloading', 'downloaded', 'awaiting-consent', 'installing'] as const) {
    it(`${state}: carries on to rebooting, then commits`, async () => {
      leaveIn(state);
      expect((await h.boot().runner.resume())?.state).toBe('rebooting');
      expect((await h.boot().runner.resume())?.state).toBe('succeeded');
      expect(await currentVersion()).toBe('2.0.0');
      expect(states().filter((s) => s === 'succeeded')).toHaveLength(1);
    });
  }

  it('installing, cut after the install (boot state activating): activates without installing again', async () => {
    leaveIn('installing');
    const { store, backend } = h.boot();
    const v2 = h.image(2);
    await backend.install(v2.path, v2.target);
    store.setBootState({ ...NO_BOOT_STATE, phase: 'activating', campaign: 'c', previousSlot: 'a' }, 'install.done');
    const manifestBefore = readFileSync(join(h.slotsDir, 'b', '.slot.json'), 'utf8');
    clock.advance(60_000);
    expect((await h.boot().runner.resume())?.state).toBe('rebooting');
    expect(readFileSync(join(h.slotsDir, 'b', '.slot.json'), 'utf8')).toBe(manifestBefore);
    expect((await h.boot().runner.resume())?.state).toBe('succeeded');
  });

  it('installing, cut after the switch of current (the restart already runs the new slot): counts it as its first boot', async () => {
    leaveIn('installing');
    const { store, backend } = h.boot();
    const v2 = h.image(2);
    await backend.install(v2.path, v2.target);
    store.setBootState({ ...NO_BOOT_STATE, phase: 'activating', campaign: 'c', previousSlot: 'a' }, 'install.done');
    await backend.activate();
    const b = h.boot();
    expect(await b.backend.activeSlot()).toBe('b');
    expect((await b.runner.resume())?.state).toBe('succeeded');
    expect(h.healthCalls).toBe(1);
    expect(h.reboots).toBe(0);
  });

  it('rebooting, restarted before the reboot (the integrator script: the old slot still runs): asks for the reboot again', async () => {
    const dir = join(tmp.dir, 'integrator');
    mkdirSync(dir);
    for (const [name, text] of Object.entries({ booted: 'a', primary: 'a', 'a.state': 'good', 'b.state': 'unknown', log: '' })) writeFileSync(join(dir, name), `${text}\n`);
    const script = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'ota-install', 'integrator.sh');
    let reboots = 0;
    const start = () => {
      h.close();
      const store = CampaignStore.open({ path: join(tmp.dir, 'cmd.db'), clock });
      const backend = new CommandBackend({ script, runner: childProcessRunner({ clock }), env: { SLOTS_DIR: dir } });
      const hooks: CampaignHooks = { download: h.download, healthCheck: h.health, reboot: () => void reboots++, onReport: () => undefined };
      return { store, runner: new CampaignRunner({ store, backend, hooks, clock, ecu: 'gateway' }) };
    };
    const first = start();
    expect((await first.runner.start(h.image(2).target))?.state).toBe('rebooting');
    expect(reboots).toBe(1);
    first.store.close();
    const again = start();
    expect((await again.runner.resume())?.state).toBe('rebooting');
    expect(reboots).toBe(2);
    expect(again.store.audit.entries().map((e) => e.event)).toContain('boot.reboot-pending');
    expect(again.store.bootState().attempts).toBe(0);
    again.store.close();
    writeFileSync(join(dir, 'booted'), 'b\n'); // the reboot
    const rebooted = start();
    expect((await rebooted.runner.resume())?.state).toBe('succeeded');
    expect(readFileSync(join(dir, 'b.state'), 'utf8').trim()).toBe('good');
    expect(rebooted.store.inventory.get('gateway')?.version).toBe('2.0.0');
    rebooted.store.close();
  });
});

async function waitFor(condition: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}
