/**
 * Connectivity: what the modem's snapshot means for sending. Pure: a snapshot in, a state out.
 *
 * - `offline`: the link to the modem is down, the SIM is not usable, or no packet domain is
 *   registered nor searching (not registered, denied, emergency only, SMS only).
 * - `searching`: a packet domain is looking for a network.
 * - `home` / `roaming`: registered for data on the home network or a visited one. Home wins when
 *   domains disagree (an LTE registration at home and a stale 2G roaming one).
 *
 * Only the packet domains count (EPS for LTE, 5GS for NR, GPRS for 2G/3G data): a circuit-switched
 * registration alone carries calls and SMS, not MQTT.
 */
import type { ModemSnapshot, RadioTech, Registration, RegistrationStatus } from '../../drivers/modem/index.js';

export type ConnectivityName = 'offline' | 'searching' | 'home' | 'roaming';

export interface Connectivity {
  state: ConnectivityName;
  tech: RadioTech;
  /** Signal bars 0..5, when known. */
  bars?: number;
  rssiDbm?: number;
  rsrpDbm?: number;
  operator?: string;
  /** Mobile country and network codes (`26201`), when known. */
  plmn?: string;
  /** Why offline, for people and events: `link`, `sim`, `not-registered`, `denied`, ... */
  reason?: string;
}

const DATA_DOMAINS = ['5gs', 'eps', 'gprs'] as const;

function classify(status: RegistrationStatus): ConnectivityName {
  switch (status) {
    case 'home':
    case 'home-csfb-not-preferred':
      return 'home';
    case 'roaming':
    case 'roaming-csfb-not-preferred':
      return 'roaming';
    case 'searching':
      return 'searching';
    default:
      return 'offline';
  }
}

const RANK: Record<ConnectivityName, number> = { offline: 0, searching: 1, roaming: 2, home: 3 };

export function deriveConnectivity(snapshot: ModemSnapshot): Connectivity {
  const base = describe(snapshot);
  if (snapshot.link !== 'open') return { ...base, state: 'offline', reason: `link-${snapshot.link}` };
  if (snapshot.sim !== 'ready' && snapshot.sim !== 'unknown') return { ...base, state: 'offline', reason: `sim-${snapshot.sim}` };
  let best: ConnectivityName = 'offline';
  let reason = 'not-registered';
  for (const domain of DATA_DOMAINS) {
    const r: Registration | undefined = snapshot.registrations[domain];
    if (r === undefined) continue;
    const c = classify(r.status);
    if (RANK[c] > RANK[best]) best = c;
    if (c === 'offline' && r.status !== 'not-registered') reason = r.status;
  }
  return best === 'offline' ? { ...base, state: 'offline', reason } : { ...base, state: best };
}

function describe(snapshot: ModemSnapshot): Omit<Connectivity, 'state'> {
  const out: Omit<Connectivity, 'state'> = { tech: snapshot.tech };
  const s = snapshot.signal;
  if (s !== undefined) {
    out.bars = s.bars;
    if (s.rssiDbm !== undefined) out.rssiDbm = s.rssiDbm;
    if (s.rsrpDbm !== undefined) out.rsrpDbm = s.rsrpDbm;
  }
  const op = snapshot.operator;
  if (op?.name !== undefined) out.operator = op.name;
  if (op?.mcc !== undefined && op.mnc !== undefined) out.plmn = `${op.mcc}${op.mnc}`;
  return out;
}

/** True when the change is worth an event: the state, the technology or the network changed. */
export function isConnectivityChange(a: Connectivity | undefined, b: Connectivity): boolean {
  return a === undefined || a.state !== b.state || a.tech !== b.tech || a.plmn !== b.plmn;
}
