import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Clock, TimerHandle } from '../../../core/clock.js';
import { isTcuError } from '../../../core/errors.js';
import { fixesOf } from '../../../drivers/gnss/fix.js';
import { parseNmea } from '../../../drivers/gnss/nmea.js';
import { TrustedTime, gnssTimeProblem, type TrustedTimeState } from '../../../drivers/gnss/trusted-time.js';
import type { GnssFix } from '../../../drivers/gnss/types.js';
import { epochSentences } from './nmea-writer.js';

/** A board: a system clock that can be set to anything (a dead RTC, NTP steps) and a monotonic one. */
class BoardClock implements Clock {
  constructor(
    public wall = 0,
    public mono = 0,
  ) {}
  now(): number {
    return this.wall;
  }
  nowMicros(): number {
    return this.wall * 1000;
  }
  monotonic(): number {
    return this.mono;
  }
  setTimeout(): TimerHandle {
    throw new Error('TrustedTime uses no timers');
  }
  clearTimeout(): void {}
  advance(ms: number): void {
    this.wall += ms;
    this.mono += ms;
  }
}

const T = Date.UTC(2025, 5, 1, 12, 0, 0);
const goodFix = (over: Partial<GnssFix> = {}): GnssFix => ({ timeMs: T, quality: 'gps', fixType: '3d', satellitesUsed: 8, valid: true, source: 'nmea', latitude: 1, longitude: 2, ...over });

