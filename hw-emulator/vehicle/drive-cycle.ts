import type { DrivePhase, GearLever, Ignition, RoadType } from './state.js';
import { chance, gaussian, pick, randomInt, type Rng, uniform } from './random.js';

/**
 * The driver: a state machine that walks through a drive cycle and says what the car should do
 * (ignition, lever, target speed, path curvature). The vehicle model does the physics.
 *
 * parked (ignition off) → accessory → warm-up in P → [reverse out] → urban legs → [highway] →
 * urban legs → parking in P → ignition off → parked → ... Each urban leg ends at a traffic light
 * (stop), a junction (90° turn) or runs on into the next leg.
 */

export interface DriveCycleOptions {
  /** Seconds parked with the ignition off before the first trip. Default 10. */
  initialParkSeconds?: number;
  /** Range of seconds parked between trips. Default [60, 240]. */
  parkSeconds?: readonly [number, number];
  /** Probability a trip includes a highway stretch. Default 0.7. */
  highwayProbability?: number;
}

export interface DriverCommand {
  phase: DrivePhase;
  road: RoadType;
  ignition: Ignition;
  gear: GearLever;
  /** Speed the driver aims for now, m/s (≥ 0; the direction follows from the lever). */
  targetSpeedMps: number;
  /** Comfortable acceleration the driver allows, m/s². */
  comfortAccelMps2: number;
  /** Path curvature the driver steers towards, 1/m, positive to the left. */
  curvatureTarget: number;
  /** Brake pedal % held while standing still in gear. */
  holdBrakePct: number;
}

/** What the driver sees of the car after each step. */
export interface DriverFeedback {
  speedMps: number;
  /** Distance travelled during the step, m. */
  distanceM: number;
  /** Absolute heading change during the step, degrees. */
  headingChangeDeg: number;
}

type LegEnd = 'stop' | 'turn' | 'continue' | 'park';
type Stage = 'out' | 'highway' | 'in';

interface Leg {
  targetMps: number;
  remainingM: number;
  end: LegEnd;
  endSpeedMps: number;
  decelMps2: number;
}

const URBAN_KMH: readonly number[] = [30, 40, 50, 50, 50, 60];
const TURN_RADIUS_M = 14;
const STANDSTILL_MPS = 0.05;

export class DriveCycle {
  private readonly cmd: DriverCommand;
  private readonly parkRange: readonly [number, number];
  private readonly highwayProbability: number;
  private timerS: number;
  private stage: Stage = 'out';
  private legsLeft = 0;
  private highwayLeftM = 0;
  private leg: Leg = { targetMps: 0, remainingM: 0, end: 'continue', endSpeedMps: 0, decelMps2: 1.5 };
  private turning = false;
  private turnDir = 1;
  private turnDoneDeg = 0;
  private wobbleMps = 0;
  private laneCurvature = 0;

  constructor(
    private readonly rng: Rng,
    options: DriveCycleOptions = {},
  ) {
    this.parkRange = options.parkSeconds ?? [60, 240];
    this.highwayProbability = options.highwayProbability ?? 0.7;
    this.timerS = options.initialParkSeconds ?? 10;
    this.cmd = {
      phase: 'parked',
      road: 'urban',
      ignition: 'off',
      gear: 'P',
      targetSpeedMps: 0,
      comfortAccelMps2: 1.8,
      curvatureTarget: 0,
      holdBrakePct: 0,
    };
  }

  get command(): Readonly<DriverCommand> {
    return this.cmd;
  }

  update(dtS: number, fb: DriverFeedback): void {
    this.timerS -= dtS;
    switch (this.cmd.phase) {
      case 'parked':
        if (this.timerS <= 0) this.enter('accessory', uniform(this.rng, 2, 5));
        break;
      case 'accessory':
        if (this.timerS <= 0) {
          this.planTrip();
          this.enter('warmup', uniform(this.rng, 6, 15));
        }
        break;
      case 'warmup':
        if (this.timerS <= 0) {
          if (chance(this.rng, 0.5)) this.startReversing();
          else this.startNextLeg();
        }
        break;
      case 'reversing':
        this.leg.remainingM -= fb.distanceM;
        this.cmd.targetSpeedMps = Math.min(this.leg.targetMps, Math.sqrt(2 * 0.8 * Math.max(0, this.leg.remainingM)));
        if (this.leg.remainingM <= 0 && fb.speedMps < STANDSTILL_MPS) {
          this.cmd.gear = 'D';
          this.enter('stopped', uniform(this.rng, 1, 2));
        }
        break;
      case 'driving':
        this.drive(dtS, fb);
        break;
      case 'stopped':
        if (this.timerS <= 0) this.startNextLeg();
        break;
      case 'parking':
        if (this.timerS <= 0) {
          this.enter('parked', uniform(this.rng, this.parkRange[0], this.parkRange[1]));
        }
        break;
    }
  }

