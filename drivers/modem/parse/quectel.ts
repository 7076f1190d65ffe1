import type { OperatorInfo, RadioTech, SignalInfo } from '../types.js';
import { afterPrefix, compact, isPrintable, malformed, measurement, optInt, responseParams, type Param } from './fields.js';
import { splitPlmn } from './operator.js';
import { makeSignal, mergeSignals } from './signal.js';

/**
 * Quectel's own network commands (EC2x/EG2x/EG9x/EM05 and RG50xQ/RM5xxQ/RM520N AT manuals):
 *
 *   AT+QCSQ        +QCSQ: "NOSERVICE" | "GSM",<rssi> | "WCDMA",<rssi>,<rscp>,<ecio>
 *                  | "LTE",<rssi>,<rsrp>,<sinr>,<rsrq> | "NR5G",<rsrp>,<sinr>,<rsrq>
 *   AT+QNWINFO     +QNWINFO: "FDD LTE","26201","LTE BAND 3",1300   (or `No Service`)
 *   AT+QSPN        +QSPN: "<full name>","<short name>","<SPN>",<alphabet>,"<registered PLMN>"
 *   AT+QENG="servingcell"   one line per RAT (layouts below), `-` for "not available".
 *
 * SINR units differ by command and RAT, and the manuals disagree between models:
 * - +QCSQ LTE (and CAT-M/NB-IoT): 0..250 in 1/5 dB, so dB = value / 5 - 20 (EC2x, BG96 manuals).
 * - +QENG LTE: 0..25, dB = value * 2 - 20 (the rule Quectel support gives; it matches RSRQ in
 *   recorded captures, where the manuals' 1/5 dB reading gives impossible values).
 * - NR5G (+QCSQ and +QENG): dB as given.
 */

// ---- +QCSQ ------------------------------------------------------------------------------------

export interface QcsqReading {
  /** The system mode as given (`LTE`, `NR5G`, `NOSERVICE`, `CAT-M1`, ...). */
  sysmode: string;
  tech: RadioTech;
  signal: SignalInfo;
}

const LTE_LIKE = /^(LTE|CAT-?M1?|CAT-?NB\d?|EMTC|NBIOT|NB-IOT)$/i;

/** Quectel's system mode and access technology names → coarse radio technology. */
export function quectelTech(mode: string): RadioTech {
  const m = mode.toUpperCase();
  if (m.includes('NR5G') || m === 'NR' || m.includes('5G')) return 'NR';
  if (m.includes('LTE') || LTE_LIKE.test(m)) return 'LTE';
  if (/^(WCDMA|HSDPA|HSUPA|HSPA\+?|HSDPA&HSUPA|TDSCDMA|TD-SCDMA|UMTS|DC-HSPA\+?)$/.test(m)) return 'UMTS';
  if (/^(GSM|GPRS|EDGE|EGPRS)$/.test(m)) return 'GSM';
  return 'unknown';
}

const rssiOf = (line: string, p: Param | undefined): number | undefined => measurement(line, p, 'RSSI', -140, -10);
const rsrpOf = (line: string, p: Param | undefined): number | undefined => measurement(line, p, 'RSRP', -160, -20);
const rsrqOf = (line: string, p: Param | undefined): number | undefined => measurement(line, p, 'RSRQ', -45, 25);
const sinrDbOf = (line: string, p: Param | undefined): number | undefined => measurement(line, p, 'SINR', -30, 60);

/** Rounded to 0.1 dB (the unit conversions would otherwise leave binary fractions). */
export function tenths(value: number): number {
  return Math.round(value * 10) / 10;
}

/** One `+QCSQ:` line. */
export function parseQcsq(line: string): QcsqReading {
  const params = responseParams(line, '+QCSQ');
  const sysmode = params[0]?.text.trim() ?? '';
  if (sysmode === '' || sysmode.length > 16) throw malformed(line, 'no system mode');
  const mode = sysmode.toUpperCase();
  const tech = quectelTech(sysmode);
  if (mode === 'NOSERVICE' || mode === 'NO SERVICE') return { sysmode, tech: 'unknown', signal: makeSignal({}) };
  if (tech === 'NR') {
    return { sysmode, tech, signal: makeSignal({ rsrpDbm: rsrpOf(line, params[1]), sinrDb: sinrDbOf(line, params[2]), rsrqDb: rsrqOf(line, params[3]) }) };
  }
  if (tech === 'LTE') {
    const sinrRaw = measurement(line, params[3], 'SINR', 0, 250);
    return {
      sysmode,
      tech,
      signal: makeSignal({ rssiDbm: rssiOf(line, params[1]), rsrpDbm: rsrpOf(line, params[2]), sinrDb: sinrRaw === undefined ? undefined : tenths(sinrRaw / 5 - 20), rsrqDb: rsrqOf(line, params[4]) }),
    };
  }
  // GSM, WCDMA, TD-SCDMA, CDMA, HDR: the first value is the RSSI in dBm.
  return { sysmode, tech, signal: makeSignal({ rssiDbm: rssiOf(line, params[1]) }) };
}

