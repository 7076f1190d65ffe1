import { TcuError } from '../../core/errors.js';

/**
 * Named scenarios: timed scripts of what the network, the SIM and the GNSS sky do, and which faults
 * the serial line shows. Times are milliseconds after the simulator starts; a scenario with a
 * finite `cycleMs` repeats its phases for as long as it runs.
 */

/** What the radio finds: the home network, a visited network, nothing (searching or given up), or a refusal. */
export type NetworkCondition = 'home' | 'roaming' | 'searching' | 'none' | 'denied';

/** The GNSS sky: `auto` follows the vehicle (open sky on the highway, fewer satellites in town); `lost` is a tunnel. */
export type SkyCondition = 'auto' | 'lost';

export interface ScenarioPhase {
  /** Start of the phase, ms into the cycle. The first phase starts at 0. */
  atMs: number;
  /** A short label for logs and status (`home`, `tunnel`, ...). */
  label: string;
  network: NetworkCondition;
  /** Mean LTE RSRP while the network is found, dBm (-80 strong, -100 fair, -115 weak). */
  rsrpDbm: number;
  /** An NR cell is added (EN-DC, `NR5G-NSA`) on modems that have NR. */
  nr: boolean;
  sky: SkyCondition;
}

export interface Range {
  min: number;
  max: number;
}

export interface Scenario {
  name: string;
  description: string;
  phases: readonly ScenarioPhase[];
  /** Length of one cycle, ms; Infinity for phases that never repeat. */
  cycleMs: number;
  /** The SIM card is in its holder. */
  simPresent: boolean;
  /** The modem resets on its own (a firmware crash) at `firstAtMs`, then every `everyMs`. */
  crashes?: { firstAtMs: number; everyMs: number };
  /** Delay before each reply (the echo is immediate), ms. */
  replyDelayMs?: Range;
  /** Every write is cut into chunks of 1..maxChunk bytes with gaps of 0..maxGapMs between them. */
  split?: { maxChunk: number; maxGapMs: number };
  /** Bursts of unsolicited result codes; `inReplyProbability`: a reply gets one between its lines. */
  urcStorm?: { everyMs: Range; burst: Range; inReplyProbability: number };
  /** Random bytes, NUL and cut-off lines between replies; also corrupt NMEA sentences. */
  garbage?: { everyMs: Range; beforeReplyProbability: number; nmeaProbability: number };
}

const HOME: ScenarioPhase = { atMs: 0, label: 'home', network: 'home', rsrpDbm: -88, nr: true, sky: 'auto' };

function steady(name: string, description: string, extra: Partial<Scenario> = {}): Scenario {
  return { name, description, phases: [HOME], cycleMs: Infinity, simPresent: true, ...extra };
}

/** Every shipped scenario, in the order `--list-scenarios` prints them. */
export const SCENARIOS: readonly Scenario[] = [
  steady('steady-home', 'registered on the home network (Vodafone.de, LTE with NR NSA), good signal, GNSS following the car'),
  {
    name: 'coverage-loss',
    description: 'every 2 min: home, the signal fades (20 s), searching (15 s), not registered (30 s), back home',
    cycleMs: 120_000,
    simPresent: true,
    phases: [
      HOME,
      { atMs: 20_000, label: 'fading', network: 'home', rsrpDbm: -114, nr: false, sky: 'auto' },
      { atMs: 40_000, label: 'searching', network: 'searching', rsrpDbm: -140, nr: false, sky: 'auto' },
      { atMs: 55_000, label: 'no-coverage', network: 'none', rsrpDbm: -140, nr: false, sky: 'auto' },
      { atMs: 85_000, label: 'home', network: 'home', rsrpDbm: -95, nr: false, sky: 'auto' },
      { atMs: 95_000, label: 'home', network: 'home', rsrpDbm: -88, nr: true, sky: 'auto' },
    ],
  },
  {
    name: 'tunnel',
    description: 'every 3 min: a 45 s tunnel with neither network nor GNSS fix',
    cycleMs: 180_000,
    simPresent: true,
    phases: [
      HOME,
      { atMs: 60_000, label: 'tunnel', network: 'searching', rsrpDbm: -140, nr: false, sky: 'lost' },
      { atMs: 105_000, label: 'home', network: 'home', rsrpDbm: -90, nr: true, sky: 'auto' },
    ],
  },
  {
    name: 'roaming',
    description: 'every 3 min: home (40 s), searching at the border (10 s), roaming on A1 Austria (90 s), searching, home',
    cycleMs: 180_000,
    simPresent: true,
    phases: [
      HOME,
      { atMs: 40_000, label: 'border', network: 'searching', rsrpDbm: -140, nr: false, sky: 'auto' },
      { atMs: 50_000, label: 'roaming', network: 'roaming', rsrpDbm: -97, nr: false, sky: 'auto' },
      { atMs: 140_000, label: 'border', network: 'searching', rsrpDbm: -140, nr: false, sky: 'auto' },
      { atMs: 150_000, label: 'home', network: 'home', rsrpDbm: -88, nr: true, sky: 'auto' },
    ],
  },
  steady('sim-missing', 'no SIM card: +CPIN? fails with SIM not inserted, never registers, radio and GNSS work', { simPresent: false }),
  steady('reboot', 'the modem resets on its own 30 s after start and every 60 s after (the port disappears for a few seconds)', {
    crashes: { firstAtMs: 30_000, everyMs: 60_000 },
  }),
  steady('slow-replies', 'every reply comes 300 to 1500 ms after the command', { replyDelayMs: { min: 300, max: 1500 } }),
  steady('split-replies', 'every write is cut into chunks of 1 to 7 bytes with gaps up to 30 ms', { split: { maxChunk: 7, maxGapMs: 30 } }),
  steady('urc-storm', 'bursts of 20 to 60 unsolicited codes every 5 to 15 s, some in the middle of replies', {
    urcStorm: { everyMs: { min: 5_000, max: 15_000 }, burst: { min: 20, max: 60 }, inReplyProbability: 0.3 },
  }),
  steady('garbage', 'random bytes, NUL and cut-off lines between replies every 1 to 5 s; corrupt NMEA sentences', {
    garbage: { everyMs: { min: 1_000, max: 5_000 }, beforeReplyProbability: 0.2, nmeaProbability: 0.2 },
  }),
];

