/**
 * The vehicle's state for the update preconditions, read from CAN signals (docs/OTA.md, "The
 * agent's campaigns"): the state of charge and the speed from `ota.signals`, the ignition from the
 * agent's ignition watcher (`collect.ignition`). A value whose message is older than `maxAgeMs` is
 * unknown, and an unknown value never satisfies a precondition.
 *
 * - `socPercent`: the signal's value.
 * - `parked`: with a speed signal, a fresh speed at or below `parkedMaxSpeedKmh`; without one, the
 *   ignition off (a car with its ignition off is not driving).
 * - `ignitionOff`: the ignition watcher's state, negated.
 * - `workshop`: false: the agent on the road is never in a workshop (`tcu-agent ota apply` is).
 * - `consent` is not a signal: the HMI asks (hmi.ts).
 */
import type { Clock } from '../../core/clock.js';
import { TcuError } from '../../core/errors.js';
import type { OtaSignalsConfig } from '../../config/index.js';
import type { VehicleState } from '../../ota/types.js';
import type { SignalRef, SignalState } from '../collect/signal-state.js';

interface Bound {
  ref: SignalRef;
  state: SignalState;
}

export interface VehicleSignalsDeps {
  /** The signal state of each bus, by name. */
  states: ReadonlyMap<string, SignalState>;
  /** The ignition: true on, false off, undefined unknown (or no `collect.ignition`). */
  ignition: () => boolean | undefined;
  clock: Pick<Clock, 'monotonic'>;
}

export class SignalVehicleState {
  private constructor(
    private readonly soc: Bound | undefined,
    private readonly speed: Bound | undefined,
    private readonly config: OtaSignalsConfig,
    private readonly deps: VehicleSignalsDeps,
  ) {}

  /** Resolves the configured signals once; CONFIG_INVALID naming the configuration path when a DBC lacks one. */
  static bind(config: OtaSignalsConfig, deps: VehicleSignalsDeps): SignalVehicleState {
    const bind = (key: string | undefined, path: string): Bound | undefined => {
      if (key === undefined) return undefined;
      const candidates = config.bus === undefined ? [...deps.states.values()] : [deps.states.get(config.bus)].filter((s): s is SignalState => s !== undefined);
      for (const state of candidates) {
        try {
          return { ref: state.resolve(key), state };
        } catch {
          // the next bus
        }
      }
      const where = config.bus === undefined ? 'any bus' : `bus ${config.bus}`;
      throw new TcuError('CONFIG_INVALID', `${path}: signal ${key} is not in the DBC of ${where}`, { details: { path, key } });
    };
    return new SignalVehicleState(bind(config.socPercent, '/ota/signals/socPercent'), bind(config.speedKmh, '/ota/signals/speedKmh'), config, deps);
  }

  read(): VehicleState {
    const out: VehicleState = { workshop: false };
    const soc = this.value(this.soc);
    if (soc !== undefined) out.socPercent = soc;
    const ignition = this.deps.ignition();
    if (ignition !== undefined) out.ignitionOff = !ignition;
    if (this.speed !== undefined) {
      const speed = this.value(this.speed);
      if (speed !== undefined) out.parked = Math.abs(speed) <= this.config.parkedMaxSpeedKmh;
    } else if (ignition === false) {
      out.parked = true;
    }
    return out;
  }

  /** The fresh value of a signal, or undefined (not configured, never seen, or older than maxAgeMs). */
  private value(b: Bound | undefined): number | undefined {
    if (b === undefined) return undefined;
    const v = b.state.read(b.ref);
    if (v !== v) return undefined;
    if (this.deps.clock.monotonic() - b.state.arrivedAt(b.ref) > this.config.maxAgeMs) return undefined;
    return v;
  }
}
