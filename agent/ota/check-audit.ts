/**
 * The audit log's record of every update check (docs/OTA.md, "Audit log"), shared by the agent's
 * own checks (agent/runtime/ota.ts) and `tcu-agent ota apply`: what the verification of both
 * repositories and the director/image agreement concluded, and every refusal with its code.
 *
 *   check.result    both repositories verified and agreed: `update` (a target to install) or
 *                   `up-to-date` (nothing, installed already, or not offered in the rollout yet)
 *   check.refused   a security refusal (SECURITY_CODES: OTA_SIGNATURE, OTA_ROLLBACK, OTA_EXPIRED,
 *                   OTA_DOWNGRADE, ...), with the code, the step that refused and the error's details
 *   check.failed    anything else that stopped the check (OTA_FETCH offline, OTA_STATE, ...)
 *
 * Campaign steps are audited by the campaign store itself (`campaign.<event>`, `install.*`, `boot.*`).
 */
import type { TcuError } from '../../core/errors.js';
import type { CampaignStore } from '../../ota/campaign/index.js';
import type { TrustedMetadata } from '../../ota/tuf/index.js';
import type { UpdateResolution } from '../../ota/uptane.js';
import { SECURITY_CODES } from './shared.js';

/** Where the check stood when it stopped: refreshing a repository, or resolving the target (Uptane). */
export type CheckStep = 'image' | 'director' | 'resolve';

export const CHECK_EVENTS = { result: 'check.result', refused: 'check.refused', failed: 'check.failed' } as const;

/** Plain JSON of an error's details (an unserialisable value is left out rather than breaking the log). */
function plain(details: Readonly<Record<string, unknown>>): Record<string, unknown> {
  try {
    const v = JSON.parse(JSON.stringify(details)) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function versionsOf(repos: { image?: TrustedMetadata; director?: TrustedMetadata }): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (repos.image) out['image'] = repos.image.versions;
  if (repos.director) out['director'] = repos.director.versions;
  return out;
}

/** Records the result of a check whose verification passed. */
export function auditCheckResult(store: CampaignStore, resolution: UpdateResolution, repos: { image: TrustedMetadata; director: TrustedMetadata }, installedReleaseCounter: number | null): void {
  const t = resolution.target;
  store.record(
    CHECK_EVENTS.result,
    {
      result: resolution.kind,
      target: t?.name ?? null,
      version: t?.custom.version ?? null,
      releaseCounter: t?.custom.releaseCounter ?? null,
      installedReleaseCounter,
      reason: resolution.kind === 'up-to-date' ? (resolution.reason ?? null) : null,
      versions: versionsOf(repos),
    },
    null,
  );
}

/** Records a check that stopped with `err`: a refusal (security code) or a failure. */
export function auditCheckError(store: CampaignStore, err: TcuError, step: CheckStep, repos: { image?: TrustedMetadata; director?: TrustedMetadata } = {}): void {
  store.record(SECURITY_CODES.has(err.code) ? CHECK_EVENTS.refused : CHECK_EVENTS.failed, { code: err.code, step, detail: err.message, details: plain(err.details), versions: versionsOf(repos) }, null);
}
