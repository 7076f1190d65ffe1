import type { Clock } from '../../core/clock.js';
import { Counters } from '../../core/counters.js';
import { TcuError } from '../../core/errors.js';
import type { GnssFix, GnssQuality } from './types.js';

/**
 * A clock that does not go back. The board's clock may be wrong after a power cut (an RTC without
 * a battery restarts in 1970 or at the image's build date), and OTA metadata expiry (UN R156;
 * tuf-js trusts the system clock) needs time that cannot be wound back to make expired metadata
 * look fresh. So: keep the highest trusted time seen (GNSS, broker, signed metadata ...), carry it
 * forward with the monotonic clock, and never accept a time behind it.
 *
 * - `observe(source, utcMs)` accepts a time at or above the trusted floor minus `toleranceMs`, and
 *   raises the floor when it is higher. A time further behind is refused with TIME_UNTRUSTED.
 * - `raise(source, utcMs)` takes a lower bound (a signing time): it only ever raises the floor.
 * - `now()` = max(system clock, floor): a system clock behind the floor is ignored; one ahead of it
 *   is used (a clock too far ahead fails safe: metadata looks expired, nothing stale is accepted).
 * - `state()` / `restore()` carry the floor across reboots (the caller persists it; no I/O here).
 *   Real time only moves forward, so the persisted floor is still a lower bound after any outage.
 * - GNSS fixes count only when they are a real fix (`gnssTimeProblem`).
 *
 * Pure apart from the injected Clock: `clock.now()` (system time) and `clock.monotonic()`.
 */

export type TrustedTimeSource = 'gnss' | 'broker' | 'metadata' | 'rtc' | 'ntp';

export interface TrustedTimeOptions {
  clock: Clock;
  /** An observation this far behind the floor is still accepted (not raising it). Default 5000 ms. */
  toleranceMs?: number;
  /** Earliest plausible time; anything before is refused. Default 2020-01-01T00:00:00Z. */
  minUtcMs?: number;
  /** Latest plausible time; anything after is refused (a floor there would block OTA). Default 2100-01-01. */
  maxUtcMs?: number;
}

/** What to persist. `utcMs` is the floor when `state()` was called. */
export interface TrustedTimeState {
  version: 1;
  utcMs: number;
  source: TrustedTimeSource;
}

export type TimeObservation =
  | { accepted: true; advanced: boolean; floorMs: number }
  | { accepted: false; error: TcuError; floorMs: number | undefined };

export interface GnssTimeCriteria {
  /** Satellites used in the solution; a time solution needs 4. Default 4. */
  minSatellites?: number;
  /** Default 2020-01-01 (older dates are GPS week-rollover bugs or a receiver with no almanac). */
  minUtcMs?: number;
}

export const TRUSTED_TIME_COUNTER_NAMES = [
  'observed',
  /** Observations that raised the floor. */
  'advanced',
  /** Behind the floor by more than the tolerance. */
  'refused',
  /** Not a number, before minUtcMs or after maxUtcMs. */
  'implausible',
  /** GNSS fixes not good enough to set the time (no fix, no date, too few satellites ...). */
  'gnssRejected',
] as const;
export type TrustedTimeCounters = Readonly<Record<(typeof TRUSTED_TIME_COUNTER_NAMES)[number], number>>;

export const MIN_PLAUSIBLE_UTC_MS = Date.UTC(2020, 0, 1);
export const MAX_PLAUSIBLE_UTC_MS = Date.UTC(2100, 0, 1);
const TRUSTED_GNSS_QUALITY: ReadonlySet<GnssQuality> = new Set(['gps', 'dgps', 'pps', 'rtk', 'float-rtk']);
const SOURCES: ReadonlySet<string> = new Set<TrustedTimeSource>(['gnss', 'broker', 'metadata', 'rtc', 'ntp']);

interface Anchor {
  utcMs: number;
  /** clock.monotonic() when utcMs was true. */
  monotonicMs: number;
  source: TrustedTimeSource;
}

