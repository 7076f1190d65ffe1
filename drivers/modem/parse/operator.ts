import type { OperatorInfo } from '../types.js';
import { compact, int, isPrintable, malformed, optInt, responseParams } from './fields.js';
import { actToTech } from './registration.js';

/**
 * The operator, +COPS? (3GPP TS 27.007 section 7.3): `+COPS: <mode>[,<format>,<oper>[,<AcT>]]`.
 * `<format>` 0 is the long name, 1 the short name, 2 the numeric MCC+MNC (`"26201"`: MCC 262,
 * MNC 01; a six-digit PLMN has a three-digit MNC).
 */

export interface CopsReply {
  /** 0 automatic, 1 manual, 2 deregistered, 3 set format only, 4 manual then automatic. */
  mode: number;
  format?: number;
  /** Absent when the modem is not on a network (`+COPS: 0`). */
  operator?: OperatorInfo;
}

/** `"26201"` → `{ mcc: '262', mnc: '01' }`; undefined when it is not five or six digits. */
export function splitPlmn(plmn: string): { mcc: string; mnc: string } | undefined {
  if (!/^\d{5,6}$/.test(plmn)) return undefined;
  return { mcc: plmn.slice(0, 3), mnc: plmn.slice(3) };
}

export function parseCops(line: string): CopsReply {
  const params = responseParams(line, '+COPS');
  const mode = int(line, params[0], '<mode>', 0, 4);
  if (params.length < 3) {
    if (params.length === 2) int(line, params[1], '<format>', 0, 2);
    return { mode };
  }
  const format = int(line, params[1], '<format>', 0, 2);
  const oper = params[2]!.text.trim();
  const act = optInt(line, params[3], '<AcT>', 0, 255);
  const tech = act === undefined ? undefined : actToTech(act);
  if (oper === '') return compact({ mode, format, operator: tech ? { tech } : undefined });
  if (format === 2) {
    const plmn = splitPlmn(oper);
    if (!plmn) throw malformed(line, 'numeric operator is not five or six digits');
    return { mode, format, operator: compact({ ...plmn, tech }) };
  }
  if (oper.length > 64 || !isPrintable(oper)) throw malformed(line, 'operator name is too long or not printable');
  // Some modems give the numeric PLMN in the alphanumeric formats when they know no name.
  const plmn = splitPlmn(oper);
  return { mode, format, operator: compact(plmn ? { ...plmn, tech } : { name: oper, tech }) };
}
