import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TcuError, isTcuError } from '../../../core/errors.js';
import { dateMs, degreesMinutes, nmeaChecksum, parseNmea, timeOfDayMs } from '../../../drivers/gnss/nmea.js';
import type { NmeaSentence } from '../../../drivers/gnss/types.js';
import { sentence } from './nmea-writer.js';

function fails(line: string, options?: Parameters<typeof parseNmea>[1]): TcuError {
  try {
    parseNmea(line, options);
  } catch (err) {
    expect(err).toBeInstanceOf(TcuError);
    return err as TcuError;
  }
  throw new Error(`parsed: ${line}`);
}

describe('parseNmea on sentences from real receivers (values checked by hand)', () => {
  it('SiRF reference manual: GGA, GSA, RMC, VTG', () => {
    // 3723.2475 N = 37° 23.2475' = 37.387458°; 12158.3416 W = -(121° 58.3416') = -121.97236°
    expect(parseNmea('$GPGGA,161229.487,3723.2475,N,12158.3416,W,1,07,1.0,9.0,M,,,,0000*18\r\n')).toEqual({
      type: 'GGA',
      talker: 'GP',
      system: 'gps',
      timeOfDayMs: ((16 * 60 + 12) * 60 + 29) * 1000 + 487,
      latitude: 37 + 23.2475 / 60,
      longitude: -(121 + 58.3416 / 60),
      quality: 'gps',
      satellitesUsed: 7,
      hdop: 1.0,
      altitudeM: 9.0,
      dgpsStation: '0000',
    });
    expect(parseNmea('$GPGSA,A,3,07,02,26,27,09,04,15,,,,,,1.8,1.0,1.5*33')).toEqual({
      type: 'GSA',
      talker: 'GP',
      system: 'gps',
      selection: 'automatic',
      fixType: '3d',
      satellites: [7, 2, 26, 27, 9, 4, 15],
      pdop: 1.8,
      hdop: 1.0,
      vdop: 1.5,
    });
    // NMEA 2.2 RMC: no mode indicator; the magnetic variation fields are empty; 0.13 kn = 0.24076 km/h
    const rmc = parseNmea('$GPRMC,161229.487,A,3723.2475,N,12158.3416,W,0.13,309.62,120598,,*10');
    expect(rmc).toMatchObject({ type: 'RMC', status: 'valid', courseDeg: 309.62, dateMs: Date.UTC(1998, 4, 12) });
    expect(rmc).not.toHaveProperty('mode');
    expect((rmc as { speedKmh: number }).speedKmh).toBeCloseTo(0.24076, 10);
    expect(parseNmea('$GPVTG,309.62,T,,M,0.13,N,0.2,K*6E')).toEqual({ type: 'VTG', talker: 'GP', system: 'gps', courseDeg: 309.62, speedKmh: 0.2 });
  });

  it('u-blox 6 (NMEA 2.3): mode indicators, an empty course, GSV of four parts', () => {
    const rmc = parseNmea('$GPRMC,054423.00,A,3746.79275,N,12224.40754,W,1.730,,050815,,,A*67');
    expect(rmc).toMatchObject({ timeOfDayMs: (5 * 3600 + 44 * 60 + 23) * 1000, dateMs: Date.UTC(2015, 7, 5), mode: 'autonomous' });
    expect(rmc).not.toHaveProperty('courseDeg');
    expect((rmc as { latitude: number }).latitude).toBeCloseTo(37.7798791667, 9);
    expect(parseNmea('$GPVTG,,T,,M,1.730,N,3.204,K,A*23')).toEqual({ type: 'VTG', talker: 'GP', system: 'gps', speedKmh: 3.204, mode: 'autonomous' });
    expect(parseNmea('$GPGGA,054423.00,3746.79275,N,12224.40754,W,1,05,2.58,73.0,M,-29.7,M,,*58')).toMatchObject({
      quality: 'gps',
      satellitesUsed: 5,
      hdop: 2.58,
      altitudeM: 73,
      geoidSeparationM: -29.7,
    });
    expect(parseNmea('$GPGSV,4,4,13,32,24,278,*41')).toEqual({ type: 'GSV', talker: 'GP', system: 'gps', messages: 4, messageNumber: 4, satellitesInView: 13 });
    expect(parseNmea('$GPGLL,3746.79275,N,12224.40754,W,054423.00,A,A*72')).toEqual({ type: 'other', talker: 'GP', sentenceType: 'GLL', proprietary: false });
  });

  it('a survey-grade receiver with DGPS: quality 2, differential age and station, magnetic variation west', () => {
    expect(parseNmea('$GPGGA,195959.00,1541.31258893,N,05130.51204125,W,2,06,1.5,9.2,M,-37.6,M,4.0,0138*7E')).toMatchObject({
      quality: 'dgps',
      dgpsAgeS: 4,
      dgpsStation: '0138',
    });
    const rmc = parseNmea('$GPRMC,195959.00,A,1541.31258893,N,05130.51204125,W,0.26,147.44,140120,16.9,W,D*0B');
    expect(rmc).toMatchObject({ mode: 'differential', magneticVariationDeg: -16.9, dateMs: Date.UTC(2020, 0, 14) });
    expect((rmc as { longitude: number }).longitude).toBeCloseTo(-(51 + 30.51204125 / 60), 12);
  });

  it('NMEA 4.1: RMC navigational status, GSA system ids, GSV signal ids, three-digit satellite ids', () => {
    expect(parseNmea('$GNRMC,030135.000,A,4054.69060,N,07307.33222,W,0.00,322.62,220323,,,A,V*14')).toMatchObject({
      talker: 'GN',
      system: 'multi',
      mode: 'autonomous',
      navStatus: 'unavailable',
    });
    expect(parseNmea('$GNGSA,A,3,81,67,66,79,78,,,,,,,,1.10,0.49,0.99,2*06')).toMatchObject({ system: 'glonass', systemId: 2, satellites: [81, 67, 66, 79, 78] });
    expect(parseNmea('$GNGSA,A,3,31,26,11,194,27,195,08,09,03,193,04,16,1.41,1.03,0.97,1*31')).toMatchObject({ systemId: 1, satellites: [31, 26, 11, 194, 27, 195, 8, 9, 3, 193, 4, 16] });
    expect(parseNmea('$BDGSV,1,1,01,28,32,160,25,0*4E')).toMatchObject({ talker: 'BD', system: 'beidou', satellitesInView: 1, signalId: 0 });
    // u-blox without a fix: status V, mode N, but a date
    expect(parseNmea('$GNRMC,023240.00,V,,,,,,,221023,,,N,V*1E')).toEqual({
      type: 'RMC',
      talker: 'GN',
      system: 'multi',
      timeOfDayMs: (2 * 3600 + 32 * 60 + 40) * 1000,
      status: 'warning',
      dateMs: Date.UTC(2023, 9, 22),
      mode: 'not-valid',
      navStatus: 'unavailable',
    });
  });

  it('the classic RMC example: 1994, magnetic variation east', () => {
    expect(parseNmea('$GPRMC,225446,A,4916.45,N,12311.12,W,000.5,054.7,191194,020.3,E*68')).toMatchObject({
      dateMs: Date.UTC(1994, 10, 19),
      magneticVariationDeg: 20.3,
      latitude: 49 + 16.45 / 60,
      longitude: -(123 + 11.12 / 60),
    });
  });

  it("u-blox's own manual prints an RMC example with a wrong checksum (*57; XOR gives 2D): refused", () => {
    const err = fails('$GPRMC,083559.00,A,4717.11437,N,00833.91522,E,0.004,77.52,091202,,,A,V*57');
    expect(err.code).toBe('NMEA_CHECKSUM');
    expect(err.details).toMatchObject({ field: 'checksum', expected: '2D' });
    expect(parseNmea('$GPRMC,083559.00,A,4717.11437,N,00833.91522,E,0.004,77.52,091202,,,A,V*2D')).toMatchObject({ courseDeg: 77.52 });
  });

  it('VTG without unit letters (before NMEA 2.0)', () => {
    const body = 'GPVTG,054.7,034.4,005.5,010.2';
    expect(parseNmea(`$${body}*${nmeaChecksum(body).toString(16).toUpperCase()}`)).toEqual({
      type: 'VTG',
      talker: 'GP',
      system: 'gps',
      courseDeg: 54.7,
      courseMagneticDeg: 34.4,
      speedKmh: 10.2,
    });
  });

  it('lower-case checksum digits, `!` sentences and proprietary sentences are accepted; the latter as `other`', () => {
    expect(parseNmea('$GPVTG,309.62,T,,M,0.13,N,0.2,K*6e')).toMatchObject({ type: 'VTG' });
    expect(parseNmea(sentence('PUBX,00,081350.00,4717.113210,N'))).toEqual({ type: 'other', talker: 'P', sentenceType: 'UBX', proprietary: true });
    expect(parseNmea(sentence('PQXFI,1,2'))).toMatchObject({ proprietary: true, sentenceType: 'QXFI' });
    expect(parseNmea('$GPTXT,01,01,01,ANTENNA OK*35')).toMatchObject({ type: 'other', sentenceType: 'TXT' });
  });
});

