/**
 * The campaign state machine as a pure function (docs/OTA.md, "Campaign states"): no I/O, no clock
 * of its own, so every state and every transition is testable alone. The store persists what it
 * returns; the runner decides which event happens.
 *
 *   idle → downloading → downloaded → awaiting-consent → installing → rebooting → succeeded
 *                                                                              ↘ rolled-back(code)
 *   any state before rebooting → failed(code)      (cancelled: failed(OTA_CANCELLED))
 *   downloading, downloaded, awaiting-consent: `deferred` keeps the state and records why
 *   a finished campaign (succeeded, failed, rolled-back) may be followed by a new start
 */
import { TcuError, type ErrorCode } from '../../core/errors.js';
import type { VerifiedTarget } from '../types.js';

export const CAMPAIGN_STATES = [
  'idle',
  'downloading',
  'downloaded',
  'awaiting-consent',
  'installing',
  'rebooting',
  'succeeded',
  'failed',
  'rolled-back',
] as const;
export type CampaignStateName = (typeof CAMPAIGN_STATES)[number];

export const FINAL_STATES: readonly CampaignStateName[] = ['succeeded', 'failed', 'rolled-back'];

/**
 * Why a campaign waits or stopped for the vehicle's sake, as a stable code beside the words
 * (docs/OTA.md, "Campaign states", "Reason codes"): the state of charge, parked, the ignition, a
 * workshop, the user's consent, or (OTA_NETWORK_POLICY) the network.
 */
export const PRECONDITION_REASONS = ['soc', 'parked', 'ignition', 'workshop', 'consent', 'network'] as const;
export type PreconditionReason = (typeof PRECONDITION_REASONS)[number];

/** The reason an error carries in `details.reason`, when it is one of PRECONDITION_REASONS. */
export function reasonOf(details: Readonly<Record<string, unknown>> | undefined): PreconditionReason | undefined {
  const r = details?.['reason'];
  return PRECONDITION_REASONS.find((x) => x === r);
}

/**
 * What a failure's code alone does not say, kept beside it (`details.cause` of the error): with
 * OTA_TARGET_MISMATCH, `source-length` means the source stated (or ended at) another length than
 * the declared one, a truncated or still-syncing upload, rather than serving wrong bytes; the agent
 * tries such a target again at its next check (docs/OTA.md, "Download").
 */
export const FAILURE_CAUSES = ['source-length'] as const;
export type FailureCause = (typeof FAILURE_CAUSES)[number];

/** The cause an error carries in `details.cause`, when it is one of FAILURE_CAUSES. */
export function causeOf(details: Readonly<Record<string, unknown>> | undefined): FailureCause | undefined {
  const c = details?.['cause'];
  return FAILURE_CAUSES.find((x) => x === c);
}

export interface Campaign {
  id: string;
  state: CampaignStateName;
  target: VerifiedTarget;
  /** The ECU the update is for (its inventory entry changes on commit). */
  ecu: string;
  /** The verified image, once downloaded. */
  imagePath: string | null;
  /** failed, rolled-back: why; a deferral: why it waits. */
  code: ErrorCode | null;
  detail: string | null;
  /** With OTA_PRECONDITION (and OTA_NETWORK_POLICY): which precondition; absent otherwise (and in campaigns stored before it existed). */
  reason?: PreconditionReason;
  /** With `failed`: what the code alone does not say (FAILURE_CAUSES); absent otherwise. */
  cause?: FailureCause;
  startedAt: number;
  updatedAt: number;
}

export type CampaignEvent =
  | { type: 'start'; id: string; target: VerifiedTarget; ecu: string }
  | { type: 'downloaded'; imagePath: string }
  | { type: 'await-consent' }
  | { type: 'deferred'; code: ErrorCode; detail: string; reason?: PreconditionReason }
  | { type: 'install' }
  | { type: 'activated' }
  | { type: 'committed' }
  | { type: 'rolled-back'; code: ErrorCode; detail: string }
  | { type: 'fail'; code: ErrorCode; detail: string; reason?: PreconditionReason; cause?: FailureCause };

export type CampaignEventType = CampaignEvent['type'];

/** The states each event may leave from; `null` is idle (no campaign yet). */
const FROM: Record<CampaignEventType, readonly CampaignStateName[]> = {
  start: ['idle', 'succeeded', 'failed', 'rolled-back'],
  downloaded: ['downloading'],
  'await-consent': ['downloaded'],
  deferred: ['downloading', 'downloaded', 'awaiting-consent'],
  install: ['awaiting-consent'],
  activated: ['installing'],
  committed: ['rebooting'],
  'rolled-back': ['rebooting'],
  fail: ['downloading', 'downloaded', 'awaiting-consent', 'installing'],
};

export function isFinal(state: CampaignStateName): boolean {
  return FINAL_STATES.includes(state);
}

/** Whether `event` may happen in `state`. */
export function canApply(state: CampaignStateName, event: CampaignEventType): boolean {
  return FROM[event].includes(state);
}

/**
 * The next campaign after `event`, or a TcuError OTA_STATE for an event the state does not allow.
 * `current` is null when idle.
 */
export function transition(current: Campaign | null, event: CampaignEvent, now: number): Campaign {
  const state: CampaignStateName = current?.state ?? 'idle';
  if (!canApply(state, event.type)) {
    throw new TcuError('OTA_STATE', `campaign event "${event.type}" is not allowed in state ${state}`, {
      details: { state, event: event.type, campaign: current?.id ?? null },
    });
  }
  if (event.type === 'start') {
    return { id: event.id, state: 'downloading', target: event.target, ecu: event.ecu, imagePath: null, code: null, detail: null, startedAt: now, updatedAt: now };
  }
  // A reason (and a cause) belongs to the step that set it: every transition clears it unless it sets its own.
  const { reason: _previous, cause: _cause, ...c } = current as Campaign;
  const base: Campaign = { ...c, updatedAt: now };
  const reason = (event.type === 'deferred' || event.type === 'fail') && event.reason !== undefined ? { reason: event.reason } : {};
  switch (event.type) {
    case 'downloaded':
      return { ...base, state: 'downloaded', imagePath: event.imagePath, code: null, detail: null };
    case 'await-consent':
      return { ...base, state: 'awaiting-consent', code: null, detail: null };
    case 'deferred':
      return { ...base, code: event.code, detail: event.detail, ...reason };
    case 'install':
      return { ...base, state: 'installing', code: null, detail: null };
    case 'activated':
      return { ...base, state: 'rebooting', code: null, detail: null };
    case 'committed':
      return { ...base, state: 'succeeded', code: null, detail: null };
    case 'rolled-back':
      return { ...base, state: 'rolled-back', code: event.code, detail: event.detail };
    case 'fail':
      return { ...base, state: 'failed', code: event.code, detail: event.detail, ...reason, ...(event.cause === undefined ? {} : { cause: event.cause }) };
  }
}