export class TrustedTime {
  private readonly clock: Clock;
  private readonly toleranceMs: number;
  private readonly minUtcMs: number;
  private readonly maxUtcMs: number;
  private readonly stats = new Counters(TRUSTED_TIME_COUNTER_NAMES);
  private anchor: Anchor | undefined;
  private live = false;

  constructor(options: TrustedTimeOptions) {
    this.clock = options.clock;
    this.toleranceMs = options.toleranceMs ?? 5000;
    this.minUtcMs = options.minUtcMs ?? MIN_PLAUSIBLE_UTC_MS;
    this.maxUtcMs = options.maxUtcMs ?? MAX_PLAUSIBLE_UTC_MS;
  }

  /**
   * One trusted reading: `utcMs` was the time at monotonic `atMonotonicMs` (default: now). Never
   * throws; a refusal carries TIME_UNTRUSTED with details `{ source, utcMs, floorMs, reason }`.
   */
  observe(source: TrustedTimeSource, utcMs: number, atMonotonicMs?: number): TimeObservation {
    this.stats.inc('observed');
    const mono = this.clock.monotonic();
    const at = atMonotonicMs === undefined || !Number.isFinite(atMonotonicMs) ? mono : Math.min(atMonotonicMs, mono);
    const floor = this.floor();
    if (!Number.isFinite(utcMs) || utcMs < this.minUtcMs || utcMs > this.maxUtcMs) {
      this.stats.inc('implausible');
      return this.refusal(source, utcMs, floor, 'implausible', `time ${String(utcMs)} from ${source} is outside the plausible range`);
    }
    // The observation carried forward to this instant, to compare with the floor now.
    const candidate = utcMs + (mono - at);
    if (floor !== undefined && candidate < floor - this.toleranceMs) {
      this.stats.inc('refused');
      return this.refusal(source, utcMs, floor, 'behind', `time from ${source} is ${Math.round(floor - candidate)} ms behind the trusted time`);
    }
    this.live = true;
    if (floor === undefined || candidate > floor) {
      this.anchor = { utcMs, monotonicMs: at, source };
      this.stats.inc('advanced');
      return { accepted: true, advanced: true, floorMs: candidate };
    }
    return { accepted: true, advanced: false, floorMs: floor };
  }

  /**
   * A signed lower bound rather than a reading of the present: `utcMs` is a time that has already
   * passed (metadata signed then, a cloud message sent then; delivery may have taken any time). It
   * raises the floor when higher and is never refused for being behind it: an old signature or a
   * late message is no evidence against the floor. Implausible values are refused like `observe`.
   * Does not make the time "live" (`isTrusted`): it says nothing about how late it is now.
   */
  raise(source: TrustedTimeSource, utcMs: number): TimeObservation {
    this.stats.inc('observed');
    const floor = this.floor();
    if (!Number.isFinite(utcMs) || utcMs < this.minUtcMs || utcMs > this.maxUtcMs) {
      this.stats.inc('implausible');
      return this.refusal(source, utcMs, floor, 'implausible', `time ${String(utcMs)} from ${source} is outside the plausible range`);
    }
    if (floor !== undefined && utcMs <= floor) return { accepted: true, advanced: false, floorMs: floor };
    this.anchor = { utcMs, monotonicMs: this.clock.monotonic(), source };
    this.stats.inc('advanced');
    return { accepted: true, advanced: true, floorMs: utcMs };
  }

  /** Observes a fix's time when `gnssTimeProblem` finds nothing wrong with it. */
  observeGnss(fix: GnssFix, criteria: GnssTimeCriteria = {}): TimeObservation {
    const problem = gnssTimeProblem(fix, { minUtcMs: this.minUtcMs, ...criteria });
    if (problem !== undefined) {
      this.stats.inc('gnssRejected');
      return this.refusal('gnss', fix.timeMs ?? NaN, this.floor(), 'gnss-fix', `GNSS fix not trusted for time: ${problem}`);
    }
    return this.observe('gnss', fix.timeMs!, fix.monotonicMs);
  }

