import { TcuError } from '../../core/errors.js';

/**
 * The field readers of the NMEA parser (`nmea.ts`): numbers, letters, angles, times and dates, each
 * throwing NMEA_MALFORMED with `{ sentence, field }`. Pure.
 */

const DETAIL_LENGTH = 100;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)$/;

export class Fields {
  /** Fields after the address. */
  readonly count: number;

  constructor(
    private readonly line: string,
    private readonly fields: string[],
  ) {
    this.count = fields.length - 1;
  }

  bad(field: string, message: string): never {
    return malformed(this.line, field, message);
  }

  atLeast(n: number): void {
    if (this.count < n) this.bad('fields', `${this.count} fields, at least ${n} expected`);
  }

  /** The field's text, undefined when empty or missing. */
  text(i: number): string | undefined {
    const v = this.fields[i];
    return v === undefined || v === '' ? undefined : v;
  }

  number(i: number, name: string, range: { integer?: boolean; min?: number; max?: number } = {}): number | undefined {
    const t = this.text(i);
    if (t === undefined) return undefined;
    if (!NUMBER.test(t) || (range.integer && !/^\d+$/.test(t))) this.bad(name, `"${t}" is not a ${range.integer ? 'whole ' : ''}number`);
    const v = Number(t);
    if ((range.min !== undefined && v < range.min) || (range.max !== undefined && v > range.max)) {
      this.bad(name, `${t} is outside ${range.min ?? '-∞'}..${range.max ?? '∞'}`);
    }
    return v;
  }

  hex(i: number, name: string): number | undefined {
    const t = this.text(i);
    if (t === undefined) return undefined;
    if (!/^[0-9A-Fa-f]{1,2}$/.test(t)) this.bad(name, `"${t}" is not a hex digit`);
    return parseInt(t, 16);
  }

  letter<T>(i: number, name: string, map: Readonly<Record<string, T>>): T | undefined {
    const t = this.text(i);
    if (t === undefined) return undefined;
    const v = Object.prototype.hasOwnProperty.call(map, t) ? map[t] : undefined;
    if (v === undefined) this.bad(name, `"${t}" is not one of ${Object.keys(map).join(' ')}`);
    return v;
  }

  unit(i: number, letter: string): void {
    const t = this.text(i);
    if (t !== undefined && t !== letter) this.bad(`unit${i}`, `unit "${t}" where "${letter}" belongs`);
  }

  /** `ddmm.mmmm` / `dddmm.mmmm` and its hemisphere letter → signed decimal degrees. */
  angle(i: number, hemisphereAt: number, name: 'latitude' | 'longitude'): number | undefined {
    const t = this.text(i);
    const hemisphere = this.text(hemisphereAt);
    if (t === undefined) return undefined;
    const signs: Record<string, number> = name === 'latitude' ? { N: 1, S: -1 } : { E: 1, W: -1 };
    const sign = hemisphere === undefined ? undefined : signs[hemisphere];
    if (sign === undefined) this.bad(`${name}Hemisphere`, `hemisphere "${hemisphere ?? ''}" is not ${Object.keys(signs).join(' or ')}`);
    const v = degreesMinutes(t, name === 'latitude' ? 90 : 180);
    if (v === undefined) this.bad(name, `"${t}" is not ${name === 'latitude' ? 'ddmm.mmmm' : 'dddmm.mmmm'}`);
    return v * sign;
  }

  course(i: number, name: string): number | undefined {
    const v = this.number(i, name, { min: 0, max: 360 });
    return v === 360 ? 0 : v;
  }

  timeOfDay(i: number, name: string): number | undefined {
    const t = this.text(i);
    if (t === undefined) return undefined;
    const v = timeOfDayMs(t);
    if (v === undefined) this.bad(name, `"${t}" is not hhmmss.ss`);
    return v;
  }

  date(i: number, name: string): number | undefined {
    const t = this.text(i);
    if (t === undefined) return undefined;
    const v = dateMs(t);
    if (v === undefined) this.bad(name, `"${t}" is not a ddmmyy date`);
    return v;
  }
}

/** `ddmm.mmmm` (or with three degree digits) → degrees, or undefined when not that shape or out of range. */
export function degreesMinutes(text: string, maxDegrees: number): number | undefined {
  const m = /^(\d{1,3})(\d{2}(?:\.\d*)?)$/.exec(text);
  if (!m) return undefined;
  const degrees = Number(m[1]);
  const minutes = Number(m[2]);
  if (minutes >= 60) return undefined;
  const v = degrees + minutes / 60;
  return v > maxDegrees ? undefined : v;
}

/** `hhmmss` or `hhmmss.sss` → ms since midnight. Accepts second 60 (a leap second). */
export function timeOfDayMs(text: string): number | undefined {
  const m = /^(\d{2})(\d{2})(\d{2}(?:\.\d+)?)$/.exec(text);
  if (!m) return undefined;
  const h = Number(m[1]);
  const min = Number(m[2]);
  const s = Number(m[3]);
  if (h > 23 || min > 59 || s >= 61) return undefined;
  return Math.round((h * 3600 + min * 60) * 1000 + s * 1000);
}

/** `ddmmyy` → ms since the epoch at 00:00 UTC. Two-digit years: yy < 80 is 20yy, else 19yy. */
export function dateMs(text: string): number | undefined {
  const m = /^(\d{2})(\d{2})(\d{2})$/.exec(text);
  if (!m) return undefined;
  const day = Number(m[1]);
  const month = Number(m[2]);
  const yy = Number(m[3]);
  const year = yy < 80 ? 2000 + yy : 1900 + yy;
  const ms = Date.UTC(year, month - 1, day);
  const d = new Date(ms);
  if (month < 1 || month > 12 || day < 1 || d.getUTCDate() !== day || d.getUTCMonth() !== month - 1) return undefined;
  return ms;
}

export function withoutUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

export function hex2(n: number): string {
  return n.toString(16).toUpperCase().padStart(2, '0');
}

export function excerpt(line: string): string {
  return line.length > DETAIL_LENGTH ? `${line.slice(0, DETAIL_LENGTH)}…` : line;
}

export function malformed(line: string, field: string, message: string): never {
  throw new TcuError('NMEA_MALFORMED', `NMEA ${field}: ${message}`, { details: { sentence: excerpt(line), field } });
}

export function checksumError(line: string, message: string, expected?: string): TcuError {
  const details: Record<string, unknown> = { sentence: excerpt(line), field: 'checksum' };
  if (expected !== undefined) details['expected'] = expected;
  return new TcuError('NMEA_CHECKSUM', `NMEA checksum: ${message}`, { details });
}