  private enter(phase: DrivePhase, seconds: number): void {
    const c = this.cmd;
    c.phase = phase;
    this.timerS = seconds;
    c.targetSpeedMps = 0;
    c.curvatureTarget = 0;
    c.holdBrakePct = 0;
    switch (phase) {
      case 'parked':
        c.ignition = 'off';
        c.gear = 'P';
        c.road = 'urban';
        break;
      case 'accessory':
        c.ignition = 'acc';
        break;
      case 'warmup':
        c.ignition = 'on';
        c.gear = 'P';
        break;
      case 'stopped':
        c.holdBrakePct = uniform(this.rng, 18, 35);
        break;
      case 'parking':
        c.gear = 'P';
        break;
      default:
        break;
    }
  }

  private planTrip(): void {
    this.stage = 'out';
    this.legsLeft = randomInt(this.rng, 3, 8);
    this.highwayLeftM = chance(this.rng, this.highwayProbability) ? uniform(this.rng, 4000, 20000) : 0;
  }

  private startReversing(): void {
    const c = this.cmd;
    c.phase = 'reversing';
    c.gear = 'R';
    c.comfortAccelMps2 = 0.8;
    c.holdBrakePct = 20;
    this.leg = { targetMps: 1.6, remainingM: uniform(this.rng, 4, 9), end: 'stop', endSpeedMps: 0, decelMps2: 0.8 };
  }

  private startNextLeg(): void {
    const c = this.cmd;
    c.phase = 'driving';
    c.gear = 'D';
    c.holdBrakePct = 25;
    this.turning = false;
    this.leg = this.nextLeg();
    c.road = this.stage === 'highway' ? 'highway' : 'urban';
    c.comfortAccelMps2 = c.road === 'highway' ? 1.3 : uniform(this.rng, 1.4, 2.2);
  }

  private nextLeg(): Leg {
    if (this.stage === 'out' && this.legsLeft <= 0) this.stage = this.highwayLeftM > 0 ? 'highway' : 'in';
    if (this.stage === 'highway' && this.highwayLeftM <= 0) {
      this.stage = 'in';
      this.legsLeft = randomInt(this.rng, 3, 8);
    }
    if (this.stage === 'highway') {
      const length = Math.min(this.highwayLeftM, uniform(this.rng, 1500, 5000));
      this.highwayLeftM -= length;
      const last = this.highwayLeftM <= 0;
      return {
        targetMps: uniform(this.rng, 100, 130) / 3.6,
        remainingM: length,
        end: 'continue',
        endSpeedMps: last ? 60 / 3.6 : 0,
        decelMps2: 0.9,
      };
    }
    this.legsLeft--;
    const targetMps = pick(this.rng, URBAN_KMH) / 3.6;
    const remainingM = uniform(this.rng, 150, 700);
    if (this.stage === 'in' && this.legsLeft <= 0) {
      return { targetMps, remainingM, end: 'park', endSpeedMps: 0, decelMps2: 1.2 };
    }
    const r = this.rng.next();
    const end: LegEnd = r < 0.4 ? 'stop' : r < 0.75 ? 'turn' : 'continue';
    const endSpeedMps = end === 'turn' ? uniform(this.rng, 17, 24) / 3.6 : end === 'stop' ? 0 : targetMps;
    return { targetMps, remainingM, end, endSpeedMps, decelMps2: uniform(this.rng, 1.3, 2.2) };
  }

  private drive(dtS: number, fb: DriverFeedback): void {
    const c = this.cmd;
    const highway = c.road === 'highway';
    const wobbleMax = highway ? 1.2 : 0.6;
    this.wobbleMps = clamp(this.wobbleMps + gaussian(this.rng) * 0.15 * Math.sqrt(dtS), -wobbleMax, wobbleMax);
    const laneMax = highway ? 1 / 1500 : 1 / 3000;
    this.laneCurvature = clamp(this.laneCurvature + gaussian(this.rng) * 6e-5 * Math.sqrt(dtS), -laneMax, laneMax);

    if (this.turning) {
      this.turnDoneDeg += fb.headingChangeDeg;
      c.targetSpeedMps = this.leg.endSpeedMps;
      c.curvatureTarget = this.turnDir / TURN_RADIUS_M;
      if (this.turnDoneDeg >= 78) this.startNextLeg();
      return;
    }

    const leg = this.leg;
    leg.remainingM -= fb.distanceM;
    const cruise = Math.max(0, leg.targetMps + this.wobbleMps);
    const approach = Math.sqrt(leg.endSpeedMps ** 2 + 2 * leg.decelMps2 * Math.max(0, leg.remainingM - 2));
    c.targetSpeedMps = leg.end === 'continue' && leg.endSpeedMps === 0 ? cruise : Math.min(cruise, approach);
    c.curvatureTarget = this.laneCurvature;
    if (leg.remainingM > 0) return;

    switch (leg.end) {
      case 'continue':
        this.startNextLeg();
        break;
      case 'turn':
        this.turning = true;
        this.turnDir = chance(this.rng, 0.5) ? 1 : -1;
        this.turnDoneDeg = 0;
        break;
      case 'stop':
      case 'park':
        c.targetSpeedMps = 0;
        if (fb.speedMps < STANDSTILL_MPS) {
          if (leg.end === 'stop') this.enter('stopped', uniform(this.rng, 6, 40));
          else this.enter('parking', uniform(this.rng, 3, 6));
        }
        break;
    }
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
