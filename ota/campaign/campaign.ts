/**
 * The campaign runner: drives one update through the states (states.ts), persisting every step
 * (store.ts) before acting on it, so that `resume()` after a power cut in any state carries on from
 * where the file says it was (docs/OTA.md, "Campaign states").
 *
 * The agent supplies what is not the campaign's business through hooks: the download (verified
 * image), preconditions and consent, the health check, the reboot, and `onReport` (MQTT). Reports
 * go out in order, each marked reported only after `onReport` returned; a crash in between sends
 * that one again at the next start, with the same `seq` (the cloud drops the copy).
 */
import type { Clock } from '../../core/clock.js';
import { asTcuError, TcuError, type ErrorCode } from '../../core/errors.js';
import { silentLogger, type Logger } from '../../core/logger.js';
import type { InstallBackend } from '../install/backend.js';
import type { VerifiedTarget } from '../types.js';
import { settleBoot, type BootContext, type HealthResult } from './boot.js';
import { causeOf, isFinal, reasonOf, type Campaign, type CampaignStateName, type PreconditionReason } from './states.js';
import { NO_BOOT_STATE, type CampaignStore, type ReportDetails } from './store.js';

export type ConsentAnswer = 'given' | 'refused' | 'pending';
/** A refusal names the precondition (`reason`: soc, parked, ignition, workshop, consent) beside the words. */
export type PreconditionResult = { ok: true } | { ok: false; code: ErrorCode; detail: string; reason?: PreconditionReason };

export interface CampaignHooks {
  /** Downloads and verifies the target; resolves with the image's path. Rejects with a TcuError (OTA_NETWORK_POLICY defers; a `details.reason` is kept). */
  download(target: VerifiedTarget, signal: AbortSignal): Promise<string>;
  /** Checked right before the install; a refusal defers the campaign with its code. Absent: always met. */
  preconditions?(target: VerifiedTarget): Promise<PreconditionResult>;
  /** Asked when the target requires consent (`preconditions.consentRequired`). Absent: pending. */
  consent?(target: VerifiedTarget): Promise<ConsentAnswer>;
  healthCheck(): Promise<HealthResult>;
  /** Restarts into the slot the next boot starts (dir-slots: the agent exits and its service restarts it). */
  reboot(): Promise<void> | void;
  /** Publishes one state change. A throw leaves it unreported, to be sent again. */
  onReport(state: CampaignStateName, details: ReportDetails): Promise<void> | void;
}

export interface CampaignRunnerOptions {
  store: CampaignStore;
  backend: InstallBackend;
  hooks: CampaignHooks;
  clock: Clock;
  /** The ECU a campaign updates unless `start` names another (the TCU's name from the configuration). */
  ecu: string;
  logger?: Logger;
  /** Unconfirmed boots of a new slot before it is abandoned (boot loop). Default 3. */
  maxBootAttempts?: number;
  /** Default 120 s. */
  healthTimeoutMs?: number;
}

/** Download failures that mean "not now" rather than "never". */
const DEFERRING: readonly ErrorCode[] = ['OTA_NETWORK_POLICY', 'OTA_PRECONDITION'];

export class CampaignRunner {
  private readonly store: CampaignStore;
  private readonly logger: Logger;
  private readonly boot: BootContext;
  private running: Promise<Campaign | null> | undefined;
  private reporting: Promise<number> | undefined;
  private step: AbortController | undefined;
  private settlePending = false;

  constructor(private readonly options: CampaignRunnerOptions) {
    this.store = options.store;
    this.logger = options.logger ?? silentLogger();
    this.boot = {
      store: options.store,
      backend: options.backend,
      clock: options.clock,
      logger: this.logger,
      healthCheck: () => options.hooks.healthCheck(),
      healthTimeoutMs: options.healthTimeoutMs ?? 120_000,
      maxBootAttempts: options.maxBootAttempts ?? 3,
      reboot: async () => {
        await this.flushReports();
        await options.hooks.reboot();
      },
    };
  }

  current(): Campaign | null {
    return this.store.current();
  }

  /**
   * Call once at every start of the agent: sends what was not reported, settles a campaign that was
   * rebooting (count the boot, health check, commit or roll back), then carries on.
   */
  async resume(): Promise<Campaign | null> {
    await this.flushReports();
    this.settlePending = true;
    try {
      return await this.run();
    } finally {
      this.settlePending = false;
    }
  }