  /** The trusted floor carried forward to this instant; undefined before any observation or restore. */
  floor(): number | undefined {
    const a = this.anchor;
    return a === undefined ? undefined : a.utcMs + (this.clock.monotonic() - a.monotonicMs);
  }

  /** max(system clock, trusted floor), ms since the epoch. */
  now(): number {
    const system = this.clock.now();
    const floor = this.floor();
    return floor === undefined ? system : Math.max(system, Math.floor(floor));
  }

  /** A source was accepted since this process started (a restored floor alone does not count). */
  isTrusted(): boolean {
    return this.live;
  }

  /** Who set the floor last (`rtc`... or the source of a restored state). */
  source(): TrustedTimeSource | undefined {
    return this.anchor?.source;
  }

  /** The floor to persist; undefined when there is none. */
  state(): TrustedTimeState | undefined {
    const a = this.anchor;
    const floor = this.floor();
    return a === undefined || floor === undefined ? undefined : { version: 1, utcMs: Math.floor(floor), source: a.source };
  }

  /**
   * Raises the floor to a persisted one (a lower one is ignored). `state` is what the caller read
   * back, unchecked: anything that is not a TrustedTimeState throws TIME_UNTRUSTED (reason `state`).
   */
  restore(state: unknown): void {
    const s = state as Partial<TrustedTimeState> | null;
    if (
      typeof s !== 'object' ||
      s === null ||
      s.version !== 1 ||
      typeof s.utcMs !== 'number' ||
      !Number.isFinite(s.utcMs) ||
      s.utcMs < this.minUtcMs ||
      s.utcMs > this.maxUtcMs ||
      typeof s.source !== 'string' ||
      !SOURCES.has(s.source)
    ) {
      throw new TcuError('TIME_UNTRUSTED', 'the persisted trusted time is not valid', { details: { reason: 'state' } });
    }
    const floor = this.floor();
    if (floor === undefined || s.utcMs > floor) this.anchor = { utcMs: s.utcMs, monotonicMs: this.clock.monotonic(), source: s.source };
  }

  counters(): TrustedTimeCounters {
    return this.stats.snapshot();
  }

  private refusal(source: TrustedTimeSource, utcMs: number, floor: number | undefined, reason: string, message: string): TimeObservation {
    const details: Record<string, unknown> = { source, utcMs, reason };
    if (floor !== undefined) details['floorMs'] = Math.floor(floor);
    return { accepted: false, error: new TcuError('TIME_UNTRUSTED', message, { details }), floorMs: floor };
  }
}

/**
 * Why a fix's time must not be trusted, or undefined when it may: the fix must be valid, with a
 * date (RMC or +QGPSLOC), a real solution (quality gps, dgps, pps, rtk or float-rtk: not
 * estimated, manual or simulated), not a GSA "no fix", at least `minSatellites` satellites used
 * (known from GGA, GSA or +QGPSLOC), and on or after `minUtcMs`.
 */
export function gnssTimeProblem(fix: GnssFix, criteria: GnssTimeCriteria = {}): string | undefined {
  const minSatellites = criteria.minSatellites ?? 4;
  const minUtcMs = criteria.minUtcMs ?? MIN_PLAUSIBLE_UTC_MS;
  if (!fix.valid) return 'no valid fix';
  if (fix.timeMs === undefined) return 'no date and time';
  if (!TRUSTED_GNSS_QUALITY.has(fix.quality)) return `quality ${fix.quality}`;
  if (fix.fixType === 'none') return 'fix type none';
  if (fix.satellitesUsed === undefined) return 'satellites used unknown';
  if (fix.satellitesUsed < minSatellites) return `${fix.satellitesUsed} satellites used, ${minSatellites} needed`;
  if (fix.timeMs < minUtcMs) return `date ${new Date(fix.timeMs).toISOString()} is before ${new Date(minUtcMs).toISOString()}`;
  return undefined;
}