describe('parseNmea refuses bad sentences with typed errors', () => {
  it('checksum: missing, wrong, not hex; a missing one is allowed on request', () => {
    expect(fails('$GPVTG,309.62,T,,M,0.13,N,0.2,K').code).toBe('NMEA_CHECKSUM');
    expect(parseNmea('$GPVTG,309.62,T,,M,0.13,N,0.2,K', { allowMissingChecksum: true })).toMatchObject({ speedKmh: 0.2 });
    expect(fails('$GPVTG,309.62,T,,M,0.13,N,0.2,K*6F').code).toBe('NMEA_CHECKSUM');
    expect(fails('$GPVTG,309.62,T,,M,0.13,N,0.2,K*6').code).toBe('NMEA_CHECKSUM');
    expect(fails('$GPVTG,309.62,T,,M,0.13,N,0.2,K*XY').code).toBe('NMEA_CHECKSUM');
  });

  it('malformed fields name the field and carry the (truncated) sentence', () => {
    const cases: [string, string][] = [
      ['GPGGA,161229.487,3723.2475,X,12158.3416,W,1,07,1.0,9.0,M,,,,0000', 'latitudeHemisphere'],
      ['GPGGA,161229.487,3723.2475,,12158.3416,W,1,07,1.0,9.0,M,,,,0000', 'latitudeHemisphere'],
      ['GPGGA,161229.487,3763.2475,N,12158.3416,W,1,07,1.0,9.0,M,,,,0000', 'latitude'], // 63 minutes
      ['GPGGA,161229.487,9123.2475,N,12158.3416,W,1,07,1.0,9.0,M,,,,0000', 'latitude'], // 91°
      ['GPGGA,161229.487,3723.2475,N,18158.3416,W,1,07,1.0,9.0,M,,,,0000', 'longitude'], // 181°
      ['GPGGA,251229.487,3723.2475,N,12158.3416,W,1,07,1.0,9.0,M,,,,0000', 'time'],
      ['GPGGA,161229.487,3723.2475,N,12158.3416,W,x,07,1.0,9.0,M,,,,0000', 'quality'],
      ['GPGGA,161229.487,3723.2475,N,12158.3416,W,1,7.5,1.0,9.0,M,,,,0000', 'satellitesUsed'],
      ['GPGGA,161229', 'fields'],
      ['GPRMC,161229.487,A,3723.2475,N,12158.3416,W,0.13,309.62,310298,,', 'date'], // 31 February
      ['GPRMC,161229.487,A,3723.2475,N,12158.3416,W,-1,309.62,120598,,', 'speed'],
      ['GPRMC,161229.487,A,3723.2475,N,12158.3416,W,0.13,361,120598,,', 'course'],
      ['GPRMC,161229.487,Q,3723.2475,N,12158.3416,W,0.13,309.62,120598,,', 'status'],
      ['GPRMC,161229.487,A,3723.2475,N,12158.3416,W,0.13,309.62,120598,,,Z', 'mode'],
      ['GPGSA,A,3,07,02', 'fields'],
      ['GPGSA,A,4,07,02,26,27,09,04,15,,,,,,1.8,1.0,1.5', 'fixType'],
      ['GPVTG,309.62,X,,M,0.13,N,0.2,K', 'unit2'],
      ['GPGSV,2,3,07', 'messageNumber'],
      ['GPGSV,,1,07', 'messages'],
      ['GPgga,1', 'address'],
      ['G', 'address'],
    ];
    for (const [body, field] of cases) {
      const err = fails(sentence(body));
      expect([body, err.code, err.details['field']]).toEqual([body, 'NMEA_MALFORMED', field]);
      expect(String(err.details['sentence']).length).toBeLessThanOrEqual(101);
    }
    expect(fails('GPGGA,1*00').details['field']).toBe('start');
    expect(fails('$GPGGA,\u00e9*00').details['field']).toBe('characters');
    expect(fails(sentence(`GPTXT,${'A'.repeat(600)}`)).details['field']).toBe('length');
    expect(String(fails(sentence(`GPTXT,${'A'.repeat(600)}`)).details['sentence']).length).toBe(101);
  });
});

