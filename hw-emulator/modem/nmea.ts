/**
 * NMEA 0183 sentence writer (GGA, RMC, GSA, VTG, GSV) for the modem's GNSS port, in the shape a
 * Quectel module writes them: talker GP, positions as ddmm.mmmmmm, time hhmmss.00. Pure functions.
 */

export interface SatelliteInView {
  prn: number;
  /** Degrees above the horizon, 0..90. */
  elevation: number;
  /** Degrees from north, 0..359. */
  azimuth: number;
  /** Carrier to noise, dB-Hz; undefined when not tracked. */
  snr?: number;
}

export interface GnssFix {
  latitude: number;
  longitude: number;
  /** Metres above mean sea level. */
  altitudeM: number;
  /** Course over ground, degrees from true north. */
  courseDeg: number;
  speedKmh: number;
  hdop: number;
  pdop: number;
  vdop: number;
  /** 2 = 2D fix, 3 = 3D fix. */
  dimension: 2 | 3;
}

/** What the receiver has at one epoch (one second). */
export interface GnssEpoch {
  /** UTC of the epoch, ms since the epoch (whole seconds). */
  utcMs: number;
  /** Absent: no fix. */
  fix?: GnssFix;
  inView: readonly SatelliteInView[];
  /** PRNs used in the solution (up to 12). */
  used: readonly number[];
}

const KNOTS_PER_KMH = 1 / 1.852;
/** Height of the geoid above the WGS-84 ellipsoid around Wolfsburg, m. */
const GEOID_SEPARATION_M = 44.1;

/** XOR of the characters between `$` and `*`, two upper-case hex digits. */
export function nmeaChecksum(body: string): string {
  let x = 0;
  for (let i = 0; i < body.length; i++) x ^= body.charCodeAt(i);
  return x.toString(16).toUpperCase().padStart(2, '0');
}

/** `$<body>*<checksum>\r\n`. */
export function sentence(body: string): string {
  return `$${body}*${nmeaChecksum(body)}\r\n`;
}

/**
 * Degrees → NMEA `ddmm.mmmm…` and hemisphere, with `decimals` digits of minutes (rounded once, so
 * 59.9999996' carries into the next degree).
 */
export function nmeaCoordinate(value: number, isLatitude: boolean, decimals = 6): { text: string; hemisphere: string } {
  const scale = 10 ** decimals;
  const total = Math.round(Math.abs(value) * 60 * scale);
  const degrees = Math.floor(total / (60 * scale));
  const minutes = (total - degrees * 60 * scale) / scale;
  const [whole, frac] = minutes.toFixed(decimals).split('.');
  const deg = String(degrees).padStart(isLatitude ? 2 : 3, '0');
  const text = `${deg}${whole!.padStart(2, '0')}${decimals > 0 ? `.${frac}` : ''}`;
  const hemisphere = isLatitude ? (value < 0 ? 'S' : 'N') : value < 0 ? 'W' : 'E';
  return { text, hemisphere };
}

/** `hhmmss` of a UTC time plus `fraction` (`.00`, `.000`). */
export function utcTime(utcMs: number, fraction = '.00'): string {
  const d = new Date(utcMs);
  return `${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}${fraction}`;
}

/** `ddmmyy` of a UTC time. */
export function utcDate(utcMs: number): string {
  const d = new Date(utcMs);
  return `${two(d.getUTCDate())}${two(d.getUTCMonth() + 1)}${two(d.getUTCFullYear() % 100)}`;
}

function two(n: number): string {
  return String(n).padStart(2, '0');
}

function position(fix: GnssFix | undefined): string {
  if (!fix) return ',,,';
  const lat = nmeaCoordinate(fix.latitude, true);
  const lon = nmeaCoordinate(fix.longitude, false);
  return `${lat.text},${lat.hemisphere},${lon.text},${lon.hemisphere}`;
}

export function gga(e: GnssEpoch): string {
  const f = e.fix;
  const tail = f ? `1,${two(e.used.length)},${f.hdop.toFixed(1)},${f.altitudeM.toFixed(1)},M,${GEOID_SEPARATION_M.toFixed(1)},M,,` : `0,${two(e.used.length)},,,M,,M,,`;
  return sentence(`GPGGA,${utcTime(e.utcMs)},${position(f)},${tail}`);
}

export function rmc(e: GnssEpoch): string {
  const f = e.fix;
  const motion = f ? `${(f.speedKmh * KNOTS_PER_KMH).toFixed(1)},${f.speedKmh > 0.5 ? f.courseDeg.toFixed(1) : ''}` : ',';
  return sentence(`GPRMC,${utcTime(e.utcMs)},${f ? 'A' : 'V'},${position(f)},${motion},${utcDate(e.utcMs)},,,${f ? 'A' : 'N'}`);
}

export function gsa(e: GnssEpoch): string {
  const f = e.fix;
  const prns = Array.from({ length: 12 }, (_, i) => (e.used[i] === undefined ? '' : two(e.used[i]!)));
  const dops = f ? `${f.pdop.toFixed(1)},${f.hdop.toFixed(1)},${f.vdop.toFixed(1)}` : ',,';
  return sentence(`GPGSA,A,${f ? f.dimension : 1},${prns.join(',')},${dops}`);
}

export function vtg(e: GnssEpoch): string {
  const f = e.fix;
  if (!f) return sentence('GPVTG,,T,,M,,N,,K,N');
  const course = f.speedKmh > 0.5 ? f.courseDeg.toFixed(1) : '';
  return sentence(`GPVTG,${course},T,,M,${(f.speedKmh * KNOTS_PER_KMH).toFixed(1)},N,${f.speedKmh.toFixed(1)},K,A`);
}

/** One GSV sentence per four satellites in view. */
export function gsv(e: GnssEpoch): string[] {
  const sats = e.inView;
  const count = Math.max(1, Math.ceil(sats.length / 4));
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const group = sats.slice(i * 4, i * 4 + 4).map((s) => `${two(s.prn)},${two(s.elevation)},${String(s.azimuth).padStart(3, '0')},${s.snr === undefined ? '' : two(s.snr)}`);
    out.push(sentence(`GPGSV,${count},${i + 1},${two(sats.length)}${group.map((g) => `,${g}`).join('')}`));
  }
  return out;
}

/** The sentences of one epoch, in the order the module writes them. */
export function epochSentences(e: GnssEpoch): string[] {
  return [gga(e), rmc(e), gsa(e), ...gsv(e), vtg(e)];
}
