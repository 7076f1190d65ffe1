import { createHash } from 'node:crypto';
import type { TargetCustom } from './types.js';

/**
 * Staged rollouts on the vehicle side (docs/OTA.md, "Staged rollouts"). Pure.
 *
 * The director's target carries `custom.rollout = {campaign, stages, stage, paused?}`: `stages` are
 * cumulative percentages of the fleet (`[1, 10, 50, 100]`), `stage` the index of the current one
 * (absent: 0, the first). Each vehicle places itself in the fleet from its VIN alone:
 *
 *   bucket = (first 4 bytes of sha256(`${campaign}:${VIN}`) as an unsigned big-endian integer
 *             mod 10000) / 100                                  → a percentage in [0, 100)
 *
 * and takes the update only when `bucket < stages[stage]` and the rollout is not paused. The VIN is
 * trimmed and upper-cased first; an absent campaign hashes as the empty string. A fleet tool
 * computes the same bucket (`tcu-ota status`), so a static director served by any web server or
 * CDN drives the rollout, and advancing it re-signs nothing but the director.
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

/**
 * The first stage whose cumulative percentage is above the bucket: the stage at which the vehicle
 * joins. `undefined` when the bucket lies beyond the last stage (a rollout that stops short of 100 %).
 */
export function stageOfBucket(stages: readonly number[], bucket: number): number | undefined {
  const index = stages.findIndex((percent) => bucket < percent);
  return index < 0 ? undefined : index;
}

export type RolloutIneligibility = 'not-in-rollout-stage' | 'rollout-paused';

export type RolloutEligibility =
  | { eligible: true; bucket?: number }
  | { eligible: false; reason: RolloutIneligibility; detail: string; bucket?: number };

/**
 * Whether this vehicle takes the target now. No rollout, or a rollout without stages: eligible
 * unless paused. A paused rollout: nobody new (`rollout-paused`). Otherwise eligible when the
 * VIN's bucket is below the current stage's percentage (`not-in-rollout-stage` when not). Without
 * a VIN the vehicle cannot place itself: eligible only once the current stage reaches 100 %.
 */
export function rolloutEligibility(custom: Pick<TargetCustom, 'rollout'>, vin?: string): RolloutEligibility {
  const rollout = custom.rollout;
  if (rollout === undefined) return { eligible: true };
  const campaign = rollout.campaign ?? '';
  const named = campaign === '' ? 'the rollout' : `rollout ${JSON.stringify(campaign)}`;
  if (rollout.paused === true) return { eligible: false, reason: 'rollout-paused', detail: `${named} is paused` };
  const stages = rollout.stages;
  if (stages === undefined || stages.length === 0) return { eligible: true };
  const index = Math.min(Math.max(0, rollout.stage ?? 0), stages.length - 1);
  const percent = stages[index]!;
  if (vin === undefined || normaliseVin(vin) === '') {
    if (percent >= 100) return { eligible: true };
    return { eligible: false, reason: 'not-in-rollout-stage', detail: `${named} is at ${percent} % (stage ${index}) and this vehicle has no VIN to place itself` };
  }
  const bucket = rolloutBucket(campaign, vin);
  if (bucket < percent) return { eligible: true, bucket };
  return { eligible: false, reason: 'not-in-rollout-stage', detail: `${named} is at ${percent} % (stage ${index}); this vehicle is at ${bucket.toFixed(2)} %`, bucket };
}
