/**
 * One update end to end, as a workshop (or a test) runs it with `tcu-agent ota apply`: refresh
 * both repositories (TUF, tuf-js), agree on a target (Uptane: director and image), check the
 * preconditions, download it (resumable, verified while streaming), install it to the inactive
 * dir-slots slot, "reboot" (close everything and start again from the state folder, as a real
 * reboot would), health-check the new slot, commit it or roll back. Everything between runs lives
 * in the state folder: trusted metadata, the trusted time, the campaign store (inventory, release
 * counters, audit log), downloads.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../../core/clock.js';
import { TcuError, asTcuError, type ErrorCode } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { CampaignRunner, CampaignStore, type CampaignHooks, type ConsentAnswer } from '../../ota/campaign/index.js';
import { downloadTarget } from '../../ota/download/index.js';
import { DirSlotsBackend, readCurrent, slotFileName, verifySlot } from '../../ota/install/index.js';
import { TrustedRepository } from '../../ota/tuf/index.js';
import type { OtaOutcome, VehicleState, VerifiedTarget } from '../../ota/types.js';
import { resolveUpdate } from '../../ota/uptane.js';
import { TrustedTimeStore } from '../runtime/trusted-time.js';
import { CANCELLABLE, sameTarget } from './policy.js';
import { OTA_STORE_FILE, checkPreconditions, outcomeOf, targetLocation } from './shared.js';

/** The inventory name of the TCU itself, as the configuration's `ota.ecu` default. */
export const DEFAULT_ECU = 'tcu';

export { OTA_STORE_FILE, checkPreconditions, outcomeOf, targetLocation } from './shared.js';

export interface ApplyOptions {
  imageRepo: string;
  directorRepo: string;
  stateDir: string;
  hardwareId: string;
  slotsDir: string;
  /** The inventory's name for this ECU; default `tcu`, as the agent's `ota.ecu`. */
  ecu?: string;
  vin?: string;
  vehicle: VehicleState;
  /** The reference time for metadata expiry (`--now`). */
  now?: Date;
  clock: Clock;
  logger: Logger;
}

function consentOf(v: VehicleState): ConsentAnswer {
  return v.consent === true ? 'given' : v.consent === false ? 'refused' : 'pending';
}

export async function applyUpdate(o: ApplyOptions): Promise<OtaOutcome> {
  mkdirSync(o.stateDir, { recursive: true });
  const trusted = new TrustedTimeStore(o.stateDir, o.clock, (err) => o.logger.warn({ code: err.code, err: err.message }, 'trusted time file ignored'));
  // The same inventory entry as the agent's own campaigns (`ota.ecu`, default `tcu`).
  const ecu = o.ecu ?? DEFAULT_ECU;
  let target: VerifiedTarget | undefined;
  try {
    const refreshOptions = o.now === undefined ? {} : { now: o.now };
    const repo = (name: string, source: string): TrustedRepository => new TrustedRepository({ name, stateDir: o.stateDir, source, trustedTime: trusted.time });
    const image = await repo('image', o.imageRepo).refresh(refreshOptions);
    const director = await repo('director', o.directorRepo).refresh(refreshOptions);
    const installed = withStore(o, (store) => store.inventory.get(ecu));
    const resolution = resolveUpdate({
      director,
      image,
      hardwareId: o.hardwareId,
      ...(o.vin === undefined ? {} : { vin: o.vin }),
      ...(installed === null ? {} : { installed: { ...(installed.target === null ? {} : { name: installed.target }), ...(installed.hash === null ? {} : { hashes: { sha256: installed.hash } }), ...(installed.releaseCounter === null ? {} : { releaseCounter: installed.releaseCounter }) } }),
    });
    if (resolution.kind === 'up-to-date') {
      // With a reason, a staged rollout has not reached this vehicle (or is paused): nothing installed.
      if (resolution.reason !== undefined) return { result: 'up-to-date', code: 'UP_TO_DATE', target: resolution.target?.name ?? null, detail: `${resolution.reason}: ${resolution.detail ?? ''}` };
      return { result: 'up-to-date', code: 'UP_TO_DATE', target: resolution.target?.name ?? null, detail: resolution.target ? `${resolution.target.name} is installed` : 'nothing to install for this hardware' };
    }
    target = resolution.target;
    return await install(o, target, ecu);
  } catch (err) {
    return outcomeOf(asTcuError(err, 'OTA_FETCH'), target?.name ?? null);
  } finally {
    try {
      trusted.save();
    } catch (err) {
      o.logger.warn({ err: (err as Error).message }, 'trusted time not saved');
    }
  }
}

