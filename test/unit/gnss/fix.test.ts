import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EpochAssembler, fixesOf } from '../../../drivers/gnss/fix.js';
import { parseNmea } from '../../../drivers/gnss/nmea.js';
import type { GnssFix } from '../../../drivers/gnss/types.js';
import { epochSentences, sentence, type EpochSpec } from './nmea-writer.js';

const fixes = (lines: string[], options?: Parameters<typeof fixesOf>[1]): GnssFix[] => fixesOf(lines.map((l) => parseNmea(l)), options);

/** Two consecutive epochs from a u-blox 6 receiver (NMEA 2.3), as it sent them. */
const UBLOX6 = [
  '$GPRMC,054423.00,A,3746.79275,N,12224.40754,W,1.730,,050815,,,A*67',
  '$GPVTG,,T,,M,1.730,N,3.204,K,A*23',
  '$GPGGA,054423.00,3746.79275,N,12224.40754,W,1,05,2.58,73.0,M,-29.7,M,,*58',
  '$GPGSA,A,3,14,22,19,04,27,,,,,,,,6.04,2.58,5.46*04',
  '$GPGSV,4,1,13,01,09,314,,04,35,312,07,08,34,276,22,11,20,312,19*73',
  '$GPGSV,4,2,13,14,83,095,16,18,31,076,06,19,41,266,14,21,12,136,17*7C',
  '$GPGSV,4,3,13,22,63,045,22,24,14,045,,27,33,226,25,31,12,167,08*77',
  '$GPGSV,4,4,13,32,24,278,*41',
  '$GPGLL,3746.79275,N,12224.40754,W,054423.00,A,A*72',
  '$GPRMC,054424.00,A,3746.79173,N,12224.40646,W,2.110,,050815,,,A*60',
  '$GPVTG,,T,,M,2.110,N,3.908,K,A*23',
  '$GPGGA,054424.00,3746.79173,N,12224.40646,W,1,05,2.58,75.0,M,-29.7,M,,*5E',
  '$GPGSA,A,3,14,22,19,04,27,,,,,,,,6.04,2.58,5.46*04',
  '$GPGSV,4,1,13,01,09,314,,04,35,312,07,08,34,276,22,11,20,312,19*73',
  '$GPGSV,4,2,13,14,83,092,15,18,31,076,06,19,41,266,12,21,12,136,14*7D',
  '$GPGSV,4,3,13,22,63,045,22,24,14,045,,27,33,226,24,31,12,167,08*76',
  '$GPGSV,4,4,13,32,24,278,*41',
  '$GPGLL,3746.79173,N,12224.40646,W,054424.00,A,A*72',
];

