/**
 * How the agent's campaigns stop: a hook the campaign runner is waiting on (a download, a consent,
 * a health check) never settles once the agent stops, so nothing more is written to the campaign
 * store; for the campaign that is a power cut, and the next start resumes from the store. A step
 * that is not a hook (an install, an activation) is given a bounded time to finish.
 */
import type { Clock } from '../../core/clock.js';

export class StopGate {
  private isStopped = false;
  private inHook = 0;
  private onParked: (() => void) | undefined;

  get stopped(): boolean {
    return this.isStopped;
  }

  /** `work`'s result, unless the agent stops first: then a promise that never settles. */
  hold<T>(work: () => Promise<T>): Promise<T> {
    if (this.isStopped) {
      this.onParked?.();
      return new Promise<T>(() => undefined);
    }
    this.inHook++;
    return new Promise<T>((resolve, reject) => {
      const settle = (fn: () => void): void => {
        this.inHook--;
        if (this.isStopped) this.onParked?.();
        else fn();
      };
      work().then(
        (v) => settle(() => resolve(v)),
        (e: unknown) => settle(() => reject(e)),
      );
    });
  }

  /**
   * Stops: resolves at once when a hook is waiting (it is abandoned), else once `running` settled,
   * the runner reached a hook, or `ms` passed.
   */
  stop(running: Promise<unknown> | undefined, clock: Clock, ms: number): Promise<void> {
    this.isStopped = true;
    if (running === undefined || this.inHook > 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const t = clock.setTimeout(resolve, ms);
      const done = (): void => {
        clock.clearTimeout(t);
        resolve();
      };
      this.onParked = done;
      void running.finally(done);
    });
  }
}
