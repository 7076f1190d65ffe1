import { TcuError } from '../core/errors.js';
import { rolloutEligibility, type RolloutIneligibility } from './rollout.js';
import { parseTargetCustom } from './target-custom.js';
import { checkTargetName } from './tuf/target-name.js';
import type { TrustedTarget } from './tuf/verify-set.js';
import type { TargetCustom, VerifiedTarget } from './types.js';

/**
 * Uptane-style full verification over two TUF repositories that each passed their own refresh
 * (docs/OTA.md, "Director and image repository"):
 *
 * 1. The director's targets name what this vehicle installs: the one entry whose
 *    `custom.hardwareIds` holds our hardware id. No entries at all: up to date. Entries, none for
 *    us: OTA_HARDWARE_ID (or up to date with `foreignTargets: 'up-to-date'`, for a director shared
 *    by a mixed fleet). Two or more for us: OTA_METADATA (ambiguous).
 * 2. Its name must be safe (OTA_TARGET_NAME) and its hashes well formed (OTA_METADATA).
 * 3. The image repository must hold a target of the same name (else OTA_REPO_DISAGREE) with the
 *    same length and, for every hash algorithm both give, the same hash, sha256 at least
 *    (OTA_REPO_DISAGREE); its `custom.hardwareIds` must hold ours too, and a `version` or
 *    `releaseCounter` the director states must be the image's (OTA_REPO_DISAGREE).
 * 4. Already installed (same sha256): up to date. A release counter (the image repository's;
 *    absent counts as 0) lower than the installed one: OTA_DOWNGRADE, however well signed. The
 *    callers pass the inventory's entry, which holds the factory software's counter from the first
 *    start (the booted slot's, agent/ota/policy.ts `factorySoftware`) until an update is committed;
 *    only with no counter known at all (a backend that cannot tell) is there nothing to compare.
 * 5. Staged rollout (ota/rollout.ts, on the merged `custom.rollout`): a vehicle that no stage up to
 *    the current one admits (by its VIN's bucket or its groups), or a paused rollout, is up to date
 *    with a `reason` (and the target it was not offered). A downgrade is refused before this, whatever the stage.
 *
 * The result's `custom` is the image repository's (what the software is), with the director's
 * `preconditions`, `network` and `rollout` in place of the image's where the director gives them
 * (how and when this vehicle installs it).
 */

export interface RepositoryTargets {
  /** Names the repository in error messages. */
  repository?: string;
  targets: ReadonlyMap<string, TrustedTarget>;
}

export interface InstalledSoftware {
  name?: string;
  /** Algorithm → hex of what is installed. */
  hashes?: Record<string, string>;
  releaseCounter?: number;
}

export interface ResolveUpdateOptions {
  director: RepositoryTargets;
  image: RepositoryTargets;
  hardwareId: string;
  /**
   * The release counter installed, asked with the target's name. A store that keeps one counter per
   * hardware (recommended: new versions usually have new names) ignores the name.
   */
  installedReleaseCounter?: (name: string) => number | undefined;
  /** What is installed now (its sha256 makes an update to the same image "up to date"). */
  installed?: InstalledSoftware;
  /** A director with targets, none for our hardware: refuse (default) or report up to date. */
  foreignTargets?: 'refuse' | 'up-to-date';
  /** The vehicle's VIN: its place in a staged rollout (without one, only a stage at 100 % applies). */
  vin?: string;
  /** The vehicle groups it is configured in (`vehicle.groups`): the group stages of a rollout that admit it. */
  groups?: readonly string[];
}

export type UpdateResolution =
  /** Nothing to do: no target, the target installed already, or (with `reason`) not offered to this vehicle yet. */
  | { kind: 'up-to-date'; target?: VerifiedTarget; reason?: RolloutIneligibility; detail?: string }
  | { kind: 'update'; target: VerifiedTarget };

const HEX = /^[0-9a-f]+$/;

