import { chance, pick, randomInt, type Rng } from '../vehicle/random.js';
import { nmeaChecksum } from './nmea.js';

/**
 * The faults a serial line to a modem shows, as bytes: line noise, cut-off lines, bursts of
 * unsolicited codes, corrupt NMEA. Pure functions of a seeded random source.
 *
 * Garbage never contains ASCII letters outside a cut-off `+...` line, so it cannot form `OK`,
 * `ERROR` or `+CME ERROR`: a correct engine can always find the real final result code.
 */

/** URCs a Quectel module sends unasked, for storms (`csqIndex` and `time` filled in by the caller). */
export function stormUrc(rng: Rng, csqIndex: number, utcMs: number, extra: readonly string[]): string {
  const d = new Date(utcMs);
  const two = (n: number): string => String(n).padStart(2, '0');
  const stamp = `${d.getUTCFullYear()}/${two(d.getUTCMonth() + 1)}/${two(d.getUTCDate())},${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`;
  const urcs = [
    `+QIND: "csq",${csqIndex},99`,
    '+QIND: "act","LTE"',
    `+CTZE: "+04",0,"${stamp}"`,
    '+CGEV: ME PDN ACT 1',
    '+QNETDEVSTATUS: 1',
    ...extra,
  ];
  return pick(rng, urcs);
}

const CUT_LINES = ['+QIND: "csq",2', '+CEREG: 1,"1', '+QENG: "servingcell","NOC', '+CTZE: "+04",0,"20', '+QUSIM: '];

/** Between replies: random high bytes and NUL, a run of NULs, or a line cut off in the middle. */
export function garbageBytes(rng: Rng): Buffer {
  const kind = randomInt(rng, 0, 2);
  if (kind === 1) return Buffer.alloc(randomInt(rng, 1, 8));
  if (kind === 2) {
    const line = pick(rng, CUT_LINES);
    return Buffer.from(`\r\n${line.slice(0, randomInt(rng, 2, line.length))}`, 'latin1');
  }
  const n = randomInt(rng, 1, 16);
  const bytes = Buffer.alloc(n);
  for (let i = 0; i < n; i++) bytes[i] = chance(rng, 0.2) ? 0 : randomInt(rng, 0x80, 0xff);
  return chance(rng, 0.5) ? Buffer.concat([bytes, Buffer.from('\r\n')]) : bytes;
}

/** A corrupt NMEA line: a real sentence with a wrong checksum, or a sentence cut short. */
export function corruptNmea(rng: Rng, good: string): string {
  const body = good.slice(1, good.indexOf('*'));
  if (chance(rng, 0.5)) {
    const right = nmeaChecksum(body);
    const wrong = ((parseInt(right, 16) + randomInt(rng, 1, 255)) % 256).toString(16).toUpperCase().padStart(2, '0');
    return `$${body}*${wrong}\r\n`;
  }
  return `$${body.slice(0, randomInt(rng, 3, Math.max(3, body.length - 1)))}\r\n`;
}