describe('TrustedTime', () => {
  it('after a power cut the RTC says 1970; a GNSS time is carried forward by the monotonic clock', () => {
    const clock = new BoardClock(0, 10_000);
    const tt = new TrustedTime({ clock });
    expect([tt.now(), tt.floor(), tt.isTrusted(), tt.state()]).toEqual([0, undefined, false, undefined]);
    expect(tt.observe('gnss', T)).toEqual({ accepted: true, advanced: true, floorMs: T });
    clock.advance(1500);
    expect(tt.now()).toBe(T + 1500);
    expect(tt.isTrusted()).toBe(true);
    expect(tt.source()).toBe('gnss');
    // the system clock set ahead (NTP) is used; set back again, the floor holds
    clock.wall = T + 60_000;
    expect(tt.now()).toBe(T + 60_000);
    clock.wall = 5;
    expect(tt.now()).toBe(T + 1500);
  });

  it('refuses a time behind the trusted one, beyond the tolerance; accepts it within', () => {
    const clock = new BoardClock(0, 0);
    const tt = new TrustedTime({ clock, toleranceMs: 2000 });
    tt.observe('gnss', T);
    clock.advance(10_000);
    const within = tt.observe('broker', T + 10_000 - 1999);
    expect(within).toEqual({ accepted: true, advanced: false, floorMs: T + 10_000 });
    const behind = tt.observe('metadata', T + 10_000 - 2001);
    expect(behind.accepted).toBe(false);
    if (behind.accepted) return;
    expect(isTcuError(behind.error, 'TIME_UNTRUSTED')).toBe(true);
    expect(behind.error.details).toEqual({ source: 'metadata', utcMs: T + 10_000 - 2001, reason: 'behind', floorMs: T + 10_000 });
    expect(tt.now()).toBe(T + 10_000);
    expect(tt.counters()).toEqual({ observed: 3, advanced: 1, refused: 1, implausible: 0, gnssRejected: 0 });
  });

  it('takes a signed lower bound (raise): only ever raises the floor, never refused for being behind', () => {
    const clock = new BoardClock(0, 0);
    const tt = new TrustedTime({ clock, toleranceMs: 2000 });
    expect(tt.raise('metadata', T)).toEqual({ accepted: true, advanced: true, floorMs: T });
    expect(tt.isTrusted()).toBe(false); // a signing time says nothing about how late it is now
    clock.advance(10_000);
    // Metadata signed an hour before the floor: no evidence against it, nothing changes.
    expect(tt.raise('metadata', T - 3_600_000)).toEqual({ accepted: true, advanced: false, floorMs: T + 10_000 });
    expect(tt.raise('broker', T + 20_000)).toEqual({ accepted: true, advanced: true, floorMs: T + 20_000 });
    expect(tt.source()).toBe('broker');
    expect(tt.now()).toBe(T + 20_000);
    const r = tt.raise('metadata', Date.UTC(2101, 0, 1));
    expect(r.accepted === false && r.error.details['reason']).toBe('implausible');
    expect(tt.counters()).toMatchObject({ observed: 4, advanced: 2, refused: 0, implausible: 1 });
  });

  it('refuses implausible times (before 2020, after 2100, not a number)', () => {
    const tt = new TrustedTime({ clock: new BoardClock() });
    for (const t of [Date.UTC(2019, 11, 31), Date.UTC(2100, 0, 2), NaN, Infinity]) {
      const r = tt.observe('rtc', t);
      expect(r.accepted === false && r.error.details['reason']).toBe('implausible');
    }
    expect(tt.isTrusted()).toBe(false);
    expect(tt.counters().implausible).toBe(4);
  });

  it('an observation made earlier (atMonotonicMs) is carried forward from then', () => {
    const clock = new BoardClock(0, 5_000);
    const tt = new TrustedTime({ clock });
    tt.observe('gnss', T, 4_200);
    expect(tt.floor()).toBe(T + 800);
    tt.observe('gnss', T, 9_999_999); // a stamp in the future is clamped to now
    expect(tt.floor()).toBe(T + 800);
  });

  it('GNSS fixes count only when they are a real fix with a date and enough satellites', () => {
    expect(gnssTimeProblem(goodFix())).toBeUndefined();
    expect(gnssTimeProblem(goodFix({ valid: false }))).toBe('no valid fix');
    expect(gnssTimeProblem(goodFix({ timeMs: undefined }))).toBe('no date and time');
    expect(gnssTimeProblem(goodFix({ quality: 'estimated' }))).toBe('quality estimated');
    expect(gnssTimeProblem(goodFix({ quality: 'simulation' }))).toBe('quality simulation');
    expect(gnssTimeProblem(goodFix({ fixType: 'none' }))).toBe('fix type none');
    expect(gnssTimeProblem(goodFix({ satellitesUsed: undefined }))).toBe('satellites used unknown');
    expect(gnssTimeProblem(goodFix({ satellitesUsed: 3 }))).toBe('3 satellites used, 4 needed');
    expect(gnssTimeProblem(goodFix({ satellitesUsed: 3 }), { minSatellites: 3 })).toBeUndefined();
    expect(gnssTimeProblem(goodFix({ timeMs: Date.UTC(1999, 7, 22) }))).toMatch(/^date 1999-08-22/);

    const clock = new BoardClock(0, 2_000);
    const tt = new TrustedTime({ clock });
    const r = tt.observeGnss(goodFix({ satellitesUsed: 2 }));
    expect(r.accepted === false && r.error.details['reason']).toBe('gnss-fix');
    expect(tt.isTrusted()).toBe(false);
    expect(tt.observeGnss(goodFix({ monotonicMs: 1_500 }))).toMatchObject({ accepted: true, advanced: true });
    expect(tt.floor()).toBe(T + 500);
    expect(tt.counters()).toMatchObject({ gnssRejected: 1, advanced: 1 });
  });

  it('from NMEA: a 1998 receiver date (GPS week rollover era) is refused; a 2024 fix is taken', () => {
    const tt = new TrustedTime({ clock: new BoardClock() });
    const [old] = fixesOf(['$GPGGA,161229.487,3723.2475,N,12158.3416,W,1,07,1.0,9.0,M,,,,0000*18', '$GPRMC,161229.487,A,3723.2475,N,12158.3416,W,0.13,309.62,120598,,*10'].map((l) => parseNmea(l)));
    expect(tt.observeGnss(old!).accepted).toBe(false);
    const spec = { timeMs: Date.UTC(2024, 0, 2, 3, 4, 5), latitude: 48, longitude: 11, altitudeM: 500, knots: 0, courseDeg: 0, satellites: 7, hdop: 1 };
    const [now] = fixesOf(epochSentences(spec).map((l) => parseNmea(l)));
    expect(tt.observeGnss(now!)).toMatchObject({ accepted: true });
    expect(tt.now()).toBe(spec.timeMs);
  });

  it('survives a reboot through state()/restore(); a restored floor alone is not "trusted"', () => {
    const before = new BoardClock(0, 0);
    const tt = new TrustedTime({ clock: before });
    tt.observe('broker', T);
    before.advance(3_600_000);
    const state = JSON.parse(JSON.stringify(tt.state())) as TrustedTimeState;
    expect(state).toEqual({ version: 1, utcMs: T + 3_600_000, source: 'broker' });

    // power cut: the RTC restarts at 0, monotonic restarts at 0
    const after = new BoardClock(0, 0);
    const rebooted = new TrustedTime({ clock: after });
    rebooted.restore(state);
    expect(rebooted.isTrusted()).toBe(false);
    expect(rebooted.now()).toBe(T + 3_600_000);
    after.advance(1000);
    expect(rebooted.now()).toBe(T + 3_601_000);
    // a GNSS time an hour behind what we know (a spoofer, a receiver bug) is refused
    expect(rebooted.observeGnss(goodFix({ timeMs: T })).accepted).toBe(false);
    // a lower persisted state does not lower the floor
    rebooted.restore({ version: 1, utcMs: T, source: 'rtc' });
    expect(rebooted.now()).toBe(T + 3_601_000);
    for (const bad of [null, 'x', {}, { version: 2, utcMs: T, source: 'gnss' }, { version: 1, utcMs: 'T', source: 'gnss' }, { version: 1, utcMs: T, source: 'moon' }, { version: 1, utcMs: 5, source: 'gnss' }]) {
      expect(() => rebooted.restore(bad)).toThrow(expect.objectContaining({ code: 'TIME_UNTRUSTED', details: { reason: 'state' } }));
    }
  });
});

