import { TcuError } from '../../core/errors.js';
import { DriveCycle, type DriveCycleOptions, type DriverFeedback } from './drive-cycle.js';
import { destination, normalizeHeading } from './geo.js';
import {
  DEFAULT_SPEC,
  batteryUsedKWh,
  fuelUsedL,
  maxAccelMps2,
  pedalsFor,
  selectGear,
  targetEngineRpm,
  type VehicleSpec,
  wheelRpm,
} from './powertrain.js';
import { gaussian, type Rng, SeededRng, uniform } from './random.js';
import type { GearLever, Ignition, VehicleState } from './state.js';

export interface StartPosition {
  latitude: number;
  longitude: number;
  altitudeM?: number;
  headingDeg?: number;
}

export interface VehicleModelOptions extends DriveCycleOptions {
  /** Random source; defaults to `new SeededRng(seed ?? 1)`. */
  rng?: Rng;
  seed?: number;
  /** Default: within about a kilometre of Wolfsburg (52.4227 N, 10.7865 E), drawn from the seed. */
  start?: StartPosition;
  odometerKm?: number;
  fuelLevelPct?: number;
  socPct?: number;
  /** Mean outside temperature; default drawn from the seed between 4 and 24 °C. */
  outsideTempC?: number;
  spec?: Partial<VehicleSpec>;
}

/** Longest integration step; larger `step` calls are split. */
const MAX_SUBSTEP_S = 0.02;
const CRANK_S = 0.8;
const JERK_MPS3 = 2.5;
const MAX_DECEL_MPS2 = 4;
const CURVATURE_RATE = 0.06;
const DEG = 180 / Math.PI;
/** Refuel or recharge at the end of a trip when below this, %. */
const REPLENISH_BELOW_PCT = 12;

/**
 * A deterministic car driving an endless drive cycle. `step(dtMs)` advances it; `snapshot()` reads
 * every quantity. The same seed and the same sequence of steps give the same states.
 */
export class VehicleModel {
  private readonly rng: Rng;
  private readonly spec: VehicleSpec;
  private readonly driver: DriveCycle;
  private readonly feedback: DriverFeedback = { speedMps: 0, distanceM: 0, headingChangeDeg: 0 };
  private readonly meanOutsideC: number;

  private timeS = 0;
  private ignition: Ignition = 'off';
  private engineRunning = false;
  private crankS = 0;
  private sinceStartS = 0;
  private offS = 3600;
  private speedMps = 0;
  private accelMps2 = 0;
  private engineRpm = 0;
  private currentGear = 0;
  private acceleratorPct = 0;
  private brakePct = 0;
  private fuelL: number;
  private batteryKWh: number;
  private odometerKm: number;
  private tripKm = 0;
  private coolantC: number;
  private voltage = 12.5;
  private outsideC: number;
  private curvature = 0;
  private yawRateDegS = 0;
  private latitude: number;
  private longitude: number;
  private altitudeM: number;
  private grade = 0;
  private headingDeg: number;
  private courseDeg: number;

  constructor(options: VehicleModelOptions = {}) {
    this.rng = options.rng ?? new SeededRng(options.seed ?? 1);
    this.spec = { ...DEFAULT_SPEC, ...options.spec };
    this.driver = new DriveCycle(this.rng, options);
    const rng = this.rng;
    const start = options.start ?? {
      latitude: 52.4227 + uniform(rng, -0.008, 0.008),
      longitude: 10.7865 + uniform(rng, -0.012, 0.012),
    };
    this.latitude = start.latitude;
    this.longitude = start.longitude;
    this.altitudeM = start.altitudeM ?? 63;
    this.headingDeg = normalizeHeading(start.headingDeg ?? uniform(rng, 0, 360));
    this.courseDeg = this.headingDeg;
    this.meanOutsideC = options.outsideTempC ?? uniform(rng, 4, 24);
    this.outsideC = this.meanOutsideC;
    this.coolantC = this.outsideC;
    this.odometerKm = options.odometerKm ?? Math.round(uniform(rng, 5000, 60000));
    this.fuelL = (this.spec.tankCapacityL * (options.fuelLevelPct ?? uniform(rng, 45, 90))) / 100;
    this.batteryKWh = (this.spec.batteryCapacityKWh * (options.socPct ?? uniform(rng, 50, 90))) / 100;
    const given = {
      start: this.latitude + this.longitude + this.altitudeM + this.headingDeg,
      odometerKm: this.odometerKm,
      fuelLevelPct: this.fuelL,
      socPct: this.batteryKWh,
      outsideTempC: this.outsideC,
    };
    for (const [name, value] of Object.entries(given)) {
      if (!Number.isFinite(value)) throw new TcuError('EMULATOR_CONFIG', `vehicle model option ${name} is not a finite number`);
    }
  }