describe('field helpers', () => {
  it('degrees and minutes, time of day, the century rule', () => {
    expect(degreesMinutes('4807.038', 90)).toBeCloseTo(48.1173, 12);
    expect(degreesMinutes('00833.91522', 180)).toBeCloseTo(8 + 33.91522 / 60, 12);
    expect(degreesMinutes('9000.0000', 90)).toBe(90);
    expect(degreesMinutes('9000.0001', 90)).toBeUndefined();
    expect(degreesMinutes('4860.0', 90)).toBeUndefined();
    expect(degreesMinutes('48.07', 90)).toBeUndefined();
    expect(timeOfDayMs('000000')).toBe(0);
    expect(timeOfDayMs('235959.999')).toBe(86_399_999);
    expect(timeOfDayMs('235960')).toBe(86_400_000); // a leap second
    expect(timeOfDayMs('236000')).toBeUndefined();
    expect(dateMs('010100')).toBe(Date.UTC(2000, 0, 1));
    expect(dateMs('311279')).toBe(Date.UTC(2079, 11, 31));
    expect(dateMs('010180')).toBe(Date.UTC(1980, 0, 1));
    expect(dateMs('290224')).toBe(Date.UTC(2024, 1, 29));
    expect(dateMs('290223')).toBeUndefined();
    expect(dateMs('001224')).toBeUndefined();
    expect(dateMs('011324')).toBeUndefined();
  });
});

