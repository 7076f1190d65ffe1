import type { GnssFix, GnssFixType, GnssQuality, GsaSentence, NmeaSentence, RmcSentence } from './types.js';
import { systemOfTalker } from './nmea.js';

/**
 * Combines the sentences of one epoch (one measurement, typically one per second) into one
 * GnssFix. Pure: sentences in, fixes out, no timers; the reader (`source.ts`) adds the idle flush.
 *
 * The epoch rule (docs/GNSS.md):
 * - Sentences with a time (GGA, RMC) belong to the epoch of that UTC time. A timed sentence whose
 *   time differs from the open epoch's closes it and opens the next.
 * - A sentence whose repeat key was already seen in the open epoch closes it too: a second RMC or
 *   GGA from the same talker (covers receivers that send empty time fields before they have a fix),
 *   a second VTG, a second GSA of the same talker and system (not `GN` without a 4.11 system id: u-blox
 *   sends two of those per epoch), the same GSV part again.
 * - Sentences without a time (GSA, VTG, GSV) join the open epoch, or open one that the next timed
 *   sentence adopts (receivers that send GSV/GSA before RMC/GGA).
 * - `completeOn` (optional): close as soon as every listed type has been seen. Off by default,
 *   because receivers differ in their order (u-blox sends GSA after GGA; SiRF between GGA and RMC).
 * - `flush()` closes the open epoch (the reader calls it when the port has been quiet for a while).
 *
 * An epoch without GGA or RMC gives no fix. Multiple talkers (GN/GP/GL/GA/GB mixes) are merged:
 * for GGA, RMC and VTG the `GN` sentence wins over a single-system one; GSAs are all kept.
 */

export type EpochSentenceType = 'GGA' | 'RMC' | 'GSA' | 'VTG' | 'GSV';

export interface EpochAssemblerOptions {
  /** Close the epoch as soon as all these types were seen (e.g. `['RMC', 'GGA', 'GSA']`). */
  completeOn?: readonly EpochSentenceType[];
}

type Gga = Extract<NmeaSentence, { type: 'GGA' }>;
type Vtg = Extract<NmeaSentence, { type: 'VTG' }>;
type Gsv = Extract<NmeaSentence, { type: 'GSV' }>;

interface Epoch {
  timeOfDayMs?: number;
  monotonicMs?: number;
  gga?: Gga;
  rmc?: RmcSentence;
  vtg?: Vtg;
  gsa: GsaSentence[];
  /** Satellites in view per `talker/signal`. */
  gsv: Map<string, { talker: string; count: number }>;
  keys: Set<string>;
  types: Set<EpochSentenceType>;
}

export class EpochAssembler {
  private open: Epoch | undefined;
  private readonly completeOn: readonly EpochSentenceType[];

  constructor(options: EpochAssemblerOptions = {}) {
    this.completeOn = options.completeOn ?? [];
  }

  /** True while an epoch is collecting sentences. */
  get pending(): boolean {
    return this.open !== undefined;
  }

  /**
   * Adds one sentence, in arrival order. Returns the fixes of the epochs it closed (zero, one,
   * or two when `completeOn` closes the new epoch at once). `monotonicMs` stamps a new epoch.
   */
  push(sentence: NmeaSentence, monotonicMs?: number): GnssFix[] {
    if (sentence.type === 'other') return [];
    const out: GnssFix[] = [];
    const key = repeatKey(sentence);
    const time = sentence.type === 'GGA' || sentence.type === 'RMC' ? sentence.timeOfDayMs : undefined;
    const e = this.open;
    if (e && ((time !== undefined && e.timeOfDayMs !== undefined && time !== e.timeOfDayMs) || (key !== undefined && e.keys.has(key)))) {
      this.emit(out);
    }
    const epoch = this.open ?? (this.open = newEpoch(monotonicMs));
    if (key !== undefined) epoch.keys.add(key);
    epoch.types.add(sentence.type);
    if (time !== undefined && epoch.timeOfDayMs === undefined) epoch.timeOfDayMs = time;
    switch (sentence.type) {
      case 'GGA':
        epoch.gga = preferMulti(epoch.gga, sentence);
        break;
      case 'RMC':
        epoch.rmc = preferMulti(epoch.rmc, sentence);
        break;
      case 'VTG':
        epoch.vtg = preferMulti(epoch.vtg, sentence);
        break;
      case 'GSA':
        epoch.gsa.push(sentence);
        break;
      case 'GSV':
        addGsv(epoch, sentence);
        break;
    }
    if (this.completeOn.length > 0 && this.completeOn.every((t) => epoch.types.has(t))) this.emit(out);
    return out;
  }

  /** Closes the open epoch. Returns its fix, if it had a GGA or an RMC. */
  flush(): GnssFix | undefined {
    const out: GnssFix[] = [];
    this.emit(out);
    return out[0];
  }

  /** Drops the open epoch (the stream was cut). */
  reset(): void {
    this.open = undefined;
  }

  private emit(out: GnssFix[]): void {
    const e = this.open;
    this.open = undefined;
    if (e && (e.gga || e.rmc)) out.push(fixOfEpoch(e));
  }
}

function newEpoch(monotonicMs: number | undefined): Epoch {
  return { monotonicMs, gsa: [], gsv: new Map(), keys: new Set(), types: new Set() };
}

