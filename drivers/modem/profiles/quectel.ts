import { TcuError } from '../../../core/errors.js';
import type { AtSession } from '../modem-session.js';
import { betterTech, type PollReading } from '../modem-state.js';
import { afterPrefix } from '../parse/fields.js';
import { parseIccid } from '../parse/identity.js';
import { parseQcsqLines, parseQnwinfo, parseQspn, parseServingCell, qspnOperator, servingCellSignal, servingCellTech } from '../parse/quectel.js';
import { mergeSignals } from '../parse/signal.js';
import type { OperatorInfo, RadioTech } from '../types.js';
import { GENERIC_INIT, lineWith, pollGeneric, readGenericIccid, type PollContext } from './generic.js';

/**
 * The Quectel profile (EC2x, EG2x, EG9x, EM05, BG9x, RG50xQ, RM5xxQ, RM520N): the generic
 * 27.007 profile plus Quectel's own commands.
 *
 * Init: the generic commands, then AT+QURCCFG="urcport",<port> only when configured (routing
 *   URCs to another port would starve the one the agent listens on).
 * Identity: AT+QCCID for the ICCID (the generic ways when it fails).
 * Poll: the generic poll, then AT+QCSQ (RSSI, RSRP, SINR, RSRQ), AT+QENG="servingcell" (the
 *   serving cell, EN-DC), AT+QNWINFO (access technology and band), and AT+QSPN when the
 *   operator has no name yet. Signal: +CSQ, overridden by +QENG, overridden by +QCSQ (but when
 *   +QENG shows a live NR5G-NSA leg and +QCSQ only the LTE anchor, +QENG has the last word). The
 *   technology hint (which can raise the registered technology, e.g. to NR in EN-DC) is the best
 *   of +QENG and +QNWINFO.
 * GNSS: AT+QGPS=1 starts the receiver; AT+QGPSLOC=2 returns the raw `+QGPSLOC:` line, which the
 *   agent hands to drivers/gnss (this folder does not parse positions).
 */

export type QuectelUrcPort = 'usbat' | 'usbmodem' | 'uart1';

export function quectelInit(urcPort: QuectelUrcPort | undefined): string[] {
  return urcPort === undefined ? [...GENERIC_INIT] : [...GENERIC_INIT, `AT+QURCCFG="urcport","${urcPort}"`];
}

export async function readQuectelIccid(at: AtSession): Promise<string | undefined> {
  const r = await at.run('AT+QCCID', { optional: true });
  if (r.ok) return at.parse(() => parseIccid(r.lines));
  return readGenericIccid(at);
}

export async function pollQuectel(at: AtSession, ctx: PollContext): Promise<PollReading> {
  const reading = await pollGeneric(at, ctx);
  let hint: RadioTech = 'unknown';

  const qcsqLines = await at.lines('AT+QCSQ', { optional: true });
  const qcsq = qcsqLines === undefined ? undefined : at.parse(() => parseQcsqLines(qcsqLines));

  const qengLines = await at.lines('AT+QENG="servingcell"', { optional: true });
  const serving = qengLines === undefined ? undefined : at.parse(() => parseServingCell(qengLines));
  if (serving) hint = betterTech(hint, servingCellTech(serving));

  // Later readings win. +QCSQ is the documented signal report, but in EN-DC firmware that gives only
  // the LTE anchor there must not hide the NR leg +QENG shows.
  const fromQeng = serving ? servingCellSignal(serving) : undefined;
  const nrOnlyInQeng = serving !== undefined && servingCellTech(serving) === 'NR' && qcsq !== undefined && qcsq.tech !== 'NR';
  reading.signal = nrOnlyInQeng ? mergeSignals(reading.signal, qcsq.signal, fromQeng) : mergeSignals(reading.signal, fromQeng, qcsq?.signal);

  const nwLines = await at.lines('AT+QNWINFO', { optional: true });
  const nwLine = nwLines === undefined ? undefined : lineWith(nwLines, '+QNWINFO');
  const nw = nwLine === undefined ? undefined : at.parse(() => parseQnwinfo(nwLine));
  if (nw) hint = betterTech(hint, nw.tech);

  const op = reading.operator === undefined ? ctx.previous.operator : (reading.operator ?? undefined);
  if (op && op.name === undefined) {
    const named = await operatorName(at, op);
    if (named !== undefined) reading.operator = { ...op, name: named };
  }
  if (hint !== 'unknown') reading.techHint = hint;
  return reading;
}

/** The network name from +QSPN, when its registered PLMN is this operator's (or it gives none). */
async function operatorName(at: AtSession, op: OperatorInfo): Promise<string | undefined> {
  const lines = await at.lines('AT+QSPN', { optional: true });
  const line = lines === undefined ? undefined : lineWith(lines, '+QSPN');
  const info = line === undefined ? undefined : at.parse(() => parseQspn(line));
  if (!info) return undefined;
  if (info.mcc !== undefined && (info.mcc !== op.mcc || info.mnc !== op.mnc)) return undefined;
  return qspnOperator(info).name;
}

/** AT+QGPS=1; `+CME ERROR: 504` (a session is already running) counts as started. */
export async function gnssStart(at: AtSession): Promise<void> {
  const r = await at.run('AT+QGPS=1');
  if (r.ok) return;
  const cme = r.error.details.cme;
  if (cme === 504 || cme === '504' || (typeof cme === 'string' && /session is ongoing/i.test(cme))) return;
  throw new TcuError('GNSS_UNAVAILABLE', `the GNSS receiver could not be started: ${r.error.message}`, { cause: r.error, details: { command: 'AT+QGPS=1', final: r.error.details.final } });
}

/**
 * AT+QGPSLOC=2: the raw `+QGPSLOC:` line(s) (`<UTC>,<lat>,<lon>,<hdop>,<alt>,<fix>,<cog>,<spkm>,
 * <spkn>,<date>,<nsat>`). No fix yet (`+CME ERROR: 516`) or no session (505): GNSS_UNAVAILABLE.
 */
export async function gnssLocation(at: AtSession): Promise<string[]> {
  const r = await at.run('AT+QGPSLOC=2');
  if (!r.ok) throw new TcuError('GNSS_UNAVAILABLE', `no GNSS position: ${r.error.message}`, { cause: r.error, details: { command: 'AT+QGPSLOC=2', final: r.error.details.final, cme: r.error.details.cme } });
  const lines = r.lines.filter((l) => afterPrefix(l, '+QGPSLOC') !== undefined);
  if (lines.length === 0) throw new TcuError('GNSS_UNAVAILABLE', 'AT+QGPSLOC=2 answered OK without a position', { details: { command: 'AT+QGPSLOC=2', lines: r.lines } });
  return lines;
}