  /** Simulated milliseconds since the model started. */
  get timeMs(): number {
    return this.timeS * 1000;
  }

  /** Advances the simulation by `dtMs` milliseconds (split into steps of at most 20 ms). */
  step(dtMs: number): void {
    if (!Number.isFinite(dtMs) || dtMs < 0) {
      throw new TcuError('EMULATOR_CONFIG', `the vehicle model step must be a finite, non-negative number of ms, not ${dtMs}`);
    }
    const total = dtMs / 1000;
    const n = Math.ceil(total / MAX_SUBSTEP_S);
    for (let i = 0; i < n; i++) this.substep(total / n);
  }

  /** Steps forward to simulated time `timeMs`; does nothing when the model is already there or past it. */
  advanceTo(timeMs: number): void {
    const dt = timeMs - this.timeMs;
    if (dt > 0) this.step(dt);
  }

  snapshot(): VehicleState {
    const d = this.driver.command;
    const lever: GearLever = d.gear;
    const dir = lever === 'R' ? -1 : 1;
    const steeringDeg = Math.atan(this.spec.wheelbaseM * this.curvature) * DEG * this.spec.steeringRatio;
    return {
      timeMs: this.timeMs,
      phase: d.phase,
      road: d.road,
      ignition: this.ignition,
      engineRunning: this.engineRunning,
      speedKmh: this.speedMps * 3.6,
      accelerationMps2: this.accelMps2,
      engineRpm: this.engineRpm,
      motorRpm: dir * wheelRpm(this.spec, this.speedMps) * this.spec.motorReduction,
      gear: lever,
      currentGear: this.currentGear,
      acceleratorPedalPct: this.acceleratorPct,
      brakePedalPct: this.brakePct,
      brakePressed: this.brakePct > 2,
      socPct: (100 * this.batteryKWh) / this.spec.batteryCapacityKWh,
      fuelLevelPct: (100 * this.fuelL) / this.spec.tankCapacityL,
      fuelLiters: this.fuelL,
      odometerKm: this.odometerKm,
      tripKm: this.tripKm,
      coolantTempC: this.coolantC,
      batteryVoltage: this.voltage,
      outsideTempC: this.outsideC,
      steeringAngleDeg: steeringDeg,
      yawRateDegS: this.yawRateDegS,
      lateralAccelMps2: this.speedMps * this.speedMps * this.curvature,
      gnss: {
        latitude: this.latitude,
        longitude: this.longitude,
        altitudeM: this.altitudeM,
        headingDeg: this.courseDeg,
        speedKmh: this.speedMps * 3.6,
      },
    };
  }

  private substep(h: number): void {
    this.driver.update(h, this.feedback);
    const cmd = this.driver.command;
    this.timeS += h;
    this.updateIgnition(cmd.ignition, h);

    const lever = cmd.gear;
    const inGear = this.engineRunning && (lever === 'D' || lever === 'R');
    const target = inGear ? cmd.targetSpeedMps : 0;
    const v0 = this.speedMps;
    const aMax = Math.min(cmd.comfortAccelMps2, maxAccelMps2(this.spec, v0, this.grade));
    const aWanted = clamp(0.9 * (target - v0), -MAX_DECEL_MPS2, Math.max(0, aMax));
    this.accelMps2 += clamp(aWanted - this.accelMps2, -JERK_MPS3 * h, JERK_MPS3 * h);
    let v = v0 + this.accelMps2 * h;
    if (v <= 0 || (target === 0 && v < 0.05 && this.accelMps2 < 0)) {
      v = 0;
      this.accelMps2 = Math.max(0, this.accelMps2) * (target > 0 ? 1 : 0);
    }
    this.speedMps = v;

    const hold = lever === 'D' || lever === 'R' ? cmd.holdBrakePct : 0;
    const pedals = pedalsFor(this.spec, v, this.accelMps2, this.grade, this.engineRunning ? hold : 0);
    this.acceleratorPct = inGear ? pedals.acceleratorPct : 0;
    this.brakePct = pedals.brakePct;

    this.updateGearAndEngine(lever, h);
    this.updateEnergy(pedals.tractionN, h);
    this.updateThermal(h);
    this.updatePath(cmd.curvatureTarget, lever === 'R' ? -1 : 1, (v0 + v) / 2, h);
  }

  private updateIgnition(next: Ignition, h: number): void {
    const previous = this.ignition;
    if (next === 'on' && previous !== 'on') {
      this.tripKm = 0;
      this.crankS = 0;
    }
    if (next === 'off' && previous !== 'off') this.replenish();
    this.ignition = next;
    if (next !== 'on') {
      this.engineRunning = false;
      this.offS += h;
      return;
    }
    this.offS = 0;
    if (!this.engineRunning) {
      this.crankS += h;
      if (this.crankS >= CRANK_S) {
        this.engineRunning = true;
        this.sinceStartS = 0;
      }
    } else {
      this.sinceStartS += h;
    }
  }

