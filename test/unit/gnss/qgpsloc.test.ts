import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TcuError, isTcuError } from '../../../core/errors.js';
import { QGPSLOC_NOT_FIXED, isQgpslocNoFix, parseQgpsloc, queryQgpsloc } from '../../../drivers/gnss/qgpsloc.js';
import type { AtCommandOptions, AtCommander, AtResponse } from '../../../drivers/modem/types.js';
import { FakeClock } from '../../helpers/fake-clock.js';

/** The AtCommander boundary, scripted: the reply (or failure) for each command. */
class ScriptedAt implements AtCommander {
  readonly state = 'open' as const;
  readonly sent: { command: string; options?: AtCommandOptions }[] = [];

  constructor(private readonly reply: (command: string) => AtResponse | TcuError) {}

  send(command: string, options?: AtCommandOptions): Promise<AtResponse> {
    this.sent.push(options === undefined ? { command } : { command, options });
    const r = this.reply(command);
    return r instanceof TcuError ? Promise.reject(r) : Promise.resolve(r);
  }

  onUnsolicited(): () => void {
    return () => {};
  }

  onState(): () => void {
    return () => {};
  }

  onError(): () => void {
    return () => {};
  }
}

const ok = (command: string, lines: string[]): AtResponse => ({ command, lines, final: 'OK', elapsedMs: 5 });
const cme = (command: string, code: number | string): TcuError =>
  new TcuError('AT_COMMAND_FAILED', `${command}: +CME ERROR: ${code}`, { details: { command, final: `+CME ERROR: ${code}`, cme: code } });

