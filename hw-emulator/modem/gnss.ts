import { randomInt, type Rng, uniform } from '../vehicle/random.js';
import type { DrivePhase, GnssState, RoadType } from '../vehicle/state.js';
import type { VehicleModel } from '../vehicle/model.js';
import type { GnssEpoch, SatelliteInView } from './nmea.js';
import type { SkyCondition } from './scenarios.js';

/**
 * The GNSS receiver of the simulated modem: a fixed GPS constellation that drifts across the sky,
 * how many satellites the car's surroundings let it use, time to first fix, and the position of
 * the vehicle model's track, sampled once a second with no added noise.
 */

/** What the receiver needs from the vehicle at one second. `VehicleState` fits. */
export interface TrackPoint {
  gnss: GnssState;
  road: RoadType;
  phase: DrivePhase;
}

export interface VehicleTrack {
  /** The vehicle `second` whole seconds after the start; called with 0, 1, 2, ... in order (gaps allowed). */
  atSecond(second: number): TrackPoint;
}

/**
 * The track of a vehicle model, stepped one whole second at a time so the same seed always gives
 * the same positions (the model's random draws depend on its step sizes).
 */
export function modelTrack(model: VehicleModel): VehicleTrack {
  let current = 0;
  return {
    atSecond(second: number): TrackPoint {
      while (current < second) {
        model.step(1000);
        current++;
      }
      return model.snapshot();
    },
  };
}

/** GPS satellites in orbit that the simulation draws from (about half are above the horizon). */
const CONSTELLATION = 24;
/** Seconds from power-on to the first fix. */
const TTFF_S = { min: 3, max: 8 };
/** Seconds to fix again after the sky comes back (a tunnel's exit). */
const REACQUIRE_S = 2;

interface Satellite {
  prn: number;
  azimuth0: number;
  phase0: number;
  rate: number;
  snrBase: number;
}

export class GnssReceiver {
  private readonly sats: Satellite[] = [];
  private onSinceS: number | undefined;
  private fixFromS = Infinity;
  private usable = 0;
  private target = 0;
  private wasLost = false;
  private hdopJitter = 1;
  private last: GnssEpoch | undefined;

  constructor(private readonly rng: Rng) {
    const prns = new Set<number>();
    while (prns.size < CONSTELLATION) prns.add(randomInt(rng, 1, 32));
    for (const prn of [...prns].sort((a, b) => a - b)) {
      this.sats.push({ prn, azimuth0: randomInt(rng, 0, 359), phase0: uniform(rng, 0, 2 * Math.PI), rate: uniform(rng, 1e-4, 3e-4), snrBase: randomInt(rng, 36, 46) });
    }
  }

  get on(): boolean {
    return this.onSinceS !== undefined;
  }

  /** Powers the receiver on at `second`; the first fix comes a few seconds later. */
  start(second: number): void {
    if (this.onSinceS !== undefined) return;
    this.onSinceS = second;
    this.fixFromS = second + randomInt(this.rng, TTFF_S.min, TTFF_S.max);
    this.usable = 0;
    this.last = undefined;
  }

  stop(): void {
    this.onSinceS = undefined;
    this.fixFromS = Infinity;
    this.last = undefined;
  }

  /** The latest epoch, undefined while off or before the first second. */
  latest(): GnssEpoch | undefined {
    return this.last;
  }

  /** Computes the epoch of `second` (UTC `utcMs`) at the track point under the given sky. */
  epoch(second: number, utcMs: number, point: TrackPoint, sky: SkyCondition): GnssEpoch | undefined {
    if (this.onSinceS === undefined) return undefined;
    const lost = sky === 'lost';
    let skyChanged = false;
    if (lost) {
      skyChanged = !this.wasLost;
      this.wasLost = true;
    } else if (this.wasLost) {
      this.wasLost = false;
      skyChanged = true;
      this.fixFromS = Math.max(this.fixFromS, second + REACQUIRE_S);
    }
    // A new draw every 10 s, and at once when the sky changes (out of a tunnel: satellites return).
    if (second % 10 === 0 || this.target === 0 || skyChanged) {
      const range = lost ? [0, 2] : point.road === 'highway' ? [9, 12] : point.phase === 'parked' ? [5, 8] : [6, 10];
      this.target = randomInt(this.rng, range[0]!, range[1]!);
      this.hdopJitter = uniform(this.rng, 0.9, 1.1);
    }
    // Satellites come and go one at a time, except that a tunnel cuts them all at once.
    if (lost) this.usable = Math.min(this.usable, this.target);
    else this.usable += Math.sign(this.target - this.usable);

    const inView = this.sky(second, lost);
    const tracked = inView.filter((s) => s.snr !== undefined).sort((a, b) => b.elevation - a.elevation);
    const used = tracked.slice(0, Math.min(this.usable, 12)).map((s) => s.prn).sort((a, b) => a - b);
    const fixed = second >= this.fixFromS && used.length >= 3;
    const g = point.gnss;
    const hdop = round1((0.5 + 4.5 / Math.max(used.length, 1)) * this.hdopJitter);
    this.last = {
      utcMs,
      inView,
      used: fixed ? used : [],
      fix: fixed
        ? { latitude: g.latitude, longitude: g.longitude, altitudeM: g.altitudeM, courseDeg: g.headingDeg, speedKmh: g.speedKmh, hdop, pdop: round1(hdop * 1.6), vdop: round1(hdop * 1.3), dimension: used.length >= 4 ? 3 : 2 }
        : undefined,
    };
    return this.last;
  }

  private sky(second: number, lost: boolean): SatelliteInView[] {
    const out: SatelliteInView[] = [];
    for (const s of this.sats) {
      const elevation = Math.round(90 * Math.sin(s.phase0 + s.rate * second * Math.PI));
      if (elevation < 5) continue;
      const azimuth = Math.round(s.azimuth0 + second * 0.004) % 360;
      const snr = lost ? undefined : Math.min(50, Math.round(s.snrBase + elevation / 15));
      out.push({ prn: s.prn, elevation, azimuth, snr });
    }
    return out;
  }
}

function round1(v: number): number {
  return Math.round(v * 10) / 10;
}
