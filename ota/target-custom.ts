import { TcuError } from '../core/errors.js';
import type { RolloutStage, TargetCustom } from './types.js';

/**
 * Reads a target's `custom` object (signed metadata, but written by people and tools we do not
 * control) into a `TargetCustom`. Every field is checked for its type and range; a wrong one is
 * refused with OTA_METADATA naming the field (`custom.preconditions.minSocPercent`). Unknown fields
 * are ignored (the wire format may grow), and only known fields are copied into the result.
 * The fields and their meaning are documented in docs/OTA.md, "Target custom fields".
 */
export function parseTargetCustom(raw: unknown, where = 'custom'): TargetCustom {
  const o = object(raw, where, true)!;
  const out: TargetCustom = { hardwareIds: stringArray(o['hardwareIds'], `${where}.hardwareIds`, true, true)! };
  setIf(out, 'version', str(o['version'], `${where}.version`));
  setIf(out, 'releaseCounter', integer(o['releaseCounter'], `${where}.releaseCounter`, 0, Number.MAX_SAFE_INTEGER));
  setIf(out, 'rxswin', stringArray(o['rxswin'], `${where}.rxswin`, false, false));

  const ui = object(o['userInfo'], `${where}.userInfo`, false);
  if (ui) {
    const p = `${where}.userInfo`;
    const userInfo: NonNullable<TargetCustom['userInfo']> = {};
    setIf(userInfo, 'purpose', str(ui['purpose'], `${p}.purpose`));
    setIf(userInfo, 'changes', str(ui['changes'], `${p}.changes`));
    setIf(userInfo, 'durationSeconds', integer(ui['durationSeconds'], `${p}.durationSeconds`, 0, 7 * 24 * 3600));
    setIf(userInfo, 'unavailableFunctions', stringArray(ui['unavailableFunctions'], `${p}.unavailableFunctions`, false, false));
    out.userInfo = userInfo;
  }

  const pre = object(o['preconditions'], `${where}.preconditions`, false);
  if (pre) {
    const p = `${where}.preconditions`;
    const preconditions: NonNullable<TargetCustom['preconditions']> = {};
    setIf(preconditions, 'minSocPercent', integer(pre['minSocPercent'], `${p}.minSocPercent`, 0, 100));
    for (const k of ['parked', 'ignitionOff', 'consentRequired', 'workshopOnly'] as const) setIf(preconditions, k, bool(pre[k], `${p}.${k}`));
    out.preconditions = preconditions;
  }

  const net = object(o['network'], `${where}.network`, false);
  if (net) {
    const p = `${where}.network`;
    const network: NonNullable<TargetCustom['network']> = {};
    setIf(network, 'cellularAllowed', bool(net['cellularAllowed'], `${p}.cellularAllowed`));
    setIf(network, 'roamingAllowed', bool(net['roamingAllowed'], `${p}.roamingAllowed`));
    setIf(network, 'maxBytes', integer(net['maxBytes'], `${p}.maxBytes`, 0, Number.MAX_SAFE_INTEGER));
    const window = str(net['window'], `${p}.window`);
    if (window !== undefined && !/^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$/.test(window)) {
      throw bad(`${p}.window`, `must be "HH:MM-HH:MM" (24-hour local time), not ${JSON.stringify(window)}`);
    }
    setIf(network, 'window', window);
    out.network = network;
  }

  const ro = object(o['rollout'], `${where}.rollout`, false);
  if (ro) {
    const p = `${where}.rollout`;
    const rollout: NonNullable<TargetCustom['rollout']> = {};
    setIf(rollout, 'campaign', str(ro['campaign'], `${p}.campaign`));
    const stages = ro['stages'];
    if (stages !== undefined) {
      if (!Array.isArray(stages) || stages.length === 0) throw bad(`${p}.stages`, 'must be a non-empty array of percentages and vehicle group stages');
      rollout.stages = rolloutStages(stages, `${p}.stages`);
    }
    if (ro['stage'] !== undefined) {
      if (rollout.stages === undefined) throw bad(`${p}.stage`, 'needs stages');
      setIf(rollout, 'stage', integer(ro['stage'], `${p}.stage`, 0, rollout.stages.length - 1));
    }
    setIf(rollout, 'paused', bool(ro['paused'], `${p}.paused`));
    out.rollout = rollout;
  }
  return out;
}

/**
 * Each stage a percentage (above 0, at most 100; the percentages non-decreasing, as they are
 * cumulative) or `{groups: [non-empty strings]}` (other fields of a group stage are ignored).
 */
function rolloutStages(stages: unknown[], where: string): RolloutStage[] {
  let percent = 0;
  return stages.map((s, i) => {
    if (typeof s === 'object' && s !== null && !Array.isArray(s)) {
      return { groups: stringArray((s as Record<string, unknown>)['groups'], `${where}[${i}].groups`, true, true)! };
    }
    if (typeof s !== 'number' || !Number.isFinite(s) || s <= 0 || s > 100) throw bad(`${where}[${i}]`, 'must be a number above 0 and at most 100, or {"groups": [...]}');
    if (s < percent) throw bad(`${where}[${i}]`, 'percentages are cumulative: each is at least the one before');
    percent = s;
    return s;
  });
}

function bad(field: string, rule: string): TcuError {
  return new TcuError('OTA_METADATA', `${field} ${rule}`, { details: { field } });
}

function setIf<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}

function object(v: unknown, field: string, required: boolean): Record<string, unknown> | undefined {
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(field, required && v === undefined ? 'is required' : 'must be an object');
  return v as Record<string, unknown>;
}

function str(v: unknown, field: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw bad(field, 'must be a string');
  return v;
}

function bool(v: unknown, field: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw bad(field, 'must be true or false');
  return v;
}

function integer(v: unknown, field: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw bad(field, `must be an integer from ${min} to ${max}`);
  return v;
}

function stringArray(v: unknown, field: string, required: boolean, nonEmpty: boolean): string[] | undefined {
  if (v === undefined && !required) return undefined;
  if (!Array.isArray(v)) throw bad(field, v === undefined ? 'is required (an array of strings)' : 'must be an array of strings');
  if (nonEmpty && v.length === 0) throw bad(field, 'must name at least one');
  v.forEach((s, i) => {
    if (typeof s !== 'string' || (nonEmpty && s.length === 0)) throw bad(`${field}[${i}]`, nonEmpty ? 'must be a non-empty string' : 'must be a string');
  });
  return [...(v as string[])];
}
