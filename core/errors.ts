/**
 * Every error the project raises has a stable code, declared here and nowhere else.
 * Adapters, the agent and the tools throw `TcuError` (or a subclass) with one of these codes;
 * logs, counters and exit codes key on the code, never on the message text.
 */
export const ERROR_CODES = {
  // configuration and command line
  CONFIG_INVALID: 'the configuration is invalid (JSON syntax, version, schema or consistency); the message names each JSON path and rule',
  CLI_USAGE: 'bad command-line usage',
  FILE_READ: 'a file could not be read',
  OUTPUT_CLOSED: 'the reader of our output went away (a closed pipe)',
  FILE_WRITE: 'a file could not be written',

  // CAN frames and buses
  CAN_FRAME_INVALID: 'a CAN frame is invalid (id, length or flags)',
  CAN_BUS_NOT_OPEN: 'the CAN bus is not open',
  CAN_BUS_OPEN_FAILED: 'the CAN bus could not be opened',
  CAN_SEND_FAILED: 'a CAN frame could not be sent',
  CAN_LISTENER_FAILED: 'a listener of a CAN bus threw; the other listeners still got the frame',
  SOCKETCAN_UNAVAILABLE: 'the kernel has no SocketCAN support or the interface is missing',
  SOCKETCAND_PROTOCOL: 'the socketcand peer sent something outside the protocol',
  SOCKETCAND_CONNECT: 'the socketcand server could not be reached',
  CANDUMP_SYNTAX: 'a candump log line is malformed',

  // DBC codec
  DBC_SYNTAX: 'a DBC line could not be parsed',
  DBC_SEMANTIC: 'a DBC statement refers to something that does not exist or is inconsistent',
  DBC_EXTENDED_ID: 'a message id above 0x7FF has no extended flag; loaded as extended',
  DBC_SIGNAL_RANGE: 'a signal does not fit its message',
  DBC_UNSUPPORTED: 'a DBC statement is not supported and was ignored',
  CAN_ENCODE_VALUE: 'a signal value cannot be encoded',
  CAN_UNKNOWN_MESSAGE: 'no message with this id or name in the DBC',

  // records, outbox and the agent's runtime
  OUTBOX_WRITE: 'records could not be committed to the outbox',
  SERVICE_NOTIFY_FAILED: 'the service manager (systemd) did not take a notification (READY, WATCHDOG, STOPPING); a missed watchdog ping makes it restart the agent',
  OUTBOX_BACKLOG: 'records waiting in memory for the outbox were dropped to stay within the memory bound',
  OUTBOX_DISK_LOW: 'the file system under the outbox has less room than its byte cap: the outbox evicts early to keep room for its WAL',
  OUTBOX_FULL: 'the outbox is full (the disk or its page limit) even after evicting lower-priority records; the records were refused',
  OUTBOX_OPEN: 'the outbox database could not be opened (permissions, a missing folder, locked by another process)',
  OUTBOX_CORRUPT: 'the outbox file was corrupt or unreadable; it was moved aside and a fresh outbox started',
  OUTBOX_RECORD_INVALID: 'a record handed to the outbox is invalid (kind, priority, timestamp, reserved key or a body CBOR cannot encode)',
  OUTBOX_CLOSED: 'the outbox was used after it was closed',
  OUTBOX_IO: 'an outbox read, delete or housekeeping step failed in SQLite',
  AGENT_START: 'the agent could not start',

  // uplink (MQTT)
  UPLINK_CONNECT: 'the MQTT broker could not be reached, did not answer, or the connection was lost; retried with back-off',
  UPLINK_AUTH: 'the MQTT broker refused our credentials (CONNACK reason); retried on a longer back-off',
  UPLINK_PUBLISH: 'the MQTT broker refused a publish (PUBACK reason); its records stay in the outbox and go again',
  UPLINK_SUBSCRIBE: 'the MQTT broker refused the command subscription',
  UPLINK_OVERSIZE: 'a record is larger than the maximum payload on its own; it was reported, counted and deleted',
  UPLINK_INTERNAL: 'an uplink event handler failed unexpectedly; the uplink carries on',
  UPLINK_COMMAND_UNKNOWN: 'a command with an unknown name was received',
  UPLINK_COMMAND_MALFORMED: 'a command payload is not a CBOR map or has fields of the wrong type',
  UPLINK_COMMAND_OVERSIZE: 'a command payload is larger than the limit',
  UPLINK_COMMAND_FAILED: 'a command handler failed',
  UPLINK_COMMAND_TIMEOUT: 'a command handler did not answer in time',

  // modem (AT commands over a serial port) and GNSS
  AT_TIMEOUT: 'an AT command got no final result code in time',
  AT_COMMAND_FAILED: 'the modem answered ERROR, +CME ERROR, +CMS ERROR, NO CARRIER or another failure result',
  AT_QUEUE_FULL: 'too many AT commands were waiting; the newest was refused',
  AT_PORT_OPEN: 'the serial port could not be opened (missing device, permissions, busy)',
  AT_PORT_CLOSED: 'the serial port is closed or vanished; commands fail until it is reopened',
  AT_REPLY_MALFORMED: 'a modem reply or unsolicited result code could not be parsed',
  MODEM_UNRESPONSIVE: 'the modem stopped answering; it was re-initialised, then reset',
  MODEM_PROFILE: 'the modem profile is unknown or the modem lacks a command the profile needs',
  NMEA_CHECKSUM: 'an NMEA sentence has a wrong or missing checksum',
  NMEA_MALFORMED: 'an NMEA sentence is malformed (fields, numbers, talker or type)',
  GNSS_UNAVAILABLE: 'the GNSS receiver gave no fix or could not be queried',
  TIME_UNTRUSTED: 'a time below the highest trusted time seen was refused (the clock went back)',

  // OTA updates (ota/): the stable codes `tcu-agent ota apply` prints
  OTA_METADATA: 'OTA metadata is malformed (not JSON, a field missing or of the wrong type, an unknown role)',
  OTA_SIGNATURE: 'OTA metadata is not signed by enough distinct trusted keys (missing, invalid or duplicate signatures; threshold not met)',
  OTA_EXPIRED: 'OTA metadata has expired (a freeze attack, or a repository not refreshed)',
  OTA_ROLLBACK: 'OTA metadata has a lower version than the one trusted, or metadata versions do not match each other (rollback, mix-and-match)',
  OTA_ROOT_ROTATION: 'a new root is not signed by the thresholds of both the old and the new root, or a version was skipped',
  OTA_CLOCK: 'the clock is behind the highest trusted time: metadata expiry cannot be checked',
  OTA_TARGET_NAME: 'a target name is unsafe (absolute, "..", a separator the file system would follow)',
  OTA_TARGET_MISMATCH: 'a target file does not match its metadata (length or hash)',
  OTA_ENDLESS_DATA: 'a download went past the declared length and was cut off',
  OTA_SLOW_RETRIEVAL: 'a download was too slow (below the minimum rate for too long) and was abandoned',
  OTA_FETCH: 'a repository or target could not be fetched (network, HTTP status, missing file)',
  OTA_REPO_DISAGREE: 'the director and image repositories disagree on a target (hashes, length or hardware id)',
  OTA_HARDWARE_ID: 'no target for this hardware id, or the target is for other hardware',
  OTA_DOWNGRADE: 'the target release counter is lower than the installed one (a validly signed downgrade)',
  OTA_PRECONDITION: 'the vehicle is not in a state to install (state of charge, parked, ignition, consent, workshop): deferred',
  OTA_NETWORK_POLICY: 'the network policy forbids downloading now (roaming, cellular, byte cap, time window): deferred',
  OTA_INSTALL: 'the install backend failed; the previous software stays active',
  OTA_HEALTH: 'the health check after the reboot failed; rolled back to the previous software',
  OTA_DISK_FULL: 'no room to download or install the target',
  OTA_CANCELLED: 'the campaign was cancelled',
  OTA_STATE: 'the OTA state store could not be read or written',

  // emulator
  EMULATOR_MAPPING: 'the emulator mapping file is invalid',
  EMULATOR_LISTEN: 'an emulator server could not listen on its address',
  EMULATOR_CONFIG: 'an emulator component was given invalid options (seed, time step, cycle time)',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorOptions {
  cause?: unknown;
  /** Machine-readable context (file, line, bus, ...). Never secrets. */
  details?: Record<string, unknown>;
}

export class TcuError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TcuError';
    this.code = code;
    this.details = options.details ?? {};
  }
}

export function isTcuError(err: unknown, code?: ErrorCode): err is TcuError {
  return err instanceof TcuError && (code === undefined || err.code === code);
}

/** Wraps anything thrown into a TcuError with the given code, keeping the original as cause. */
export function asTcuError(err: unknown, code: ErrorCode, message?: string): TcuError {
  if (err instanceof TcuError) return err;
  const text = err instanceof Error ? err.message : String(err);
  return new TcuError(code, message ? `${message}: ${text}` : text, { cause: err });
}
