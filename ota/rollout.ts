import { createHash } from 'node:crypto';
import type { RolloutStage, TargetCustom } from './types.js';

/**
 * Staged rollouts on the vehicle side (docs/OTA.md, "Staged rollouts"). Pure.
 *
 * The director's target carries `custom.rollout = {campaign, stages, stage, paused?}`: each stage is
 * a cumulative percentage of the fleet (`10`) or a vehicle group stage (`{groups: ["pilot"]}`), e.g.
 * `[{groups: ["pilot"]}, 1, 10, 50, 100]`; `stage` is the index of the current one (absent: 0, the
 * first). Each vehicle places itself from its VIN and its configured groups alone:
 *
 *   bucket = (first 4 bytes of sha256(`${campaign}:${VIN}`) as an unsigned big-endian integer
 *             mod 10000) / 100                                  → a percentage in [0, 100)
 *
 * and takes the update, unless the rollout is paused, when some stage up to the current one
 * admits it: a percentage stage when `bucket < percent`, a group stage when one of the vehicle's
 * groups is among the stage's. The stage it joins at is the first that admits it; a vehicle in
 * no group of a group stage waits for a percentage stage. The VIN is trimmed and upper-cased
 * first; an absent campaign hashes as the empty string. A fleet tool computes the same places
 * (`tcu-ota status`), so a static director served by any web server or CDN drives the rollout,
 * and advancing it re-signs nothing but the director.
 */

/** How many buckets the fleet is cut into: a stage can be set to 0.01 % of the fleet. */
export const ROLLOUT_BUCKETS = 10_000;

/** The VIN as it is hashed: without surrounding blanks, upper case. */
export function normaliseVin(vin: string): string {
  return vin.trim().toUpperCase();
}

/** The vehicle's place in the campaign's fleet, a percentage in [0, 100) with two decimals. */
export function rolloutBucket(campaign: string, vin: string): number {
  const digest = createHash('sha256').update(`${campaign}:${normaliseVin(vin)}`, 'utf8').digest();
  return (digest.readUInt32BE(0) % ROLLOUT_BUCKETS) / 100;
}

export function isGroupStage(stage: RolloutStage): stage is { groups: string[] } {
  return typeof stage === 'object';
}

/** A stage as `tcu-ota` writes it: `10 %`, or `group:pilot` (`group:pilot+beta` for several groups). */
export function stageText(stage: RolloutStage): string {
  return isGroupStage(stage) ? `group:${stage.groups.join('+')}` : `${stage} %`;
}

/** Where a vehicle stands in a campaign: its VIN bucket (none without a VIN) and its groups. */
export interface VehiclePlace {
  bucket?: number;
  groups?: readonly string[];
}

function admits(stage: RolloutStage, place: VehiclePlace): boolean {
  if (isGroupStage(stage)) return stage.groups.some((g) => place.groups?.includes(g) === true);
  return stage >= 100 || (place.bucket !== undefined && place.bucket < stage);
}

/**
 * The first stage that admits the vehicle: the stage at which it joins. `undefined` when none does
 * (a rollout that stops short of 100 %, or group stages it is in no group of).
 */
export function joinStage(stages: readonly RolloutStage[], place: VehiclePlace): number | undefined {
  const index = stages.findIndex((stage) => admits(stage, place));
  return index < 0 ? undefined : index;
}

/** `joinStage` for a vehicle in no group: the first percentage stage above the bucket. */
export function stageOfBucket(stages: readonly RolloutStage[], bucket: number): number | undefined {
  return joinStage(stages, { bucket });
}

export type RolloutIneligibility = 'not-in-rollout-stage' | 'rollout-paused';

export type RolloutEligibility =
  | { eligible: true; bucket?: number; /** The group that admitted it, when a group stage did. */ group?: string }
  | { eligible: false; reason: RolloutIneligibility; detail: string; bucket?: number };

/**
 * Whether this vehicle takes the target now. No rollout, or a rollout without stages: eligible
 * unless paused. A paused rollout: nobody new (`rollout-paused`). Otherwise eligible when a stage
 * up to the current one admits it (`not-in-rollout-stage` when none does). Without a VIN the
 * vehicle cannot place itself among percentages: only a stage at 100 % or one of its groups
 * admits it.
 */
export function rolloutEligibility(custom: Pick<TargetCustom, 'rollout'>, vin?: string, groups: readonly string[] = []): RolloutEligibility {
  const rollout = custom.rollout;
  if (rollout === undefined) return { eligible: true };
  const campaign = rollout.campaign ?? '';
  const named = campaign === '' ? 'the rollout' : `rollout ${JSON.stringify(campaign)}`;
  if (rollout.paused === true) return { eligible: false, reason: 'rollout-paused', detail: `${named} is paused` };
  const stages = rollout.stages;
  if (stages === undefined || stages.length === 0) return { eligible: true };
  const index = Math.min(Math.max(0, rollout.stage ?? 0), stages.length - 1);
  const reached = stages.slice(0, index + 1);
  const hasVin = vin !== undefined && normaliseVin(vin) !== '';
  const bucket = hasVin ? rolloutBucket(campaign, vin) : undefined;
  const place: VehiclePlace = { groups, ...(bucket === undefined ? {} : { bucket }) };
  const joined = joinStage(reached, place);
  const withBucket = bucket === undefined ? {} : { bucket };
  if (joined !== undefined) {
    const stage = reached[joined]!;
    return { eligible: true, ...withBucket, ...(isGroupStage(stage) ? { group: stage.groups.find((g) => groups.includes(g))! } : {}) };
  }
  const percent = Math.max(0, ...reached.filter((s): s is number => !isGroupStage(s)));
  const stageGroups = [...new Set(reached.filter(isGroupStage).flatMap((s) => s.groups))];
  const no = (detail: string): RolloutEligibility => ({ eligible: false, reason: 'not-in-rollout-stage', detail, ...withBucket });
  if (stageGroups.length === 0) {
    if (bucket === undefined) return no(`${named} is at ${percent} % (stage ${index}) and this vehicle has no VIN to place itself`);
    return no(`${named} is at ${percent} % (stage ${index}); this vehicle is at ${bucket.toFixed(2)} %`);
  }
  const reach = `groups ${stageGroups.join(', ')}${percent > 0 ? ` and ${percent} % of the fleet` : ''}`;
  const where = percent === 0 ? '' : bucket === undefined ? ' and has no VIN to place itself' : ` and at ${bucket.toFixed(2)} %`;
  return no(`${named} is at stage ${index} (${reach}); this vehicle is in none of those groups${where}`);
}
