/**
 * The download's network policy (docs/OTA.md, "The agent's campaigns"): the target's `network`
 * fields against what the modem says now. Asked by the downloader before the first byte and about
 * once a second while it runs (`NetworkGate`); a refusal defers the campaign with
 * OTA_NETWORK_POLICY, and the partial download resumes at a later check.
 *
 * - `window` ("HH:MM-HH:MM", local time, may wrap midnight; equal ends mean the whole day): outside
 *   it nothing is downloaded, on any network.
 * - No modem configured: a fixed network (Ethernet, a workshop's Wi-Fi): allowed.
 * - With a modem every byte is cellular: offline or searching refuses (no network); roaming refuses
 *   unless `roamingAllowed` is true; `cellularAllowed: false` refuses; `maxBytes` refuses while the
 *   bytes still to fetch exceed it.
 */
import type { Clock } from '../../core/clock.js';
import type { NetworkDecision, NetworkGate } from '../../ota/download/index.js';
import type { VerifiedTarget } from '../../ota/types.js';
import type { Connectivity, ConnectivityName } from '../connectivity/state.js';

/** What the gate knows of the network: undefined connectivity = no modem (a fixed network). */
export interface NetworkContext {
  connectivity: ConnectivityName | undefined;
  /** The local time is read from it (`getHours`, `getMinutes`). */
  now: Date;
}

const WINDOW = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$/;

/** Whether `date`'s local time is inside `window`; undefined for a window that does not parse. */
export function inWindow(window: string, date: Date): boolean | undefined {
  const m = WINDOW.exec(window);
  if (m === null) return undefined;
  const start = Number(m[1]) * 60 + Number(m[2]);
  const end = Number(m[3]) * 60 + Number(m[4]);
  const t = date.getHours() * 60 + date.getMinutes();
  if (start === end) return true;
  return start < end ? t >= start && t < end : t >= start || t < end;
}

/** The decision for `target` with `bytesSoFar` of it already held. Pure. */
export function networkDecision(target: VerifiedTarget, ctx: NetworkContext, bytesSoFar: number): NetworkDecision {
  const n = target.custom.network ?? {};
  const refuse = (reason: string): NetworkDecision => ({ allowed: false, code: 'OTA_NETWORK_POLICY', reason });
  if (n.window !== undefined) {
    const inside = inWindow(n.window, ctx.now);
    if (inside !== true) return refuse(`outside the download window ${n.window} (local time)`);
  }
  const state = ctx.connectivity;
  if (state === undefined) return { allowed: true };
  if (state === 'offline' || state === 'searching') return refuse(`no cellular network (${state})`);
  if (n.cellularAllowed === false) return refuse('the target may not be downloaded over cellular');
  if (state === 'roaming' && n.roamingAllowed !== true) return refuse('roaming, and the target does not allow downloading while roaming');
  const left = Math.max(0, target.length - bytesSoFar);
  if (n.maxBytes !== undefined && left > n.maxBytes) return refuse(`${left} bytes left to download over cellular, above the target's cap of ${n.maxBytes}`);
  return { allowed: true };
}

/** The gate the downloader asks, reading the connectivity (undefined: no modem) and the clock each time. */
export function networkGate(target: VerifiedTarget, source: { connectivity: () => Connectivity | undefined; clock: Pick<Clock, 'now'> }): NetworkGate {
  return (bytesSoFar) => networkDecision(target, { connectivity: source.connectivity()?.state, now: new Date(source.clock.now()) }, bytesSoFar);
}
