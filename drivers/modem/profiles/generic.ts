import type { AtSession } from '../modem-session.js';
import type { PollReading } from '../modem-state.js';
import { afterPrefix } from '../parse/fields.js';
import { parseCrsmIccid, parseFirmware, parseIccid, parseImei, parseImsi, parseManufacturer, parseModel, parseAti } from '../parse/identity.js';
import { parseCops } from '../parse/operator.js';
import { parseCgatt, parseCgpaddr } from '../parse/packet.js';
import { REGISTRATION_PREFIX, parseRegistration } from '../parse/registration.js';
import { parseCsq } from '../parse/signal.js';
import { parseCpin, simStateFromError } from '../parse/sim.js';
import type { ModemIdentity, ModemSnapshot, OperatorInfo, PacketInfo, Registration, RegistrationDomain, SignalInfo, SimState } from '../types.js';

/**
 * The generic 3GPP TS 27.007 profile: what every modem is asked, and how a poll is read.
 *
 * Before identification (both profiles): ATV1 (verbose result codes, which the engine reads),
 * ATE0 (no echo), AT+CMEE=1 (numeric +CME ERROR codes).
 * Init: AT+CREG=2, AT+CGREG=2, AT+CEREG=2, AT+C5GREG=2 (registration URCs with area and cell; a
 * modem without one of them answers ERROR, which is remembered), AT+COPS=3,2 (numeric operator).
 * Identity: AT+CGMI, AT+CGMM, AT+CGMR, AT+CGSN (ATI when CGMI and CGMM fail), AT+CIMI, and the
 * ICCID through AT+CCID, AT+ICCID or AT+CRSM (EF_ICCID), whichever the modem has.
 * Poll: AT+CPIN?, AT+CREG?, AT+CGREG?, AT+CEREG?, AT+C5GREG?, AT+COPS?, AT+CSQ, AT+CGATT?, and
 * AT+CGPADDR when attached. The operator's long name is fetched (AT+COPS=3,0 / AT+COPS? /
 * AT+COPS=3,2) only when the PLMN changes.
 */

export const PREAMBLE: readonly string[] = ['ATV1', 'ATE0', 'AT+CMEE=1'];

export const GENERIC_INIT: readonly string[] = ['AT+CREG=2', 'AT+CGREG=2', 'AT+CEREG=2', 'AT+C5GREG=2', 'AT+COPS=3,2'];

export const DOMAINS: readonly RegistrationDomain[] = ['cs', 'gprs', 'eps', '5gs'];

export interface PollContext {
  previous: ModemSnapshot;
  /** The PDP context whose address is reported; the first one with an address when absent. */
  cid?: number;
}

/** The first reply line with `prefix`, for parsers that take one line. */
export function lineWith(lines: readonly string[], prefix: string): string | undefined {
  return lines.find((l) => afterPrefix(l, prefix) !== undefined);
}

/** Manufacturer, model, firmware and IMEI; each command that fails is reported and skipped. */
export async function readIdentity(at: AtSession): Promise<ModemIdentity> {
  const id: ModemIdentity = {};
  const read = async (command: string, parse: (lines: string[]) => string): Promise<string | undefined> => {
    const lines = await at.lines(command, { optional: true });
    return lines === undefined ? undefined : at.parse(() => parse(lines));
  };
  id.manufacturer = await read('AT+CGMI', parseManufacturer);
  id.model = await read('AT+CGMM', parseModel);
  if (id.manufacturer === undefined && id.model === undefined) {
    const lines = await at.lines('ATI', { optional: true });
    const ati = lines === undefined ? undefined : at.parse(() => parseAti(lines));
    if (ati) Object.assign(id, ati);
  }
  id.firmware = (await read('AT+CGMR', parseFirmware)) ?? id.firmware;
  id.imei = (await read('AT+CGSN', parseImei)) ?? id.imei;
  return Object.fromEntries(Object.entries(id).filter(([, v]) => v !== undefined)) as ModemIdentity;
}

/** AT+CPIN?; a +CME ERROR about the SIM (10: not inserted) gives its state. */
export async function readSim(at: AtSession): Promise<SimState | undefined> {
  const r = await at.run('AT+CPIN?');
  if (r.ok) {
    const line = lineWith(r.lines, '+CPIN');
    return line === undefined ? at.parse(() => parseCpin(r.lines.join(' '))) : at.parse(() => parseCpin(line));
  }
  const state = simStateFromError(r.error);
  if (state === undefined) at.report(r.error);
  return state;
}

