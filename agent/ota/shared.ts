/**
 * What the one-shot update (`tcu-agent ota apply`, apply.ts) and the agent's own campaigns
 * (agent/runtime/ota.ts) share: the state store's file name, how a failure becomes an outcome, the
 * preconditions check against a vehicle state, and where a target file is served.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TcuError, ErrorCode } from '../../core/errors.js';
import { reasonOf, type PreconditionReason, type PreconditionResult } from '../../ota/campaign/index.js';
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

/** `ota apply`'s outcome: with OTA_PRECONDITION, `reason` names the precondition (soc, parked, ignition, workshop, consent). */
export type ApplyOutcome = OtaOutcome & { reason?: PreconditionReason };

export function outcomeOf(err: TcuError, target: string | null, reason: PreconditionReason | undefined = reasonOf(err.details)): ApplyOutcome {
  const result = SECURITY_CODES.has(err.code) ? 'rejected' : DEFERRED.has(err.code) ? 'deferred' : 'failed';
  // A reason belongs to a precondition or the network policy, whatever else an error's details say.
  const withReason = reason !== undefined && DEFERRED.has(err.code);
  return { result, code: err.code, ...(withReason ? { reason } : {}), target, detail: err.message };
}

/** The vehicle's state against the target's preconditions (UN R156: a safe state, enough energy). */
export function checkPreconditions(target: VerifiedTarget, v: VehicleState): PreconditionResult {
  const p = target.custom.preconditions ?? {};
  const refuse = (reason: PreconditionReason, detail: string): PreconditionResult => ({ ok: false, code: 'OTA_PRECONDITION', reason, detail });
  if (p.minSocPercent !== undefined) {
    if (v.socPercent === undefined) return refuse('soc', `state of charge unknown (at least ${p.minSocPercent} % required)`);
    if (v.socPercent < p.minSocPercent) return refuse('soc', `state of charge ${v.socPercent} % is below the ${p.minSocPercent} % required`);
  }
  if (p.parked && v.parked !== true) return refuse('parked', 'the vehicle must be parked');
  if (p.ignitionOff && v.ignitionOff !== true) return refuse('ignition', 'the ignition must be off');
  if (p.workshopOnly && v.workshop !== true) return refuse('workshop', 'this update is installed in a workshop only');
  return { ok: true };
}

/**
 * Where a target file is served: `<repo>/targets/<name>`; when `consistent` is given and the trusted
 * root it names (the image repository's `<stateDir>/image/root.json`, after a refresh) says
 * `consistent_snapshot: true`, `<repo>/targets/<dir>/<sha256>.<file>` (TUF 5.7.3, as tuf-js and
 * python-tuf publish). The file is still saved and installed under its name.
 */
export function targetLocation(repo: string, name: string, consistent?: { trustedRoot: string; sha256: string }): string {
  const segments = name.split('/');
  if (consistent !== undefined) {
    let root: { signed?: { consistent_snapshot?: unknown } } | undefined;
    try {
      root = JSON.parse(readFileSync(consistent.trustedRoot, 'utf8')) as typeof root;
    } catch {
      root = undefined; // no readable trusted root: the refresh before refused already
    }
    if (root?.signed?.consistent_snapshot === true) segments.push(`${consistent.sha256}.${segments.pop() ?? ''}`);
  }
  if (/^(https?|file):\/\//.test(repo)) return `${repo.replace(/\/+$/, '')}/targets/${segments.map(encodeURIComponent).join('/')}`;
  return join(repo, 'targets', ...segments);
}
