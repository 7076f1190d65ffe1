/**
 * Talks to the service manager (systemd) the way `sd_notify(3)` describes: READY=1 once the agent
 * runs, WATCHDOG=1 at half the watchdog period while the event loop turns, STOPPING=1 on the way
 * out. Node cannot send on the datagram socket in NOTIFY_SOCKET itself, so each message is sent by
 * `systemd-notify`, which waits until the manager has taken the message (a barrier): the unit sets
 * `NotifyAccess=all` so messages from this child process count (packaging/systemd/tcu-agent.service).
 * Without NOTIFY_SOCKET in the environment (not started by systemd) nothing is sent.
 */
import { execFile } from 'node:child_process';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { TcuError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';

/** Sends one notification (`KEY=VALUE` fields); rejects when the manager did not take it. */
export type NotifySender = (fields: readonly string[]) => Promise<void>;

/** The default sender: the `systemd-notify` program, with this process's environment (NOTIFY_SOCKET). */
export function systemdNotifySender(program = 'systemd-notify', timeoutMs = 5000): NotifySender {
  return (fields) =>
    new Promise((resolve, reject) => {
      execFile(program, [...fields], { timeout: timeoutMs, windowsHide: true }, (err, _stdout, stderr) => {
        if (err) reject(new Error(`${program} ${fields.join(' ')}: ${String(stderr).trim() || err.message}`));
        else resolve();
      });
    });
}

export interface ServiceManagerOptions {
  /** The process environment (NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID). */
  env: NodeJS.ProcessEnv;
  pid: number;
  clock: Clock;
  logger: Logger;
  /** Default: `systemdNotifySender()`. */
  send?: NotifySender;
}

export interface ServiceManagerCounters {
  sent: number;
  failed: number;
  /** Watchdog pings skipped because the previous notification had not finished. */
  skipped: number;
}

/**
 * The notifications of one run. Created from the environment: `fromEnv` returns undefined when no
 * service manager listens, so callers need no checks of their own.
 */
export class ServiceManager {
  private timer: TimerHandle | undefined;
  private readyTimer: TimerHandle | undefined;
  private busy = false;
  private stopped = false;
  private readonly counts: ServiceManagerCounters = { sent: 0, failed: 0, skipped: 0 };

  private constructor(
    private readonly options: ServiceManagerOptions & { send: NotifySender },
    /** Half the watchdog period, or undefined without a watchdog for this process. */
    readonly pingEveryMs: number | undefined,
  ) {}

  static fromEnv(options: ServiceManagerOptions): ServiceManager | undefined {
    const { env } = options;
    if (!env['NOTIFY_SOCKET']) return undefined;
    const usec = Number(env['WATCHDOG_USEC']);
    // WATCHDOG_PID names the process the watchdog is meant for; a child that inherited it is not.
    const forUs = env['WATCHDOG_PID'] === undefined || Number(env['WATCHDOG_PID']) === options.pid;
    const every = Number.isFinite(usec) && usec > 0 && forUs ? Math.max(1, Math.floor(usec / 2000)) : undefined;
    return new ServiceManager({ ...options, send: options.send ?? systemdNotifySender() }, every);
  }

  /**
   * READY=1 (again after 1, 2, 4 ... 30 s until the manager takes it: a lost READY would make systemd
   * stop the agent at its start timeout), then watchdog pings until `stopping()`.
   */
  ready(version: string): void {
    void this.sendReady(['READY=1', `STATUS=tcu-agent ${version} running`], 1000);
    if (this.pingEveryMs !== undefined) this.schedule(this.pingEveryMs);
  }

  private async sendReady(fields: readonly string[], retryMs: number): Promise<void> {
    if (this.stopped || (await this.notify(fields)) || this.stopped) return;
    this.readyTimer = this.options.clock.setTimeout(() => void this.sendReady(fields, Math.min(retryMs * 2, 30_000)), retryMs);
    this.readyTimer.unref?.();
  }

  /** STOPPING=1 and no more pings; the manager then waits for the process to exit. */
  async stopping(reason: string): Promise<void> {
    this.stopped = true;
    for (const t of [this.timer, this.readyTimer]) if (t !== undefined) this.options.clock.clearTimeout(t);
    this.timer = undefined;
    this.readyTimer = undefined;
    await this.notify(['STOPPING=1', `STATUS=stopping: ${reason}`]);
  }

  counters(): ServiceManagerCounters {
    return { ...this.counts };
  }

  /**
   * Each ping is scheduled by the previous one's timer: a blocked event loop sends none, and
   * systemd restarts the agent after WatchdogSec. A ping still waiting on the manager is not doubled.
   */
  private schedule(ms: number): void {
    this.timer = this.options.clock.setTimeout(() => {
      this.timer = undefined;
      if (this.stopped) return;
      if (this.busy) this.counts.skipped++;
      else void this.notify(['WATCHDOG=1']);
      this.schedule(ms);
    }, ms);
    this.timer.unref?.();
  }

  /** Sends one notification; false when the manager did not take it (counted, the first logged). */
  private async notify(fields: readonly string[]): Promise<boolean> {
    this.busy = true;
    try {
      await this.options.send(fields);
      this.counts.sent++;
      return true;
    } catch (err) {
      // The first failure is logged; later ones are counted (a manager that went away).
      if (this.counts.failed++ === 0) {
        const e = new TcuError('SERVICE_NOTIFY_FAILED', err instanceof Error ? err.message : String(err), { cause: err });
        this.options.logger.warn({ code: e.code, err: e.message }, 'the service manager did not take a notification (further failures are counted)');
      }
      return false;
    } finally {
      this.busy = false;
    }
  }
}