describe('EpochAssembler on real receiver output', () => {
  it('u-blox 6: one fix per epoch, closed by the next time; GSA after GGA still belongs to its epoch', () => {
    const a = new EpochAssembler();
    const out: GnssFix[] = [];
    UBLOX6.forEach((l, i) => out.push(...a.push(parseNmea(l), 1000 + i)));
    expect(out).toHaveLength(1); // the second epoch is still open
    expect(a.pending).toBe(true);
    out.push(a.flush()!);
    expect(a.pending).toBe(false);
    expect(out[0]).toEqual({
      timeMs: Date.UTC(2015, 7, 5, 5, 44, 23),
      latitude: 37 + 46.79275 / 60,
      longitude: -(122 + 24.40754 / 60),
      altitudeM: 73,
      speedKmh: 3.204, // VTG's km/h, not 1.730 kn × 1.852 = 3.20396
      quality: 'gps',
      fixType: '3d',
      satellitesUsed: 5,
      satellitesInView: 13,
      hdop: 2.58,
      pdop: 6.04,
      vdop: 5.46,
      valid: true,
      source: 'nmea',
      monotonicMs: 1000,
    });
    expect(out[0]).not.toHaveProperty('courseDeg'); // empty while nearly stationary
    expect(out[1]).toMatchObject({ timeMs: Date.UTC(2015, 7, 5, 5, 44, 24), altitudeM: 75, speedKmh: 3.908, monotonicMs: 1009 });
  });

  it('SiRF order (GGA, GLL, GSA, GSV, RMC, VTG): one epoch; VTG speed wins over RMC', () => {
    const [fix, ...rest] = fixes([
      '$GPGGA,161229.487,3723.2475,N,12158.3416,W,1,07,1.0,9.0,M,,,,0000*18',
      '$GPGLL,3723.2475,N,12158.3416,W,161229.487,A*2C',
      '$GPGSA,A,3,07,02,26,27,09,04,15,,,,,,1.8,1.0,1.5*33',
      '$GPGSV,2,1,07,07,79,048,42,02,51,062,43,26,36,256,42,27,27,138,42*71',
      '$GPGSV,2,2,07,09,23,313,42,04,19,159,41,15,12,041,42*41',
      '$GPRMC,161229.487,A,3723.2475,N,12158.3416,W,0.13,309.62,120598,,*10',
      '$GPVTG,309.62,T,,M,0.13,N,0.2,K*6E',
    ]);
    expect(rest).toEqual([]);
    expect(fix).toMatchObject({
      timeMs: Date.UTC(1998, 4, 12, 16, 12, 29, 487),
      speedKmh: 0.2,
      courseDeg: 309.62,
      satellitesUsed: 7,
      satellitesInView: 7,
      hdop: 1.0,
      pdop: 1.8,
      valid: true,
    });
  });

  it('Quectel MC60 (GN position, GP and BD GSA/GSV): satellites in view summed over systems', () => {
    const [fix] = fixes([
      '$GNRMC,092220.000,A,2234.2803,N,11353.2519,E,0.09,178.55,170323,,,A*7C',
      '$GNVTG,178.55,T,,M,0.09,N,0.17,K,A*22',
      '$GNGGA,092220.000,2234.2803,N,11353.2519,E,1,4,2.00,25.2,M,-2.9,M,,*68',
      '$GPGSA,A,3,06,19,17,14,,,,,,,,,2.24,2.00,1.00*08',
      '$BDGSA,A,3,,,,,,,,,,,,,2.24,2.00,1.00*14',
      '$GPGSV,2,1,08,14,67,161,33,06,52,285,40,17,51,016,31,50,46,122,27*7E',
      '$GPGSV,2,2,08,19,40,334,28,193,,,,194,,,29,195,,,*72',
      '$BDGSV,1,1,02,03,,,33,13,,,31*69',
      '$GNGLL,2234.2803,N,11353.2519,E,092220.000,A,A*48',
    ]);
    expect(fix).toMatchObject({ timeMs: Date.UTC(2023, 2, 17, 9, 22, 20), satellitesUsed: 4, satellitesInView: 10, speedKmh: 0.17, courseDeg: 178.55, fixType: '3d' });
  });

  it('u-blox M8 (NMEA 4.0, two GNGSA without system id): both join the epoch; without GGA the used count comes from them', () => {
    const lines = [
      '$GNRMC,015835.00,A,3945.11111,N,11608.87560,E,0.199,,181117,,,A*62',
      '$GNVTG,,T,,M,0.199,N,0.368,K,A*31',
      '$GNGGA,015835.00,3945.11111,N,11608.87560,E,1,08,1.03,65.2,M,-9.2,M,,*6D',
      '$GNGSA,A,3,12,02,05,06,09,19,25,,,,,,1.82,1.03,1.50*15',
      '$GNGSA,A,3,86,,,,,,,,,,,,1.82,1.03,1.50*1F',
    ];
    expect(fixes(lines)).toEqual([expect.objectContaining({ satellitesUsed: 8, fixType: '3d', pdop: 1.82 })]);
    expect(fixes(lines.filter((l) => !l.includes('GGA')))).toEqual([expect.objectContaining({ satellitesUsed: 8, quality: 'gps', valid: true })]);
  });

  it('NMEA 4.11 GSA per system: satellites counted per system, the 4.1 navigational status V does not invalidate', () => {
    const [fix] = fixes([
      sentence('GNRMC,095520.00,A,2733.35607,S,15302.15703,E,0.042,,240719,,,A,V'),
      '$GNGSA,A,3,17,05,12,19,09,28,02,06,,,,,1.10,0.49,0.99,1*03',
      '$GNGSA,A,3,81,67,66,79,78,,,,,,,,1.10,0.49,0.99,2*06',
    ]);
    expect(fix).toMatchObject({ valid: true, quality: 'gps', satellitesUsed: 13, hdop: 0.49, vdop: 0.99 });
    expect(fix!.latitude).toBeCloseTo(-(27 + 33.35607 / 60), 10);
  });

  it('no fix: RMC status V and GGA quality 0 give an invalid fix without a position', () => {
    const [fix] = fixes(['$GNRMC,023240.00,V,,,,,,,221023,,,N,V*1E', sentence('GNGGA,023240.00,,,,,0,00,99.99,,,,,,'), sentence('GNGSA,A,1,,,,,,,,,,,,,99.99,99.99,99.99,1')]);
    expect(fix).toEqual({ timeMs: Date.UTC(2023, 9, 22, 2, 32, 40), quality: 'none', fixType: 'none', satellitesUsed: 0, hdop: 99.99, pdop: 99.99, vdop: 99.99, valid: false, source: 'nmea' });
  });

  it('a receiver with no time yet (empty time fields): each repeated RMC/GGA starts an epoch', () => {
    const burst = [sentence('GPRMC,,V,,,,,,,,,,N'), sentence('GPVTG,,T,,M,,N,,K,N'), sentence('GPGGA,,,,,,0,,,,,,,,'), sentence('GPGSA,A,1,,,,,,,,,,,,,,,')];
    const out = fixes([...burst, ...burst, ...burst]);
    expect(out).toHaveLength(3);
    for (const f of out) expect(f).toEqual({ quality: 'none', fixType: 'none', satellitesUsed: 0, valid: false, source: 'nmea' }); // the GSA listed none
  });

  it('untimed sentences before the timed ones (GSV, GSA, RMC, GGA) stay with their own epoch', () => {
    const epoch = (sec: number, navMode: number): string[] => [
      sentence('GPGSV,1,1,04,01,40,083,46,02,17,308,41,12,07,344,39,14,22,228,45'),
      sentence(`GPGSA,A,${navMode},01,02,12,14,,,,,,,,,2.0,1.0,1.7`),
      sentence(`GPRMC,1200${sec}.00,A,4807.038,N,01131.000,E,10.0,84.4,230324,,,A`),
      sentence(`GPGGA,1200${sec}.00,4807.038,N,01131.000,E,1,04,1.0,545.4,M,46.9,M,,`),
    ];
    const out = fixes([...epoch(10, 2), ...epoch(11, 3), ...epoch(12, 2)]);
    expect(out.map((f) => [f.timeMs, f.fixType])).toEqual([
      [Date.UTC(2024, 2, 23, 12, 0, 10), '2d'],
      [Date.UTC(2024, 2, 23, 12, 0, 11), '3d'],
      [Date.UTC(2024, 2, 23, 12, 0, 12), '2d'],
    ]);
  });

  it('tolerates missing sentences: GGA alone has no date; RMC alone takes its quality from the mode or the status', () => {
    expect(fixes(['$GPGGA,161229.487,3723.2475,N,12158.3416,W,1,07,1.0,9.0,M,,,,0000*18'])).toEqual([
      expect.not.objectContaining({ timeMs: expect.anything() }),
    ]);
    expect(fixes(['$GPRMC,161229.487,A,3723.2475,N,12158.3416,W,0.13,309.62,120598,,*10'])[0]).toMatchObject({ quality: 'gps', valid: true });
    expect(fixes(['$GPRMC,195959.00,A,1541.31258893,N,05130.51204125,W,0.26,147.44,140120,16.9,W,D*0B'])[0]).toMatchObject({ quality: 'dgps' });
    expect(fixes([sentence('GPRMC,195959.00,A,1541.3125,N,05130.5120,W,0.26,147.44,140120,,,E')])[0]).toMatchObject({ quality: 'estimated', valid: true });
    expect(fixes(['$GPGSA,A,3,07,02,26,27,09,04,15,,,,,,1.8,1.0,1.5*33'])).toEqual([]); // no GGA or RMC: no fix
  });

  it('GP and GN sentences in one epoch: the GN (combined) one wins', () => {
    const [fix] = fixes([sentence('GPGGA,120010.00,4807.038,N,01131.000,E,1,05,1.5,500.0,M,,,,'), sentence('GNGGA,120010.00,4807.038,N,01131.000,E,2,11,0.8,501.0,M,,,,')]);
    expect(fix).toMatchObject({ quality: 'dgps', satellitesUsed: 11, altitudeM: 501 });
  });

  it('completeOn closes the epoch as soon as the listed types were seen', () => {
    const a = new EpochAssembler({ completeOn: ['RMC', 'GGA', 'GSA'] });
    const emittedAt: number[] = [];
    UBLOX6.forEach((l, i) => {
      if (a.push(parseNmea(l)).length > 0) emittedAt.push(i);
    });
    expect(emittedAt).toEqual([3, 12]); // at each GSA, without waiting for the next epoch
  });
});

