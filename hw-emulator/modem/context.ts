import type { Clock } from '../../core/clock.js';
import type { AtCommand, CmeCode, CmeeMode } from './at-syntax.js';
import type { VehicleTrack } from './gnss.js';
import type { GnssEpoch } from './nmea.js';
import type { Cell, Operator, Signal } from './network.js';
import type { Scenario } from './scenarios.js';

/**
 * The simulator's options and status, and what command handlers see of the simulator: its settings (changed by commands), what the radio
 * and the GNSS receiver currently have, and a few requests. Types only.
 */

export type ModemModel = 'RM500Q' | 'EC25';
export const MODEM_MODELS: readonly ModemModel[] = ['RM500Q', 'EC25'];

export type RegDomain = '+CREG' | '+CGREG' | '+CEREG' | '+C5GREG';
export const REG_DOMAINS: readonly RegDomain[] = ['+CREG', '+CGREG', '+CEREG', '+C5GREG'];

export interface PdpContext {
  cid: number;
  type: string;
  apn: string;
}

/** Everything an AT command can change; back to the defaults at every power-on. */
export interface Settings {
  echo: boolean;
  cmee: CmeeMode;
  /** The `<n>` of +CREG, +CGREG, +CEREG, +C5GREG: 0 no URC, 1 status, 2 status and location. */
  reg: Record<RegDomain, number>;
  /** +COPS `<format>`: 0 long name, 1 short name, 2 numeric. */
  copsFormat: number;
  /** +COPS `<mode>`: 0 automatic, 2 deregistered. */
  copsMode: number;
  /** +CFUN: 0 minimum, 1 full, 4 radio off. */
  cfun: number;
  /** +CGATT wanted (attached when registered). */
  attach: boolean;
  contexts: PdpContext[];
  /** +QGPSCFG values by name (`outport` → `usbnmea`). */
  gpsCfg: Map<string, string[]>;
}

export interface Identity {
  manufacturer: string;
  model: string;
  revision: string;
  imei: string;
  imsi: string;
  iccid: string;
}

/** The radio as the modem sees it now. */
export interface NetworkView {
  /** +CREG/+CGREG/+CEREG `<stat>`: 0 not registered, 1 home, 2 searching, 3 denied, 5 roaming. */
  stat: number;
  /** Registered (home or roaming) on this operator. */
  operator?: Operator;
  /** The cell camped on, when any signal is received. */
  cell?: Cell;
  signal?: Signal;
  /** An NR cell is added (EN-DC). */
  nr: boolean;
  /** Attached to the packet domain with this address on context 1. */
  address?: string;
}

export interface HandlerContext {
  readonly model: ModemModel;
  readonly identity: Identity;
  readonly settings: Settings;
  readonly simPresent: boolean;
  /** False between power-on and +CPIN: READY. */
  simReady(): boolean;
  /** The subscriber's home operator (the SIM's, for +QSPN). */
  readonly homeOperator: Operator;
  network(): NetworkView;
  /** Wall-clock ms (UTC). */
  now(): number;
  gnss: {
    on(): boolean;
    start(): void;
    stop(): void;
    latest(): GnssEpoch | undefined;
  };
  /** The radio settings changed (CFUN, COPS, CGATT): registration is re-evaluated after the reply. */
  radioChanged(): void;
  /** Reset the modem once the reply is out (AT+CFUN=1,1). */
  requestReset(): void;
  /** Back to the power-on settings (AT&F, ATZ). */
  restoreDefaults(): void;
}

export type HandlerResult = { lines: string[] } | { error: CmeCode };

export type Handler = (cmd: AtCommand, ctx: HandlerContext) => HandlerResult;

export const ok = (...lines: string[]): HandlerResult => ({ lines });
export const fail = (error: CmeCode): HandlerResult => ({ error });

export function defaultSettings(): Settings {
  return {
    echo: true,
    cmee: 1,
    reg: { '+CREG': 0, '+CGREG': 0, '+CEREG': 0, '+C5GREG': 0 },
    copsFormat: 0,
    copsMode: 0,
    cfun: 1,
    attach: true,
    contexts: [{ cid: 1, type: 'IP', apn: 'web.vodafone.de' }],
    gpsCfg: new Map([
      ['outport', ['usbnmea']],
      ['nmeasrc', ['0']],
      ['autogps', ['0']],
      ['gpsnmeatype', ['31']],
      ['glonassnmeatype', ['0']],
      ['galileonmeatype', ['0']],
      ['beidounmeatype', ['0']],
      ['gsvextnmeatype', ['0']],
      ['gnssconfig', ['1']],
      ['fixfreq', ['1']],
    ]),
  };
}

/** An integer argument within [min, max], or undefined. */
export function intArg(cmd: AtCommand, index: number, min: number, max: number): number | undefined {
  const text = cmd.args[index];
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return n >= min && n <= max ? n : undefined;
}

// ---------------------------------------------------------------------------------------------
// The simulator's options and status (simulator.ts).

export interface ModemSimulatorOptions {
  clock: Clock;
  /** Seeds the identity, the radio, the faults and (unless `track` is given) the vehicle. Default 1. */
  seed?: number;
  /** A scenario name (default `steady-home`) or a scenario object. */
  scenario?: string | Scenario;
  /** RM500Q (LTE with NR NSA, +C5GREG; default) or EC25 (LTE only). */
  model?: ModemModel;
  /** Where the car is each second; default a vehicle model with the seed. */
  track?: VehicleTrack;
  /** GNSS on from power-on, as with AT+QGPSCFG="autogps",1 (kept across resets). Default false. */
  autoGps?: boolean;
  /** How long the port is gone during a reset, ms. Default 3000. */
  resetDownMs?: number;
  /** Start as a modem just powered: RDY and the other power-on codes. Default false (already running). */
  powerOnUrcs?: boolean;
}

export type PortState = 'up' | 'down';

export const MODEM_SIM_COUNTER_NAMES = [
  'bytesIn', 'bytesOut', 'bytesIgnored', 'commands', 'errors', 'urcs', 'garbageBytes', 'resets', 'nmeaSentences', 'listenerErrors',
] as const;

/** Where the simulator stands, for status lines and tests. */
export interface ModemSimStatus {
  port: PortState;
  /** Answering commands (false from a reset until RDY). */
  ready: boolean;
  phase: string;
  stat: number;
  operator?: string;
  rsrpDbm?: number;
  gnssOn: boolean;
  fix: boolean;
  /** Whole seconds since start (the vehicle track's clock). */
  second: number;
}