  /** At the end of a trip the driver refuels and recharges when low (the only time they rise). */
  private replenish(): void {
    if (this.fuelL < (this.spec.tankCapacityL * REPLENISH_BELOW_PCT) / 100) {
      this.fuelL = (this.spec.tankCapacityL * uniform(this.rng, 85, 100)) / 100;
    }
    if (this.batteryKWh < (this.spec.batteryCapacityKWh * REPLENISH_BELOW_PCT) / 100) {
      this.batteryKWh = (this.spec.batteryCapacityKWh * uniform(this.rng, 80, 95)) / 100;
    }
  }

  private updateGearAndEngine(lever: GearLever, h: number): void {
    const kmh = this.speedMps * 3.6;
    if (!this.engineRunning) this.currentGear = 0;
    else if (lever === 'D') this.currentGear = kmh < 3 ? 1 : selectGear(this.spec, this.currentGear, kmh, this.acceleratorPct);
    else if (lever === 'R') this.currentGear = -1;
    else this.currentGear = 0;

    if (this.ignition !== 'on') {
      this.engineRpm = 0;
    } else if (!this.engineRunning) {
      this.engineRpm = 180 + 40 * Math.sin(this.crankS * 40);
    } else {
      const flare = this.sinceStartS < 2 ? 450 * (1 - this.sinceStartS / 2) : 0;
      const target = targetEngineRpm(this.spec, this.speedMps, this.currentGear, this.acceleratorPct, this.coolantC) + flare;
      this.engineRpm += (target - this.engineRpm) * Math.min(1, h / 0.15);
    }
  }

  private updateEnergy(tractionN: number, h: number): void {
    if (this.engineRunning) this.fuelL = Math.max(0, this.fuelL - fuelUsedL(this.spec, tractionN, this.speedMps, h));
    if (this.ignition === 'on') {
      this.batteryKWh = Math.max(0, this.batteryKWh - batteryUsedKWh(this.spec, tractionN, this.speedMps, h));
    }
  }

  private updateThermal(h: number): void {
    const drift = this.outsideC + gaussian(this.rng) * 0.01 * Math.sqrt(h);
    this.outsideC = clamp(drift, this.meanOutsideC - 3, this.meanOutsideC + 3);

    if (this.engineRunning) {
      const target = 90 + (3 * this.acceleratorPct) / 100;
      if (this.coolantC < target - 2) this.coolantC += h * (0.12 + (0.3 * this.engineRpm) / 3000);
      else this.coolantC += ((target - this.coolantC) * h) / 20;
    } else {
      this.coolantC += ((this.outsideC - this.coolantC) * h) / 2400;
    }

    let vTarget: number;
    if (this.ignition === 'off') vTarget = 12.6 - 0.25 * (1 - Math.exp(-this.offS / 7200));
    else if (this.ignition === 'acc') vTarget = 12.25;
    else if (!this.engineRunning) vTarget = 10.4;
    else vTarget = 14.1 + 0.3 * clamp((40 - this.coolantC) / 40, 0, 1) - 0.15 * (this.brakePct > 2 ? 1 : 0);
    this.voltage += (vTarget - this.voltage) * Math.min(1, h / 0.4);
  }

  private updatePath(curvatureTarget: number, dir: number, meanSpeedMps: number, h: number): void {
    this.curvature += clamp(curvatureTarget - this.curvature, -CURVATURE_RATE * h, CURVATURE_RATE * h);
    const ds = meanSpeedMps * h;
    const yawRad = dir * this.speedMps * this.curvature;
    this.yawRateDegS = yawRad * DEG;
    const dHeading = -dir * ds * this.curvature * DEG; // compass heading turns clockwise; left is negative
    const course = normalizeHeading(this.headingDeg + dHeading / 2 + (dir < 0 ? 180 : 0));
    this.headingDeg = normalizeHeading(this.headingDeg + dHeading);
    if (ds > 0) {
      const next = destination({ latitude: this.latitude, longitude: this.longitude }, course, ds);
      this.latitude = next.latitude;
      this.longitude = next.longitude;
      this.courseDeg = course;
      this.grade = clamp(this.grade + gaussian(this.rng) * 0.0008 * Math.sqrt(ds) - (this.altitudeM - 80) * 2e-6 * ds, -0.05, 0.05);
      this.altitudeM += this.grade * ds;
      this.odometerKm += ds / 1000;
      this.tripKm += ds / 1000;
    }
    this.feedback.speedMps = this.speedMps;
    this.feedback.distanceM = ds;
    this.feedback.headingChangeDeg = Math.abs(dHeading);
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
