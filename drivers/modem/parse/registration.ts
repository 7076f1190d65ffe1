import type { RadioTech, Registration, RegistrationDomain, RegistrationStatus } from '../types.js';
import { afterPrefix, compact, int, malformed, optHex, optInt, responseParams } from './fields.js';

/**
 * Network registration, 3GPP TS 27.007 sections 7.2 (+CREG), 10.1.20 (+CGREG), 10.1.22 (+CEREG)
 * and 10.1.34 (+C5GREG). The read command answers `<n>,<stat>[,<lac|tac>,<ci>[,<AcT>...]]`; the
 * unsolicited code carries the same without `<n>`. Fields after `<AcT>` (rac, reject cause,
 * allowed NSSAI, PSM timers) are accepted and ignored. Area and cell are hex strings.
 */

const PREFIX_DOMAIN: ReadonlyArray<readonly [string, RegistrationDomain]> = [
  ['+CREG', 'cs'],
  ['+CGREG', 'gprs'],
  ['+CEREG', 'eps'],
  ['+C5GREG', '5gs'],
];

export const REGISTRATION_PREFIX: Readonly<Record<RegistrationDomain, string>> = { cs: '+CREG', gprs: '+CGREG', eps: '+CEREG', '5gs': '+C5GREG' };

const STATUS: readonly RegistrationStatus[] = [
  'not-registered',
  'home',
  'searching',
  'denied',
  'unknown',
  'roaming',
  'home-sms-only',
  'roaming-sms-only',
  'emergency-only',
  'home-csfb-not-preferred',
  'roaming-csfb-not-preferred',
];

/** Statuses in which the device is registered and can carry data or SMS. */
export function isRegistered(status: RegistrationStatus): boolean {
  return status === 'home' || status === 'roaming' || status === 'home-sms-only' || status === 'roaming-sms-only' || status === 'home-csfb-not-preferred' || status === 'roaming-csfb-not-preferred';
}

/** `<stat>` number → name; values outside 0..10 are 'unknown'. */
export function statusFromStat(stat: number): RegistrationStatus {
  return STATUS[stat] ?? 'unknown';
}

/**
 * `<AcT>` (27.007 section 7.3) → coarse radio technology:
 * 0 GSM, 1 GSM Compact, 3 GSM w/EGPRS, 8 EC-GSM-IoT → GSM;
 * 2 UTRAN, 4 HSDPA, 5 HSUPA, 6 HSDPA+HSUPA → UMTS;
 * 7 E-UTRAN, 9 E-UTRAN NB-S1, 10 E-UTRA connected to 5GCN, 14/15 satellite E-UTRAN → LTE;
 * 11 NR connected to 5GCN, 12 NG-RAN, 13 E-UTRA-NR dual connectivity (5G NSA), 16 satellite NG-RAN → NR.
 */
export function actToTech(act: number): RadioTech {
  switch (act) {
    case 0:
    case 1:
    case 3:
    case 8:
      return 'GSM';
    case 2:
    case 4:
    case 5:
    case 6:
      return 'UMTS';
    case 7:
    case 9:
    case 10:
    case 14:
    case 15:
      return 'LTE';
    case 11:
    case 12:
    case 13:
    case 16:
      return 'NR';
    default:
      return 'unknown';
  }
}

/** Which registration a line reports, by its prefix; undefined when it is none of the four. */
export function registrationDomainOf(line: string): RegistrationDomain | undefined {
  for (const [prefix, domain] of PREFIX_DOMAIN) if (afterPrefix(line, prefix) !== undefined) return domain;
  return undefined;
}

export interface RegistrationReply {
  /** 'query': the read command's reply (with `<n>`); 'urc': the unsolicited code. */
  shape: 'query' | 'urc';
  /** The unsolicited-code mode `<n>` (query replies only). */
  n?: number;
  registration: Registration;
}

/**
 * Parses +CREG/+CGREG/+CEREG/+C5GREG in either shape. Without `shape`, the shape is inferred: one
 * parameter, or a quoted second parameter, is an unsolicited code; a bare integer second
 * parameter is a read reply. Pass `shape` when the caller knows (a reply to `AT+CEREG?` is a
 * query reply) to settle the rare unquoted-area case.
 */
export function parseRegistration(line: string, shape?: 'query' | 'urc'): RegistrationReply {
  const domain = registrationDomainOf(line);
  if (domain === undefined) throw malformed(line, 'not a registration line');
  const params = responseParams(line, REGISTRATION_PREFIX[domain]);
  if (params.length === 0) throw malformed(line, 'no registration status');
  const inferred = shape ?? (params.length === 1 || params[1]!.quoted || !/^\d{1,3}$/.test(params[1]!.text) ? 'urc' : 'query');
  let s = 0;
  let n: number | undefined;
  if (inferred === 'query') {
    if (params.length < 2) throw malformed(line, 'a read reply needs <n> and <stat>');
    n = int(line, params[0], '<n>', 0, 5);
    s = 1;
  }
  const stat = int(line, params[s], '<stat>', 0, 255);
  const area = optHex(line, params[s + 1], 'area code', 8);
  const cellId = optHex(line, params[s + 2], 'cell id', 10);
  const act = optInt(line, params[s + 3], '<AcT>', 0, 255);
  const registration = compact<Registration>({ domain, status: statusFromStat(stat), area, cellId, tech: act === undefined ? undefined : actToTech(act) });
  return n === undefined ? { shape: inferred, registration } : { shape: inferred, n, registration };
}
