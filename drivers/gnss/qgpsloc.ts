import type { Clock } from '../../core/clock.js';
import { TcuError, isTcuError } from '../../core/errors.js';
import type { AtCommander } from '../modem/types.js';
import { dateMs, degreesMinutes, timeOfDayMs } from './nmea.js';
import type { GnssFix, GnssFixType } from './types.js';

/**
 * Quectel's `AT+QGPSLOC=<mode>` (EC2x, EG2x, EG9x, BG95/96, RM5xx GNSS application notes):
 *
 *   +QGPSLOC: <UTC>,<latitude>,<longitude>,<HDOP>,<altitude>,<fix>,<COG>,<spkm>,<spkn>,<date>,<nsat>
 *
 *   mode 0 (also `AT+QGPSLOC?`): 061951.0,3150.7223N,11711.9293E,0.7,62.2,2,0.0,0.0,0.0,110513,09
 *   mode 1: ddmm.mmmmmm and dddmm.mmmmmm, the hemisphere after the number or in its own field
 *           (manuals differ; both are read)
 *   mode 2: 113355.0,44.74770,-85.56527,1.2,192.0,2,277.11,0.0,0.0,250420,10 (signed degrees)
 *
 * `<fix>` 2 = 2D, 3 = 3D. `<COG>` is read as decimal degrees (it is copied from VTG; the manuals
 * call it "ddd.mm", which at most moves it by 0.4°). `<spkm>` km/h, `<spkn>` knots (unused).
 * `<date>` ddmmyy (same century rule as NMEA). `<nsat>` satellites used.
 * `+CME ERROR: 516` ("Not fixed now") means the engine runs but has no fix yet.
 *
 * The reply holds no differential flag, so a fix is reported with quality `gps`.
 */

export type QgpslocMode = 0 | 1 | 2;

/** Quectel GNSS error 516: "Not fixed now". */
export const QGPSLOC_NOT_FIXED = 516;

const PREFIX = /^\+QGPSLOC:\s*/;
const DECIMAL = /^[+-]?\d{1,3}(\.\d+)?$/;

/** Parses one `+QGPSLOC:` line (with or without the prefix). Throws TcuError AT_REPLY_MALFORMED. */
export function parseQgpsloc(line: string): GnssFix {
  const text = line.trim().replace(PREFIX, '');
  const all = text.split(',').map((f) => f.trim());
  let fields: string[];
  let lat: number | undefined;
  let lon: number | undefined;
  if (all.length === 13) {
    // hemisphere letters in their own fields: UTC, lat, N/S, lon, E/W, the rest
    lat = coordinate(line, 'latitude', all[1]!, all[2]!);
    lon = coordinate(line, 'longitude', all[3]!, all[4]!);
    fields = [all[0]!, '', '', ...all.slice(5)];
  } else if (all.length === 11) {
    lat = coordinate(line, 'latitude', all[1]!);
    lon = coordinate(line, 'longitude', all[2]!);
    fields = all;
  } else {
    return bad(line, 'fields', `${all.length} fields, 11 (or 13) expected`);
  }
  const [utc, , , hdop, altitude, fixField, cog, spkm, , date, nsat] = fields as [string, string, string, string, string, string, string, string, string, string, string];
  const tod = utc === '' ? undefined : timeOfDayMs(utc);
  if (utc !== '' && tod === undefined) bad(line, 'utc', `"${utc}" is not hhmmss.s`);
  const day = date === '' ? undefined : dateMs(date);
  if (date !== '' && day === undefined) bad(line, 'date', `"${date}" is not ddmmyy`);
  const fixType = FIX_TYPES[fixField];
  if (fixType === undefined) bad(line, 'fix', `"${fixField}" is not 0..3`);
  const fix: GnssFix = { quality: fixType === 'none' ? 'none' : 'gps', fixType, valid: false, source: 'qgpsloc' };
  if (tod !== undefined && day !== undefined) fix.timeMs = day + tod;
  if (lat !== undefined && lon !== undefined) {
    fix.latitude = lat;
    fix.longitude = lon;
  }
  setNumber(fix, 'hdop', line, hdop, 0);
  setNumber(fix, 'altitudeM', line, altitude);
  setNumber(fix, 'courseDeg', line, cog, 0, 360);
  if (fix.courseDeg === 360) fix.courseDeg = 0;
  setNumber(fix, 'speedKmh', line, spkm, 0);
  setNumber(fix, 'satellitesUsed', line, nsat, 0, 999, true);
  fix.valid = fixType !== 'none' && fix.latitude !== undefined;
  return fix;
}

