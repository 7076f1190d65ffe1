import { isTcuError } from '../../../core/errors.js';
import type { SimState } from '../types.js';
import { afterPrefix, malformed } from './fields.js';

/**
 * SIM state, from AT+CPIN? (`+CPIN: READY`, `+CPIN: SIM PIN`, ...), from the same line arriving
 * unsolicited (Quectel sends `+CPIN: READY`, `+CPIN: NOT READY`, `+CPIN: NOT INSERTED`), and from
 * the +CME ERROR a command gets when there is no usable SIM (3GPP TS 27.007 section 9.2.1).
 */

/** `+CPIN: <code>` → SimState. Throws AT_REPLY_MALFORMED for anything else. */
export function parseCpin(line: string): SimState {
  const rest = afterPrefix(line, '+CPIN');
  if (rest === undefined) throw malformed(line, 'expected +CPIN:');
  const code = rest.replace(/^"|"$/g, '').trim().toUpperCase();
  if (code === 'READY') return 'ready';
  if (code === 'NOT INSERTED' || code === 'SIM REMOVED' || code === 'NO SIM') return 'missing';
  if (code === 'NOT READY' || code === 'SIM BUSY') return 'unknown';
  if (code === 'SIM ERROR' || code === 'SIM FAILURE' || code === 'SIM WRONG') return 'error';
  // SIM PIN, SIM PIN2, PH-SIM PIN, PH-NET PIN, PH-FSIM PIN ...: something waits for a code.
  if (/^[A-Z0-9 -]{1,24}PUK2?$/.test(code)) return 'puk-required';
  if (/^[A-Z0-9 -]{1,24}PIN2?$/.test(code)) return 'pin-required';
  throw malformed(line, 'unknown +CPIN code');
}

/** Numeric +CME ERROR codes about the SIM, and their verbose (AT+CMEE=2) texts. */
const CME_SIM: Record<string, SimState> = {
  '10': 'missing', // SIM not inserted
  '11': 'pin-required', // SIM PIN required
  '12': 'puk-required', // SIM PUK required
  '13': 'error', // SIM failure
  '14': 'unknown', // SIM busy
  '15': 'error', // SIM wrong
  '17': 'pin-required', // SIM PIN2 required
  '18': 'puk-required', // SIM PUK2 required
  'sim not inserted': 'missing',
  'sim pin required': 'pin-required',
  'sim puk required': 'puk-required',
  'sim failure': 'error',
  'sim busy': 'unknown',
  'sim wrong': 'error',
  'sim pin2 required': 'pin-required',
  'sim puk2 required': 'puk-required',
};

/**
 * The SIM state a failed command reveals (`+CME ERROR: 10` → 'missing'), or undefined when the
 * failure says nothing about the SIM. Reads the AT_COMMAND_FAILED details `cme`, and the `final`
 * line when the engine did not split it out.
 */
export function simStateFromError(err: unknown): SimState | undefined {
  if (!isTcuError(err, 'AT_COMMAND_FAILED')) return undefined;
  let cme: unknown = err.details.cme;
  if (cme === undefined && typeof err.details.final === 'string') {
    const m = /^\+CME ERROR:\s*(.+)$/i.exec(err.details.final.trim());
    if (m) cme = m[1];
  }
  if (typeof cme === 'number') cme = String(cme);
  if (typeof cme !== 'string') return undefined;
  const key = cme.trim().toLowerCase();
  return Object.hasOwn(CME_SIM, key) ? CME_SIM[key] : undefined;
}
