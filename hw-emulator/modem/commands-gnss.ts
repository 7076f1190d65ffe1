import { fail, intArg, ok, type Handler } from './context.js';
import { gga, gsa, gsv, nmeaCoordinate, rmc, utcDate, utcTime, vtg, type GnssEpoch, type GnssFix } from './nmea.js';

/**
 * GNSS commands of the Quectel GNSS application note: `+QGPS`, `+QGPSEND`, `+QGPSLOC`,
 * `+QGPSCFG`, `+QGPSGNMEA`. Errors: 504 session is ongoing, 505 session not active, 516 not fixed now.
 */

const KNOTS_PER_KMH = 1 / 1.852;

/** Course as Quectel writes it in +QGPSLOC: degrees and minutes, `ddd.mm`. */
export function courseDegMin(deg: number): string {
  let whole = Math.floor(deg);
  let minutes = Math.round((deg - whole) * 60);
  if (minutes === 60) {
    whole = (whole + 1) % 360;
    minutes = 0;
  }
  return `${String(whole).padStart(3, '0')}.${String(minutes).padStart(2, '0')}`;
}

/** The `+QGPSLOC: ...` line of an epoch with a fix, in `<mode>` 0, 1 or 2. */
export function qgpslocLine(epoch: GnssEpoch, fix: GnssFix, mode: number): string {
  let lat: string;
  let lon: string;
  if (mode === 2) {
    lat = fix.latitude.toFixed(5);
    lon = fix.longitude.toFixed(5);
  } else {
    const decimals = mode === 1 ? 6 : 4;
    const la = nmeaCoordinate(fix.latitude, true, decimals);
    const lo = nmeaCoordinate(fix.longitude, false, decimals);
    lat = mode === 1 ? `${la.text},${la.hemisphere}` : `${la.text}${la.hemisphere}`;
    lon = mode === 1 ? `${lo.text},${lo.hemisphere}` : `${lo.text}${lo.hemisphere}`;
  }
  const fields = [
    utcTime(epoch.utcMs, '.000'),
    lat,
    lon,
    fix.hdop.toFixed(1),
    fix.altitudeM.toFixed(1),
    String(fix.dimension),
    courseDegMin(fix.courseDeg),
    fix.speedKmh.toFixed(1),
    (fix.speedKmh * KNOTS_PER_KMH).toFixed(1),
    utcDate(epoch.utcMs),
    String(epoch.used.length).padStart(2, '0'),
  ];
  return `+QGPSLOC: ${fields.join(',')}`;
}

const qgps: Handler = (cmd, ctx) => {
  if (cmd.kind === 'read') return ok(`+QGPS: ${ctx.gnss.on() ? 1 : 0}`);
  if (cmd.kind === 'test') return ok('+QGPS: (1),(1-255),(0-1000),(1-65535),(0-65535)');
  if (cmd.kind !== 'set' || intArg(cmd, 0, 1, 1) === undefined) return fail(50);
  if (ctx.gnss.on()) return fail(504);
  ctx.gnss.start();
  return ok();
};

const qgpsend: Handler = (cmd, ctx) => {
  if (cmd.kind !== 'exec') return cmd.kind === 'test' ? ok() : fail(50);
  if (!ctx.gnss.on()) return fail(505);
  ctx.gnss.stop();
  return ok();
};

const qgpsloc: Handler = (cmd, ctx) => {
  if (cmd.kind === 'test') return ok('+QGPSLOC: (0-2)');
  if (cmd.kind === 'read') return fail(50);
  const mode = cmd.kind === 'exec' ? 0 : intArg(cmd, 0, 0, 2);
  if (mode === undefined) return fail(50);
  if (!ctx.gnss.on()) return fail(505);
  const epoch = ctx.gnss.latest();
  if (!epoch?.fix) return fail(516);
  return ok(qgpslocLine(epoch, epoch.fix, mode));
};

const GPS_CFG_VALUES: Record<string, RegExp> = {
  outport: /^(none|usbnmea|uartnmea|uartdebug|linuxsmd)$/i,
  nmeasrc: /^[01]$/,
  autogps: /^[01]$/,
  gpsnmeatype: /^\d{1,2}$/,
  glonassnmeatype: /^\d$/,
  galileonmeatype: /^\d$/,
  beidounmeatype: /^\d$/,
  gsvextnmeatype: /^[01]$/,
  gnssconfig: /^[0-7]$/,
  fixfreq: /^(1|2|5|10)$/,
};

const qgpscfg: Handler = (cmd, ctx) => {
  if (cmd.kind === 'test') return ok(...Object.keys(GPS_CFG_VALUES).map((name) => `+QGPSCFG: "${name}"`));
  if (cmd.kind !== 'set' || !cmd.quoted[0]) return fail(50);
  const name = (cmd.args[0] ?? '').toLowerCase();
  const rule = GPS_CFG_VALUES[name];
  if (!rule) return fail(50);
  const values = cmd.args.slice(1);
  if (values.length === 0) {
    const current = ctx.settings.gpsCfg.get(name) ?? [];
    const quoted = name === 'outport' ? current.map((v) => `"${v}"`) : current;
    return ok(`+QGPSCFG: "${name}",${quoted.join(',')}`);
  }
  if (values.length !== 1 || !rule.test(values[0]!)) return fail(50);
  ctx.settings.gpsCfg.set(name, [values[0]!.toLowerCase()]);
  return ok();
};

const SENTENCES: Record<string, (e: GnssEpoch) => string[]> = {
  GGA: (e) => [gga(e)],
  RMC: (e) => [rmc(e)],
  GSA: (e) => [gsa(e)],
  GSV: (e) => gsv(e),
  VTG: (e) => [vtg(e)],
};

/** `AT+QGPSGNMEA="GGA"`: the latest sentence of that type through the AT port (needs nmeasrc 1). */
const qgpsgnmea: Handler = (cmd, ctx) => {
  if (cmd.kind === 'test') return ok('+QGPSGNMEA: ("GGA","RMC","GSV","GSA","VTG")');
  if (cmd.kind !== 'set') return fail(50);
  const make = SENTENCES[(cmd.args[0] ?? '').toUpperCase()];
  if (!make) return fail(50);
  if (ctx.settings.gpsCfg.get('nmeasrc')?.[0] !== '1') return fail(3);
  if (!ctx.gnss.on()) return fail(505);
  const epoch = ctx.gnss.latest();
  if (!epoch) return fail(516);
  return ok(...make(epoch).map((s) => `+QGPSGNMEA: ${s.trimEnd()}`));
};

export const GNSS_COMMANDS: Readonly<Record<string, Handler>> = {
  '+QGPS': qgps,
  '+QGPSEND': qgpsend,
  '+QGPSLOC': qgpsloc,
  '+QGPSCFG': qgpscfg,
  '+QGPSGNMEA': qgpsgnmea,
};
