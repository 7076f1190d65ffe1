import type { AtSession } from '../modem-session.js';
import type { PollReading } from '../modem-state.js';
import type { ModemIdentity } from '../types.js';
import { GENERIC_INIT, pollGeneric, readGenericIccid, type PollContext } from './generic.js';
import { pollQuectel, quectelInit, readQuectelIccid, type QuectelUrcPort } from './quectel.js';

/**
 * A profile is the command set for a family of modems: what to send at initialisation, how to read
 * the ICCID, and how one poll is read. Chosen by configuration ('generic' | 'quectel'), or 'auto':
 * Quectel when AT+CGMI names Quectel or AT+CGMM names one of its model families, generic otherwise.
 */

export type ModemProfileName = 'generic' | 'quectel';
export type ProfileChoice = ModemProfileName | 'auto';

export interface ModemProfile {
  readonly name: ModemProfileName;
  /** Sent once per initialisation after identification; failures are tolerated and reported. */
  readonly initCommands: readonly string[];
  readIccid(at: AtSession): Promise<string | undefined>;
  poll(at: AtSession, ctx: PollContext): Promise<PollReading>;
}

export interface ProfileOptions {
  /** Quectel only: AT+QURCCFG="urcport",<port> at init. Not sent when absent. */
  quectelUrcPort?: QuectelUrcPort;
}

export function genericProfile(): ModemProfile {
  return { name: 'generic', initCommands: GENERIC_INIT, readIccid: readGenericIccid, poll: pollGeneric };
}

export function quectelProfile(options: ProfileOptions = {}): ModemProfile {
  return { name: 'quectel', initCommands: quectelInit(options.quectelUrcPort), readIccid: readQuectelIccid, poll: pollQuectel };
}

/** Quectel model families (EC25, EG25-G, EG91, EM05, EM12, BG96, RM500Q-GL, RM520N-GL, RG500Q, UC20 ...). */
const QUECTEL_MODEL = /^(EC2\d|EC200|EC600|EC800|EG\d\d|EG[89]\d\d|EM0\d|EM1\d\d?|EP06|RM5\d\d|RG5\d\d|BG\d\d\d?|UC\d\d|UG\d\d)/i;

export function isQuectel(identity: ModemIdentity): boolean {
  if (identity.manufacturer !== undefined && /quectel/i.test(identity.manufacturer)) return true;
  return identity.model !== undefined && QUECTEL_MODEL.test(identity.model.trim());
}

/** The profile for a configuration choice and what the modem said about itself. */
export function chooseProfile(choice: ProfileChoice, identity: ModemIdentity, options: ProfileOptions = {}): ModemProfile {
  const name: ModemProfileName = choice === 'auto' ? (isQuectel(identity) ? 'quectel' : 'generic') : choice;
  return name === 'quectel' ? quectelProfile(options) : genericProfile();
}

export type { PollContext } from './generic.js';
export type { QuectelUrcPort } from './quectel.js';
