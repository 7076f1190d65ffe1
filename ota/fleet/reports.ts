import { TcuError } from '../../core/errors.js';
import { CAMPAIGN_STATES, type CampaignStateName } from '../campaign/states.js';

/**
 * Campaign reports as the fleet reads them (docs/OTA.md, "Reports"): what the vehicle's
 * CampaignRunner reports at each state (`ReportDetails`, ota/campaign/store.ts) plus `state` and
 * `vin`, one JSON object per MQTT message on `<prefix>/<vin>/ota`, or one per line in a file.
 * Pure: parsing and validation only.
 */

export type ReportState = Exclude<CampaignStateName, 'idle'>;
export const REPORT_STATES: readonly ReportState[] = CAMPAIGN_STATES.filter((s): s is ReportState => s !== 'idle');

/** The fields of a report the fleet uses; the rest of the payload is kept in `raw`. */
export interface OtaReport {
  vin: string;
  state: ReportState;
  /** The vehicle's transition number (increasing per vehicle): the latest report wins. */
  seq: number;
  /** The vehicle's campaign id (`<rollout campaign>:<target>:<time>` when started by the runner). */
  campaign: string | null;
  target: string | null;
  /** The rollout campaign, when the vehicle says it (`rollout.campaign`). */
  rolloutCampaign: string | null;
  /** failed, rolled-back (and deferrals): why. */
  code: string | null;
  at: string | null;
  /** The vehicle groups the vehicle says it is in (`groups`, optional): its place in group stages. */
  groups?: string[];
  raw: Record<string, unknown>;
}

/** Reads one report. `topicVin`: the VIN the topic names (it wins over the payload's). OTA_METADATA when malformed. */
export function parseReport(value: unknown, topicVin?: string): OtaReport {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('a report is a JSON object');
  const o = value as Record<string, unknown>;
  const vin = topicVin ?? o['vin'];
  if (typeof vin !== 'string' || vin.trim() === '') throw bad('vin must be a non-empty string');
  const state = o['state'];
  if (typeof state !== 'string' || !(REPORT_STATES as readonly string[]).includes(state)) throw bad(`state must be one of ${REPORT_STATES.join(', ')}`);
  const seq = o['seq'];
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) throw bad('seq must be an integer ≥ 0');
  const campaign = optionalString(o, 'campaign');
  const target = optionalString(o, 'target');
  if (campaign === null && target === null) throw bad('a report names its campaign or its target');
  const rollout = o['rollout'];
  let rolloutCampaign: string | null = null;
  if (rollout !== undefined && rollout !== null) {
    if (typeof rollout !== 'object' || Array.isArray(rollout)) throw bad('rollout must be an object');
    rolloutCampaign = optionalString(rollout as Record<string, unknown>, 'campaign', 'rollout.campaign');
  }
  const groups = o['groups'];
  if (groups !== undefined && groups !== null && (!Array.isArray(groups) || !groups.every((g) => typeof g === 'string'))) throw bad('groups must be an array of strings');
  return {
    vin: vin.trim(),
    state: state as ReportState,
    seq,
    campaign,
    target,
    rolloutCampaign,
    code: optionalString(o, 'code'),
    at: optionalString(o, 'at'),
    ...(Array.isArray(groups) ? { groups: [...(groups as string[])] } : {}),
    raw: o,
  };
}

/** A report's JSON text (a line of a file, an MQTT payload). OTA_METADATA when not JSON or malformed. */
export function parseReportJson(text: string, topicVin?: string): OtaReport {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  return parseReport(value, topicVin);
}

export interface ReportLine {
  line: number;
  report?: OtaReport;
  error?: string;
}

/** A file of JSON lines, one report per line (blank lines skipped); bad lines come back with their error. */
export function parseReportLines(text: string): ReportLine[] {
  const out: ReportLine[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    try {
      out.push({ line: i + 1, report: parseReportJson(line) });
    } catch (err) {
      out.push({ line: i + 1, error: err instanceof Error ? err.message : String(err) });
    }
  });
  return out;
}

/** `<prefix>/<vin>/ota` → the VIN; undefined for any other topic. */
export function vinFromTopic(prefix: string, topic: string): string | undefined {
  const head = `${prefix.replace(/\/+$/, '')}/`;
  if (!topic.startsWith(head) || !topic.endsWith('/ota')) return undefined;
  const vin = topic.slice(head.length, -'/ota'.length);
  return vin === '' || vin.includes('/') ? undefined : vin;
}

function optionalString(o: Record<string, unknown>, key: string, field = key): string | null {
  const v = o[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw bad(`${field} must be a string`);
  return v;
}

function bad(message: string): TcuError {
  return new TcuError('OTA_METADATA', `malformed report: ${message}`);
}
