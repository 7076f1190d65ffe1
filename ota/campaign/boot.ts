/**
 * What a boot does while an update is on trial (docs/OTA.md, "Boot state and health check").
 *
 * Runs once per start of the agent (`CampaignRunner.resume`), when the campaign is `rebooting`:
 *
 * - running the slot on trial: one more unconfirmed boot is counted and persisted BEFORE anything
 *   else, so a crash, a hang or a power cut during the health check counts too. Past
 *   `maxBootAttempts` unconfirmed boots (a boot loop) it falls back without another check. Else
 *   the health check runs: it passes, the backend confirms the slot (markGood) and one transaction
 *   records the commit (inventory, boot state, campaign `succeeded`); it fails or times out, the
 *   backend rolls back and the campaign ends `rolled-back` with OTA_HEALTH, then a reboot starts the
 *   previous software.
 * - the slot on trial is still only next: the reboot has not happened yet; it is requested again.
 * - the previous slot runs and the new one is no longer next: the bootloader fell back (or a
 *   rollback went through just before a power cut): `rolled-back` with OTA_HEALTH.
 *
 * Only boots of the slot on trial count, and only until the commit: once committed the boot state is
 * `none`, and later power cycles do nothing here.
 */
import type { Clock, TimerHandle } from '../../core/clock.js';
import { asTcuError, type ErrorCode } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { InstallBackend } from '../install/backend.js';
import type { Campaign } from './states.js';
import { NO_BOOT_STATE, type CampaignStore } from './store.js';

/** The agent's verdict on the new software (agent up, broker reachable, CAN frames arriving, ...). */
export interface HealthResult {
  ok: boolean;
  detail?: string;
  /** Each check's result, for the audit log. */
  checks?: Record<string, boolean>;
}

export interface BootContext {
  store: CampaignStore;
  backend: InstallBackend;
  clock: Clock;
  logger: Logger;
  healthCheck: () => Promise<HealthResult>;
  healthTimeoutMs: number;
  maxBootAttempts: number;
  reboot: () => Promise<void> | void;
}

export type BootOutcome = 'committed' | 'rolled-back' | 'reboot-pending';

/** The health check with a time limit; a throw or a timeout is a failed check. */
export async function runHealthCheck(ctx: Pick<BootContext, 'clock' | 'healthCheck' | 'healthTimeoutMs'>): Promise<HealthResult> {
  let timer: TimerHandle | undefined;
  const timeout = new Promise<HealthResult>((resolve) => {
    timer = ctx.clock.setTimeout(() => resolve({ ok: false, detail: `the health check did not answer within ${ctx.healthTimeoutMs} ms` }), ctx.healthTimeoutMs);
  });
  const check = ctx.healthCheck().then(
    (r) => r,
    (err: unknown) => ({ ok: false, detail: `the health check threw: ${err instanceof Error ? err.message : String(err)}` }),
  );
  try {
    return await Promise.race([check, timeout]);
  } finally {
    if (timer !== undefined) ctx.clock.clearTimeout(timer);
  }
}

/**
 * Abandons the slot on trial, records `rolled-back` with `code`, and reboots when the slot that runs
 * is not the one the next boot starts (the previous software must run again).
 */
export async function rollBack(ctx: BootContext, campaign: Campaign, code: ErrorCode, detail: string): Promise<BootOutcome> {
  await ctx.backend.rollback();
  ctx.store.apply({ type: 'rolled-back', code, detail }, { bootState: NO_BOOT_STATE });
  ctx.logger.warn({ campaign: campaign.id, code, detail }, 'update rolled back');
  const after = await ctx.backend.status();
  if (after.primary !== after.booted) await ctx.reboot();
  return 'rolled-back';
}

/** Settles a campaign in `rebooting` at start-up: count, check, commit or roll back. */
export async function settleBoot(ctx: BootContext, campaign: Campaign): Promise<BootOutcome> {
  const boot = ctx.store.bootState();
  const status = await ctx.backend.status();
  if (boot.phase !== 'trying' || boot.campaign !== campaign.id || boot.targetSlot === null) {
    return rollBack(ctx, campaign, 'OTA_STATE', `inconsistent boot state (${boot.phase}) for a campaign that is rebooting`);
  }
  if (status.booted !== boot.targetSlot) {
    if (status.primary === boot.targetSlot) {
      ctx.store.record('boot.reboot-pending', { booted: status.booted, primary: status.primary }, campaign.id);
      await ctx.reboot();
      return 'reboot-pending';
    }
    // A failed health check whose rollback was cut short (a power cut after the switch back) looks
    // the same from here; the audit log tells them apart.
    const health = ctx.store.audit.entries({ campaign: campaign.id }).filter((e) => e.event === 'boot.health').at(-1);
    const detail =
      health !== undefined && health.details['ok'] === false
        ? `health check failed: ${String(health.details['detail'] ?? 'no detail')} (slot ${String(status.booted)} runs again; the rollback was finished at this start)`
        : `slot ${String(status.booted)} booted instead of ${boot.targetSlot}: the new software was abandoned (bootloader fallback)`;
    ctx.store.apply({ type: 'rolled-back', code: 'OTA_HEALTH', detail }, { bootState: NO_BOOT_STATE });
    return 'rolled-back';
  }

  const attempts = boot.attempts + 1;
  ctx.store.setBootState({ ...boot, attempts }, 'boot.attempt', { max: ctx.maxBootAttempts });
  if (attempts > ctx.maxBootAttempts) {
    return rollBack(ctx, campaign, 'OTA_HEALTH', `boot loop: ${boot.attempts} boots of slot ${boot.targetSlot} ended unconfirmed`);
  }
  const health = await runHealthCheck(ctx);
  ctx.store.record('boot.health', { ok: health.ok, detail: health.detail ?? null, checks: health.checks ?? {}, attempt: attempts }, campaign.id);
  if (!health.ok) return rollBack(ctx, campaign, 'OTA_HEALTH', `health check failed: ${health.detail ?? 'no detail'}`);
  try {
    await ctx.backend.markGood();
  } catch (err) {
    const e = asTcuError(err, 'OTA_INSTALL');
    return rollBack(ctx, campaign, e.code, `the backend could not confirm the new slot: ${e.message}`);
  }
  ctx.store.apply({ type: 'committed' }, { bootState: NO_BOOT_STATE, audit: { slot: boot.targetSlot, attempts } });
  ctx.logger.info({ campaign: campaign.id, slot: boot.targetSlot }, 'update committed');
  return 'committed';
}