function repeatKey(s: Exclude<NmeaSentence, { type: 'other' }>): string | undefined {
  switch (s.type) {
    case 'GGA':
    case 'RMC':
    case 'VTG':
      return `${s.type}:${s.talker}`;
    case 'GSA':
      return s.talker === 'GN' && s.systemId === undefined ? undefined : `GSA:${s.talker}:${s.systemId ?? ''}`;
    case 'GSV':
      return `GSV:${s.talker}:${s.signalId ?? ''}:${s.messageNumber}`;
  }
}

function preferMulti<T extends { talker: string }>(current: T | undefined, next: T): T {
  if (!current) return next;
  return current.talker !== 'GN' && next.talker === 'GN' ? next : current;
}

function addGsv(e: Epoch, s: Gsv): void {
  if (s.satellitesInView === undefined) return;
  e.gsv.set(`${s.talker}/${s.signalId ?? ''}`, { talker: s.talker, count: s.satellitesInView });
}

// ---------------------------------------------------------------------------------------------

const RMC_MODE_QUALITY: Record<NonNullable<RmcSentence['mode']>, GnssQuality> = {
  autonomous: 'gps',
  differential: 'dgps',
  estimated: 'estimated',
  'float-rtk': 'float-rtk',
  manual: 'manual',
  'not-valid': 'none',
  precise: 'pps',
  rtk: 'rtk',
  simulator: 'simulation',
};

const FIX_RANK: Record<GnssFixType, number> = { none: 0, '2d': 1, '3d': 2 };

function qualityOf(e: Epoch): GnssQuality {
  if (e.gga) return e.gga.quality;
  const rmc = e.rmc;
  if (!rmc || rmc.status === 'warning') return 'none';
  if (rmc.mode) return RMC_MODE_QUALITY[rmc.mode];
  return rmc.status === 'valid' ? 'gps' : 'none';
}

function fixOfEpoch(e: Epoch): GnssFix {
  const { gga, rmc, vtg } = e;
  const quality = qualityOf(e);
  const position =
    gga && gga.latitude !== undefined && gga.longitude !== undefined
      ? gga
      : rmc && rmc.latitude !== undefined && rmc.longitude !== undefined
        ? rmc
        : undefined;
  let fixType: GnssFixType | undefined;
  for (const g of e.gsa) if (g.fixType && (fixType === undefined || FIX_RANK[g.fixType] > FIX_RANK[fixType])) fixType = g.fixType;
  const dop = e.gsa.find((g) => g.pdop !== undefined || g.hdop !== undefined || g.vdop !== undefined);
  const timeOfDay = rmc?.timeOfDayMs ?? e.timeOfDayMs;
  const valid =
    position !== undefined &&
    quality !== 'none' &&
    rmc?.status !== 'warning' &&
    rmc?.mode !== 'not-valid' &&
    fixType !== 'none';
  const fix: GnssFix = { quality, valid, source: 'nmea' };
  if (rmc?.dateMs !== undefined && timeOfDay !== undefined) fix.timeMs = rmc.dateMs + timeOfDay;
  if (position) {
    fix.latitude = position.latitude;
    fix.longitude = position.longitude;
  }
  set(fix, 'altitudeM', gga?.altitudeM);
  set(fix, 'speedKmh', vtg?.speedKmh ?? rmc?.speedKmh);
  set(fix, 'courseDeg', vtg?.courseDeg ?? rmc?.courseDeg);
  set(fix, 'fixType', fixType);
  set(fix, 'satellitesUsed', gga?.satellitesUsed ?? satellitesOfGsa(e.gsa));
  set(fix, 'satellitesInView', satellitesInView(e));
  set(fix, 'hdop', gga?.hdop ?? dop?.hdop);
  set(fix, 'pdop', dop?.pdop);
  set(fix, 'vdop', dop?.vdop);
  set(fix, 'monotonicMs', e.monotonicMs);
  return fix;
}

function set<K extends keyof GnssFix>(fix: GnssFix, key: K, value: GnssFix[K] | undefined): void {
  if (value !== undefined) fix[key] = value;
}

/** Distinct satellites over every GSA of the epoch (by system, so GPS 5 and GLONASS 5 differ). */
function satellitesOfGsa(gsa: readonly GsaSentence[]): number | undefined {
  if (gsa.length === 0) return undefined;
  const ids = new Set<string>();
  for (const g of gsa) for (const id of g.satellites) ids.add(`${g.systemId ?? (g.talker === 'GN' ? '' : systemOfTalker(g.talker))}:${id}`);
  return ids.size;
}

/**
 * Sum over talkers of the largest count any of its signals reported (NMEA 4.11 sends one GSV
 * series per signal, so summing signals would count a satellite twice). A `GN` series, when there
 * is one, already covers every system and is used alone.
 */
function satellitesInView(e: Epoch): number | undefined {
  if (e.gsv.size === 0) return undefined;
  const byTalker = new Map<string, number>();
  for (const { talker, count } of e.gsv.values()) byTalker.set(talker, Math.max(byTalker.get(talker) ?? 0, count));
  const gn = byTalker.get('GN');
  if (gn !== undefined) return gn;
  let sum = 0;
  for (const n of byTalker.values()) sum += n;
  return sum;
}

/** Convenience: the fixes of a whole list of sentences, the last epoch flushed. */
export function fixesOf(sentences: Iterable<NmeaSentence>, options?: EpochAssemblerOptions): GnssFix[] {
  const a = new EpochAssembler(options);
  const out: GnssFix[] = [];
  for (const s of sentences) out.push(...a.push(s));
  const last = a.flush();
  if (last) out.push(last);
  return out;
}
