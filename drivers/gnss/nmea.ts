import type {
  FaaMode,
  GgaSentence,
  GnssFixType,
  GnssQuality,
  GnssSystem,
  GsaSentence,
  GsvSentence,
  NmeaSentence,
  RmcSentence,
  VtgSentence,
} from './types.js';
import { Fields, checksumError, hex2, malformed, withoutUndefined } from './nmea-fields.js';

export { dateMs, degreesMinutes, timeOfDayMs } from './nmea-fields.js';

/**
 * NMEA 0183 sentences, pure: one line in, one parsed sentence out, or a TcuError.
 *
 *   $GPGGA,161229.487,3723.2475,N,12158.3416,W,1,07,1.0,9.0,M,,,,0000*18
 *   `$` (or `!`), address (talker + type, or `P` + maker for proprietary), fields, `*hh` checksum
 *   (XOR of every character between `$` and `*`).
 *
 * Interpreted: GGA, RMC (2.3 mode indicator, 4.1 navigational status), GSA (4.11 system id), VTG
 * (and the old form without unit letters), GSV (4.11 signal id), from any talker. Any other
 * well-formed sentence, proprietary ones included, is returned as `{ type: 'other' }` so a reader
 * can count and ignore it. An empty field is "not known" and its property is absent.
 *
 * Errors: NMEA_CHECKSUM (wrong, malformed, or missing unless `allowMissingChecksum`) and
 * NMEA_MALFORMED, both with details `{ sentence (first 100 characters), field }`.
 */

export interface NmeaParseOptions {
  /** Accept a sentence without `*hh` (some receivers and simulators omit it). Default false. */
  allowMissingChecksum?: boolean;
  /** Longest line accepted. NMEA says 82 characters; receivers exceed it. Default 512. */
  maxLength?: number;
}

export const NMEA_DEFAULT_MAX_LENGTH = 512;
export const KNOTS_TO_KMH = 1.852;

/** XOR of the character codes of `body` (the text between `$` and `*`). */
export function nmeaChecksum(body: string): number {
  let sum = 0;
  for (let i = 0; i < body.length; i++) sum ^= body.charCodeAt(i);
  return sum & 0xff;
}

/** Parses one sentence (a trailing CR/LF is allowed). Throws TcuError NMEA_CHECKSUM or NMEA_MALFORMED. */
export function parseNmea(input: string, options: NmeaParseOptions = {}): NmeaSentence {
  const line = input.replace(/[\r\n]+$/, '');
  const maxLength = options.maxLength ?? NMEA_DEFAULT_MAX_LENGTH;
  if (line.length > maxLength) malformed(line, 'length', `longer than ${maxLength} characters`);
  if (!/^[\x20-\x7e]*$/.test(line)) malformed(line, 'characters', 'characters outside printable ASCII');
  const start = line[0];
  if (start !== '$' && start !== '!') malformed(line, 'start', 'does not start with $ or !');
  const star = line.indexOf('*');
  let body: string;
  if (star < 0) {
    if (!options.allowMissingChecksum) throw checksumError(line, 'no *hh checksum');
    body = line.slice(1);
  } else {
    body = line.slice(1, star);
    const given = line.slice(star + 1);
    if (!/^[0-9A-Fa-f]{2}$/.test(given)) throw checksumError(line, `checksum "${given}" is not two hex digits`);
    const expected = nmeaChecksum(body);
    if (parseInt(given, 16) !== expected) {
      throw checksumError(line, `checksum ${given.toUpperCase()} does not match ${hex2(expected)}`, hex2(expected));
    }
  }
  const fields = body.split(',');
  const address = fields[0] ?? '';
  if (address.startsWith('P') && /^P[A-Z0-9]{1,15}$/.test(address)) {
    return { type: 'other', talker: 'P', sentenceType: address.slice(1), proprietary: true };
  }
  if (!/^[A-Z][A-Z0-9][A-Z]{3}$/.test(address)) malformed(line, 'address', `address "${address}" is not a talker and a sentence type`);
  const talker = address.slice(0, 2);
  const sentenceType = address.slice(2);
  const p = new Fields(line, fields);
  switch (sentenceType) {
    case 'GGA':
      return parseGga(p, talker);
    case 'RMC':
      return parseRmc(p, talker);
    case 'GSA':
      return parseGsa(p, talker);
    case 'VTG':
      return parseVtg(p, talker);
    case 'GSV':
      return parseGsv(p, talker);
    default:
      return { type: 'other', talker, sentenceType, proprietary: false };
  }
}