  /**
   * At start, when the caller decides what happens next: sends what was not reported and settles
   * a campaign that was rebooting (count the boot, health check, commit or roll back), but leaves
   * any other campaign where it is (a check may cancel it before it goes on: `run()`).
   */
  async settle(): Promise<Campaign | null> {
    await this.flushReports();
    const c = this.store.current();
    if (c === null || c.state !== 'rebooting') return c;
    return this.resume();
  }

  /** Starts a campaign for `target` (OTA_STATE while another is under way, or when `id` was used before), then runs it. */
  async start(target: VerifiedTarget, options: { id?: string; ecu?: string } = {}): Promise<Campaign | null> {
    let id = options.id ?? `${target.custom.rollout?.campaign ?? 'ota'}:${target.name}:${this.options.clock.now()}`;
    if (options.id === undefined) for (let n = 2; this.store.hasCampaign(id); n++) id = `${id.replace(/#\d+$/, '')}#${n}`;
    this.store.apply({ type: 'start', id, target, ecu: options.ecu ?? this.options.ecu });
    return this.run();
  }

  /** Advances the campaign until it waits (consent, preconditions, network, a reboot) or ends. */
  run(): Promise<Campaign | null> {
    this.running ??= this.loop().finally(() => (this.running = undefined));
    return this.running;
  }

  /**
   * Cancels a campaign before its new software is activated: the step under way is aborted and the
   * campaign ends `failed` with `code` (default OTA_CANCELLED) and `reason` when given (a precondition
   * that broke during the install). Once rebooting it is too late (OTA_STATE).
   */
  async cancel(code: ErrorCode = 'OTA_CANCELLED', detail = 'cancelled', reason?: PreconditionReason): Promise<Campaign | null> {
    const c = this.store.current();
    if (!c || isFinal(c.state)) return c;
    if (c.state === 'rebooting' || (c.state === 'installing' && !this.step)) {
      throw new TcuError('OTA_STATE', 'the new software is already being activated: too late to cancel', { details: { campaign: c.id } });
    }
    if (this.step) {
      this.step.abort(new TcuError(code, detail, reason === undefined ? {} : { details: { reason } }));
      await this.running;
      return this.store.current();
    }
    this.store.apply({ type: 'fail', code, detail, ...(reason === undefined ? {} : { reason }) });
    await this.flushReports();
    return this.store.current();
  }

  /** Sends every unreported transition, in order; stops at the first that fails. Returns how many went. */
  flushReports(): Promise<number> {
    const previous = this.reporting ?? Promise.resolve(0);
    const next = previous.then(async () => {
      let sent = 0;
      for (const t of this.store.unreported()) {
        try {
          await this.options.hooks.onReport(t.to, t.details);
        } catch (err) {
          this.logger.warn({ seq: t.seq, err: err instanceof Error ? err.message : String(err) }, 'campaign report not sent; it goes again later');
          break;
        }
        this.store.markReported(t.seq);
        sent++;
      }
      return sent;
    });
    this.reporting = next;
    return next;
  }

  private async loop(): Promise<Campaign | null> {
    for (;;) {
      const c = this.store.current();
      if (!c || isFinal(c.state)) break;
      const more = await this.advance(c);
      await this.flushReports();
      if (!more) break;
    }
    await this.flushReports();
    return this.store.current();
  }

  /** One step; false when the campaign must wait. */
  private async advance(c: Campaign): Promise<boolean> {
    switch (c.state) {
      case 'downloading':
        return this.download(c);
      case 'downloaded':
        this.store.apply({ type: 'await-consent' });
        return true;
      case 'awaiting-consent':
        return this.readyToInstall(c);
      case 'installing':
        await this.install(c);
        return true;
      case 'rebooting':
        if (this.settlePending) {
          this.settlePending = false;
          return (await settleBoot(this.boot, c)) !== 'reboot-pending';
        }
        this.store.record('boot.reboot-requested', {}, c.id);
        await this.boot.reboot();
        return false;
      default:
        return false;
    }
  }

  /** Whether the campaign is still where `c` was (a cancel may have ended it during an await). */
  private still(c: Campaign): boolean {
    const now = this.store.current();
    return now !== null && now.id === c.id && now.state === c.state;
  }