describe('TrustedTime properties', () => {
  type Op = { kind: 'advance'; ms: number } | { kind: 'wall'; to: number } | { kind: 'observe'; offset: number } | { kind: 'reboot'; wall: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 86_400_000 }) }),
    fc.record({ kind: fc.constant('wall' as const), to: fc.integer({ min: 0, max: Date.UTC(2090, 0, 1) }) }),
    // an observation relative to the current floor: behind, near, or ahead of it
    fc.record({ kind: fc.constant('observe' as const), offset: fc.integer({ min: -10 * 86_400_000, max: 10 * 86_400_000 }) }),
    fc.record({ kind: fc.constant('reboot' as const), wall: fc.integer({ min: 0, max: Date.UTC(2090, 0, 1) }) }),
  );

  it('the floor never goes back (it grows at least with the monotonic clock), refusals are exactly the times behind it, now() ≥ floor, reboots keep it', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const tolerance = 5000;
        let clock = new BoardClock(0, 1000);
        let tt = new TrustedTime({ clock, toleranceMs: tolerance });
        tt.observe('gnss', T);
        let lastFloor = tt.floor()!;
        for (const o of ops) {
          if (o.kind === 'advance') {
            clock.advance(o.ms);
            expect(tt.floor()!).toBe(lastFloor + o.ms);
          } else if (o.kind === 'wall') {
            clock.wall = o.to;
          } else if (o.kind === 'observe') {
            const t = lastFloor + o.offset;
            const r = tt.observe('broker', t);
            const plausible = t >= Date.UTC(2020, 0, 1) && t <= Date.UTC(2100, 0, 1);
            expect(r.accepted).toBe(plausible && o.offset >= -tolerance);
            if (r.accepted) expect(r.advanced).toBe(o.offset > 0);
          } else {
            const state = tt.state()!;
            clock = new BoardClock(o.wall, 0);
            tt = new TrustedTime({ clock, toleranceMs: tolerance });
            tt.restore(state);
            expect(tt.floor()!).toBe(Math.floor(lastFloor));
          }
          const floor = tt.floor()!;
          expect(floor).toBeGreaterThanOrEqual(Math.floor(lastFloor));
          expect(tt.now()).toBeGreaterThanOrEqual(Math.floor(floor));
          expect(tt.now()).toBeGreaterThanOrEqual(clock.wall);
          lastFloor = floor;
        }
      }),
      { numRuns: 500 },
    );
  });
});