describe('round trip through a tiny writer', () => {
  const spec: fc.Arbitrary<EpochSpec> = fc.record({
    timeMs: fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2079, 11, 31, 23, 59, 0) }).map((t) => Math.floor(t / 10) * 10),
    latitude: fc.double({ min: -89.999, max: 89.999, noNaN: true }),
    longitude: fc.double({ min: -179.999, max: 179.999, noNaN: true }),
    altitudeM: fc.double({ min: -400, max: 9000, noNaN: true }).map((v) => Math.round(v * 10) / 10),
    knots: fc.double({ min: 0, max: 150, noNaN: true }).map((v) => Math.round(v * 1000) / 1000),
    courseDeg: fc.double({ min: 0, max: 359.99, noNaN: true }).map((v) => Math.round(v * 100) / 100),
    satellites: fc.integer({ min: 4, max: 12 }),
    hdop: fc.double({ min: 0.5, max: 20, noNaN: true }).map((v) => Math.round(v * 100) / 100),
    talker: fc.constantFrom('GP', 'GN', 'GL', 'GA', 'GB'),
  });

  it('lat/lon/time/speed/course → sentences → parse → assemble → the same values (within the text precision)', () => {
    fc.assert(
      fc.property(fc.array(spec, { minLength: 1, maxLength: 4 }), (specs) => {
        // consecutive epochs one second apart, so each closes the previous
        const epochs = specs.map((s, i) => ({ ...s, timeMs: specs[0]!.timeMs + i * 1000 }));
        const out = fixes(epochs.flatMap(epochSentences));
        expect(out).toHaveLength(epochs.length);
        out.forEach((f, i) => {
          const e = epochs[i]!;
          expect(f.timeMs).toBe(e.timeMs);
          expect(Math.abs(f.latitude! - e.latitude)).toBeLessThan(1e-6); // 0.00001' ≈ 1.7e-7°
          expect(Math.abs(f.longitude! - e.longitude)).toBeLessThan(1e-6);
          expect(f.altitudeM).toBeCloseTo(e.altitudeM, 6);
          expect(Math.abs(f.speedKmh! - e.knots * 1.852)).toBeLessThan(0.001);
          expect(f.courseDeg).toBeCloseTo(e.courseDeg, 6);
          expect(f).toMatchObject({ quality: 'gps', fixType: '3d', satellitesUsed: e.satellites, hdop: e.hdop, valid: true });
        });
      }),
      { numRuns: 300 },
    );
  });
});
