/**
 * A tiny NMEA writer for the tests (the simulator has its own; the tests do not import it).
 * Written independently of the parser: only the checksum rule is shared knowledge.
 */

/** `$body*HH` with the XOR checksum of `body`. */
export function sentence(body: string): string {
  let sum = 0;
  for (const ch of body) sum ^= ch.charCodeAt(0);
  return `$${body}*${sum.toString(16).toUpperCase().padStart(2, '0')}`;
}

/** Decimal degrees → `ddmm.mmmmm` (or `dddmm.mmmmm`) and the hemisphere letter. */
export function angle(value: number, kind: 'lat' | 'lon', decimals = 5): [string, string] {
  const hemisphere = kind === 'lat' ? (value < 0 ? 'S' : 'N') : value < 0 ? 'W' : 'E';
  const abs = Math.abs(value);
  let degrees = Math.floor(abs);
  let minutes = Number(((abs - degrees) * 60).toFixed(decimals));
  if (minutes >= 60) {
    degrees += 1;
    minutes -= 60;
  }
  const [whole, frac] = minutes.toFixed(decimals).split('.');
  const degText = String(degrees).padStart(kind === 'lat' ? 2 : 3, '0');
  return [`${degText}${whole!.padStart(2, '0')}.${frac}`, hemisphere];
}

/** ms since midnight → `hhmmss.ss`. */
export function hhmmss(msOfDay: number): string {
  const cs = Math.round(msOfDay / 10);
  const h = Math.floor(cs / 360_000);
  const m = Math.floor((cs % 360_000) / 6000);
  const s = (cs % 6000) / 100;
  return `${pad(h)}${pad(m)}${s.toFixed(2).padStart(5, '0')}`;
}

/** ms since the epoch → `ddmmyy`. */
export function ddmmyy(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getUTCDate())}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCFullYear() % 100)}`;
}

export interface EpochSpec {
  timeMs: number;
  latitude: number;
  longitude: number;
  altitudeM: number;
  knots: number;
  courseDeg: number;
  satellites: number;
  hdop: number;
  talker?: string;
}

/** RMC, VTG, GGA, GSA for one epoch, in u-blox order. */
export function epochSentences(e: EpochSpec): string[] {
  const t = e.talker ?? 'GN';
  const tod = hhmmss(e.timeMs % 86_400_000);
  const [lat, ns] = angle(e.latitude, 'lat');
  const [lon, ew] = angle(e.longitude, 'lon');
  const sats = Array.from({ length: 12 }, (_, i) => (i < Math.min(e.satellites, 12) ? pad(i + 1) : '')).join(',');
  return [
    sentence(`${t}RMC,${tod},A,${lat},${ns},${lon},${ew},${e.knots.toFixed(3)},${e.courseDeg.toFixed(2)},${ddmmyy(e.timeMs)},,,A`),
    sentence(`${t}VTG,${e.courseDeg.toFixed(2)},T,,M,${e.knots.toFixed(3)},N,${(e.knots * 1.852).toFixed(3)},K,A`),
    sentence(`${t}GGA,${tod},${lat},${ns},${lon},${ew},1,${pad(e.satellites)},${e.hdop.toFixed(2)},${e.altitudeM.toFixed(1)},M,47.0,M,,`),
    sentence(`${t}GSA,A,3,${sats},1.90,${e.hdop.toFixed(2)},1.10`),
  ];
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}
