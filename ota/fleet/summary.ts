import { isGroupStage, joinStage, rolloutBucket } from '../rollout.js';
import type { RolloutStage } from '../types.js';
import { REPORT_STATES, type OtaReport, type ReportState } from './reports.js';

/**
 * Summarising campaign reports per rollout campaign and stage, and the automatic-pause rule
 * (docs/OTA.md, "tcu-ota status"). Pure: reports in, a summary out.
 *
 * Each vehicle counts once per campaign, in the state of its latest report (highest `seq`). Its
 * stage is the one it joins at (ota/rollout.ts): by its VIN's bucket, or by the `groups` its
 * report names for a vehicle group stage. The failure rate of a stage is
 *   (failed, except cancelled, + rolled-back) / (succeeded + those failures), in percent;
 * a stage passes the threshold when at least `minVehicles` vehicles finished there and its
 * failure rate is above `thresholdPercent`.
 */

/** What the director says about a campaign (from `rolloutCampaigns`), when known. */
export interface KnownCampaign {
  campaign: string;
  stages: RolloutStage[];
  stage: number;
  paused: boolean;
  targets: string[];
}

export interface SummaryOptions {
  /** A stage passes when its failure rate is above this (percent). */
  thresholdPercent: number;
  /** Finished vehicles a stage needs before its failure rate counts. Default 1. */
  minVehicles?: number;
}

export interface StageSummary {
  /** The stage index; null: outside every stage (`outside`), or stages unknown (`all`). */
  stage: number | null;
  group: 'stage' | 'outside' | 'all';
  /** The stage's cumulative percentage (null for a group stage). */
  percent: number | null;
  /** A vehicle group stage: its groups (else null). */
  stageGroups: string[] | null;
  vehicles: number;
  states: Record<ReportState, number>;
  finished: number;
  failures: number;
  cancelled: number;
  /** failures / finished × 100, two decimals; null before anything finished. */
  failureRate: number | null;
  failureCodes: Record<string, number>;
  overThreshold: boolean;
}

export interface CampaignSummary {
  campaign: string;
  /** From the director, when known. */
  stages: RolloutStage[] | null;
  stage: number | null;
  paused: boolean | null;
  vehicles: number;
  groups: StageSummary[];
  overThreshold: boolean;
}

const CANCELLED = 'OTA_CANCELLED';

/** Keeps the latest report of each vehicle in each campaign. */
export class ReportCollector {
  private readonly latest = new Map<string, Map<string, OtaReport>>();
  private received = 0;

  constructor(private readonly known: readonly KnownCampaign[] = []) {}

  /** Adds a report; returns the rollout campaign it was counted under. */
  add(report: OtaReport): string {
    this.received++;
    const campaign = campaignOf(report, this.known);
    const vehicles = this.latest.get(campaign) ?? new Map<string, OtaReport>();
    const vin = report.vin.toUpperCase();
    const before = vehicles.get(vin);
    if (before === undefined || report.seq >= before.seq) vehicles.set(vin, report);
    this.latest.set(campaign, vehicles);
    return campaign;
  }

  get reports(): number {
    return this.received;
  }

  summarise(options: SummaryOptions): CampaignSummary[] {
    const names = new Set([...this.known.map((k) => k.campaign), ...this.latest.keys()]);
    return [...names].sort().map((name) => summariseCampaign(name, [...(this.latest.get(name)?.values() ?? [])], this.known.find((k) => k.campaign === name), options));
  }
}

/**
 * The rollout campaign a report belongs to: the one it names (`rollout.campaign`); else a known
 * campaign that its vehicle campaign id starts with (`<campaign>:`); else a known campaign with its
 * target; else the part of its campaign id before the first `:`, or the whole id.
 */
export function campaignOf(report: OtaReport, known: readonly KnownCampaign[]): string {
  if (report.rolloutCampaign !== null) return report.rolloutCampaign;
  const id = report.campaign ?? '';
  const prefix = known.find((k) => id.startsWith(`${k.campaign}:`));
  if (prefix) return prefix.campaign;
  const byTarget = report.target === null ? undefined : known.find((k) => k.targets.includes(report.target!));
  if (byTarget) return byTarget.campaign;
  const colon = id.indexOf(':');
  return colon > 0 ? id.slice(0, colon) : id || `(target ${report.target ?? '?'})`;
}

export function summariseCampaign(campaign: string, reports: readonly OtaReport[], known: KnownCampaign | undefined, options: SummaryOptions): CampaignSummary {
  const groups = new Map<string, StageSummary>();
  const groupFor = (report: OtaReport): StageSummary => {
    let key: string;
    let make: () => StageSummary;
    if (!known) {
      key = 'all';
      make = () => emptyGroup(null, 'all', null);
    } else {
      const stage = joinStage(known.stages, { bucket: rolloutBucket(campaign, report.vin), groups: report.groups ?? [] });
      key = stage === undefined ? 'outside' : String(stage);
      make = () => (stage === undefined ? emptyGroup(null, 'outside', null) : emptyGroup(stage, 'stage', known.stages[stage]!));
    }
    const g = groups.get(key) ?? make();
    groups.set(key, g);
    return g;
  };
  if (known) for (let i = 0; i <= Math.min(known.stage, known.stages.length - 1); i++) groups.set(String(i), emptyGroup(i, 'stage', known.stages[i]!));
  for (const r of reports) {
    const g = groupFor(r);
    g.vehicles++;
    g.states[r.state]++;
    if (r.state === 'succeeded') g.finished++;
    else if (r.state === 'rolled-back' || (r.state === 'failed' && r.code !== CANCELLED)) {
      g.finished++;
      g.failures++;
      const code = r.code ?? 'unknown';
      g.failureCodes[code] = (g.failureCodes[code] ?? 0) + 1;
    } else if (r.state === 'failed') g.cancelled++;
  }
  const minVehicles = options.minVehicles ?? 1;
  const ordered = [...groups.values()].sort((a, b) => (a.stage ?? Infinity) - (b.stage ?? Infinity));
  for (const g of ordered) {
    g.failureRate = g.finished === 0 ? null : Math.round((g.failures / g.finished) * 10_000) / 100;
    g.overThreshold = g.finished >= minVehicles && g.failureRate !== null && g.failureRate > options.thresholdPercent;
  }
  return {
    campaign,
    stages: known ? [...known.stages] : null,
    stage: known ? known.stage : null,
    paused: known ? known.paused : null,
    vehicles: reports.length,
    groups: ordered,
    overThreshold: ordered.some((g) => g.overThreshold),
  };
}

function emptyGroup(stage: number | null, group: StageSummary['group'], of: RolloutStage | null): StageSummary {
  const states = Object.fromEntries(REPORT_STATES.map((s) => [s, 0])) as Record<ReportState, number>;
  const percent = of === null || isGroupStage(of) ? null : of;
  const stageGroups = of !== null && isGroupStage(of) ? [...of.groups] : null;
  return { stage, group, percent, stageGroups, vehicles: 0, states, finished: 0, failures: 0, cancelled: 0, failureRate: null, failureCodes: {}, overThreshold: false };
}
