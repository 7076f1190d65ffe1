import { describe, expect, it } from 'vitest';
import { TcuError } from '../../../core/errors.js';
import { createRollout, parseStages, rolloutCampaign } from '../../../ota/fleet/rollout-state.js';
import { ReportCollector, type KnownCampaign } from '../../../ota/fleet/summary.js';
import { formatSummaries } from '../../../ota/fleet/summary-text.js';
import { parseReport, type OtaReport } from '../../../ota/fleet/reports.js';
import { RepositoryBuilder, targetFileFor } from '../../../ota/repo/index.js';
import { joinStage, rolloutBucket, rolloutEligibility, stageOfBucket, stageText } from '../../../ota/rollout.js';
import { parseTargetCustom } from '../../../ota/target-custom.js';
import type { TrustedTarget } from '../../../ota/tuf/index.js';
import type { RolloutStage, TargetCustom } from '../../../ota/types.js';
import { resolveUpdate } from '../../../ota/uptane.js';
import { DAY, testKey } from '../../helpers/ota-repos.js';

/** Vehicle group stages: `{groups: [...]}` among the percentages of `custom.rollout.stages`. */

const vins = (n: number): string[] => Array.from({ length: n }, (_, i) => `WVWZZZ1KZPW${String(i).padStart(6, '0')}`);
const ALL = vins(3000);
const between = (lo: number, hi: number): string => ALL.find((v) => rolloutBucket('c1', v) >= lo && rolloutBucket('c1', v) < hi)!;
const LOW = between(0, 1); // in the first percent
const MID = between(20, 50);
const HIGH = between(60, 100);
const STAGES: RolloutStage[] = [{ groups: ['pilot'] }, 10, { groups: ['fleet-b', 'fleet-c'] }, 50, 100];
const rollout = (stage: number, extra: Partial<NonNullable<TargetCustom['rollout']>> = {}) => ({ rollout: { campaign: 'c1', stages: STAGES, stage, ...extra } });

const fails = (fn: () => unknown): TcuError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof TcuError) return err;
    throw err;
  }
  throw new Error('did not throw');
};

describe('rolloutEligibility with vehicle groups', () => {
  it('a group stage admits the vehicles in one of its groups, whatever their VIN, and no other', () => {
    expect(rolloutEligibility(rollout(0), HIGH, ['pilot'])).toEqual({ eligible: true, bucket: rolloutBucket('c1', HIGH), group: 'pilot' });
    expect(rolloutEligibility(rollout(0), undefined, ['other', 'pilot'])).toEqual({ eligible: true, group: 'pilot' });
    // Not in the group: it waits for a percentage stage, even with a VIN in the first percent.
    const out = rolloutEligibility(rollout(0), LOW, ['fleet-b']);
    expect(out).toMatchObject({ eligible: false, reason: 'not-in-rollout-stage' });
    expect(out.eligible === false && out.detail).toBe('rollout "c1" is at stage 0 (groups pilot); this vehicle is in none of those groups');
    expect(rolloutEligibility(rollout(0), LOW).eligible).toBe(false);
    // Group names match exactly.
    expect(rolloutEligibility(rollout(0), LOW, ['Pilot']).eligible).toBe(false);
  });

  it('stages stay cumulative: later stages keep the earlier groups and add their percentages and groups', () => {
    const at = (stage: number, vin: string | undefined, groups: string[] = []) => rolloutEligibility(rollout(stage), vin, groups).eligible;
    expect([0, 1, 2, 3, 4].map((s) => at(s, HIGH, ['pilot']))).toEqual([true, true, true, true, true]);
    expect([0, 1, 2, 3, 4].map((s) => at(s, LOW))).toEqual([false, true, true, true, true]);
    expect([0, 1, 2, 3, 4].map((s) => at(s, HIGH, ['fleet-c']))).toEqual([false, false, true, true, true]);
    expect([0, 1, 2, 3, 4].map((s) => at(s, MID))).toEqual([false, false, false, true, true]);
    expect([0, 1, 2, 3, 4].map((s) => at(s, HIGH))).toEqual([false, false, false, false, true]);
    expect([0, 1, 2, 3, 4].map((s) => at(s, undefined))).toEqual([false, false, false, false, true]); // no VIN: 100 % only
    const detail = rolloutEligibility(rollout(2), HIGH, ['x']);
    expect(detail.eligible === false && detail.detail).toBe(`rollout "c1" is at stage 2 (groups pilot, fleet-b, fleet-c and 10 % of the fleet); this vehicle is in none of those groups and at ${rolloutBucket('c1', HIGH).toFixed(2)} %`);
    const noVin = rolloutEligibility(rollout(1), undefined, []);
    expect(noVin.eligible === false && noVin.detail).toMatch(/is in none of those groups and has no VIN to place itself$/);
  });

  it('paused: nobody, group or not; percentage-only rollouts keep their wording', () => {
    expect(rolloutEligibility(rollout(4, { paused: true }), LOW, ['pilot'])).toMatchObject({ eligible: false, reason: 'rollout-paused' });
    const plain = rolloutEligibility({ rollout: { campaign: 'c1', stages: [1, 100], stage: 0 } }, HIGH, ['pilot']);
    expect(plain.eligible === false && plain.detail).toBe(`rollout "c1" is at 1 % (stage 0); this vehicle is at ${rolloutBucket('c1', HIGH).toFixed(2)} %`);
  });

  it('joinStage: the first stage that admits the vehicle', () => {
    expect(joinStage(STAGES, { bucket: rolloutBucket('c1', HIGH), groups: ['fleet-b'] })).toBe(2);
    expect(joinStage(STAGES, { bucket: rolloutBucket('c1', LOW), groups: ['fleet-b'] })).toBe(1);
    expect(joinStage(STAGES, { bucket: rolloutBucket('c1', LOW), groups: ['pilot'] })).toBe(0);
    expect(joinStage([{ groups: ['pilot'] }, 20], { bucket: 30 })).toBeUndefined();
    expect(joinStage([{ groups: ['pilot'] }, 20], {})).toBeUndefined();
    expect(joinStage([{ groups: ['pilot'] }, 100], {})).toBe(1);
    expect(stageOfBucket(STAGES, 5)).toBe(1);
    expect(STAGES.map(stageText)).toEqual(['group:pilot', '10 %', 'group:fleet-b+fleet-c', '50 %', '100 %']);
  });
});

