/**
 * The agent's rules for which campaign runs (docs/OTA.md, "The agent's campaigns"): when a
 * campaign under way gives way to what the director names now, which finished campaigns keep
 * their target from being tried again, what is installed, and which backend the configuration names.
 */
import type { ErrorCode } from '../../core/errors.js';
import type { OtaBackendConfig } from '../../config/index.js';
import type { BackendSpec, BackendStatus } from '../../ota/install/index.js';
import type { Campaign, CampaignStateName, FailureCause } from '../../ota/campaign/index.js';
import type { FactorySoftware, InventoryEntry } from '../../ota/inventory.js';
import type { VerifiedTarget } from '../../ota/types.js';
import type { InstalledSoftware } from '../../ota/uptane.js';

/** Cancellable before the activation: a withdrawn or superseded campaign ends there. */
export const CANCELLABLE: readonly CampaignStateName[] = ['downloading', 'downloaded', 'awaiting-consent'];

/**
 * A campaign that ended failed with one of these is not tried again for the same target (nor one
 * rolled back), except for an OTA_TARGET_MISMATCH with `cause: 'source-length'` (RETRY_CAUSES).
 */
export const NO_RETRY: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['OTA_INSTALL', 'OTA_TARGET_MISMATCH', 'OTA_ENDLESS_DATA', 'OTA_HEALTH', 'OTA_STATE', 'OTA_METADATA', 'OTA_TARGET_NAME']);

/**
 * Causes that leave a target to be tried again at the next check despite a NO_RETRY code: the
 * server stated (or ended at) another length than the declared one, as a truncated or still-syncing
 * upload on a CDN does; once the file is whole there, the same signed target installs. A target of
 * the right length with the wrong bytes (a hash mismatch: tampered) carries no cause and stays blocked.
 */
export const RETRY_CAUSES: ReadonlySet<FailureCause> = new Set<FailureCause>(['source-length']);

export function sameTarget(a: VerifiedTarget, b: VerifiedTarget): boolean {
  return a.name === b.name && a.hashes['sha256'] === b.hashes['sha256'];
}

/** Whether `wanted` must not start again because the last campaign for it ended so. */
export function blockedBy(last: Campaign | null, wanted: VerifiedTarget): boolean {
  if (last === null || !sameTarget(last.target, wanted)) return false;
  if (last.state === 'rolled-back') return true;
  if (last.state !== 'failed' || last.code === null || !NO_RETRY.has(last.code)) return false;
  return !(last.code === 'OTA_TARGET_MISMATCH' && last.cause !== undefined && RETRY_CAUSES.has(last.cause));
}

/** The inventory entry as `resolveUpdate` reads what is installed. */
export function installedSoftware(entry: InventoryEntry | null): InstalledSoftware | undefined {
  if (entry === null) return undefined;
  return {
    ...(entry.target === null ? {} : { name: entry.target }),
    ...(entry.hash === null ? {} : { hashes: { sha256: entry.hash } }),
    ...(entry.releaseCounter === null ? {} : { releaseCounter: entry.releaseCounter }),
  };
}

/**
 * The inventory's first entry for `ecu`: the software of the booted slot, as the backend knows it
 * (dir-slots: the slot manifest, release counter and RXSWINs included). Its release counter is what
 * blocks a validly signed downgrade until the first update is committed. Undefined when the backend
 * knows nothing of it, or when the booted slot is on trial or abandoned (not factory software: the
 * campaign's commit or rollback decides what is installed).
 */
export function factorySoftware(status: BackendStatus, ecu: string): FactorySoftware | undefined {
  const booted = status.slots.find((slot) => slot.name === status.booted);
  if (booted === undefined || booted.bootState === 'trying' || booted.bootState === 'bad') return undefined;
  if (booted.version === undefined && booted.sha256 === undefined && booted.releaseCounter === undefined) return undefined;
  return {
    ecu,
    version: booted.version ?? null,
    ...(booted.sha256 === undefined ? {} : { hash: booted.sha256 }),
    ...(booted.length === undefined ? {} : { length: booted.length }),
    ...(booted.releaseCounter === undefined ? {} : { releaseCounter: booted.releaseCounter }),
    ...(booted.rxswin === undefined ? {} : { rxswin: booted.rxswin }),
    ...(booted.hardwareIds === undefined ? {} : { hardwareIds: booted.hardwareIds }),
    ...(booted.target === undefined ? {} : { target: booted.target }),
  };
}

/** The configuration's backend as `createInstallBackend` takes it (the schema's checks made `dir` and `script` present). */
export function backendSpec(b: OtaBackendConfig): BackendSpec {
  switch (b.type) {
    case 'dir-slots':
      return { kind: 'dir-slots', dir: b.dir ?? '' };
    case 'rauc':
      return { kind: 'rauc', ...(b.command === undefined ? {} : { command: b.command }) };
    case 'command':
      return { kind: 'command', script: b.script ?? '' };
  }
}
