/** Reconnection back-off of the uplink: exponential, capped, with jitter, and longer after a refusal. */

export interface BackoffOptions {
  /** First delay after a failed or lost connection. Default 1000 ms. */
  initialMs?: number;
  /** Cap of the delay. Default 60 000 ms. */
  maxMs?: number;
  /** Each delay is spread by ± this fraction at random, so a fleet does not reconnect in step. Default 0.2. */
  jitter?: number;
  /** First delay after the broker refused our credentials (UPLINK_AUTH). Default 30 000 ms. */
  authInitialMs?: number;
  /** Cap of the delay after refusals. Default 600 000 ms (10 minutes). */
  authMaxMs?: number;
}

export interface ResolvedBackoff {
  initialMs: number;
  maxMs: number;
  jitter: number;
  authInitialMs: number;
  authMaxMs: number;
}

export function resolveBackoff(options: BackoffOptions = {}): ResolvedBackoff {
  const initialMs = Math.max(0, options.initialMs ?? 1000);
  const maxMs = Math.max(initialMs, options.maxMs ?? 60_000);
  const authInitialMs = Math.max(0, options.authInitialMs ?? 30_000);
  return {
    initialMs,
    maxMs,
    jitter: Math.min(1, Math.max(0, options.jitter ?? 0.2)),
    authInitialMs,
    authMaxMs: Math.max(authInitialMs, options.authMaxMs ?? 600_000),
  };
}

/**
 * Delay before the next attempt. `attempt` counts consecutive failures from 0; `auth` selects the
 * longer schedule used while the broker refuses our credentials (retrying those quickly only
 * loads the broker: a fix takes an operator). `random` returns [0, 1).
 */
export function backoffDelay(attempt: number, backoff: ResolvedBackoff, random: () => number, auth = false): number {
  const initial = auth ? backoff.authInitialMs : backoff.initialMs;
  const max = auth ? backoff.authMaxMs : backoff.maxMs;
  const base = Math.min(max, initial * 2 ** Math.min(Math.max(0, attempt), 40));
  const r = Math.min(1, Math.max(0, random()));
  return Math.max(0, Math.round(base * (1 + backoff.jitter * (2 * r - 1))));
}