export function resolveUpdate(options: ResolveUpdateOptions): UpdateResolution {
  const { director, image, hardwareId } = options;
  const directorName = director.repository ?? 'director';
  const imageName = image.repository ?? 'image';
  if (director.targets.size === 0) return { kind: 'up-to-date' };

  const ours: TrustedTarget[] = [];
  for (const entry of director.targets.values()) {
    if (hardwareIdsOf(entry, directorName).includes(hardwareId)) ours.push(entry);
  }
  if (ours.length === 0) {
    if (options.foreignTargets === 'up-to-date') return { kind: 'up-to-date' };
    throw new TcuError('OTA_HARDWARE_ID', `the ${directorName} repository names no target for hardware id ${JSON.stringify(hardwareId)}`, {
      details: { hardwareId, targets: [...director.targets.keys()] },
    });
  }
  if (ours.length > 1) {
    throw new TcuError('OTA_METADATA', `the ${directorName} repository names ${ours.length} targets for hardware id ${JSON.stringify(hardwareId)}`, {
      details: { hardwareId, targets: ours.map((t) => t.name) },
    });
  }
  const wanted = ours[0]!;
  const name = checkTargetName(wanted.name, `${directorName} target`);
  checkHashes(wanted, directorName);
  const directorCustom = parseTargetCustom(wanted.custom, `${directorName} target ${JSON.stringify(name)} custom`);

  const disagree = (what: string, details: Record<string, unknown> = {}): TcuError =>
    new TcuError('OTA_REPO_DISAGREE', `${directorName} and ${imageName} repositories disagree on ${JSON.stringify(name)}: ${what}`, { details: { target: name, ...details } });
  const offered = image.targets.get(name);
  if (!offered) throw disagree(`the ${imageName} repository has no such target`);
  checkHashes(offered, imageName);
  if (offered.length !== wanted.length) throw disagree('length', { director: wanted.length, image: offered.length });
  const hashes: Record<string, string> = {};
  for (const [algorithm, value] of Object.entries(wanted.hashes)) {
    const other = offered.hashes[algorithm];
    if (other === undefined) continue;
    if (other !== value) throw disagree(`${algorithm} hash`, { algorithm });
    hashes[algorithm] = value;
  }
  if (hashes['sha256'] === undefined) throw disagree('no sha256 hash in both');
  const imageCustom = parseTargetCustom(offered.custom, `${imageName} target ${JSON.stringify(name)} custom`);
  if (!imageCustom.hardwareIds.includes(hardwareId)) throw disagree(`the ${imageName} repository does not list hardware id ${JSON.stringify(hardwareId)}`, { hardwareId });
  if (directorCustom.version !== undefined && directorCustom.version !== imageCustom.version) throw disagree('version');
  if (directorCustom.releaseCounter !== undefined && directorCustom.releaseCounter !== imageCustom.releaseCounter) throw disagree('release counter');

  const target: VerifiedTarget = { name, length: offered.length, hashes, custom: merged(imageCustom, directorCustom) };
  if (options.installed?.hashes?.['sha256'] !== undefined && options.installed.hashes['sha256'].toLowerCase() === hashes['sha256']) {
    return { kind: 'up-to-date', target };
  }
  const installedCounter = options.installedReleaseCounter?.(name) ?? options.installed?.releaseCounter;
  const counter = imageCustom.releaseCounter ?? 0;
  if (installedCounter !== undefined && counter < installedCounter) {
    throw new TcuError('OTA_DOWNGRADE', `${JSON.stringify(name)} has release counter ${counter}, below the installed ${installedCounter}`, {
      details: { target: name, releaseCounter: counter, installed: installedCounter },
    });
  }
  const eligibility = rolloutEligibility(target.custom, options.vin, options.groups);
  if (!eligibility.eligible) return { kind: 'up-to-date', target, reason: eligibility.reason, detail: eligibility.detail };
  return { kind: 'update', target };
}

function hardwareIdsOf(entry: TrustedTarget, repo: string): string[] {
  const custom = entry.custom as { hardwareIds?: unknown } | undefined;
  const ids = typeof custom === 'object' && custom !== null ? custom.hardwareIds : undefined;
  if (!Array.isArray(ids) || ids.length === 0 || !ids.every((id) => typeof id === 'string')) {
    throw new TcuError('OTA_METADATA', `${repo} target ${JSON.stringify(entry.name)}: custom.hardwareIds must be a non-empty array of strings`, {
      details: { target: entry.name, field: 'custom.hardwareIds' },
    });
  }
  return ids as string[];
}

function checkHashes(entry: TrustedTarget, repo: string): void {
  for (const [algorithm, value] of Object.entries(entry.hashes)) {
    if (typeof value !== 'string' || !HEX.test(value)) {
      throw new TcuError('OTA_METADATA', `${repo} target ${JSON.stringify(entry.name)}: the ${algorithm} hash must be lowercase hex`, { details: { target: entry.name } });
    }
  }
  const sha256 = entry.hashes['sha256'];
  if (sha256 === undefined || sha256.length !== 64) {
    throw new TcuError('OTA_METADATA', `${repo} target ${JSON.stringify(entry.name)}: a sha256 hash (64 hex digits) is required`, { details: { target: entry.name } });
  }
}

function merged(image: TargetCustom, director: TargetCustom): TargetCustom {
  const out: TargetCustom = { ...image };
  if (director.preconditions) out.preconditions = director.preconditions;
  if (director.network) out.network = director.network;
  if (director.rollout) out.rollout = director.rollout;
  return out;
}
