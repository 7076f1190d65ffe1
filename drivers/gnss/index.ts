/** GNSS: NMEA sentences and Quectel +QGPSLOC to fixes, and a trusted clock (docs/GNSS.md). */
export type {
  FaaMode,
  GgaSentence,
  GnssFix,
  GnssFixType,
  GnssQuality,
  GnssSystem,
  GsaSentence,
  GsvSentence,
  NmeaSentence,
  NmeaSentenceType,
  OtherSentence,
  RmcSentence,
  RmcStatus,
  TimeOfDayMs,
  VtgSentence,
} from './types.js';
export {
  KNOTS_TO_KMH,
  NMEA_DEFAULT_MAX_LENGTH,
  dateMs,
  degreesMinutes,
  nmeaChecksum,
  parseNmea,
  systemOfId,
  systemOfTalker,
  timeOfDayMs,
  type NmeaParseOptions,
} from './nmea.js';
export { EpochAssembler, fixesOf, type EpochAssemblerOptions, type EpochSentenceType } from './fix.js';
export { QGPSLOC_NOT_FIXED, isQgpslocNoFix, parseQgpsloc, queryQgpsloc, type QgpslocMode, type QgpslocQueryOptions } from './qgpsloc.js';
export {
  NMEA_SOURCE_COUNTER_NAMES,
  NmeaSource,
  type NmeaSourceCounterName,
  type NmeaSourceCounters,
  type NmeaSourceOptions,
} from './source.js';
export {
  MAX_PLAUSIBLE_UTC_MS,
  MIN_PLAUSIBLE_UTC_MS,
  TRUSTED_TIME_COUNTER_NAMES,
  TrustedTime,
  gnssTimeProblem,
  type GnssTimeCriteria,
  type TimeObservation,
  type TrustedTimeCounters,
  type TrustedTimeOptions,
  type TrustedTimeSource,
  type TrustedTimeState,
} from './trusted-time.js';
