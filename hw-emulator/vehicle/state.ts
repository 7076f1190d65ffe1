/** What the vehicle model exposes: one plain, typed snapshot of every quantity at one instant. */

export type Ignition = 'off' | 'acc' | 'on';
/** Selector lever of the automatic gearbox. */
export type GearLever = 'P' | 'R' | 'N' | 'D';
/** Where the drive cycle is. */
export type DrivePhase =
  | 'parked' // ignition off
  | 'accessory' // ignition in ACC before the start
  | 'warmup' // engine idling in P after the start
  | 'reversing' // backing out of the parking space
  | 'driving' // moving forward (accelerating, cruising, braking, turning)
  | 'stopped' // standing in D (traffic light, junction)
  | 'parking'; // standing in P at the end of a trip, engine still running
export type RoadType = 'urban' | 'highway';

export interface GnssState {
  /** Degrees, WGS-84. */
  latitude: number;
  /** Degrees, WGS-84. */
  longitude: number;
  /** Metres above mean sea level. */
  altitudeM: number;
  /** Course over ground, degrees clockwise from north in [0, 360). */
  headingDeg: number;
  /** Speed over ground, km/h. */
  speedKmh: number;
}

export interface VehicleState {
  /** Simulated milliseconds since the model started. */
  timeMs: number;
  phase: DrivePhase;
  road: RoadType;
  ignition: Ignition;
  engineRunning: boolean;
  /** Vehicle speed (magnitude, also when reversing), km/h, ≥ 0. */
  speedKmh: number;
  /** Longitudinal acceleration along the direction of travel, m/s². */
  accelerationMps2: number;
  /** Combustion engine speed, rpm: 0 with the engine off, idle when standing. */
  engineRpm: number;
  /** Electric traction motor speed, rpm (single-speed reduction; negative when reversing). */
  motorRpm: number;
  gear: GearLever;
  /** The automatic's engaged gear: 1–6 in D, -1 in R, 0 in P and N. */
  currentGear: number;
  acceleratorPedalPct: number;
  brakePedalPct: number;
  brakePressed: boolean;
  /** High-voltage battery state of charge, %. */
  socPct: number;
  fuelLevelPct: number;
  /** Fuel in the tank, litres. */
  fuelLiters: number;
  odometerKm: number;
  /** Distance since the current trip started (ignition on), km. */
  tripKm: number;
  coolantTempC: number;
  /** 12 V system voltage. */
  batteryVoltage: number;
  outsideTempC: number;
  /** Steering wheel angle, degrees, positive to the left. */
  steeringAngleDeg: number;
  /** Yaw rate, degrees per second, positive to the left (counter-clockwise seen from above). */
  yawRateDegS: number;
  /** Lateral acceleration, m/s², positive to the left. */
  lateralAccelMps2: number;
  gnss: GnssState;
}