describe('parseQgpsloc', () => {
  it('mode 0 (ddmm.mmmmN), the example of the Quectel GNSS application note', () => {
    expect(parseQgpsloc('+QGPSLOC: 061951.0,3150.7223N,11711.9293E,0.7,62.2,2,0.0,0.0,0.0,110513,09')).toEqual({
      timeMs: Date.UTC(2013, 4, 11, 6, 19, 51),
      latitude: 31 + 50.7223 / 60,
      longitude: 117 + 11.9293 / 60,
      hdop: 0.7,
      altitudeM: 62.2,
      courseDeg: 0,
      speedKmh: 0,
      satellitesUsed: 9,
      quality: 'gps',
      fixType: '2d',
      valid: true,
      source: 'qgpsloc',
    });
    // moving: 17.6 km/h (9.5 kn), course 162.57°, milliseconds in the time
    expect(parseQgpsloc('+QGPSLOC: 063416.400,3143.2951N,11713.0655E,0.6,224.9,2,162.57,17.6,9.5,110620,07')).toMatchObject({
      timeMs: Date.UTC(2020, 5, 11, 6, 34, 16, 400),
      speedKmh: 17.6,
      courseDeg: 162.57,
    });
    // south and west
    const sw = parseQgpsloc('+QGPSLOC: 051127.0,3752.4632S,14504.0347W,2.2,22.0,3,,0.0,0.0,010124,05');
    expect(sw.latitude).toBeCloseTo(-(37 + 52.4632 / 60), 12);
    expect(sw.longitude).toBeCloseTo(-(145 + 4.0347 / 60), 12);
    expect(sw).not.toHaveProperty('courseDeg');
  });

  it('mode 1 (ddmm.mmmmmm), the hemisphere after the number or in its own field', () => {
    const suffix = parseQgpsloc('+QGPSLOC: 061951.000,3150.722300N,11711.929300E,0.7,62.2,3,0.0,0.0,0.0,110513,09');
    const separate = parseQgpsloc('+QGPSLOC: 061951.000,3150.722300,N,11711.929300,E,0.7,62.2,3,0.0,0.0,0.0,110513,09');
    expect(separate).toEqual(suffix);
    expect(suffix).toMatchObject({ latitude: 31 + 50.7223 / 60, fixType: '3d', satellitesUsed: 9, hdop: 0.7 });
  });

  it('mode 2 (signed decimal degrees): BG96 and RM500Q replies, an empty course', () => {
    expect(parseQgpsloc('+QGPSLOC: 113355.0,44.74770,-85.56527,1.2,192.0,2,277.11,0.0,0.0,250420,10')).toMatchObject({
      timeMs: Date.UTC(2020, 3, 25, 11, 33, 55),
      latitude: 44.7477,
      longitude: -85.56527,
      courseDeg: 277.11,
      satellitesUsed: 10,
    });
    const rm500 = parseQgpsloc('+QGPSLOC: 001922.00,59.48007,18.27985,0.5,9.5,3,,0.0,0.0,160825,37');
    expect(rm500).toMatchObject({ timeMs: Date.UTC(2025, 7, 16, 0, 19, 22), fixType: '3d', satellitesUsed: 37, valid: true });
    expect(rm500).not.toHaveProperty('courseDeg');
  });

  it('malformed replies: AT_REPLY_MALFORMED naming the field', () => {
    const cases: [string, string][] = [
      ['+QGPSLOC: 061951.0,3150.7223N,11711.9293E,0.7,62.2,2,0.0,0.0,0.0,110513', 'fields'],
      ['+QGPSLOC: 061951.0,3150.7223X,11711.9293E,0.7,62.2,2,0.0,0.0,0.0,110513,09', 'latitude'],
      ['+QGPSLOC: 061951.0,3190.7223N,11711.9293E,0.7,62.2,2,0.0,0.0,0.0,110513,09', 'latitude'],
      ['+QGPSLOC: 061951.0,31.84,-185.2,0.7,62.2,2,0.0,0.0,0.0,110513,09', 'longitude'],
      ['+QGPSLOC: 061951.0,3150.722300,Q,11711.929300,E,0.7,62.2,3,0.0,0.0,0.0,110513,09', 'latitudeHemisphere'],
      ['+QGPSLOC: 261951.0,31.84,117.19,0.7,62.2,2,0.0,0.0,0.0,110513,09', 'utc'],
      ['+QGPSLOC: 061951.0,31.84,117.19,0.7,62.2,2,0.0,0.0,0.0,320513,09', 'date'],
      ['+QGPSLOC: 061951.0,31.84,117.19,0.7,62.2,5,0.0,0.0,0.0,110513,09', 'fix'],
      ['+QGPSLOC: 061951.0,31.84,117.19,-0.7,62.2,2,0.0,0.0,0.0,110513,09', 'hdop'],
      ['+QGPSLOC: 061951.0,31.84,117.19,0.7,62.2,2,400,0.0,0.0,110513,09', 'courseDeg'],
      ['+QGPSLOC: 061951.0,31.84,117.19,0.7,62.2,2,0.0,fast,0.0,110513,09', 'speedKmh'],
      ['+QGPSLOC: 061951.0,31.84,117.19,0.7,62.2,2,0.0,0.0,0.0,110513,9.5', 'satellitesUsed'],
    ];
    for (const [line, field] of cases) {
      let err: unknown;
      try {
        parseQgpsloc(line);
      } catch (e) {
        err = e;
      }
      expect([line, isTcuError(err, 'AT_REPLY_MALFORMED') && err.details['field']]).toEqual([line, field]);
    }
  });

  it('any text: a fix or AT_REPLY_MALFORMED, never anything else', () => {
    const piece = fc.oneof(fc.constantFrom('', '061951.0', '3150.7223N', '-85.5', 'N', 'E', '2', '3', '110513', '09', '0.7'), fc.string({ maxLength: 8 }));
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 14 }), fc.boolean(), (parts, prefix) => {
        try {
          const fix = parseQgpsloc(`${prefix ? '+QGPSLOC: ' : ''}${parts.join(',')}`);
          for (const v of Object.values(fix)) if (typeof v === 'number') expect(Number.isFinite(v)).toBe(true);
        } catch (err) {
          if (!isTcuError(err, 'AT_REPLY_MALFORMED')) throw err;
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('queryQgpsloc over an AtCommander', () => {
  it('sends AT+QGPSLOC=2 by default and stamps the fix with the monotonic clock', async () => {
    const clock = new FakeClock(5_000);
    const at = new ScriptedAt((c) => ok(c, ['+QGPSLOC: 113355.0,44.74770,-85.56527,1.2,192.0,2,277.11,0.0,0.0,250420,10']));
    const fix = await queryQgpsloc(at, { clock, timeoutMs: 3000 });
    expect(at.sent).toEqual([{ command: 'AT+QGPSLOC=2', options: { timeoutMs: 3000 } }]);
    expect(fix).toMatchObject({ latitude: 44.7477, monotonicMs: 5_000, valid: true });
    await queryQgpsloc(at, { mode: 0 });
    expect(at.sent[1]).toEqual({ command: 'AT+QGPSLOC=0' });
  });

  it('"Not fixed now" (516, numeric or verbose) is an invalid fix, not an error', async () => {
    expect(await queryQgpsloc(new ScriptedAt((c) => cme(c, QGPSLOC_NOT_FIXED)))).toEqual({ quality: 'none', fixType: 'none', valid: false, source: 'qgpsloc' });
    expect(await queryQgpsloc(new ScriptedAt((c) => cme(c, '516')))).toMatchObject({ valid: false });
    expect(await queryQgpsloc(new ScriptedAt((c) => cme(c, 'Not fixed now')))).toMatchObject({ valid: false });
    expect(isQgpslocNoFix(cme('AT+QGPSLOC=2', 505))).toBe(false);
    expect(isQgpslocNoFix(new TcuError('AT_TIMEOUT', 'x', { details: { cme: 516 } }))).toBe(false);
  });

  it('other failures reject with GNSS_UNAVAILABLE, keeping the cause', async () => {
    const notActive = cme('AT+QGPSLOC=2', 505); // "Session not active": the GNSS engine is off
    await expect(queryQgpsloc(new ScriptedAt(() => notActive))).rejects.toMatchObject({ code: 'GNSS_UNAVAILABLE', cause: notActive, details: { cme: 505, reason: 'AT_COMMAND_FAILED' } });
    const timeout = new TcuError('AT_TIMEOUT', 'no answer', { details: { command: 'AT+QGPSLOC=2', timeoutMs: 1000 } });
    await expect(queryQgpsloc(new ScriptedAt(() => timeout))).rejects.toMatchObject({ code: 'GNSS_UNAVAILABLE', details: { reason: 'AT_TIMEOUT' } });
    await expect(queryQgpsloc(new ScriptedAt((c) => ok(c, [])))).rejects.toMatchObject({ code: 'GNSS_UNAVAILABLE', details: { reason: 'AT_REPLY_MALFORMED' } });
    await expect(queryQgpsloc(new ScriptedAt((c) => ok(c, ['+QGPSLOC: 1,2,3'])))).rejects.toMatchObject({ code: 'GNSS_UNAVAILABLE', cause: { code: 'AT_REPLY_MALFORMED' } });
  });
});