function withStore<T>(o: ApplyOptions, fn: (store: CampaignStore) => T): T {
  const store = CampaignStore.open({ path: join(o.stateDir, OTA_STORE_FILE), clock: o.clock });
  try {
    return fn(store);
  } finally {
    store.close();
  }
}

/** The campaign with dir-slots: install, "reboot" (reopen everything), health check, commit. */
async function install(o: ApplyOptions, target: VerifiedTarget, ecu: string): Promise<OtaOutcome> {
  const downloads = join(o.stateDir, 'downloads');
  mkdirSync(downloads, { recursive: true });
  let rebooted = false;
  const hooks: CampaignHooks = {
    download: async (t, signal) => {
      const sha256 = t.hashes['sha256'];
      if (sha256 === undefined) throw new TcuError('OTA_METADATA', `target ${t.name} has no sha256 hash`);
      const dest = join(downloads, slotFileName(t.name));
      await downloadTarget({ url: targetLocation(o.imageRepo, t.name), dest, length: t.length, sha256, clock: o.clock, signal });
      return dest;
    },
    preconditions: async (t) => checkPreconditions(t, o.vehicle),
    consent: async () => consentOf(o.vehicle),
    // After the "reboot": the slot now active holds exactly what its manifest says.
    healthCheck: async () => {
      const active = readCurrent(o.slotsDir);
      if (active === null) return { ok: false, detail: 'no active slot' };
      try {
        await verifySlot(o.slotsDir, active);
        return { ok: true, checks: { slot: true } };
      } catch (err) {
        return { ok: false, detail: (err as Error).message, checks: { slot: false } };
      }
    },
    reboot: () => {
      rebooted = true;
    },
    onReport: (state, details) => o.logger.info({ state, ...details }, 'campaign'),
  };
  const run = async (resume: boolean): Promise<ReturnType<CampaignStore['current']>> => {
    const store = CampaignStore.open({ path: join(o.stateDir, OTA_STORE_FILE), clock: o.clock });
    try {
      const runner = new CampaignRunner({ store, backend: DirSlotsBackend.open({ dir: o.slotsDir, clock: o.clock }), hooks, clock: o.clock, ecu, logger: o.logger });
      // Settle a campaign that was rebooting; any other one goes on only if it is for this target.
      const before = await runner.settle();
      if (resume) return before;
      if (before !== null && !isOver(before.state)) {
        if (sameTarget(before.target, target)) return await runner.run();
        if (!CANCELLABLE.includes(before.state)) throw new TcuError('OTA_STATE', `campaign ${before.id} for ${before.target.name} is ${before.state}: too late to replace it with ${target.name}`);
        await runner.cancel('OTA_CANCELLED', `superseded by ${target.name}`);
      }
      return await runner.start(target, { ecu });
    } finally {
      store.close();
    }
  };
  let campaign = await run(false);
  if (rebooted) campaign = await run(true);
  if (campaign === null) throw new TcuError('OTA_STATE', 'the campaign store holds no campaign');
  switch (campaign.state) {
    case 'succeeded':
      return { result: 'installed', code: 'OK', target: target.name, detail: `${target.name}${target.custom.version ? ` ${target.custom.version}` : ''} installed and committed` };
    case 'rolled-back':
      return { result: 'failed', code: campaign.code ?? 'OTA_HEALTH', target: target.name, detail: campaign.detail ?? 'rolled back' };
    case 'failed':
      return outcomeOf(new TcuError((campaign.code ?? 'OTA_INSTALL') as ErrorCode, campaign.detail ?? 'failed'), target.name);
    default:
      // Waiting: consent, preconditions or the network policy deferred it.
      return { result: 'deferred', code: campaign.code ?? 'OTA_PRECONDITION', target: target.name, detail: campaign.detail ?? `waiting (${campaign.state})` };
  }
}

function isOver(state: string): boolean {
  return state === 'succeeded' || state === 'failed' || state === 'rolled-back';
}
