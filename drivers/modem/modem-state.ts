import { isRegistered } from './parse/registration.js';
import type { AtLinkState, ModemSnapshot, OperatorInfo, PacketInfo, RadioTech, Registration, RegistrationDomain, SignalInfo, SimState } from './types.js';

/** The snapshot bookkeeping of the Modem: pure functions over ModemSnapshot. */

export const MODEM_COUNTER_NAMES = [
  /** Polls that completed (some of their commands may have failed). */
  'polls',
  /** Polls cut short by a timeout or a closed port. */
  'pollsAborted',
  'commandTimeouts',
  /** Commands answered with ERROR/+CME ERROR (unsupported ones included). */
  'commandFailures',
  /** Commands found unsupported; each is asked no more. */
  'unsupportedCommands',
  /** Replies and unsolicited codes that could not be parsed (AT_REPLY_MALFORMED). */
  'malformedReplies',
  'urcs',
  'registrationUrcs',
  /** Initialisations after the first: after timeouts, a modem restart (RDY) or the port coming back. */
  'reinits',
  'reinitsFailed',
  /** AT+CFUN=1,1 sent after repeated failed re-initialisations. */
  'resets',
  'listenerErrors',
] as const;
export type ModemCounterName = (typeof MODEM_COUNTER_NAMES)[number];
export type ModemCounters = Readonly<Record<ModemCounterName, number>>;

/** What one poll learned. Undefined fields were not read (a failed command): the old value stays. */
export interface PollReading {
  sim?: SimState;
  /** The domains that were read; a domain the modem does not support is absent. */
  registrations?: Partial<Record<RegistrationDomain, Registration>>;
  /** null: read, and the modem is on no network. */
  operator?: OperatorInfo | null;
  signal?: SignalInfo;
  packet?: PacketInfo;
  /** The technology the profile's own commands report (Quectel +QENG/+QNWINFO). */
  techHint?: RadioTech;
}

export function emptySnapshot(link: AtLinkState, profile: ModemSnapshot['profile']): ModemSnapshot {
  return { link, profile, identity: {}, sim: 'unknown', registrations: {}, tech: 'unknown' };
}

const RANK: Record<RadioTech, number> = { unknown: 0, GSM: 1, UMTS: 2, LTE: 3, NR: 4 };
const DOMAIN_TECH: Record<RegistrationDomain, RadioTech> = { cs: 'unknown', gprs: 'unknown', eps: 'LTE', '5gs': 'NR' };

export function betterTech(a: RadioTech, b: RadioTech): RadioTech {
  return RANK[b] > RANK[a] ? b : a;
}

/**
 * The best technology registered on: each registered domain's `<AcT>` (or what the domain implies:
 * EPS → LTE, 5GS → NR), then the profile's hint, which can only raise it (EN-DC shows as LTE in
 * +CEREG and as NR in +QENG). Nothing registered: 'unknown'.
 */
export function bestTech(registrations: ModemSnapshot['registrations'], hint: RadioTech | undefined): RadioTech {
  let best: RadioTech = 'unknown';
  let any = false;
  for (const r of Object.values(registrations)) {
    if (!r || !isRegistered(r.status)) continue;
    any = true;
    best = betterTech(best, r.tech ?? DOMAIN_TECH[r.domain]);
  }
  if (!any) return 'unknown';
  return hint === undefined ? best : betterTech(best, hint);
}

/** A snapshot with what the network told us forgotten (the link went, the modem restarted). */
export function withoutNetworkState(s: ModemSnapshot): ModemSnapshot {
  const { operator: _o, signal: _s, packet: _p, ...rest } = s;
  return { ...rest, registrations: {}, tech: 'unknown' };
}

/** JSON with sorted keys, so equal values always give equal text. */
export function stableJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'undefined';
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
}

export type SnapshotKey = Exclude<keyof ModemSnapshot, 'updatedAtMs'>;
const KEYS: readonly SnapshotKey[] = ['link', 'profile', 'identity', 'sim', 'registrations', 'operator', 'tech', 'signal', 'packet'];

/** The top-level fields that differ (the poll time does not count). */
export function diffSnapshots(before: ModemSnapshot, after: ModemSnapshot): SnapshotKey[] {
  return KEYS.filter((k) => stableJson(before[k]) !== stableJson(after[k]));
}

/** A new snapshot with a poll's reading applied. */
export function applyReading(s: ModemSnapshot, r: PollReading, hint: RadioTech | undefined, nowMs: number): ModemSnapshot {
  const next: ModemSnapshot = { ...s, updatedAtMs: nowMs };
  if (r.sim !== undefined) next.sim = r.sim;
  if (r.registrations !== undefined) next.registrations = { ...r.registrations };
  if (r.operator === null) delete next.operator;
  else if (r.operator !== undefined) next.operator = r.operator;
  if (r.signal !== undefined) next.signal = r.signal;
  if (r.packet !== undefined) next.packet = r.packet;
  next.tech = bestTech(next.registrations, hint);
  return next;
}

/** A deep copy, so listeners and callers cannot change the Modem's own snapshot. */
export function cloneSnapshot(s: ModemSnapshot): ModemSnapshot {
  const registrations: ModemSnapshot['registrations'] = {};
  for (const [domain, r] of Object.entries(s.registrations) as Array<[RegistrationDomain, Registration | undefined]>) if (r) registrations[domain] = { ...r };
  const copy: ModemSnapshot = { ...s, identity: { ...s.identity }, registrations };
  if (s.operator) copy.operator = { ...s.operator };
  if (s.signal) copy.signal = { ...s.signal };
  if (s.packet) copy.packet = { ...s.packet };
  return copy;
}
