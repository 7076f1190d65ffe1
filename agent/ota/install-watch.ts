/**
 * Preconditions watched during the install (docs/OTA.md, "Preconditions from signals"): every
 * `intervalMs` while the campaign for `target` is installing, the vehicle's state is checked again;
 * one that breaks cancels the install (failed, OTA_PRECONDITION with its reason) as long as the
 * activation has not begun (the runner refuses the cancel after that, and the install goes on).
 */
import type { Clock, TimerHandle } from '../../core/clock.js';
import type { ErrorCode } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { Campaign, PreconditionReason } from '../../ota/campaign/index.js';
import type { VehicleState, VerifiedTarget } from '../../ota/types.js';
import { sameTarget } from './policy.js';
import { checkPreconditions } from './shared.js';

export interface InstallWatchDeps {
  clock: Clock;
  intervalMs: number;
  logger: Logger;
  current: () => Campaign | null;
  vehicle: () => VehicleState;
  stopped: () => boolean;
  cancel: (code: ErrorCode, detail: string, reason: PreconditionReason | undefined) => Promise<unknown>;
}

export class InstallWatch {
  private timer: TimerHandle | undefined;

  constructor(private readonly d: InstallWatchDeps) {}

  /** Starts watching (again) for `target`: from the consent wait on, ticking until the install ends. */
  start(target: VerifiedTarget): void {
    this.stop();
    const tick = (): void => {
      this.timer = undefined;
      if (this.d.stopped()) return;
      const c = this.d.current();
      if (c === null || !sameTarget(c.target, target) || (c.state !== 'installing' && c.state !== 'awaiting-consent')) return;
      const now = checkPreconditions(target, this.d.vehicle());
      if (c.state === 'installing' && !now.ok) {
        this.d.logger.warn({ campaign: c.id, reason: now.reason, detail: now.detail }, 'a precondition broke during the install');
        void this.d.cancel(now.code, `during the install: ${now.detail}`, now.reason).catch(() => undefined);
        return;
      }
      this.timer = this.d.clock.setTimeout(tick, this.d.intervalMs);
    };
    this.timer = this.d.clock.setTimeout(tick, this.d.intervalMs);
  }

  stop(): void {
    if (this.timer !== undefined) this.d.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
