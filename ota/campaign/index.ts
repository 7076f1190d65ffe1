/** The update campaign (docs/OTA.md): state machine, store, boot logic, audit log, runner. */
export { AuditLog, GENESIS_HASH, canonicalJson, type AuditEntry, type AuditVerification } from './audit.js';
export { rollBack, runHealthCheck, settleBoot, type BootContext, type BootOutcome, type HealthResult } from './boot.js';
export { CampaignRunner, type CampaignHooks, type CampaignRunnerOptions, type ConsentAnswer, type PreconditionResult } from './campaign.js';
export { SCHEMA_VERSION, openOtaDatabase, openOtaDatabaseReadOnly, type OtaDatabase } from './db.js';
export { CAMPAIGN_STATES, FAILURE_CAUSES, FINAL_STATES, PRECONDITION_REASONS, canApply, causeOf, isFinal, reasonOf, transition, type Campaign, type CampaignEvent, type CampaignEventType, type CampaignStateName, type FailureCause, type PreconditionReason } from './states.js';
export { CampaignStore, NO_BOOT_STATE, type BootPhase, type BootState, type CampaignStoreOptions, type ReportDetails, type TransitionRecord } from './store.js';
