import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { CanBus } from '../drivers/can/bus.js';
import { CandumpReplayBus } from '../drivers/can/candump/replay.js';
import { SocketCanBus } from '../drivers/can/socketcan.js';
import { SocketcandBus } from '../drivers/can/socketcand/client.js';

/** Which driver reaches a bus, and its settings. The configuration file (issue 3) uses the same shape. */
export type BusSpec =
  | { driver: 'socketcan'; iface: string; name?: string }
  | { driver: 'socketcand'; host: string; port: number; bus: string; name?: string; waitForServer?: boolean }
  | { driver: 'candump'; path: string; speed?: number; loop?: boolean; name?: string };

export interface BusDeps {
  clock?: Clock;
  logger?: Logger;
}

/** The composition root's one place that turns a spec into a driver. */
export function createBus(spec: BusSpec, deps: BusDeps = {}): CanBus {
  switch (spec.driver) {
    case 'socketcan':
      return new SocketCanBus({ iface: spec.iface, name: spec.name, ...deps });
    case 'socketcand':
      return new SocketcandBus({
        host: spec.host,
        port: spec.port,
        bus: spec.bus,
        name: spec.name,
        waitForServer: spec.waitForServer,
        ...deps,
      });
    case 'candump':
      return new CandumpReplayBus({ path: spec.path, speed: spec.speed, loop: spec.loop, name: spec.name, clock: deps.clock });
  }
}