  private defer(c: Campaign, code: ErrorCode, detail: string, reason?: PreconditionReason): false {
    if (this.still(c) && (c.code !== code || c.detail !== detail || c.reason !== reason)) this.store.apply({ type: 'deferred', code, detail, ...(reason === undefined ? {} : { reason }) });
    return false;
  }

  private async download(c: Campaign): Promise<boolean> {
    const controller = new AbortController();
    this.step = controller;
    try {
      const imagePath = await this.options.hooks.download(c.target, controller.signal);
      if (controller.signal.aborted) throw controller.signal.reason;
      this.store.apply({ type: 'downloaded', imagePath });
      return true;
    } catch (err) {
      const e = asTcuError(controller.signal.aborted ? controller.signal.reason : err, 'OTA_FETCH');
      const reason = reasonOf(e.details) ?? (e.code === 'OTA_NETWORK_POLICY' ? 'network' : undefined);
      if (DEFERRING.includes(e.code) && !controller.signal.aborted) return this.defer(c, e.code, e.message, reason);
      // The cause (a source of another length than declared) decides whether the target is tried again.
      const cause = causeOf(e.details);
      this.store.apply({ type: 'fail', code: e.code, detail: e.message, ...(reason === undefined ? {} : { reason }), ...(cause === undefined ? {} : { cause }) });
      return true;
    } finally {
      this.step = undefined;
    }
  }

  private async readyToInstall(c: Campaign): Promise<boolean> {
    const { hooks } = this.options;
    if (c.target.custom.preconditions?.consentRequired) {
      const answer = hooks.consent ? await hooks.consent(c.target) : 'pending';
      if (answer !== 'given') return this.defer(c, 'OTA_PRECONDITION', answer === 'refused' ? 'the user refused the update' : 'waiting for the user to consent', 'consent');
    }
    const pre = hooks.preconditions ? await hooks.preconditions(c.target) : ({ ok: true } as const);
    if (!pre.ok) return this.defer(c, pre.code, pre.detail, pre.reason);
    if (!this.still(c)) return true;
    this.store.apply({ type: 'install' });
    return true;
  }

  /** installing → rebooting. Safe to run again after a crash at any point in it. */
  private async install(c: Campaign): Promise<void> {
    const { backend } = this.options;
    const boot = this.store.bootState();
    let previousSlot: string | null;
    if (boot.phase === 'activating' && boot.campaign === c.id) {
      previousSlot = boot.previousSlot;
      this.store.record('install.resumed', { previousSlot }, c.id);
    } else {
      const controller = new AbortController();
      this.step = controller;
      try {
        if (c.imagePath === null) throw new TcuError('OTA_INSTALL', 'the campaign has no downloaded image');
        previousSlot = (await backend.status()).booted;
        this.store.record('install.started', { backend: backend.name, previousSlot, image: c.imagePath }, c.id);
        const result = await backend.install(c.imagePath, c.target, { signal: controller.signal });
        if (controller.signal.aborted) throw controller.signal.reason;
        this.store.setBootState({ ...NO_BOOT_STATE, phase: 'activating', campaign: c.id, previousSlot }, 'install.done', { slot: result.slot });
      } catch (err) {
        const e = asTcuError(controller.signal.aborted ? controller.signal.reason : err, 'OTA_INSTALL');
        const reason = reasonOf(e.details);
        this.store.apply({ type: 'fail', code: e.code, detail: e.message, ...(reason === undefined ? {} : { reason }) });
        return;
      } finally {
        this.step = undefined;
      }
    }
    try {
      if ((await backend.status()).primary === previousSlot) await backend.activate();
      const targetSlot = (await backend.status()).primary;
      if (targetSlot === null || targetSlot === previousSlot) throw new TcuError('OTA_INSTALL', 'the backend activated no new slot');
      this.store.apply({ type: 'activated' }, { bootState: { ...NO_BOOT_STATE, phase: 'trying', campaign: c.id, previousSlot, targetSlot }, audit: { targetSlot } });
    } catch (err) {
      const e = asTcuError(err, 'OTA_INSTALL');
      this.logger.error({ campaign: c.id, code: e.code, err: e.message }, 'activation failed; abandoning the new slot');
      await backend.rollback().catch((rollbackErr: unknown) => this.store.record('install.rollback-failed', { error: String(rollbackErr) }, c.id));
      this.store.apply({ type: 'fail', code: e.code, detail: e.message }, { bootState: NO_BOOT_STATE });
    }
  }
}