/** The ICCID through the 27.007-era commands vendors offer, first that works. */
export async function readGenericIccid(at: AtSession): Promise<string | undefined> {
  for (const command of ['AT+CCID', 'AT+ICCID']) {
    const r = await at.run(command, { optional: true });
    if (r.ok) return at.parse(() => parseIccid(r.lines));
  }
  const r = await at.run('AT+CRSM=176,12258,0,0,10', { optional: true });
  if (!r.ok) return undefined;
  const line = lineWith(r.lines, '+CRSM');
  return at.parse(() => parseCrsmIccid(line ?? r.lines.join(' ')));
}

/** AT+CIMI when the SIM is ready; a refusal that tells the SIM state is not reported. */
export async function readImsi(at: AtSession): Promise<string | undefined> {
  const r = await at.run('AT+CIMI');
  if (r.ok) return at.parse(() => parseImsi(r.lines));
  if (simStateFromError(r.error) === undefined) at.report(r.error);
  return undefined;
}

/**
 * Each domain's read command. A domain the modem lacks is dropped; one whose read failed keeps its
 * previous value.
 */
export async function readRegistrations(at: AtSession, previous: ModemSnapshot['registrations']): Promise<Partial<Record<RegistrationDomain, Registration>>> {
  const out: Partial<Record<RegistrationDomain, Registration>> = { ...previous };
  for (const domain of DOMAINS) {
    const prefix = REGISTRATION_PREFIX[domain];
    const r = await at.run(`AT${prefix}?`, { optional: true });
    if (!r.ok) {
      if (r.unsupported) delete out[domain];
      else at.report(r.error);
      continue;
    }
    const line = lineWith(r.lines, prefix);
    const reply = at.parse(() => parseRegistration(line ?? `${prefix}: ${r.lines.join(' ')}`, 'query'));
    if (reply) out[domain] = reply.registration;
  }
  return out;
}

/** AT+COPS? with the long name fetched when the PLMN is new. null: on no network. */
export async function readOperator(at: AtSession, previous: OperatorInfo | undefined): Promise<OperatorInfo | null | undefined> {
  const query = async (): Promise<OperatorInfo | null | undefined> => {
    const lines = await at.lines('AT+COPS?');
    if (lines === undefined) return undefined;
    const reply = at.parse(() => parseCops(lineWith(lines, '+COPS') ?? lines.join(' ')));
    if (reply === undefined) return undefined;
    return reply.operator && (reply.operator.mcc !== undefined || reply.operator.name !== undefined) ? reply.operator : null;
  };
  const op = await query();
  if (!op || op.mcc === undefined || op.name !== undefined) return op;
  // The same network as before: keep the name it had (or had not); ask again only for a new PLMN.
  if (previous && previous.mcc === op.mcc && previous.mnc === op.mnc) return previous.name === undefined ? op : { ...op, name: previous.name };
  if (!(await at.run('AT+COPS=3,0', { optional: true })).ok) return op;
  const named = await query();
  await at.run('AT+COPS=3,2', { optional: true });
  return named?.name !== undefined && named.mcc === undefined ? { ...op, name: named.name } : op;
}

export async function readCsq(at: AtSession): Promise<SignalInfo | undefined> {
  const lines = await at.lines('AT+CSQ');
  return lines === undefined ? undefined : at.parse(() => parseCsq(lineWith(lines, '+CSQ') ?? lines.join(' ')));
}

/** AT+CGATT?, then AT+CGPADDR for the address when attached. */
export async function readPacket(at: AtSession, cid: number | undefined): Promise<PacketInfo | undefined> {
  const lines = await at.lines('AT+CGATT?');
  if (lines === undefined) return undefined;
  const attached = at.parse(() => parseCgatt(lineWith(lines, '+CGATT') ?? lines.join(' ')));
  if (attached === undefined) return undefined;
  if (!attached) return { attached };
  const addrLines = await at.lines(cid === undefined ? 'AT+CGPADDR' : `AT+CGPADDR=${cid}`);
  if (addrLines === undefined) return { attached };
  for (const line of addrLines) {
    if (afterPrefix(line, '+CGPADDR') === undefined) continue;
    const ctx = at.parse(() => parseCgpaddr(line));
    if (ctx && (cid === undefined || ctx.cid === cid) && ctx.addresses[0] !== undefined) return { attached, address: ctx.addresses[0] };
  }
  return { attached };
}

/** One poll with the generic commands. */
export async function pollGeneric(at: AtSession, ctx: PollContext): Promise<PollReading> {
  const reading: PollReading = {};
  const sim = await readSim(at);
  if (sim !== undefined) reading.sim = sim;
  reading.registrations = await readRegistrations(at, ctx.previous.registrations);
  const op = await readOperator(at, ctx.previous.operator);
  if (op !== undefined) reading.operator = op;
  const signal = await readCsq(at);
  if (signal !== undefined) reading.signal = signal;
  const packet = await readPacket(at, ctx.cid);
  if (packet !== undefined) reading.packet = packet;
  return reading;
}