/**
 * All `+QCSQ:` lines of one reply (EN-DC firmware may give an LTE and an NR5G line): the NR
 * values override the LTE anchor's, the LTE RSSI stays. Undefined when there is no such line.
 */
export function parseQcsqLines(lines: readonly string[]): QcsqReading | undefined {
  const readings = lines.filter((l) => afterPrefix(l, '+QCSQ') !== undefined).map(parseQcsq);
  if (readings.length === 0) return undefined;
  const best = readings.find((r) => r.tech === 'NR') ?? readings[0]!;
  const lte = readings.find((r) => r.tech === 'LTE');
  const signal = best !== lte && lte ? mergeSignals(lte.signal, best.signal)! : best.signal;
  return { sysmode: best.sysmode, tech: best.tech, signal };
}

// ---- +QNWINFO ---------------------------------------------------------------------------------

export interface QnwInfo {
  /** The access technology as given (`FDD LTE`, `TDD NR5G`, `WCDMA`, `No Service`). */
  act: string;
  tech: RadioTech;
  mcc?: string;
  mnc?: string;
  /** `LTE BAND 3`, `NR5G BAND 78`. */
  band?: string;
  channel?: number;
}

/** `+QNWINFO: <Act>,<oper>,<band>,<channel>` or `+QNWINFO: No Service`. */
export function parseQnwinfo(line: string): QnwInfo {
  const params = responseParams(line, '+QNWINFO');
  const act = params[0]?.text.trim() ?? '';
  if (act === '' || act.length > 32 || !isPrintable(act)) throw malformed(line, 'no access technology');
  if (/^(no service|none)$/i.test(act)) return { act, tech: 'unknown' };
  const plmn = params[1] && params[1].text !== '' ? splitPlmn(params[1].text) : undefined;
  if (params[1] && params[1].text !== '' && !plmn) throw malformed(line, 'operator is not a five or six digit PLMN');
  const band = params[2]?.text.trim();
  if (band !== undefined && (band.length > 32 || (band !== '' && !isPrintable(band)))) throw malformed(line, 'band is too long or not printable');
  const channel = optInt(line, params[3], 'channel', 0, 4_000_000);
  return compact({ act, tech: quectelTech(act.replace(/^(FDD|TDD)\s+/i, '')), ...plmn, band: band || undefined, channel });
}

// ---- +QSPN ------------------------------------------------------------------------------------

export interface QspnInfo {
  fullName?: string;
  shortName?: string;
  spn?: string;
  /** The registered PLMN. */
  mcc?: string;
  mnc?: string;
}

/** `+QSPN: "<FNN>","<SNN>","<SPN>",<alphabet>,"<RPLMN>"`. */
export function parseQspn(line: string): QspnInfo {
  const params = responseParams(line, '+QSPN');
  if (params.length < 3) throw malformed(line, '+QSPN needs the full name, short name and SPN');
  const name = (p: Param | undefined): string | undefined => {
    const t = p?.text.trim() ?? '';
    if (t === '') return undefined;
    if (t.length > 64 || !isPrintable(t)) throw malformed(line, 'network name is too long or not printable');
    return t;
  };
  optInt(line, params[3], '<alphabet>', 0, 1);
  const rplmn = params[4]?.text.trim() ?? '';
  const plmn = rplmn === '' ? undefined : splitPlmn(rplmn);
  if (rplmn !== '' && !plmn) throw malformed(line, 'registered PLMN is not five or six digits');
  return compact({ fullName: name(params[0]), shortName: name(params[1]), spn: name(params[2]), ...plmn });
}

/** The operator as +QSPN names it (full name, else short name, else SPN). */
export function qspnOperator(info: QspnInfo): OperatorInfo {
  return compact({ name: info.fullName ?? info.shortName ?? info.spn, mcc: info.mcc, mnc: info.mnc });
}

export { parseServingCell, servingCellSignal, servingCellTech, type ServingCell, type ServingCellInfo } from './quectel-servingcell.js';
