/**
 * One update end to end, as a workshop (or a test) runs it with `tcu-agent ota apply`: settle a
 * campaign a previous run left rebooting (so the inventory the downgrade check reads is what is
 * really installed), refresh both repositories (TUF, tuf-js), agree on a target (Uptane: director
 * and image), check the preconditions, download it (resumable, verified while streaming), install it to the inactive
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
import { DirSlotsBackend, readCurrent, verifySlot } from '../../ota/install/index.js';
import { IMAGE_MIN_THRESHOLDS, TrustedRepository, type TrustedMetadata } from '../../ota/tuf/index.js';
import type { VehicleState, VerifiedTarget } from '../../ota/types.js';
import { resolveUpdate } from '../../ota/uptane.js';
import { TrustedTimeStore } from '../runtime/trusted-time.js';
import { auditCheckError, auditCheckResult, type CheckStep } from './check-audit.js';
import { downloadCampaignTarget, downloadLimits, type DownloadLimits } from './download.js';
import { CANCELLABLE, factorySoftware, installedSoftware, sameTarget } from './policy.js';
import { OTA_STORE_FILE, checkPreconditions, outcomeOf, type ApplyOutcome } from './shared.js';

/** The inventory name of the TCU itself, as the configuration's `ota.ecu` default. */
export const DEFAULT_ECU = 'tcu';

export { OTA_STORE_FILE, checkPreconditions, outcomeOf, targetLocation, type ApplyOutcome } from './shared.js';

export interface ApplyOptions {
  imageRepo: string;
  directorRepo: string;
  stateDir: string;
  hardwareId: string;
  slotsDir: string;
  /** The inventory's name for this ECU; default `tcu`, as the agent's `ota.ecu`. */
  ecu?: string;
  vin?: string;
  /** The vehicle groups it is in (`--group`): the group stages of a staged rollout that admit it. */
  groups?: readonly string[];
  vehicle: VehicleState;
  /** The reference time for metadata expiry (`--now`). */
  now?: Date;
  /** The download's bandwidth cap (`--bandwidth`), bytes per second. */
  bandwidthBytesPerS?: number;
  clock: Clock;
  logger: Logger;
}

function consentOf(v: VehicleState): ConsentAnswer {
  return v.consent === true ? 'given' : v.consent === false ? 'refused' : 'pending';
}

export async function applyUpdate(o: ApplyOptions): Promise<ApplyOutcome> {
  mkdirSync(o.stateDir, { recursive: true });
  const trusted = new TrustedTimeStore(o.stateDir, o.clock, (err) => o.logger.warn({ code: err.code, err: err.message }, 'trusted time file ignored'));
  // The same inventory entry as the agent's own campaigns (`ota.ecu`, default `tcu`).
  const ecu = o.ecu ?? DEFAULT_ECU;
  const session = new ApplySession(o, ecu);
  // First, as the agent does at every start: a campaign a previous run left rebooting (killed
  // between the switch and the health check) is settled, committed or rolled back. Only then is
  // the inventory (its release counter) what the downgrade check must read.
  try {
    await session.settle();
  } catch (err) {
    let name: string | null = null;
    try {
      name = withStore(o, (store) => store.current()?.target.name ?? null);
    } catch {
      // the store itself is what failed: the outcome names no target
    }
    return outcomeOf(asTcuError(err, 'OTA_STATE'), name);
  }
  let target: VerifiedTarget | undefined;
  let step: CheckStep = 'image';
  const repos: { image?: TrustedMetadata; director?: TrustedMetadata } = {};
  try {
    const refreshOptions = o.now === undefined ? {} : { now: o.now };
    const repo = (name: string, source: string): TrustedRepository => new TrustedRepository({ name, stateDir: o.stateDir, source, trustedTime: trusted.time, ...(name === 'image' ? { minThresholds: IMAGE_MIN_THRESHOLDS } : {}) });
    const image = (repos.image = await repo('image', o.imageRepo).refresh(refreshOptions));
    step = 'director';
    const director = (repos.director = await repo('director', o.directorRepo).refresh(refreshOptions));
    step = 'resolve';
    // The first run records the booted slot's software (its release counter too): a target older
    // than the factory software is a downgrade from the start.
    const status = await DirSlotsBackend.open({ dir: o.slotsDir, clock: o.clock }).status();
    const entry = withStore(o, (store) => {
      const factory = factorySoftware(status, ecu);
      if (factory !== undefined && store.inventory.seed(factory)) o.logger.info({ ...factory }, 'factory software recorded in the inventory');
      return store.inventory.get(ecu);
    });
    const installed = installedSoftware(entry);
    const resolution = resolveUpdate({
      director,
      image,
      hardwareId: o.hardwareId,
      ...(o.vin === undefined ? {} : { vin: o.vin }),
      ...(o.groups === undefined ? {} : { groups: o.groups }),
      ...(installed === undefined ? {} : { installed }),
    });
    withStore(o, (store) => auditCheckResult(store, resolution, { image, director }, entry?.releaseCounter ?? null));
    if (resolution.kind === 'up-to-date') {
      // With a reason, a staged rollout has not reached this vehicle (or is paused): nothing installed.
      if (resolution.reason !== undefined) return { result: 'up-to-date', code: 'UP_TO_DATE', target: resolution.target?.name ?? null, detail: `${resolution.reason}: ${resolution.detail ?? ''}` };
      return { result: 'up-to-date', code: 'UP_TO_DATE', target: resolution.target?.name ?? null, detail: resolution.target ? `${resolution.target.name} is installed` : 'nothing to install for this hardware' };
    }
    target = resolution.target;
    return await session.install(target);
  } catch (err) {
    const e = asTcuError(err, 'OTA_FETCH');
    // A refusal before the campaign (verification, agreement, downgrade) goes into the audit log too.
    if (target === undefined) auditRefusal(o, e, step, repos);
    return outcomeOf(e, target?.name ?? null);
  } finally {
    try {
      trusted.save();
    } catch (err) {
      o.logger.warn({ err: (err as Error).message }, 'trusted time not saved');
    }
  }
}

