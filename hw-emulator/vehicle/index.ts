export { DriveCycle, type DriveCycleOptions } from './drive-cycle.js';
export { destination, distanceM, EARTH_RADIUS_M, type LatLon, normalizeHeading } from './geo.js';
export { VehicleModel, type StartPosition, type VehicleModelOptions } from './model.js';
export { DEFAULT_SPEC, type VehicleSpec } from './powertrain.js';
export { isQuantityName, QUANTITIES, type QuantityInfo, type QuantityName } from './quantities.js';
export { chance, gaussian, pick, randomInt, type Rng, SeededRng, uniform } from './random.js';
export type { DrivePhase, GearLever, GnssState, Ignition, RoadType, VehicleState } from './state.js';