describe('parseNmea properties', () => {
  const isNmeaError = (err: unknown): boolean => isTcuError(err, 'NMEA_MALFORMED') || isTcuError(err, 'NMEA_CHECKSUM');

  it('any string: a sentence or an NMEA_* TcuError, nothing else', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.boolean(), (s, allow) => {
        try {
          parseNmea(s, { allowMissingChecksum: allow });
        } catch (err) {
          if (!isNmeaError(err)) throw err;
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('random fields behind a correct checksum reach every field parser and still only raise NMEA_MALFORMED', () => {
    const junk = fc.oneof(fc.constantFrom('', '.', '1.', '1e3', '-0', 'NaN', 'A'), fc.stringMatching(/^[0-9.+-]{0,12}$/), fc.string({ maxLength: 6 }).filter((x) => !/[*,$!\r\n]/.test(x)));
    const maybe = (a: fc.Arbitrary<string>): fc.Arbitrary<string> => fc.oneof({ arbitrary: a, weight: 12 }, { arbitrary: junk, weight: 1 });
    const digits = (n: number, max: number): fc.Arbitrary<string> => fc.integer({ min: 0, max }).map((v) => String(v).padStart(n, '0'));
    const num = fc.double({ min: -1000, max: 1000, noNaN: true }).map((v) => v.toFixed(2));
    const time = fc.tuple(digits(2, 23), digits(2, 59), digits(2, 59), fc.constantFrom('', '.00', '.5', '.999')).map((p) => p.join(''));
    const date = fc.tuple(digits(2, 31), digits(2, 12), digits(2, 99)).map((p) => p.join(''));
    const lat = fc.tuple(digits(2, 90), digits(2, 59), fc.constantFrom('', '.1', '.12345')).map((p) => p.join(''));
    const lon = fc.tuple(digits(3, 180), digits(2, 59), fc.constantFrom('', '.1', '.12345')).map((p) => p.join(''));
    const course = fc.double({ min: 0, max: 360, noNaN: true }).map((v) => v.toFixed(2));
    const opt = (a: fc.Arbitrary<string>): fc.Arbitrary<string> => fc.oneof(a, fc.constant(''));
    const templates: Record<string, fc.Arbitrary<string>[]> = {
      GGA: [time, lat, fc.constantFrom('N', 'S'), lon, fc.constantFrom('E', 'W'), digits(1, 9), digits(2, 40), num, num, fc.constant('M'), num, fc.constant('M'), opt(num), opt(digits(4, 1023))],
      RMC: [time, fc.constantFrom('A', 'V', 'D'), lat, fc.constantFrom('N', 'S'), lon, fc.constantFrom('E', 'W'), num, course, date, opt(num), opt(fc.constantFrom('E', 'W')), fc.constantFrom('A', 'D', 'N', 'R', 'F', 'E'), fc.constantFrom('S', 'C', 'U', 'V')],
      GSA: [fc.constantFrom('A', 'M'), fc.constantFrom('1', '2', '3'), ...Array.from({ length: 12 }, () => opt(digits(2, 200))), num, num, num, fc.constantFrom('1', '2', '3', '4', 'F')],
      VTG: [course, fc.constant('T'), opt(course), fc.constant('M'), num, fc.constant('N'), num, fc.constant('K'), fc.constantFrom('A', 'D', 'N')],
      GSV: [digits(1, 4), digits(1, 4), digits(2, 40), ...Array.from({ length: 17 }, () => opt(digits(2, 99)))],
    };
    const arb = fc.constantFrom(...Object.keys(templates)).chain((type) =>
      fc.tuple(fc.constantFrom('GP', 'GN', 'GL', 'GA', 'GB', 'BD', 'GQ', 'GI'), fc.tuple(...templates[type]!.map(maybe)), fc.integer({ min: 0, max: 24 })).map(([talker, fields, cut]) => `${talker}${type},${fields.slice(0, cut).join(',')}`),
    );
    const outcome: Record<string, number> = {};
    fc.assert(
      fc.property(arb, (body) => {
        let parsed: NmeaSentence;
        try {
          parsed = parseNmea(sentence(body));
        } catch (err) {
          if (!isTcuError(err, 'NMEA_MALFORMED')) throw err;
          outcome['malformed'] = (outcome['malformed'] ?? 0) + 1;
          return;
        }
        outcome[parsed.type] = (outcome[parsed.type] ?? 0) + 1;
        for (const v of Object.values(parsed)) if (typeof v === 'number') expect(Number.isFinite(v)).toBe(true);
        if ('latitude' in parsed && parsed.latitude !== undefined) expect(Math.abs(parsed.latitude)).toBeLessThanOrEqual(90);
        if ('longitude' in parsed && parsed.longitude !== undefined) expect(Math.abs(parsed.longitude)).toBeLessThanOrEqual(180);
      }),
      { numRuns: 3000 },
    );
    // The generator reaches both outcomes for every type (else the property proves little).
    for (const type of ['GGA', 'RMC', 'GSA', 'VTG', 'GSV', 'malformed']) expect(outcome[type] ?? 0).toBeGreaterThan(20);
  });
});