function auditRefusal(o: ApplyOptions, e: TcuError, step: CheckStep, repos: { image?: TrustedMetadata; director?: TrustedMetadata }): void {
  try {
    withStore(o, (store) => auditCheckError(store, e, step, repos));
  } catch (err) {
    o.logger.warn({ code: e.code, err: (err as Error).message }, 'the refusal could not be written to the audit log');
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

/**
 * The campaign with dir-slots, as `ota apply` runs it: install, "reboot" (close everything and
 * open it again from the state folder, as a real reboot would), health check, commit. Each step
 * opens the store, the backend (whose booted slot is read at open, as at a boot) and a runner.
 */
class ApplySession {
  private rebooted = false;
  /** The download's cap (`--bandwidth`), checked before a campaign starts. */
  private limits: DownloadLimits = {};
  private readonly hooks: CampaignHooks;

  constructor(
    private readonly o: ApplyOptions,
    private readonly ecu: string,
  ) {
    this.hooks = {
      // Progress as JSON log lines on standard error: every 5 % or every second.
      download: (t, signal) =>
        downloadCampaignTarget(t, { stateDir: o.stateDir, imageRepo: o.imageRepo, clock: o.clock, signal, limits: this.limits, onProgress: (p) => o.logger.info({ event: 'download', target: t.name, ...p }, 'download progress') }),
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
        this.rebooted = true;
      },
      onReport: (state, details) => o.logger.info({ state, ...details, ...(o.groups?.length ? { groups: o.groups } : {}) }, 'campaign'),
    };
  }

  /**
   * Settles a campaign that was rebooting (count the boot, health check, commit or roll back), and
   * again after the "reboot" that settling may ask for; any other campaign is left where it is.
   */
  async settle(): Promise<void> {
    this.rebooted = false;
    await this.withRunner((runner) => runner.settle());
    if (this.rebooted) {
      this.rebooted = false;
      await this.withRunner((runner) => runner.settle());
    }
  }

  /** Installs `target` (or carries on its campaign), "reboots", and settles it. */
  async install(target: VerifiedTarget): Promise<ApplyOutcome> {
    mkdirSync(join(this.o.stateDir, 'downloads'), { recursive: true });
    this.limits = downloadLimits({ ...(this.o.bandwidthBytesPerS === undefined ? {} : { bandwidthBytesPerS: this.o.bandwidthBytesPerS }) }, '--bandwidth');
    this.rebooted = false;
    let campaign = await this.withRunner(async (runner) => {
      // Settled before the check (settle()); a campaign under way goes on only if it is for this
      // target, else it is cancelled, if still possible.
      await runner.flushReports();
      const before = runner.current();
      if (before !== null && !isOver(before.state)) {
        if (sameTarget(before.target, target)) return runner.run();
        if (!CANCELLABLE.includes(before.state)) throw new TcuError('OTA_STATE', `campaign ${before.id} for ${before.target.name} is ${before.state}: too late to replace it with ${target.name}`);
        await runner.cancel('OTA_CANCELLED', `superseded by ${target.name}`);
      }
      return runner.start(target, { ecu: this.ecu });
    });
    if (this.rebooted) campaign = await this.withRunner((runner) => runner.settle());
    if (campaign === null) throw new TcuError('OTA_STATE', 'the campaign store holds no campaign');
    switch (campaign.state) {
      case 'succeeded':
        return { result: 'installed', code: 'OK', target: target.name, detail: `${target.name}${target.custom.version ? ` ${target.custom.version}` : ''} installed and committed` };
      case 'rolled-back':
        return { result: 'failed', code: campaign.code ?? 'OTA_HEALTH', target: target.name, detail: campaign.detail ?? 'rolled back' };
      case 'failed':
        return outcomeOf(new TcuError((campaign.code ?? 'OTA_INSTALL') as ErrorCode, campaign.detail ?? 'failed'), target.name, campaign.reason);
      default: {
        // Waiting: consent, preconditions or the network policy deferred it; `reason` names which.
        const reason = campaign.reason === undefined ? {} : { reason: campaign.reason };
        return { result: 'deferred', code: campaign.code ?? 'OTA_PRECONDITION', ...reason, target: target.name, detail: campaign.detail ?? `waiting (${campaign.state})` };
      }
    }
  }

  private async withRunner<T>(fn: (runner: CampaignRunner) => Promise<T>): Promise<T> {
    const { o } = this;
    const store = CampaignStore.open({ path: join(o.stateDir, OTA_STORE_FILE), clock: o.clock });
    try {
      return await fn(new CampaignRunner({ store, backend: DirSlotsBackend.open({ dir: o.slotsDir, clock: o.clock }), hooks: this.hooks, clock: o.clock, ecu: this.ecu, logger: o.logger }));
    } finally {
      store.close();
    }
  }
}

function isOver(state: string): boolean {
  return state === 'succeeded' || state === 'failed' || state === 'rolled-back';
}
