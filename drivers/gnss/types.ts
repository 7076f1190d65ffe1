/**
 * GNSS types: the parsed NMEA 0183 sentences (`nmea.ts`), and the fix the agent uses (`GnssFix`),
 * assembled from one epoch of sentences (`fix.ts`) or from Quectel's `+QGPSLOC:` (`qgpsloc.ts`).
 * Pure types: no I/O, no state. Units are in the names (`altitudeM`, `speedKmh`, `courseDeg`).
 * A field that is absent is not known; it is never a made-up zero. See docs/GNSS.md.
 */

/** GGA quality indicator 0..8, named. */
export type GnssQuality =
  | 'none' // 0: fix not available or invalid
  | 'gps' // 1: autonomous (SPS) fix
  | 'dgps' // 2: differential (DGPS, SBAS); 9 (NovAtel "WAAS") is read as this too
  | 'pps' // 3: PPS (precise) fix
  | 'rtk' // 4: RTK fixed integers
  | 'float-rtk' // 5: RTK float
  | 'estimated' // 6: dead reckoning
  | 'manual' // 7: manual input
  | 'simulation'; // 8: simulator

export type GnssFixType = 'none' | '2d' | '3d';

/** Satellite systems, from a talker id (`GP` GPS, `GL` GLONASS ...) or an NMEA 4.11 system id. */
export type GnssSystem = 'gps' | 'glonass' | 'galileo' | 'beidou' | 'qzss' | 'navic' | 'multi' | 'other';

/** The position, motion and quality the receiver reported for one epoch. */
export interface GnssFix {
  /** Receiver UTC, ms since the epoch. Only when a date was given (RMC, +QGPSLOC). */
  timeMs?: number;
  /** Decimal degrees, WGS-84, north positive. */
  latitude?: number;
  /** Decimal degrees, WGS-84, east positive. */
  longitude?: number;
  /** Metres above mean sea level (GGA; SiRF receivers give the ellipsoid height here). */
  altitudeM?: number;
  /** Speed over ground, km/h. */
  speedKmh?: number;
  /** Course over ground, degrees true, 0 ≤ x < 360. */
  courseDeg?: number;
  quality: GnssQuality;
  /** From GSA (the best of several), or +QGPSLOC `<fix>`. Absent when no sentence said. */
  fixType?: GnssFixType;
  satellitesUsed?: number;
  satellitesInView?: number;
  hdop?: number;
  pdop?: number;
  vdop?: number;
  /** The receiver claims a usable position: see docs/GNSS.md (quality, RMC status, mode). */
  valid: boolean;
  source: 'nmea' | 'qgpsloc';
  /** The Clock's monotonic reading when the epoch's first sentence arrived (set by the reader). */
  monotonicMs?: number;
}

// ---------------------------------------------------------------------------------------------
// Parsed sentences. Every field that was empty in the sentence is absent here.

interface SentenceBase {
  /** Two letters (`GP`, `GN`, `BD` ...), or `P` for proprietary sentences. */
  talker: string;
  system: GnssSystem;
}

/** Time of day, ms since UTC midnight, as `hhmmss.ss` gave it. */
export type TimeOfDayMs = number;

export interface GgaSentence extends SentenceBase {
  type: 'GGA';
  timeOfDayMs?: TimeOfDayMs;
  latitude?: number;
  longitude?: number;
  quality: GnssQuality;
  satellitesUsed?: number;
  hdop?: number;
  altitudeM?: number;
  geoidSeparationM?: number;
  dgpsAgeS?: number;
  dgpsStation?: string;
}

/** RMC status `A` (valid) or `V` (warning, no fix). */
export type RmcStatus = 'valid' | 'warning';

/** The NMEA 2.3 FAA mode indicator (RMC, VTG, GLL): A D E F M N P R S. */
export type FaaMode = 'autonomous' | 'differential' | 'estimated' | 'float-rtk' | 'manual' | 'not-valid' | 'precise' | 'rtk' | 'simulator';

export interface RmcSentence extends SentenceBase {
  type: 'RMC';
  timeOfDayMs?: TimeOfDayMs;
  status?: RmcStatus;
  latitude?: number;
  longitude?: number;
  speedKmh?: number;
  courseDeg?: number;
  /** ms since the epoch of 00:00 UTC on the `ddmmyy` date (century rule: yy < 80 → 20yy). */
  dateMs?: number;
  /** Degrees, east positive. */
  magneticVariationDeg?: number;
  /** NMEA 2.3 and later. */
  mode?: FaaMode;
  /**
   * NMEA 4.1 navigational status: S safe, C caution, U unsafe, V "equipment does not provide a
   * navigational status" (what u-blox always sends). Informative only: validity does not use it.
   */
  navStatus?: 'safe' | 'caution' | 'unsafe' | 'unavailable';
}

export interface GsaSentence extends SentenceBase {
  type: 'GSA';
  /** `M` manual (forced 2D/3D) or `A` automatic. */
  selection?: 'manual' | 'automatic';
  fixType?: GnssFixType;
  /** Satellite ids used in the solution, empty slots dropped. */
  satellites: number[];
  pdop?: number;
  hdop?: number;
  vdop?: number;
  /** NMEA 4.11 system id (1 GPS, 2 GLONASS, 3 Galileo, 4 BeiDou, 5 QZSS, 6 NavIC). */
  systemId?: number;
}

export interface VtgSentence extends SentenceBase {
  type: 'VTG';
  courseDeg?: number;
  courseMagneticDeg?: number;
  speedKmh?: number;
  mode?: FaaMode;
}

export interface GsvSentence extends SentenceBase {
  type: 'GSV';
  messages: number;
  messageNumber: number;
  satellitesInView?: number;
  /** NMEA 4.11 signal id, when present. */
  signalId?: number;
}

/** Well-formed, checksum good, but a type this parser does not interpret (GLL, ZDA, TXT, $PUBX ...). */
export interface OtherSentence {
  type: 'other';
  talker: string;
  /** `GLL`, `ZDA` ...; for proprietary sentences the whole address after `P` (`UBX`, `QXFI`). */
  sentenceType: string;
  proprietary: boolean;
}

export type NmeaSentence = GgaSentence | RmcSentence | GsaSentence | VtgSentence | GsvSentence | OtherSentence;
export type NmeaSentenceType = NmeaSentence['type'];
