/**
 * The connectivity policy: what the uplink may do in each state.
 *
 * - offline, searching: no connection attempts (records keep buffering in the outbox); the
 *   connection in place, if any, is dropped (the broker publishes our will).
 * - home: connect, send everything.
 * - roaming: connect, send only records of `roaming.minPriority` or higher (the configuration's
 *   default, `low`, sends everything); the rest waits for the home network.
 *
 * When registration returns, the uplink is allowed again at once (the modem's unsolicited codes
 * drive it, not only polls), and the uplink connects immediately, not at its next back-off step.
 */
import type { Priority } from '../records.js';
import type { ConnectivityName } from './state.js';

export interface UplinkPolicy {
  allowed: boolean;
  /** Records below this priority stay in the outbox. */
  minPriority: Priority;
}

export function policyFor(state: ConnectivityName, roamingMinPriority: Priority): UplinkPolicy {
  switch (state) {
    case 'home':
      return { allowed: true, minPriority: 0 };
    case 'roaming':
      return { allowed: true, minPriority: roamingMinPriority };
    default:
      return { allowed: false, minPriority: 0 };
  }
}
