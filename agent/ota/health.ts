/**
 * The health check after the restart into a new slot (docs/OTA.md, "Boot state and health check"):
 * the agent is up (it runs this), the broker is reachable (the uplink connected), and CAN frames
 * arrive (every configured bus received at least one frame since the agent started). Polls until
 * all three hold or the deadline passes; the answer names each check, for the audit log.
 */
import type { Clock } from '../../core/clock.js';
import type { HealthResult } from '../../ota/campaign/index.js';

export interface HealthProbe {
  uplinkConnected(): boolean;
  /** Frames received since the agent started, per bus. */
  busFrames(): Record<string, number>;
}

export interface HealthOptions {
  clock: Clock;
  /** Give up (not healthy) after this long. */
  timeoutMs: number;
  /** Default 200 ms. */
  pollMs?: number;
  /** Resolves the wait early as it stands (the agent stops). */
  signal?: AbortSignal;
}

export function healthNow(probe: HealthProbe): HealthResult {
  const broker = probe.uplinkConnected();
  const frames = probe.busFrames();
  const silent = Object.entries(frames)
    .filter(([, n]) => n <= 0)
    .map(([bus]) => bus);
  const can = silent.length === 0;
  const problems = [...(broker ? [] : ['the broker was not reached']), ...(can ? [] : [`no CAN frames on ${silent.join(', ')}`])];
  return { ok: broker && can, checks: { agent: true, broker, can }, ...(problems.length === 0 ? {} : { detail: problems.join('; ') }) };
}

export function checkHealth(probe: HealthProbe, o: HealthOptions): Promise<HealthResult> {
  const deadline = o.clock.monotonic() + o.timeoutMs;
  return new Promise((resolve) => {
    const tick = (): void => {
      const r = healthNow(probe);
      if (r.ok || o.clock.monotonic() >= deadline || o.signal?.aborted) {
        resolve(r.ok ? r : { ...r, detail: `${r.detail ?? 'unhealthy'} within ${o.timeoutMs} ms` });
        return;
      }
      o.clock.setTimeout(tick, Math.min(o.pollMs ?? 200, Math.max(1, deadline - o.clock.monotonic())));
    };
    tick();
  });
}
