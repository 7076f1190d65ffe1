/**
 * Longitudinal physics and the powertrain: road load, the automatic's shift schedule, engine and
 * motor speed, fuel and battery consumption. Pure functions over a `VehicleSpec`.
 */

export interface VehicleSpec {
  massKg: number;
  /** Drag coefficient × frontal area, m². */
  cdA: number;
  rollingResistance: number;
  wheelRadiusM: number;
  wheelbaseM: number;
  /** Steering wheel degrees per road wheel degree. */
  steeringRatio: number;
  /** Forward gear ratios, first to sixth. */
  gearRatios: readonly number[];
  reverseRatio: number;
  finalDrive: number;
  /** Upshift speeds (km/h) from gear i+1 to i+2 at light throttle; downshifts happen 8 km/h lower. */
  upshiftKmh: readonly number[];
  idleRpm: number;
  maxRpm: number;
  /** Reduction ratio between the electric motor and the wheels. */
  motorReduction: number;
  maxTractionN: number;
  maxBrakeN: number;
  /** Drag of the engine in gear with the accelerator released, N at the wheels. */
  engineBrakeN: number;
  tankCapacityL: number;
  batteryCapacityKWh: number;
  /** Tank-to-wheel efficiency of the combustion engine. */
  engineEfficiency: number;
  idleFuelLph: number;
  /** Battery-to-wheel efficiency of the electric drive. */
  electricEfficiency: number;
  /** Auxiliary electrical load drawn from the traction battery with the ignition on, kW. */
  auxiliaryKw: number;
}

export const DEFAULT_SPEC: Readonly<VehicleSpec> = Object.freeze({
  massKg: 1550,
  cdA: 0.65,
  rollingResistance: 0.011,
  wheelRadiusM: 0.32,
  wheelbaseM: 2.68,
  steeringRatio: 15,
  gearRatios: Object.freeze([4.46, 2.51, 1.56, 1.14, 0.85, 0.67]),
  reverseRatio: 3.9,
  finalDrive: 3.2,
  upshiftKmh: Object.freeze([18, 32, 48, 64, 82]),
  idleRpm: 760,
  maxRpm: 6500,
  motorReduction: 9.04,
  maxTractionN: 6500,
  maxBrakeN: 15000,
  engineBrakeN: 250,
  tankCapacityL: 50,
  batteryCapacityKWh: 60,
  engineEfficiency: 0.3,
  idleFuelLph: 0.8,
  electricEfficiency: 0.88,
  auxiliaryKw: 0.35,
});

const G = 9.81;
const AIR_DENSITY = 1.2;
/** Lower heating value of petrol, J per litre. */
const PETROL_J_PER_L = 32e6;

/** Resisting force at the wheels (rolling + aerodynamic + climbing), N. `speedMps` ≥ 0. */
export function roadLoadN(spec: VehicleSpec, speedMps: number, grade: number): number {
  const rolling = speedMps > 0.05 ? spec.massKg * G * spec.rollingResistance : 0;
  const aero = 0.5 * AIR_DENSITY * spec.cdA * speedMps * speedMps;
  return rolling + aero + spec.massKg * G * grade;
}

export interface PedalDemand {
  acceleratorPct: number;
  brakePct: number;
  /** Positive tractive force the powertrain delivers, N. */
  tractionN: number;
}

/**
 * Pedal positions a driver needs for acceleration `accelMps2` at `speedMps`. With the car standing
 * in gear and no acceleration wanted, the brake is held (`holdBrakePct`).
 */
export function pedalsFor(
  spec: VehicleSpec,
  speedMps: number,
  accelMps2: number,
  grade: number,
  holdBrakePct: number,
): PedalDemand {
  const needed = spec.massKg * accelMps2 + roadLoadN(spec, speedMps, grade);
  if (speedMps < 0.01 && accelMps2 <= 0) return { acceleratorPct: 0, brakePct: holdBrakePct, tractionN: 0 };
  if (needed >= 0) {
    const pct = Math.min(100, (needed / spec.maxTractionN) * 100);
    return { acceleratorPct: pct, brakePct: 0, tractionN: needed };
  }
  const braking = -needed - spec.engineBrakeN;
  const brakePct = braking > 0 ? Math.min(100, (braking / spec.maxBrakeN) * 100) : 0;
  return { acceleratorPct: 0, brakePct, tractionN: 0 };
}

/** The largest acceleration the powertrain can give at this speed, m/s². */
export function maxAccelMps2(spec: VehicleSpec, speedMps: number, grade: number): number {
  return (spec.maxTractionN - roadLoadN(spec, speedMps, grade)) / spec.massKg;
}

/** Gear 1–6 the automatic selects, with hysteresis around `current`; throttle delays upshifts. */
export function selectGear(spec: VehicleSpec, current: number, speedKmh: number, acceleratorPct: number): number {
  const delay = 1 + (0.6 * Math.max(0, acceleratorPct - 40)) / 60;
  const top = spec.gearRatios.length;
  let gear = Math.min(Math.max(current, 1), top);
  while (gear < top && speedKmh > (spec.upshiftKmh[gear - 1] ?? Infinity) * delay) gear++;
  while (gear > 1 && speedKmh < (spec.upshiftKmh[gear - 2] ?? 0) * delay - 8) gear--;
  return gear;
}

/** Wheel revolutions per minute at `speedMps`. */
export function wheelRpm(spec: VehicleSpec, speedMps: number): number {
  return (speedMps / (2 * Math.PI * spec.wheelRadiusM)) * 60;
}

/** Idle speed, raised while the engine is cold. */
export function idleRpm(spec: VehicleSpec, coolantTempC: number): number {
  const cold = Math.min(1, Math.max(0, (60 - coolantTempC) / 70));
  return spec.idleRpm + 320 * cold;
}

/**
 * Engine speed the engine settles at: the speed the engaged gear imposes, but never below idle
 * (the torque converter slips at low speed and lets the engine rise with the throttle).
 */
export function targetEngineRpm(
  spec: VehicleSpec,
  speedMps: number,
  currentGear: number,
  acceleratorPct: number,
  coolantTempC: number,
): number {
  const idle = idleRpm(spec, coolantTempC);
  if (currentGear === 0) return idle + acceleratorPct * 20;
  const ratio = currentGear < 0 ? spec.reverseRatio : (spec.gearRatios[currentGear - 1] ?? 1);
  const geared = wheelRpm(spec, speedMps) * ratio * spec.finalDrive;
  const slip = idle + acceleratorPct * 12;
  return Math.min(spec.maxRpm, Math.max(geared, currentGear === 1 || currentGear < 0 ? slip : idle));
}

/** Litres of fuel burnt in `dtS` seconds while the engine runs and delivers `tractionN` at `speedMps`. */
export function fuelUsedL(spec: VehicleSpec, tractionN: number, speedMps: number, dtS: number): number {
  const powerW = Math.max(0, tractionN) * speedMps;
  return (spec.idleFuelLph / 3600 + powerW / (spec.engineEfficiency * PETROL_J_PER_L)) * dtS;
}

/** Kilowatt-hours drawn from the traction battery in `dtS` seconds with the ignition on. */
export function batteryUsedKWh(spec: VehicleSpec, tractionN: number, speedMps: number, dtS: number): number {
  const powerW = (Math.max(0, tractionN) * speedMps) / spec.electricEfficiency + spec.auxiliaryKw * 1000;
  return (powerW * dtS) / 3.6e6;
}
