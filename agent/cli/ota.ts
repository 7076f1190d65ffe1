import { readFileSync } from 'node:fs';
import { EXIT, parseCommandArgs, requireString, type CommandIO } from '../../core/cli.js';
import { systemClock } from '../../core/clock.js';
import { TcuError } from '../../core/errors.js';
import { createLogger } from '../../core/logger.js';
import type { OtaOutcome, VehicleState } from '../../ota/types.js';
import { applyUpdate } from '../ota/apply.js';

export const OTA_HELP = `Usage: tcu-agent ota apply --image-repo URL_OR_DIR --director-repo URL_OR_DIR --state-dir DIR
                          --hardware-id ID --slots DIR [--ecu NAME] [--vin VIN] [--group NAME...] [--vehicle-state FILE]
                          [--now ISO8601] [--bandwidth BYTES_PER_S]

Runs one signed update end to end with the dir-slots backend, as a workshop would: refreshes the
image and director repositories (TUF metadata, verified with tuf-js), checks that both agree on the
target for this hardware (Uptane), checks the preconditions, downloads and verifies the image,
installs it to the inactive slot, switches, health-checks the new slot, and commits it or rolls
back. Prints one JSON line:
  {"result": "installed" | "rejected" | "deferred" | "failed" | "up-to-date", "code": "...",
   "reason"?: "soc" | "parked" | "ignition" | "workshop" | "consent",
   "target": "<name or null>", "detail": "..."}
("reason": which precondition deferred it, with OTA_PRECONDITION.) Progress goes to standard error
as JSON log lines: each campaign state, and the download's ("download progress": receivedBytes,
totalBytes, percent, bytesPerS, etaSeconds) every 5 % or every second.

Options:
  --image-repo URL_OR_DIR     the image repository (http(s) URL, file:// URL or folder)
  --director-repo URL_OR_DIR  the director repository: what this vehicle should install
  --state-dir DIR             trusted metadata, release counters, the campaign store, downloads;
                              the first run trusts image/root.json and director/root.json in it
                              (put there by the integrator), never a root from the network
  --hardware-id ID            this unit's hardware id (the target's custom.hardwareIds)
  --slots DIR                 the dir-slots folder (a/, b/ and the current link)
  --ecu NAME                  the software inventory's name for this ECU (default tcu, as the
                              agent's ota.ecu)
  --vin VIN                   the vehicle: its staged-rollout bucket (sha256 of campaign:VIN)
  --group NAME                a vehicle group it is in (repeatable): rollout stages group:NAME
                              admit it (as the agent's vehicle.groups)
  --vehicle-state FILE        {"socPercent", "parked", "ignitionOff", "consent", "workshop"};
                              without it: parked in a workshop, ignition off, consent given, charged
  --now ISO8601               the reference time for metadata expiry
  --bandwidth BYTES_PER_S     cap the download at this many bytes per second (as the agent's
                              ota.download.bandwidthBytesPerS); default no cap
  -h, --help                  this text

Exit codes: 0 installed or up to date, 1 unexpected failure, 2 usage error, 3 rejected (security),
4 deferred (preconditions, consent, network policy), 5 failed (the previous software stays or was
restored).
`;

const EXIT_BY_RESULT: Record<OtaOutcome['result'], number> = { installed: 0, 'up-to-date': 0, rejected: 3, deferred: 4, failed: 5 };

/** Without --vehicle-state: a workshop bench, on a charger. */
const WORKSHOP: VehicleState = { socPercent: 100, parked: true, ignitionOff: true, consent: true, workshop: true };

export async function otaCommand(argv: string[], io: CommandIO): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    (sub === undefined ? io.stderr : io.stdout).write(OTA_HELP);
    return sub === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (sub !== 'apply') throw new TcuError('CLI_USAGE', `unknown ota command "${sub}" (there is "apply")`);
  const { values } = parseCommandArgs(rest, {
    'image-repo': { type: 'string' },
    'director-repo': { type: 'string' },
    'state-dir': { type: 'string' },
    'hardware-id': { type: 'string' },
    slots: { type: 'string' },
    ecu: { type: 'string' },
    vin: { type: 'string' },
    group: { type: 'string', multiple: true },
    'vehicle-state': { type: 'string' },
    now: { type: 'string' },
    bandwidth: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.stdout.write(OTA_HELP);
    return EXIT.OK;
  }
  const now = values.now === undefined ? undefined : new Date(values.now);
  if (now !== undefined && Number.isNaN(now.getTime())) throw new TcuError('CLI_USAGE', `--now must be an ISO 8601 time (got "${values.now}")`);
  const bandwidth = values.bandwidth === undefined ? undefined : Number(values.bandwidth);
  if (bandwidth !== undefined && (!/^[0-9]+$/.test(values.bandwidth ?? '') || !Number.isSafeInteger(bandwidth) || bandwidth < 1)) {
    throw new TcuError('CLI_USAGE', `--bandwidth must be a whole number of bytes per second, at least 1 (got "${values.bandwidth}")`);
  }
  const outcome = await applyUpdate({
    imageRepo: requireString(values['image-repo'], '--image-repo'),
    directorRepo: requireString(values['director-repo'], '--director-repo'),
    stateDir: requireString(values['state-dir'], '--state-dir'),
    hardwareId: requireString(values['hardware-id'], '--hardware-id'),
    slotsDir: requireString(values.slots, '--slots'),
    ...(values.vin === undefined ? {} : { vin: values.vin }),
    ...(values.group === undefined ? {} : { groups: values.group }),
    ...(values.ecu === undefined ? {} : { ecu: values.ecu }),
    vehicle: values['vehicle-state'] === undefined ? WORKSHOP : readVehicleState(values['vehicle-state']),
    ...(now === undefined ? {} : { now }),
    ...(bandwidth === undefined ? {} : { bandwidthBytesPerS: bandwidth }),
    clock: systemClock(),
    logger: createLogger({ level: 'info', name: 'tcu-ota-apply', destination: 2 }),
  });
  io.stdout.write(JSON.stringify(outcome) + '\n');
  return EXIT_BY_RESULT[outcome.result];
}

const FLAGS = ['parked', 'ignitionOff', 'consent', 'workshop'] as const;

function readVehicleState(path: string): VehicleState {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new TcuError('FILE_READ', `cannot read the vehicle state ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new TcuError('CLI_USAGE', `${path}: the vehicle state must be a JSON object`);
  const o = raw as Record<string, unknown>;
  const state: VehicleState = {};
  if (o['socPercent'] !== undefined) {
    if (typeof o['socPercent'] !== 'number' || !Number.isFinite(o['socPercent'])) throw new TcuError('CLI_USAGE', `${path}: socPercent must be a number`);
    state.socPercent = o['socPercent'];
  }
  for (const k of FLAGS) {
    if (o[k] === undefined) continue;
    if (typeof o[k] !== 'boolean') throw new TcuError('CLI_USAGE', `${path}: ${k} must be true or false`);
    state[k] = o[k];
  }
  return state;
}
