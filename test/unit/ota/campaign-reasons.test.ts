/**
 * Reason codes of the campaign (docs/OTA.md, "Preconditions"): every deferral or stop for the
 * vehicle's sake names which precondition (soc, parked, ignition, workshop, consent, network) in the
 * campaign, its report, its audit entry; a reason belongs to the step that set it. Also the audit
 * entries of the steps themselves, and the chain after them.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TcuError } from '../../../core/errors.js';
import { reasonOf, transition, type Campaign } from '../../../ota/campaign/states.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { campaignHarness, type CampaignHarness } from '../../helpers/ota-campaign.js';
import { targetFor } from '../../helpers/ota-install.js';
import { tempDir, type TempDir } from '../../helpers/outbox-records.js';

let tmp: TempDir;
let clock: FakeClock;
let h: CampaignHarness;
beforeEach(async () => {
  tmp = tempDir('tcu-ota-reasons-');
  clock = new FakeClock();
  h = await campaignHarness(tmp.dir, clock);
});
afterEach(() => {
  h.close();
  tmp.cleanup();
});

describe('transition (pure): the reason', () => {
  const target = targetFor('t', Buffer.from('x'));
  // A campaign stored before reasons existed has none: it still moves on.
  const old: Campaign = { id: 'c1', state: 'awaiting-consent', target, ecu: 'tcu', imagePath: '/img', code: null, detail: null, startedAt: 1, updatedAt: 1 };

  it('is set by a deferral or a failure that names one, and cleared by every other step', () => {
    const deferred = transition(old, { type: 'deferred', code: 'OTA_PRECONDITION', detail: 'the vehicle must be parked', reason: 'parked' }, 2);
    expect(deferred).toMatchObject({ state: 'awaiting-consent', code: 'OTA_PRECONDITION', reason: 'parked' });
    const other = transition(deferred, { type: 'deferred', code: 'OTA_PRECONDITION', detail: 'no reason given' }, 3);
    expect(other.reason).toBeUndefined();
    const installing = transition(deferred, { type: 'install' }, 4);
    expect(installing).not.toHaveProperty('reason');
    expect(transition(installing, { type: 'fail', code: 'OTA_PRECONDITION', detail: 'x', reason: 'ignition' }, 5)).toMatchObject({ state: 'failed', reason: 'ignition' });
    expect(transition(installing, { type: 'fail', code: 'OTA_INSTALL', detail: 'x' }, 5)).not.toHaveProperty('reason');
  });

  it('reasonOf takes a known reason from error details, nothing else', () => {
    expect(reasonOf({ reason: 'soc' })).toBe('soc');
    expect(reasonOf({ reason: 'weather' })).toBeUndefined();
    expect(reasonOf({})).toBeUndefined();
    expect(reasonOf(undefined)).toBeUndefined();
  });
});

describe('campaign runner: reasons in the campaign, the reports and the audit log', () => {
  const reasons = () => h.reports.map((r) => [r.state, r.details.code, r.details.reason]);

  it('consent pending or refused: consent; a precondition refusal: its own; a new reason is a new deferral', async () => {
    const v2 = h.image(2);
    const target = { ...v2.target, custom: { ...v2.target.custom, preconditions: { consentRequired: true } } };
    h.consent = async () => 'pending';
    const b = h.boot();
    expect(await b.runner.start(target)).toMatchObject({ state: 'awaiting-consent', code: 'OTA_PRECONDITION', reason: 'consent' });
    h.consent = async () => 'given';
    h.preconditions = async () => ({ ok: false, code: 'OTA_PRECONDITION', detail: 'state of charge 20 % is below the 40 % required', reason: 'soc' });
    expect(await b.runner.run()).toMatchObject({ reason: 'soc' });
    // Same words, another reason: reported again.
    h.preconditions = async () => ({ ok: false, code: 'OTA_PRECONDITION', detail: 'state of charge 20 % is below the 40 % required', reason: 'parked' });
    await b.runner.run();
    expect(reasons().filter(([s]) => s === 'awaiting-consent')).toEqual([
      ['awaiting-consent', null, undefined],
      ['awaiting-consent', 'OTA_PRECONDITION', 'consent'],
      ['awaiting-consent', 'OTA_PRECONDITION', 'soc'],
      ['awaiting-consent', 'OTA_PRECONDITION', 'parked'],
    ]);
    const deferrals = b.store.audit.entries().filter((e) => e.event === 'campaign.deferred');
    expect(deferrals.map((e) => e.details['reason'])).toEqual(['consent', 'soc', 'parked']);
    h.preconditions = async () => ({ ok: true });
    expect(await b.runner.run()).toMatchObject({ state: 'rebooting' });
    expect(b.runner.current()).not.toHaveProperty('reason');
    expect(b.store.audit.verify()).toMatchObject({ ok: true });
  });

  it('a network policy deferral is network; a download refusal with details.reason keeps it', async () => {
    h.download = async () => {
      throw new TcuError('OTA_NETWORK_POLICY', 'roaming');
    };
    const b = h.boot();
    expect(await b.runner.start(h.image(2).target)).toMatchObject({ state: 'downloading', code: 'OTA_NETWORK_POLICY', reason: 'network' });
    h.download = async () => {
      throw new TcuError('OTA_PRECONDITION', 'state of charge too low to download', { details: { reason: 'soc' } });
    };
    expect(await b.runner.run()).toMatchObject({ state: 'downloading', code: 'OTA_PRECONDITION', reason: 'soc' });
    expect(h.reports.at(-1)?.details).toMatchObject({ code: 'OTA_PRECONDITION', reason: 'soc' });
  });

  it('cancel with a reason while installing: failed with it; the running slot untouched', async () => {
    let started!: () => void;
    const installing = new Promise<void>((r) => (started = r));
    const b = h.boot();
    // An install that takes its time: it ends only when the cancel aborts it.
    b.backend.install = (_path, _target, options = {}) =>
      new Promise((_resolve, reject) => {
        started();
        options.signal?.addEventListener('abort', () => reject(new TcuError('OTA_CANCELLED', 'cancelled')));
      });
    const run = b.runner.start(h.image(2).target);
    await installing;
    await b.runner.cancel('OTA_PRECONDITION', 'during the install: the ignition must be off', 'ignition');
    expect(await run).toMatchObject({ state: 'failed', code: 'OTA_PRECONDITION', reason: 'ignition' });
    expect(h.reports.at(-1)).toMatchObject({ state: 'failed', details: { reason: 'ignition', from: 'installing' } });
    expect(b.store.audit.entries().at(-1)).toMatchObject({ event: 'campaign.fail', details: { reason: 'ignition', code: 'OTA_PRECONDITION' } });
  });
});
