import { gaussian, pick, randomInt, type Rng } from '../vehicle/random.js';
import type { NetworkView } from './context.js';
import type { NetworkCondition, ScenarioPhase } from './scenarios.js';

/**
 * The radio side of the simulated modem: the operators, the serving cell (handed over as the car
 * moves) and the signal, a slow random walk around the scenario's level. Pure: driven by `tick`.
 */

export interface Operator {
  /** Long alphanumeric name (+COPS format 0). */
  long: string;
  /** Short alphanumeric name (+COPS format 1). */
  short: string;
  mcc: string;
  /** Two or three digits; leading zeros matter. */
  mnc: string;
}

export const HOME_OPERATOR: Operator = { long: 'Vodafone.de', short: 'Vodafone', mcc: '262', mnc: '02' };
export const ROAMING_OPERATOR: Operator = { long: 'A1', short: 'A1', mcc: '232', mnc: '01' };

export interface Cell {
  /** Tracking area code (16 bits). */
  tac: number;
  /** E-UTRAN cell identity (28 bits). */
  cellId: number;
  pci: number;
  earfcn: number;
  band: number;
  /** Quectel's bandwidth index: 3 = 10 MHz, 5 = 20 MHz. */
  bandwidth: number;
  nr: { pci: number; arfcn: number; band: number };
}

export interface Signal {
  /** LTE reference signal received power, dBm. */
  rsrp: number;
  /** Reference signal received quality, dB. */
  rsrq: number;
  /** Received signal strength over the channel, dBm. */
  rssi: number;
  /** Signal to interference plus noise, dB. */
  sinr: number;
  nrRsrp: number;
  nrRsrq: number;
  nrSinr: number;
}

/** +CREG/+CEREG `<stat>` for a network condition once attached. */
export const STAT_OF: Record<NetworkCondition, number> = { home: 1, roaming: 5, searching: 2, none: 0, denied: 3 };

const LTE_CARRIERS = [
  { band: 3, earfcn: 1300, bandwidth: 5 },
  { band: 20, earfcn: 6300, bandwidth: 3 },
  { band: 7, earfcn: 3050, bandwidth: 5 },
  { band: 1, earfcn: 100, bandwidth: 3 },
] as const;

/** A cell is handed over after the car has moved this far. */
const HANDOVER_M = 1200;
const WALK_LIMIT_DB = 6;

export class Radio {
  private walk = 0;
  private nrWalk = 0;
  private sinceHandoverM = 0;
  private readonly cells: Record<'home' | 'roaming', Cell>;

  constructor(private readonly rng: Rng) {
    this.cells = { home: this.newCell(), roaming: this.newCell() };
  }

  /** Once a second: the signal wanders, and the serving cell changes after the car moved far enough. */
  tick(movedM: number): void {
    this.walk = clamp(this.walk + gaussian(this.rng) * 0.8, -WALK_LIMIT_DB, WALK_LIMIT_DB);
    this.nrWalk = clamp(this.nrWalk + gaussian(this.rng) * 1.2, -WALK_LIMIT_DB, WALK_LIMIT_DB);
    this.sinceHandoverM += movedM;
    if (this.sinceHandoverM >= HANDOVER_M) {
      this.sinceHandoverM = 0;
      this.cells.home = this.newCell(this.cells.home);
      this.cells.roaming = this.newCell(this.cells.roaming);
    }
  }

  cell(network: 'home' | 'roaming'): Cell {
    return this.cells[network];
  }

  /** The signal in a phase; undefined where nothing is received (searching, no coverage). */
  signal(phase: ScenarioPhase): Signal | undefined {
    if (phase.network === 'searching' || phase.network === 'none') return undefined;
    const rsrp = clamp(Math.round(phase.rsrpDbm + this.walk), -140, -44);
    const sinr = clamp(Math.round((rsrp + 118) * 0.7 + this.walk / 3), -10, 30);
    const rsrq = clamp(Math.round(-20 + (sinr + 10) * 0.4), -20, -3);
    const rssi = clamp(Math.round(rsrp + 27 + Math.max(0, 10 - sinr) * 0.3), -120, -25);
    const nrRsrp = clamp(Math.round(rsrp - 6 + this.nrWalk), -140, -44);
    return { rsrp, rsrq, rssi, sinr, nrRsrp, nrSinr: clamp(sinr - 3 + Math.round(this.nrWalk / 2), -10, 30), nrRsrq: clamp(rsrq - 1, -20, -3) };
  }

  private newCell(previous?: Cell): Cell {
    const rng = this.rng;
    const carrier = pick(rng, LTE_CARRIERS);
    // A new tracking area every few cells, as when driving out of a town.
    const tac = previous && randomInt(rng, 0, 3) !== 0 ? previous.tac : randomInt(rng, 0x1000, 0xfffe);
    return {
      tac,
      cellId: randomInt(rng, 0x1000000, 0xfffffff),
      pci: randomInt(rng, 0, 503),
      earfcn: carrier.earfcn,
      band: carrier.band,
      bandwidth: carrier.bandwidth,
      nr: { pci: randomInt(rng, 0, 1007), arfcn: pick(rng, [627264, 636768, 643296]), band: 78 },
    };
  }
}

export interface ViewInputs {
  radio: Radio;
  phase: ScenarioPhase;
  /** +CFUN is 1 and the modem is powered (its port is there). */
  radioOn: boolean;
  simPresent: boolean;
  /** AT+COPS=2. */
  deregistered: boolean;
  /** Registering: after power-on, before the SIM is ready, or just after coverage came back. */
  attaching: boolean;
  hasNr: boolean;
  /** The context's address while attached. */
  address?: string;
}

/** What the modem sees of the network: `<stat>`, operator, cell, signal. */
export function networkView(i: ViewInputs): NetworkView {
  if (!i.radioOn) return { stat: 0, nr: false };
  const signal = i.radio.signal(i.phase);
  const cell = signal ? i.radio.cell(i.phase.network === 'roaming' ? 'roaming' : 'home') : undefined;
  const base = { cell, signal, nr: false };
  if (!i.simPresent || i.deregistered) return { ...base, stat: 0 };
  if (i.attaching && signal) return { ...base, stat: 2 };
  const stat = STAT_OF[i.phase.network];
  const operator = stat === 1 ? HOME_OPERATOR : stat === 5 ? ROAMING_OPERATOR : undefined;
  return { ...base, stat, operator, nr: operator !== undefined && i.phase.nr && i.hasNr, address: operator ? i.address : undefined };
}

/** +CSQ `<rssi>` 0..31 (-113 dBm + 2 per step), 99 not known. */
export function csqIndex(signal: Signal | undefined): number {
  if (!signal) return 99;
  return clamp(Math.floor((signal.rssi + 113) / 2), 0, 31);
}

/** Hex as a modem prints cell and area codes: upper case, no prefix. */
export function hex(n: number): string {
  return n.toString(16).toUpperCase();
}

export function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
