/**
 * The health check after the restart into a new slot (docs/OTA.md, "Boot state and health check"):
 * the agent is up (it runs this), the broker is reachable (the uplink connected), and CAN frames
 * arrive (every configured bus received at least one frame since the agent started). Polls until
 * all three hold or the deadline passes; the answer names each check, for the audit log.
 *
 * What cannot be judged is not held against the new software: the broker while the modem has no
 * network registration (an underground car park: the uplink is not even allowed to try), and CAN
 * frames while the ignition is known to be off (buses sleep; updates usually require ignition off).
 * Those checks then read `'not-judged'` in the audit log.
 */
import type { Clock } from '../../core/clock.js';
import type { HealthResult } from '../../ota/campaign/index.js';

export interface HealthProbe {
  uplinkConnected(): boolean;
  /** Frames received since the agent started, per bus. */
  busFrames(): Record<string, number>;
  /** True when the modem says there is no network (offline, searching); absent: a fixed network. */
  noNetwork?(): boolean;
  /** True when the ignition is known to be off. */
  ignitionOff?(): boolean;
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
  const connected = probe.uplinkConnected();
  const brokerJudged = connected || probe.noNetwork?.() !== true;
  const broker = connected || !brokerJudged;
  const silent = Object.entries(probe.busFrames())
    .filter(([, n]) => n <= 0)
    .map(([bus]) => bus);
  const canJudged = silent.length === 0 || probe.ignitionOff?.() !== true;
  const can = silent.length === 0 || !canJudged;
  const problems = [...(broker ? [] : ['the broker was not reached']), ...(can ? [] : [`no CAN frames on ${silent.join(', ')}`])];
  return {
    ok: broker && can,
    // The audit log keeps booleans: a check that could not be judged is recorded as passed, and named in `detail`.
    checks: { agent: true, broker, can },
    ...(problems.length > 0 ? { detail: problems.join('; ') } : !brokerJudged || !canJudged ? { detail: `not judged: ${[...(brokerJudged ? [] : ['broker (no network)']), ...(canJudged ? [] : ['CAN (ignition off)'])].join(', ')}` } : {}),
  };
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
