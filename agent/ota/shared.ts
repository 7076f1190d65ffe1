/**
 * What the one-shot update (`tcu-agent ota apply`, apply.ts) and the agent's own campaigns
 * (agent/runtime/ota.ts) share: the state store's file name, how a failure becomes an outcome, the
 * preconditions check against a vehicle state, and where a target file is served.
 */
import { join } from 'node:path';
import type { TcuError, ErrorCode } from '../../core/errors.js';
import type { PreconditionResult } from '../../ota/campaign/index.js';
import type { OtaOutcome, VehicleState, VerifiedTarget } from '../../ota/types.js';

export const OTA_STORE_FILE = 'ota.db';

/** Codes that mean "refused: this is not a trustworthy update" (exit 3). */
export const SECURITY_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'OTA_METADATA',
  'OTA_SIGNATURE',
  'OTA_EXPIRED',
  'OTA_ROLLBACK',
  'OTA_ROOT_ROTATION',
  'OTA_CLOCK',
  'OTA_TARGET_NAME',
  'OTA_TARGET_MISMATCH',
  'OTA_ENDLESS_DATA',
  'OTA_REPO_DISAGREE',
  'OTA_HARDWARE_ID',
  'OTA_DOWNGRADE',
]);
const DEFERRED: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['OTA_PRECONDITION', 'OTA_NETWORK_POLICY']);

export function outcomeOf(err: TcuError, target: string | null): OtaOutcome {
  const result = SECURITY_CODES.has(err.code) ? 'rejected' : DEFERRED.has(err.code) ? 'deferred' : 'failed';
  return { result, code: err.code, target, detail: err.message };
}

/** The vehicle's state against the target's preconditions (UN R156: a safe state, enough energy). */
export function checkPreconditions(target: VerifiedTarget, v: VehicleState): PreconditionResult {
  const p = target.custom.preconditions ?? {};
  const refuse = (detail: string): PreconditionResult => ({ ok: false, code: 'OTA_PRECONDITION', detail });
  if (p.minSocPercent !== undefined) {
    if (v.socPercent === undefined) return refuse(`state of charge unknown (at least ${p.minSocPercent} % required)`);
    if (v.socPercent < p.minSocPercent) return refuse(`state of charge ${v.socPercent} % is below the ${p.minSocPercent} % required`);
  }
  if (p.parked && v.parked !== true) return refuse('the vehicle must be parked');
  if (p.ignitionOff && v.ignitionOff !== true) return refuse('the ignition must be off');
  if (p.workshopOnly && v.workshop !== true) return refuse('this update is installed in a workshop only');
  return { ok: true };
}

/** Where a target file is served: `<repo>/targets/<name>` (consistent_snapshot false). */
export function targetLocation(repo: string, name: string): string {
  if (/^(https?|file):\/\//.test(repo)) return `${repo.replace(/\/+$/, '')}/targets/${name.split('/').map(encodeURIComponent).join('/')}`;
  return join(repo, 'targets', ...name.split('/'));
}