export function systemOfTalker(talker: string): GnssSystem {
  switch (talker) {
    case 'GP':
      return 'gps';
    case 'GL':
      return 'glonass';
    case 'GA':
      return 'galileo';
    case 'GB':
    case 'BD':
      return 'beidou';
    case 'GQ':
    case 'QZ':
      return 'qzss';
    case 'GI':
      return 'navic';
    case 'GN':
      return 'multi';
    default:
      return 'other';
  }
}

/** NMEA 4.11 GSA/GSV system id → system. */
export function systemOfId(id: number): GnssSystem {
  return (['other', 'gps', 'glonass', 'galileo', 'beidou', 'qzss', 'navic'] as const)[id] ?? 'other';
}

// ---------------------------------------------------------------------------------------------
// Sentences. Field numbers follow the usual tables (1 = the first field after the address).

function parseGga(p: Fields, talker: string): GgaSentence {
  p.atLeast(6);
  return withoutUndefined({
    type: 'GGA' as const,
    talker,
    system: systemOfTalker(talker),
    timeOfDayMs: p.timeOfDay(1, 'time'),
    latitude: p.angle(2, 3, 'latitude'),
    longitude: p.angle(4, 5, 'longitude'),
    quality: ggaQuality(p, 6),
    satellitesUsed: p.number(7, 'satellitesUsed', { integer: true, min: 0 }),
    hdop: p.number(8, 'hdop', { min: 0 }),
    altitudeM: p.number(9, 'altitude'),
    geoidSeparationM: p.number(11, 'geoidSeparation'),
    dgpsAgeS: p.number(13, 'dgpsAge', { min: 0 }),
    dgpsStation: p.text(14),
  });
}

function parseRmc(p: Fields, talker: string): RmcSentence {
  p.atLeast(9);
  const knots = p.number(7, 'speed', { min: 0 });
  const variation = p.number(10, 'magneticVariation', { min: 0, max: 180 });
  const variationSide = p.letter(11, 'magneticVariationSide', { E: 1, W: -1 });
  return withoutUndefined({
    type: 'RMC' as const,
    talker,
    system: systemOfTalker(talker),
    timeOfDayMs: p.timeOfDay(1, 'time'),
    // `D` is not standard but Unicore receivers send it for a differential fix.
    status: p.letter(2, 'status', { A: 'valid', D: 'valid', V: 'warning' } as const),
    latitude: p.angle(3, 4, 'latitude'),
    longitude: p.angle(5, 6, 'longitude'),
    speedKmh: knots === undefined ? undefined : knots * KNOTS_TO_KMH,
    courseDeg: p.course(8, 'course'),
    dateMs: p.date(9, 'date'),
    magneticVariationDeg: variation === undefined ? undefined : variation * (variationSide ?? 1),
    mode: p.letter(12, 'mode', FAA_MODES),
    navStatus: p.letter(13, 'navStatus', { S: 'safe', C: 'caution', U: 'unsafe', V: 'unavailable' } as const),
  });
}