describe('the wire format and the command line', () => {
  it('parseTargetCustom reads group stages (only their groups) and checks percentages among themselves', () => {
    const custom = parseTargetCustom({ hardwareIds: ['a'], rollout: { campaign: 'c', stages: [{ groups: ['pilot'], note: 'x' }, 5, { groups: ['b'] }, 5, 100], stage: 4 } });
    expect(custom.rollout).toEqual({ campaign: 'c', stages: [{ groups: ['pilot'] }, 5, { groups: ['b'] }, 5, 100], stage: 4 });
    for (const [field, stages] of [
      ['custom.rollout.stages[0].groups', [{ groups: [] }]],
      ['custom.rollout.stages[0].groups', [{}]],
      ['custom.rollout.stages[1].groups[0]', [10, { groups: [''] }]],
      ['custom.rollout.stages[2]', [10, { groups: ['a'] }, 5]],
      ['custom.rollout.stages[0]', [[10]]],
      ['custom.rollout.stages[0]', ['group:pilot']],
    ] as const) {
      const err = fails(() => parseTargetCustom({ hardwareIds: ['a'], rollout: { stages } }));
      expect([err.code, err.details['field']], JSON.stringify(stages)).toEqual(['OTA_METADATA', field]);
    }
  });

  it('--stages: group:NAME and group:A+B among whole cumulative percentages', () => {
    expect(parseStages('group:pilot, 1,group:fleet-b+fleet-c,50,100')).toEqual([{ groups: ['pilot'] }, 1, { groups: ['fleet-b', 'fleet-c'] }, 50, 100]);
    expect(parseStages('group:pilot')).toEqual([{ groups: ['pilot'] }]);
    for (const bad of ['group:', 'group:a+', 'group:-x', 'group:a b', 'group:a+a', 'group:a:b', '10,group:p,5', 'groups:p']) expect(fails(() => parseStages(bad)).code, bad).toBe('CLI_USAGE');
  });

  it('rollout create writes group stages into the director, as the vehicles parse them', () => {
    const spec = { keys: [testKey(90).publicKey()], threshold: 1 };
    const expires = new Date(Date.now() + 30 * DAY);
    const make = () => RepositoryBuilder.create({ roles: { root: spec, targets: spec, snapshot: spec, timestamp: spec }, expires: { root: expires, targets: expires, snapshot: expires, timestamp: expires } });
    const image = make();
    image.addTarget('a.bin', Buffer.from('a'), { hardwareIds: ['hw'] });
    const director = make();
    createRollout(director, image, { campaign: 'c1', stages: parseStages('group:pilot,10,100'), targets: ['a.bin'] });
    expect(director.targets.signed.targets['a.bin']!.custom['rollout']).toEqual({ campaign: 'c1', stages: [{ groups: ['pilot'] }, 10, 100], stage: 0 });
    expect(rolloutCampaign(director, 'c1')).toMatchObject({ stages: [{ groups: ['pilot'] }, 10, 100], stage: 0 });
  });
});

