import type { SignalInfo } from '../types.js';
import { compact, int, malformed, responseParams } from './fields.js';

/**
 * Signal strength: +CSQ (3GPP TS 27.007 section 8.5) and the bars shown to people. Units: dBm for
 * RSSI and RSRP, dB for RSRQ and SINR.
 */

/**
 * `<rssi>` of +CSQ → dBm: 0..31 → -113..-51 (2 dB steps), 99 unknown; Quectel's TD-SCDMA
 * extension 100..191 → -116..-25 (1 dB steps), 199 unknown.
 */
export function csqToDbm(rssi: number): number | undefined {
  if (rssi >= 0 && rssi <= 31) return -113 + 2 * rssi;
  if (rssi >= 100 && rssi <= 191) return -216 + rssi;
  return undefined;
}

/** `+CSQ: <rssi>,<ber>` → signal (RSSI only). */
export function parseCsq(line: string): SignalInfo {
  const params = responseParams(line, '+CSQ');
  const rssi = int(line, params[0], '<rssi>', 0, 199);
  if (params.length > 1) int(line, params[1], '<ber>', 0, 99);
  if ((rssi > 31 && rssi < 99) || (rssi > 191 && rssi < 199)) throw malformed(line, `<rssi> ${rssi} is not a defined value`);
  return makeSignal({ rssiDbm: csqToDbm(rssi) });
}

/**
 * Bars 0..5. RSRP when known (LTE, NR: -80, -90, -100, -110, -120 dBm thresholds), else RSSI
 * (-65, -75, -85, -95, -105 dBm). No measurement: 0.
 */
export function signalBars(s: Omit<SignalInfo, 'bars'>): number {
  const steps = (value: number, top: number): number => {
    let bars = 5;
    for (let threshold = top; bars > 0 && value < threshold; threshold -= 10) bars--;
    return bars;
  };
  if (s.rsrpDbm !== undefined) return steps(s.rsrpDbm, -80);
  if (s.rssiDbm !== undefined) return steps(s.rssiDbm, -65);
  return 0;
}

/** A SignalInfo with its bars, without undefined fields. */
export function makeSignal(s: Omit<SignalInfo, 'bars'>): SignalInfo {
  return compact({ ...s, bars: signalBars(s) });
}

/** Later readings override earlier ones field by field; bars are recomputed. */
export function mergeSignals(...readings: ReadonlyArray<SignalInfo | undefined>): SignalInfo | undefined {
  let merged: Omit<SignalInfo, 'bars'> | undefined;
  for (const r of readings) {
    if (!r) continue;
    const { bars: _bars, ...values } = r;
    merged = { ...merged, ...compact(values) };
  }
  return merged === undefined ? undefined : makeSignal(merged);
}
