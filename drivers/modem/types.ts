/**
 * The contract between the AT-command engine (`engine.ts`), the modem logic that uses it
 * (`modem.ts`, the profiles) and the agent. Pure types: no I/O, no state.
 *
 * Layering (docs/MODEM.md):
 *   AtPort (bytes: a serial port, real binding or the emulator's)
 *     -> AtEngine implements AtCommander (lines, one command in flight, queue, timeouts, URCs)
 *       -> Modem (profile: generic 27.007 or Quectel; init, polling, recovery) emits ModemSnapshot
 *         -> the agent's connectivity state and uplink policy.
 */
import type { TcuError } from '../../core/errors.js';

/** How a listener is removed: every `on...` method returns one. */
export type Unsubscribe = () => void;

/** The byte transport under the AT engine. A serial port implements it; so can anything else. */
export interface AtPort {
  /** The device path or a description (`/dev/ttyUSB2`). */
  readonly path: string;
  readonly isOpen: boolean;
  open(): Promise<void>;
  /** Resolves once the bytes are handed to the OS. Rejects with AT_PORT_CLOSED when not open. */
  write(data: string | Uint8Array): Promise<void>;
  close(): Promise<void>;
  onData(listener: (chunk: Buffer) => void): Unsubscribe;
  /** The port closed. `unexpected` is true when we did not ask for it (the device vanished). */
  onClose(listener: (info: { unexpected: boolean; error?: TcuError }) => void): Unsubscribe;
}

/** Where the link to the modem stands. `lost`: the port vanished and is being reopened. */
export type AtLinkState = 'closed' | 'opening' | 'open' | 'lost';

export interface AtCommandOptions {
  /** Milliseconds before the command fails with AT_TIMEOUT (the engine's default otherwise). */
  timeoutMs?: number;
  /** Text sent after the modem's `> ` prompt, terminated with Ctrl-Z (SMS, file writes). */
  payload?: string;
}

/** A command that ended with a successful final result code. */
export interface AtResponse {
  /** The command as sent, without the trailing carriage return (`AT+CSQ`). */
  command: string;
  /** Intermediate lines in order, without echo, blank lines or unsolicited codes (`+CSQ: 23,99`). */
  lines: string[];
  /** The final result code (`OK`, or `CONNECT` for commands that open a data mode). */
  final: string;
  /** From the write to the final result code, by the engine's clock. */
  elapsedMs: number;
}

/**
 * Failures reject with a TcuError:
 * - AT_COMMAND_FAILED, details `{ command, final, cme?: number | string, cms?: number | string }`
 *   (`final` is the whole line: `+CME ERROR: 10`);
 * - AT_TIMEOUT, details `{ command, timeoutMs }`;
 * - AT_PORT_CLOSED when the port is not open or closes while the command is in flight;
 * - AT_QUEUE_FULL when the queue is at its limit.
 */
export interface AtCommander {
  readonly state: AtLinkState;
  /** Queues a command (one in flight at a time). Always settles: resolves or rejects, never hangs. */
  send(command: string, options?: AtCommandOptions): Promise<AtResponse>;
  /** Unsolicited result codes (`+CEREG: 5`, `RING`, `RDY`, `+QIND: ...`), wherever they arrived. */
  onUnsolicited(listener: (line: string) => void): Unsubscribe;
  onState(listener: (state: AtLinkState) => void): Unsubscribe;
  /** Problems the engine survived (a malformed line, a timeout, the port vanishing). */
  onError(listener: (error: TcuError) => void): Unsubscribe;
}

// ---------------------------------------------------------------------------------------------
// What the agent learns from the modem.

/** 3GPP TS 27.007 `<stat>` of +CREG/+CGREG/+CEREG/+C5GREG, named. */
export type RegistrationStatus =
  | 'not-registered' // 0: not registered, not searching
  | 'home' // 1
  | 'searching' // 2
  | 'denied' // 3
  | 'unknown' // 4
  | 'roaming' // 5
  | 'home-sms-only' // 6
  | 'roaming-sms-only' // 7
  | 'emergency-only' // 8
  | 'home-csfb-not-preferred' // 9
  | 'roaming-csfb-not-preferred'; // 10

/** Which registration: circuit switched (+CREG), GPRS (+CGREG), EPS/LTE (+CEREG), 5GS (+C5GREG). */
export type RegistrationDomain = 'cs' | 'gprs' | 'eps' | '5gs';

/** Radio access technology, coarse (what a fleet dashboard shows). */
export type RadioTech = 'GSM' | 'UMTS' | 'LTE' | 'NR' | 'unknown';

export interface Registration {
  domain: RegistrationDomain;
  status: RegistrationStatus;
  /** Location or tracking area code, hex as the modem gives it (`1A2B`). */
  area?: string;
  /** Cell id, hex as the modem gives it. */
  cellId?: string;
  /** Radio technology from the `<AcT>` field, when the modem gives it. */
  tech?: RadioTech;
}

export type SimState = 'ready' | 'missing' | 'pin-required' | 'puk-required' | 'error' | 'unknown';

export interface ModemIdentity {
  manufacturer?: string;
  model?: string;
  firmware?: string;
  imei?: string;
  imsi?: string;
  iccid?: string;
}

export interface OperatorInfo {
  /** Long alphanumeric name, when the modem gives it. */
  name?: string;
  /** Mobile country and network codes, as strings (`262`, `01`: leading zeros matter). */
  mcc?: string;
  mnc?: string;
  tech?: RadioTech;
}

export interface SignalInfo {
  /** dBm, from +CSQ (`<rssi>` 0..31 → -113..-51) or the profile's richer command. */
  rssiDbm?: number;
  /** LTE/NR reference signal received power, dBm. */
  rsrpDbm?: number;
  /** Reference signal received quality, dB. */
  rsrqDb?: number;
  /** Signal to interference plus noise, dB. */
  sinrDb?: number;
  /** Bars 0..5 derived from the above, for people. */
  bars: number;
}

export interface PacketInfo {
  /** +CGATT: attached to the packet domain. */
  attached: boolean;
  /** The address of the active PDP context, from +CGPADDR, when there is one. */
  address?: string;
}

/** Everything known about the modem at one moment. Fields absent = not (yet) known. */
export interface ModemSnapshot {
  link: AtLinkState;
  profile: 'generic' | 'quectel';
  identity: ModemIdentity;
  sim: SimState;
  registrations: Partial<Record<RegistrationDomain, Registration>>;
  operator?: OperatorInfo;
  /** The best technology currently registered on (NR over LTE over UMTS over GSM). */
  tech: RadioTech;
  signal?: SignalInfo;
  packet?: PacketInfo;
  /** Clock time of the last successful poll, ms since the epoch. */
  updatedAtMs?: number;
}
