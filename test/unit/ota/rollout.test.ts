import { describe, expect, it } from 'vitest';
import { TcuError } from '../../../core/errors.js';
import { targetFileFor } from '../../../ota/repo/index.js';
import { ROLLOUT_BUCKETS, normaliseVin, rolloutBucket, rolloutEligibility, stageOfBucket } from '../../../ota/rollout.js';
import { parseTargetCustom } from '../../../ota/target-custom.js';
import type { TrustedTarget } from '../../../ota/tuf/index.js';
import type { TargetCustom } from '../../../ota/types.js';
import { resolveUpdate } from '../../../ota/uptane.js';

/** The vehicle side of staged rollouts: the VIN bucket, the eligibility rule, and resolveUpdate with a VIN. */

const vins = (n: number, prefix = 'WVWZZZ1KZPW'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(6, '0')}`);

describe('rolloutBucket', () => {
  it('is (first 4 bytes of sha256("<campaign>:<VIN>") mod 10000) / 100', () => {
    // printf 'C-2024-07:WVWZZZ1KZPW000001' | sha256sum → 750d924c…; 0x750d924c mod 10000 = 3692
    expect(rolloutBucket('C-2024-07', 'WVWZZZ1KZPW000001')).toBe(36.92);
    expect(ROLLOUT_BUCKETS).toBe(10_000);
  });

  it('is stable per VIN, ignoring case and surrounding blanks, and differs between campaigns', () => {
    const vin = 'WVWZZZ1KZPW000042';
    expect(rolloutBucket('c1', vin)).toBe(rolloutBucket('c1', vin));
    expect(rolloutBucket('c1', ` ${vin.toLowerCase()}\n`)).toBe(rolloutBucket('c1', vin));
    expect(normaliseVin(' wvw1 ')).toBe('WVW1');
    const a = vins(1000).map((v) => rolloutBucket('c1', v));
    const b = vins(1000).map((v) => rolloutBucket('c2', v));
    expect(a.filter((x, i) => x === b[i]!).length).toBeLessThan(5);
  });

  it('spreads 10,000 VINs roughly uniformly over [0, 100)', () => {
    const buckets = vins(10_000).map((v) => rolloutBucket('C-2024-07', v));
    expect(Math.min(...buckets)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...buckets)).toBeLessThan(100);
    for (const b of buckets) expect(Math.abs(b * 100 - Math.round(b * 100))).toBeLessThan(1e-9); // two decimals
    // Ten deciles of ~1000 each (binomial sd ≈ 30: ±150 is five sd); chi-square with 9 degrees of freedom.
    const deciles = Array.from({ length: 10 }, (_, d) => buckets.filter((b) => b >= d * 10 && b < (d + 1) * 10).length);
    for (const n of deciles) {
      expect(n).toBeGreaterThan(850);
      expect(n).toBeLessThan(1150);
    }
    const chi2 = deciles.reduce((s, n) => s + (n - 1000) ** 2 / 1000, 0);
    expect(chi2).toBeLessThan(27.9); // p = 0.001
    // The first percent holds about 100 vehicles (sd ≈ 10).
    const first = buckets.filter((b) => b < 1).length;
    expect(first).toBeGreaterThan(60);
    expect(first).toBeLessThan(140);
    // Cumulative stages take their share.
    for (const [percent, expected, tolerance] of [[10, 1000, 150], [50, 5000, 250], [100, 10_000, 0]] as const) {
      expect(Math.abs(buckets.filter((b) => b < percent).length - expected)).toBeLessThanOrEqual(tolerance);
    }
  });
});

describe('stageOfBucket', () => {
  it('is the first stage whose cumulative percentage is above the bucket', () => {
    const stages = [1, 10, 50, 100];
    expect(stageOfBucket(stages, 0)).toBe(0);
    expect(stageOfBucket(stages, 0.99)).toBe(0);
    expect(stageOfBucket(stages, 1)).toBe(1);
    expect(stageOfBucket(stages, 49.99)).toBe(2);
    expect(stageOfBucket(stages, 99.99)).toBe(3);
    expect(stageOfBucket([5, 20], 20)).toBeUndefined(); // a rollout that stops short of 100 %
    expect(stageOfBucket([10, 10, 30], 15)).toBe(2);
  });
});

describe('rolloutEligibility', () => {
  const stages = [1, 10, 50, 100];
  const rollout = (r: NonNullable<TargetCustom['rollout']>) => ({ rollout: r });

  it('no rollout, or a rollout without stages: every vehicle, with or without a VIN', () => {
    expect(rolloutEligibility({}, 'X')).toEqual({ eligible: true });
    expect(rolloutEligibility(rollout({ campaign: 'c1' }))).toEqual({ eligible: true });
  });

  it('stages are cumulative: a vehicle once eligible stays eligible at every later stage', () => {
    const all = vins(2000);
    let previous = new Set<string>();
    for (let stage = 0; stage < stages.length; stage++) {
      const eligible = new Set(all.filter((v) => rolloutEligibility(rollout({ campaign: 'c1', stages, stage }), v).eligible));
      for (const v of previous) expect(eligible.has(v)).toBe(true);
      // Each vehicle is eligible exactly when its bucket is below the stage's percentage.
      for (const v of all.slice(0, 300)) expect(eligible.has(v)).toBe(rolloutBucket('c1', v) < stages[stage]!);
      previous = eligible;
    }
    expect(previous.size).toBe(all.length);
  });

  it('a vehicle outside the stage: not-in-rollout-stage, naming the stage and its bucket', () => {
    const outside = vins(500).find((v) => rolloutBucket('c1', v) >= 1)!;
    const r = rolloutEligibility(rollout({ campaign: 'c1', stages, stage: 0 }), outside);
    expect(r).toMatchObject({ eligible: false, reason: 'not-in-rollout-stage', bucket: rolloutBucket('c1', outside) });
    expect(r.eligible === false && r.detail).toMatch(/"c1" is at 1 % \(stage 0\); this vehicle is at \d+\.\d\d %/);
  });

  it('an absent stage is stage 0', () => {
    const inFirst = vins(2000).find((v) => rolloutBucket('c1', v) < 1)!;
    const inSecond = vins(2000).find((v) => rolloutBucket('c1', v) >= 1 && rolloutBucket('c1', v) < 10)!;
    expect(rolloutEligibility(rollout({ campaign: 'c1', stages }), inFirst).eligible).toBe(true);
    expect(rolloutEligibility(rollout({ campaign: 'c1', stages }), inSecond).eligible).toBe(false);
  });

  it('paused: nobody, whatever the stage', () => {
    const r = rolloutEligibility(rollout({ campaign: 'c1', stages, stage: 3, paused: true }), 'WVWZZZ1KZPW000001');
    expect(r).toMatchObject({ eligible: false, reason: 'rollout-paused' });
    expect(rolloutEligibility(rollout({ campaign: 'c1', paused: true })).eligible).toBe(false);
  });

  it('without a VIN a vehicle cannot place itself: eligible only at 100 %', () => {
    expect(rolloutEligibility(rollout({ campaign: 'c1', stages, stage: 2 }))).toMatchObject({ eligible: false, reason: 'not-in-rollout-stage' });
    expect(rolloutEligibility(rollout({ campaign: 'c1', stages, stage: 2 }), '  ')).toMatchObject({ eligible: false });
    expect(rolloutEligibility(rollout({ campaign: 'c1', stages, stage: 3 })).eligible).toBe(true);
  });
});

describe('parseTargetCustom: rollout stage and paused', () => {
  it('reads stage and paused', () => {
    expect(parseTargetCustom({ hardwareIds: ['a'], rollout: { campaign: 'c', stages: [1, 100], stage: 1, paused: true } }).rollout).toEqual({ campaign: 'c', stages: [1, 100], stage: 1, paused: true });
  });

  for (const [field, rollout] of [
    ['custom.rollout.stage', { stages: [1, 100], stage: 2 }],
    ['custom.rollout.stage', { stages: [1, 100], stage: -1 }],
    ['custom.rollout.stage', { stages: [1, 100], stage: 0.5 }],
    ['custom.rollout.stage', { stage: 0 }],
    ['custom.rollout.paused', { stages: [100], paused: 'yes' }],
  ] as const) {
    it(`refuses ${JSON.stringify(rollout)} naming ${field}`, () => {
      let err: unknown;
      try {
        parseTargetCustom({ hardwareIds: ['a'], rollout });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(TcuError);
      expect((err as TcuError).code).toBe('OTA_METADATA');
      expect((err as TcuError).details['field']).toBe(field);
    });
  }
});

describe('resolveUpdate with a VIN', () => {
  const NAME = 'tcu/app-2.0.tar';
  const BYTES = Buffer.from('application image 2.0');
  const entry = (custom: unknown): TrustedTarget => {
    const f = targetFileFor(NAME, BYTES, custom);
    return { name: NAME, length: f.length, hashes: { ...f.hashes }, custom };
  };
  const image = { targets: new Map([[NAME, entry({ hardwareIds: ['tcu-a'], version: '2.0', releaseCounter: 2 })]]) };
  const director = (rollout: unknown) => ({ targets: new Map([[NAME, entry({ hardwareIds: ['tcu-a'], rollout })]]) });
  const inFirst = vins(2000).find((v) => rolloutBucket('c1', v) < 1)!;
  const outside = vins(2000).find((v) => rolloutBucket('c1', v) >= 10)!;

  it('offers the update to a VIN in the stage, and reports up to date with the reason to one outside', () => {
    const d = director({ campaign: 'c1', stages: [1, 10, 100], stage: 0 });
    expect(resolveUpdate({ director: d, image, hardwareId: 'tcu-a', vin: inFirst })).toMatchObject({ kind: 'update', target: { name: NAME } });
    const out = resolveUpdate({ director: d, image, hardwareId: 'tcu-a', vin: outside });
    expect(out).toMatchObject({ kind: 'up-to-date', reason: 'not-in-rollout-stage', target: { name: NAME, custom: { rollout: { campaign: 'c1', stage: 0 } } } });
    // At 100 % the same vehicle takes it.
    expect(resolveUpdate({ director: director({ campaign: 'c1', stages: [1, 10, 100], stage: 2 }), image, hardwareId: 'tcu-a', vin: outside }).kind).toBe('update');
  });

  it('paused: up to date with rollout-paused, even in the stage', () => {
    const d = director({ campaign: 'c1', stages: [1, 10, 100], stage: 0, paused: true });
    expect(resolveUpdate({ director: d, image, hardwareId: 'tcu-a', vin: inFirst })).toMatchObject({ kind: 'up-to-date', reason: 'rollout-paused' });
  });

  it('checks the repositories before the rollout: a disagreement or a downgrade is refused whatever the stage', () => {
    const d = director({ campaign: 'c1', stages: [1, 100], stage: 0 });
    expect(() => resolveUpdate({ director: d, image, hardwareId: 'tcu-a', vin: outside, installedReleaseCounter: () => 5 })).toThrow(expect.objectContaining({ code: 'OTA_DOWNGRADE' }) as Error);
    const other = { targets: new Map([[NAME, { ...entry({ hardwareIds: ['tcu-a'], rollout: { campaign: 'c1', stages: [1, 100] } }), length: 1 }]]) };
    expect(() => resolveUpdate({ director: other, image, hardwareId: 'tcu-a', vin: outside })).toThrow(expect.objectContaining({ code: 'OTA_REPO_DISAGREE' }) as Error);
  });

  it('an installed target is up to date without a reason', () => {
    const d = director({ campaign: 'c1', stages: [1, 100], stage: 0 });
    const sha256 = image.targets.get(NAME)!.hashes['sha256']!;
    expect(resolveUpdate({ director: d, image, hardwareId: 'tcu-a', vin: outside, installed: { hashes: { sha256 } } })).toEqual(expect.not.objectContaining({ reason: expect.anything() as unknown }));
  });
});