/** True when the error is the modem's "Not fixed now" (`+CME ERROR: 516`, numeric or verbose). */
export function isQgpslocNoFix(err: unknown): boolean {
  if (!isTcuError(err, 'AT_COMMAND_FAILED')) return false;
  const cme = err.details['cme'];
  if (cme === QGPSLOC_NOT_FIXED || cme === String(QGPSLOC_NOT_FIXED)) return true;
  const text = `${String(cme ?? '')} ${String(err.details['final'] ?? '')}`;
  return /\b516\b|not fixed now/i.test(text);
}

export interface QgpslocQueryOptions {
  /** Default 2 (signed decimal degrees, the most precise and the simplest). */
  mode?: QgpslocMode;
  timeoutMs?: number;
  /** Stamps `monotonicMs` on the fix when the reply arrives (used by TrustedTime). */
  clock?: Clock;
}

/**
 * Asks the modem for its position. Resolves with the fix, or with an invalid fix (quality `none`)
 * when the modem says "Not fixed now". Any other failure (GNSS off: 505, a timeout, a closed port,
 * a reply without +QGPSLOC) rejects with GNSS_UNAVAILABLE, the original error as its cause.
 */
export async function queryQgpsloc(at: AtCommander, options: QgpslocQueryOptions = {}): Promise<GnssFix> {
  const command = `AT+QGPSLOC=${options.mode ?? 2}`;
  let lines: string[];
  try {
    lines = (await at.send(command, options.timeoutMs === undefined ? undefined : { timeoutMs: options.timeoutMs })).lines;
  } catch (err) {
    if (isQgpslocNoFix(err)) return stamp({ quality: 'none', fixType: 'none', valid: false, source: 'qgpsloc' }, options.clock);
    const details: Record<string, unknown> = { command };
    if (isTcuError(err)) {
      details['reason'] = err.code;
      if (err.details['cme'] !== undefined) details['cme'] = err.details['cme'];
    }
    throw new TcuError('GNSS_UNAVAILABLE', `${command} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err, details });
  }
  const line = lines.find((l) => PREFIX.test(l));
  try {
    if (line === undefined) bad(lines.join(' | '), 'reply', 'no +QGPSLOC line in the reply');
    return stamp(parseQgpsloc(line), options.clock);
  } catch (err) {
    throw new TcuError('GNSS_UNAVAILABLE', `${command}: ${err instanceof Error ? err.message : String(err)}`, { cause: err, details: { command, reason: 'AT_REPLY_MALFORMED' } });
  }
}

const FIX_TYPES: Record<string, GnssFixType> = { '0': 'none', '1': 'none', '2': '2d', '3': '3d' };

function stamp(fix: GnssFix, clock: Clock | undefined): GnssFix {
  if (clock) fix.monotonicMs = clock.monotonic();
  return fix;
}

function coordinate(line: string, name: 'latitude' | 'longitude', text: string, separateHemisphere?: string): number | undefined {
  const max = name === 'latitude' ? 90 : 180;
  const letters: Record<string, number> = name === 'latitude' ? { N: 1, S: -1 } : { E: 1, W: -1 };
  if (text === '' && (separateHemisphere ?? '') === '') return undefined;
  let body = text;
  let hemisphere = separateHemisphere;
  if (hemisphere === undefined && /[NSEW]$/.test(text)) {
    hemisphere = text.slice(-1);
    body = text.slice(0, -1);
  }
  if (hemisphere === undefined) {
    // mode 2: signed decimal degrees
    const v = DECIMAL.test(body) ? Number(body) : NaN;
    if (!(Math.abs(v) <= max)) bad(line, name, `"${text}" is not signed decimal degrees`);
    return v;
  }
  const sign = letters[hemisphere];
  if (sign === undefined) bad(line, `${name}Hemisphere`, `"${hemisphere}" is not ${Object.keys(letters).join(' or ')}`);
  const v = degreesMinutes(body, max);
  if (v === undefined) bad(line, name, `"${text}" is not ${name === 'latitude' ? 'ddmm.mmmm' : 'dddmm.mmmm'}`);
  return v * sign;
}

type NumericKey = 'hdop' | 'altitudeM' | 'courseDeg' | 'speedKmh' | 'satellitesUsed';

function setNumber(fix: GnssFix, key: NumericKey, line: string, text: string, min = -Infinity, max = Infinity, integer = false): void {
  if (text === '') return;
  const ok = integer ? /^\d+$/.test(text) : /^[+-]?(\d+\.?\d*|\.\d+)$/.test(text);
  const v = Number(text);
  if (!ok || v < min || v > max) bad(line, key, `"${text}" is not a ${integer ? 'whole ' : ''}number in ${min}..${max}`);
  fix[key] = v;
}

function bad(line: string, field: string, message: string): never {
  const excerpt = line.length > 100 ? `${line.slice(0, 100)}…` : line;
  throw new TcuError('AT_REPLY_MALFORMED', `+QGPSLOC ${field}: ${message}`, { details: { line: excerpt, field } });
}
