/**
 * Pure parsers: modem reply lines → the typed values of `../types.ts`. Each throws only TcuError
 * AT_REPLY_MALFORMED (details `{ line }`), whatever it is given.
 */
export { afterPrefix, splitParams, type Param } from './fields.js';
export { parseAti, parseCrsmIccid, parseFirmware, parseIccid, parseImei, parseImsi, parseManufacturer, parseModel } from './identity.js';
export { parseCops, splitPlmn, type CopsReply } from './operator.js';
export { ipv6Text, normaliseAddress, parseCgatt, parseCgdcont, parseCgpaddr, type PdpAddress, type PdpContext } from './packet.js';
export {
  parseQcsq,
  parseQcsqLines,
  parseQnwinfo,
  parseQspn,
  parseServingCell,
  qspnOperator,
  quectelTech,
  servingCellSignal,
  servingCellTech,
  type QcsqReading,
  type QnwInfo,
  type QspnInfo,
  type ServingCell,
  type ServingCellInfo,
} from './quectel.js';
export { qengLteSinrDb } from './quectel-servingcell.js';
export { REGISTRATION_PREFIX, actToTech, isRegistered, parseRegistration, registrationDomainOf, statusFromStat, type RegistrationReply } from './registration.js';
export { csqToDbm, makeSignal, mergeSignals, parseCsq, signalBars } from './signal.js';
export { parseCpin, simStateFromError } from './sim.js';
