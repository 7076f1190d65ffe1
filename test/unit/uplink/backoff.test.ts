import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay, resolveBackoff } from '../../../agent/uplink/backoff.js';

const mid = (): number => 0.5;

describe('backoffDelay', () => {
  it('doubles from initialMs up to maxMs (no jitter at the midpoint)', () => {
    const b = resolveBackoff({ initialMs: 100, maxMs: 1000, jitter: 0.2 });
    expect([0, 1, 2, 3, 4, 5, 50, 1e9].map((a) => backoffDelay(a, b, mid))).toEqual([100, 200, 400, 800, 1000, 1000, 1000, 1000]);
  });

  it('spreads each delay by ± jitter', () => {
    const b = resolveBackoff({ initialMs: 1000, maxMs: 1000, jitter: 0.25 });
    expect(backoffDelay(0, b, () => 0)).toBe(750);
    expect(backoffDelay(0, b, () => 0.999999)).toBe(1250);
    fc.assert(
      fc.property(fc.nat(100), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, r) => {
        const d = backoffDelay(attempt, b, () => r);
        return d >= 750 && d <= 1250;
      }),
    );
  });

  it('backs off longer after refused credentials', () => {
    const b = resolveBackoff({ initialMs: 100, maxMs: 1000, authInitialMs: 5000, authMaxMs: 20_000, jitter: 0 });
    expect([0, 1, 2, 3].map((a) => backoffDelay(a, b, mid, true))).toEqual([5000, 10_000, 20_000, 20_000]);
    expect(backoffDelay(0, b, mid, true)).toBeGreaterThan(backoffDelay(10, b, mid));
  });

  it('has sane defaults and clamps nonsense', () => {
    const b = resolveBackoff();
    expect(b).toEqual({ initialMs: 1000, maxMs: 60_000, jitter: 0.2, authInitialMs: 30_000, authMaxMs: 600_000 });
    const odd = resolveBackoff({ initialMs: 500, maxMs: 100, jitter: 7 });
    expect(odd.maxMs).toBe(500);
    expect(odd.jitter).toBe(1);
    expect(backoffDelay(-3, odd, () => 2)).toBe(1000);
  });
});
