import type { VehicleState } from './state.js';

/**
 * The vocabulary mapping files use: every quantity of `VehicleState` a CAN signal can carry, by
 * name, with its unit and how to read it. Enumerations read as text (`gear` is `P`, `R`, `N` or
 * `D`); booleans read as 0 or 1.
 */
export interface QuantityInfo {
  unit: string;
  /** `number`, or the texts an enumeration takes. */
  kind: 'number' | readonly string[];
  description: string;
  read(state: VehicleState): number | string;
}

const IGNITION = ['off', 'acc', 'on'] as const;
const GEAR_LEVER = ['P', 'R', 'N', 'D'] as const;
const PHASES = ['parked', 'accessory', 'warmup', 'reversing', 'driving', 'stopped', 'parking'] as const;
const ROADS = ['urban', 'highway'] as const;

function num(unit: string, description: string, read: (s: VehicleState) => number): QuantityInfo {
  return { unit, kind: 'number', description, read };
}

function bool(description: string, read: (s: VehicleState) => boolean): QuantityInfo {
  return { unit: '0/1', kind: 'number', description, read: (s) => (read(s) ? 1 : 0) };
}

function text(values: readonly string[], description: string, read: (s: VehicleState) => string): QuantityInfo {
  return { unit: '', kind: values, description, read };
}

export const QUANTITIES = Object.freeze({
  speedKmh: num('km/h', 'vehicle speed (≥ 0, also when reversing)', (s) => s.speedKmh),
  speedMps: num('m/s', 'vehicle speed', (s) => s.speedKmh / 3.6),
  accelerationMps2: num('m/s²', 'longitudinal acceleration', (s) => s.accelerationMps2),
  engineRpm: num('rpm', 'engine speed; 0 with the ignition off', (s) => s.engineRpm),
  motorRpm: num('rpm', 'electric motor speed, negative in reverse', (s) => s.motorRpm),
  gear: text(GEAR_LEVER, 'selector lever P, R, N or D', (s) => s.gear),
  currentGear: num('', "the automatic's engaged gear: 1–6, -1 reverse, 0 in P or N", (s) => s.currentGear),
  ignition: text(IGNITION, 'ignition off, acc or on', (s) => s.ignition),
  ignitionOn: bool('ignition on (terminal 15)', (s) => s.ignition === 'on'),
  engineRunning: bool('engine running', (s) => s.engineRunning),
  acceleratorPedalPct: num('%', 'accelerator pedal', (s) => s.acceleratorPedalPct),
  brakePedalPct: num('%', 'brake pedal', (s) => s.brakePedalPct),
  brakePressed: bool('brake pedal pressed', (s) => s.brakePressed),
  socPct: num('%', 'traction battery state of charge', (s) => s.socPct),
  fuelLevelPct: num('%', 'fuel level', (s) => s.fuelLevelPct),
  fuelLiters: num('l', 'fuel in the tank', (s) => s.fuelLiters),
  odometerKm: num('km', 'odometer', (s) => s.odometerKm),
  tripKm: num('km', 'distance since ignition on', (s) => s.tripKm),
  coolantTempC: num('°C', 'engine coolant temperature', (s) => s.coolantTempC),
  batteryVoltage: num('V', '12 V system voltage', (s) => s.batteryVoltage),
  outsideTempC: num('°C', 'outside air temperature', (s) => s.outsideTempC),
  steeringAngleDeg: num('°', 'steering wheel angle, positive left', (s) => s.steeringAngleDeg),
  yawRateDegS: num('°/s', 'yaw rate, positive left', (s) => s.yawRateDegS),
  lateralAccelMps2: num('m/s²', 'lateral acceleration, positive left', (s) => s.lateralAccelMps2),
  latitude: num('°', 'GNSS latitude', (s) => s.gnss.latitude),
  longitude: num('°', 'GNSS longitude', (s) => s.gnss.longitude),
  altitudeM: num('m', 'GNSS altitude', (s) => s.gnss.altitudeM),
  headingDeg: num('°', 'GNSS course over ground, 0–360 clockwise from north', (s) => s.gnss.headingDeg),
  gnssSpeedKmh: num('km/h', 'GNSS speed over ground', (s) => s.gnss.speedKmh),
  phase: text(PHASES, 'drive-cycle phase', (s) => s.phase),
  road: text(ROADS, 'urban or highway', (s) => s.road),
} satisfies Record<string, QuantityInfo>);

export type QuantityName = keyof typeof QUANTITIES;

export function isQuantityName(name: string): name is QuantityName {
  return Object.prototype.hasOwnProperty.call(QUANTITIES, name);
}

export function quantityInfo(name: QuantityName): QuantityInfo {
  return QUANTITIES[name];
}