export const DEFAULT_SCENARIO = 'steady-home';

export function scenarioNames(): string[] {
  return SCENARIOS.map((s) => s.name);
}

/** The scenario of that name; EMULATOR_CONFIG naming the known ones otherwise. */
export function findScenario(name: string): Scenario {
  const found = SCENARIOS.find((s) => s.name === name);
  if (!found) {
    throw new TcuError('EMULATOR_CONFIG', `unknown modem scenario "${name}" (known: ${scenarioNames().join(', ')})`, { details: { name } });
  }
  return found;
}

/** Checks a scenario built by hand (tests, later a file): phases in order from 0, sane ranges. */
export function validateScenario(s: Scenario): Scenario {
  const fail = (rule: string): never => {
    throw new TcuError('EMULATOR_CONFIG', `modem scenario "${s.name}": ${rule}`, { details: { name: s.name } });
  };
  if (s.phases.length === 0 || s.phases[0]!.atMs !== 0) fail('the first phase must start at 0 ms');
  for (let i = 1; i < s.phases.length; i++) if (!(s.phases[i]!.atMs > s.phases[i - 1]!.atMs)) fail('phases must start in increasing order');
  if (!(s.cycleMs > s.phases.at(-1)!.atMs)) fail('cycleMs must be longer than the start of the last phase');
  const ranges: (Range | undefined)[] = [s.replyDelayMs, s.urcStorm?.everyMs, s.urcStorm?.burst, s.garbage?.everyMs];
  for (const r of ranges) if (r && !(r.min >= 0 && r.max >= r.min && Number.isFinite(r.max))) fail('every range needs 0 <= min <= max');
  if (s.split && !(s.split.maxChunk >= 1 && s.split.maxGapMs >= 0)) fail('split needs maxChunk >= 1 and maxGapMs >= 0');
  if (s.crashes && !(s.crashes.firstAtMs >= 0 && s.crashes.everyMs > 0)) fail('crashes need firstAtMs >= 0 and everyMs > 0');
  return s;
}

/** The phase in force `elapsedMs` after the start, and when (elapsed ms) the next one begins. */
export function phaseAt(s: Scenario, elapsedMs: number): { phase: ScenarioPhase; index: number; nextAtMs: number } {
  const cycle = Number.isFinite(s.cycleMs) ? Math.floor(elapsedMs / s.cycleMs) : 0;
  const base = Number.isFinite(s.cycleMs) ? cycle * s.cycleMs : 0;
  const within = elapsedMs - base;
  let index = 0;
  for (let i = 0; i < s.phases.length; i++) if (s.phases[i]!.atMs <= within) index = i;
  const next = s.phases[index + 1];
  const nextAtMs = next ? base + next.atMs : Number.isFinite(s.cycleMs) ? base + s.cycleMs : Infinity;
  return { phase: s.phases[index]!, index, nextAtMs };
}