describe('resolveUpdate with groups', () => {
  const NAME = 'tcu/app-2.0.tar';
  const entry = (custom: unknown): TrustedTarget => {
    const f = targetFileFor(NAME, Buffer.from('image 2.0'), custom);
    return { name: NAME, length: f.length, hashes: { ...f.hashes }, custom };
  };
  const image = { targets: new Map([[NAME, entry({ hardwareIds: ['tcu-a'], releaseCounter: 2 })]]) };
  const director = { targets: new Map([[NAME, entry({ hardwareIds: ['tcu-a'], rollout: { campaign: 'c1', stages: [{ groups: ['pilot'] }, 100], stage: 0 } })]]) };

  it('offers the update to a vehicle in the group; one outside is up to date with the reason', () => {
    expect(resolveUpdate({ director, image, hardwareId: 'tcu-a', vin: HIGH, groups: ['pilot'] })).toMatchObject({ kind: 'update', target: { name: NAME } });
    expect(resolveUpdate({ director, image, hardwareId: 'tcu-a', vin: LOW, groups: [] })).toMatchObject({ kind: 'up-to-date', reason: 'not-in-rollout-stage', target: { name: NAME } });
    expect(resolveUpdate({ director, image, hardwareId: 'tcu-a', vin: LOW })).toMatchObject({ kind: 'up-to-date', reason: 'not-in-rollout-stage' });
  });

  it('a downgrade is refused before the group is looked at', () => {
    expect(() => resolveUpdate({ director, image, hardwareId: 'tcu-a', groups: ['pilot'], installedReleaseCounter: () => 3 })).toThrow(expect.objectContaining({ code: 'OTA_DOWNGRADE' }) as Error);
  });
});

describe('tcu-ota status with group stages', () => {
  const known: KnownCampaign = { campaign: 'c1', stages: [{ groups: ['pilot'] }, 10, 100], stage: 1, paused: false, targets: ['t'] };
  let seq = 0;
  const report = (vin: string, state: OtaReport['state'], groups?: string[]): OtaReport => ({
    vin,
    state,
    seq: ++seq,
    campaign: `c1:t:${seq}`,
    target: 't',
    rolloutCampaign: null,
    code: state === 'failed' ? 'OTA_INSTALL' : null,
    at: null,
    ...(groups === undefined ? {} : { groups }),
    raw: {},
  });

  it('reports carry the vehicle groups; a malformed groups field is refused', () => {
    const base = { vin: 'V1', state: 'succeeded', seq: 1, target: 't' };
    expect(parseReport({ ...base, groups: ['pilot'] }).groups).toEqual(['pilot']);
    expect(parseReport(base).groups).toBeUndefined();
    expect(() => parseReport({ ...base, groups: 'pilot' })).toThrow(/groups must be an array of strings/);
  });

  it('places each vehicle in the stage it joins at: a group stage by the groups its report names, else by its VIN', () => {
    const col = new ReportCollector([known]);
    col.add(report(HIGH, 'succeeded', ['pilot']));
    col.add(report(MID, 'failed', ['pilot', 'x']));
    col.add(report(LOW, 'succeeded', ['other'])); // bucket < 10: stage 1
    col.add(report(LOW.replace('W', 'X'), 'succeeded')); // another VIN, placed by its bucket
    col.add(report(HIGH.replace('W', 'Y'), 'failed'));
    const [s] = col.summarise({ thresholdPercent: 40 });
    const byStage = Object.fromEntries(s!.groups.map((g) => [String(g.stage), g]));
    expect(byStage['0']).toMatchObject({ group: 'stage', percent: null, stageGroups: ['pilot'], vehicles: 2, failures: 1, failureRate: 50, overThreshold: true });
    expect(byStage['1']).toMatchObject({ percent: 10, stageGroups: null });
    expect(s!.groups.reduce((n, g) => n + g.vehicles, 0)).toBe(5);
    const text = formatSummaries([s!], 40);
    expect(text).toMatch(/^campaign c1: stages group:pilot, 10 %, 100 %, at stage 1 \(10 %\); 5 vehicles reported$/m);
    expect(text).toMatch(/^ {2}stage 0 \(groups pilot\): 2 vehicles \(succeeded 1, failed 1\); failures: OTA_INSTALL 1; failure rate 50 % OVER THE 40 % THRESHOLD$/m);
    expect(text).toMatch(/^ {2}stage 1 \(up to 10 %\): /m);
  });
});