function parseGsa(p: Fields, talker: string): GsaSentence {
  // 2 mode fields, 12 satellite slots, PDOP, HDOP, VDOP, and the NMEA 4.11 system id.
  if (p.count !== 17 && p.count !== 18) p.bad('fields', `GSA has ${p.count} fields, not 17 or 18`);
  const satellites: number[] = [];
  for (let i = 3; i <= 14; i++) {
    const id = p.number(i, `satellite${i - 2}`, { integer: true, min: 0 });
    if (id !== undefined) satellites.push(id);
  }
  const systemId = p.count === 18 ? p.hex(18, 'systemId') : undefined;
  return withoutUndefined({
    type: 'GSA' as const,
    talker,
    system: systemId === undefined ? systemOfTalker(talker) : systemOfId(systemId),
    selection: p.letter(1, 'selection', { M: 'manual', A: 'automatic' } as const),
    fixType: p.letter(2, 'fixType', { '1': 'none', '2': '2d', '3': '3d' } as const satisfies Record<string, GnssFixType>),
    satellites,
    pdop: p.number(15, 'pdop', { min: 0 }),
    hdop: p.number(16, 'hdop', { min: 0 }),
    vdop: p.number(17, 'vdop', { min: 0 }),
    systemId,
  });
}

function parseVtg(p: Fields, talker: string): VtgSentence {
  const base = { type: 'VTG' as const, talker, system: systemOfTalker(talker) };
  if (p.count === 4 && p.text(2) !== 'T') {
    // The old form without unit letters: true course, magnetic course, knots, km/h.
    const knots = p.number(3, 'speedKnots', { min: 0 });
    return withoutUndefined({
      ...base,
      courseDeg: p.course(1, 'course'),
      courseMagneticDeg: p.course(2, 'courseMagnetic'),
      speedKmh: p.number(4, 'speedKmh', { min: 0 }) ?? (knots === undefined ? undefined : knots * KNOTS_TO_KMH),
    });
  }
  p.atLeast(8);
  p.unit(2, 'T');
  p.unit(4, 'M');
  p.unit(6, 'N');
  p.unit(8, 'K');
  const knots = p.number(5, 'speedKnots', { min: 0 });
  return withoutUndefined({
    ...base,
    courseDeg: p.course(1, 'course'),
    courseMagneticDeg: p.course(3, 'courseMagnetic'),
    speedKmh: p.number(7, 'speedKmh', { min: 0 }) ?? (knots === undefined ? undefined : knots * KNOTS_TO_KMH),
    mode: p.letter(9, 'mode', FAA_MODES),
  });
}

function parseGsv(p: Fields, talker: string): GsvSentence {
  p.atLeast(3);
  const messages = p.number(1, 'messages', { integer: true, min: 1 });
  const messageNumber = p.number(2, 'messageNumber', { integer: true, min: 1 });
  if (messages === undefined || messageNumber === undefined) p.bad('messages', 'GSV needs the message count and number');
  if (messageNumber > messages) p.bad('messageNumber', `message ${messageNumber} of ${messages}`);
  // After the count: groups of four (id, elevation, azimuth, SNR), then the 4.11 signal id.
  const signalId = p.count > 3 && (p.count - 3) % 4 === 1 ? p.hex(p.count, 'signalId') : undefined;
  return withoutUndefined({
    type: 'GSV' as const,
    talker,
    system: systemOfTalker(talker),
    messages,
    messageNumber,
    satellitesInView: p.number(3, 'satellitesInView', { integer: true, min: 0 }),
    signalId,
  });
}

const FAA_MODES = {
  A: 'autonomous',
  D: 'differential',
  E: 'estimated',
  F: 'float-rtk',
  M: 'manual',
  N: 'not-valid',
  P: 'precise',
  R: 'rtk',
  S: 'simulator',
} as const satisfies Record<string, FaaMode>;

const GGA_QUALITY: readonly GnssQuality[] = ['none', 'gps', 'dgps', 'pps', 'rtk', 'float-rtk', 'estimated', 'manual', 'simulation', 'dgps'];

function ggaQuality(p: Fields, i: number): GnssQuality {
  const q = p.number(i, 'quality', { integer: true, min: 0, max: GGA_QUALITY.length - 1 });
  return q === undefined ? 'none' : GGA_QUALITY[q]!;
}
