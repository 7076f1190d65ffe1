/** What the agent's update campaigns (ota.ts) take from the running agent, and what a check answers. */
import type { Clock } from '../../core/clock.js';
import type { TcuError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { TrustedTime } from '../../drivers/gnss/index.js';
import type { CommandRunner, InstallBackend } from '../../ota/install/index.js';
import type { VehicleState } from '../../ota/types.js';
import type { Connectivity } from '../connectivity/state.js';
import type { Scheduler } from '../jobs.js';
import type { UplinkState } from '../uplink/index.js';

/** What the campaigns need of the uplink. */
export interface OtaUplink {
  readonly state: UplinkState;
  on(event: 'state', listener: (state: UplinkState) => void): () => void;
  publishMessage(suffix: string, payload: Buffer | string, options?: { retain?: boolean }): Promise<void>;
}

export interface OtaRuntimeDeps {
  clock: Clock;
  logger: Logger;
  trustedTime: TrustedTime;
  uplink: OtaUplink;
  scheduler: Scheduler;
  /** The vehicle's state for the preconditions (from signals). */
  vehicle: () => VehicleState;
  /** The modem's connectivity; undefined without a modem (a fixed network). */
  connectivity: () => Connectivity | undefined;
  /** Frames received since start, per bus (the health check). */
  busFrames: () => Record<string, number>;
  report: (err: TcuError, where: string) => void;
  /** The agent must stop and exit with OTA_RESTART_EXIT_CODE. */
  restart: (reason: string) => void;
  /** Runs `systemctl reboot` for rauc and command (default: node:child_process). */
  runner?: CommandRunner;
  /** Replaces the backend the configuration names (tests). */
  backend?: InstallBackend;
}

export interface OtaCheckResult {
  /** started: a campaign began; in-progress: one under way carries on; blocked: this target failed before and is not retried. */
  result: 'started' | 'in-progress' | 'up-to-date' | 'blocked' | 'error';
  target: string | null;
  code?: string;
  detail: string;
  /** ISO 8601. */
  at: string;
}
