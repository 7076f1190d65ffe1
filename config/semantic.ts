/**
 * What a JSON Schema cannot say, checked on a configuration that already passed the schema:
 * names unique, references to buses that exist, pairs that go together, cron expressions the
 * scheduler accepts, what each OTA backend needs, a download minimum rate at most half the
 * bandwidth cap. Then relative file paths are resolved against the
 * configuration's folder (OTA repositories given as URLs are kept as written).
 */
import { isAbsolute, resolve } from 'node:path';
import { validateDetailed } from 'node-cron';
import { quote } from './messages.js';
import type { AgentConfig, ConfigProblem } from './types.js';

const TLS_SCHEMES = new Set(['mqtts:', 'ssl:', 'wss:']);

/** Problems the schema cannot see; empty when there are none. */
export function semanticProblems(config: AgentConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const add = (path: string, message: string): void => {
    problems.push({ path, message });
  };

  const firstBus = new Map<string, number>();
  config.can.buses.forEach((bus, i) => {
    const earlier = firstBus.get(bus.name);
    if (earlier === undefined) firstBus.set(bus.name, i);
    else add(`/can/buses/${i}/name`, `duplicate bus name ${quote(bus.name)} (already used by /can/buses/${earlier})`);
  });
  const busNames = [...firstBus.keys()].map(quote).join(', ');
  const checkBus = (bus: string | undefined, path: string): void => {
    if (bus !== undefined && !firstBus.has(bus)) add(path, `no bus named ${quote(bus)} in /can/buses (the buses are ${busNames})`);
  };

  const firstGroup = new Map<string, number>();
  config.collect.periodic.forEach((group, i) => {
    const earlier = firstGroup.get(group.name);
    if (earlier === undefined) firstGroup.set(group.name, i);
    else add(`/collect/periodic/${i}/name`, `duplicate periodic group name ${quote(group.name)} (already used by /collect/periodic/${earlier})`);
    checkBus(group.bus, `/collect/periodic/${i}/bus`);
  });
  config.collect.onChange.forEach((c, i) => checkBus(c.bus, `/collect/onChange/${i}/bus`));
  if (config.collect.ignition) checkBus(config.collect.ignition.bus, '/collect/ignition/bus');

  const { uplink } = config;
  let scheme: string | undefined;
  try {
    scheme = new URL(uplink.url).protocol;
  } catch {
    add('/uplink/url', 'must be a valid URL (scheme, host and optional port, e.g. "mqtts://broker.example.com:8883")');
  }
  const { tls } = uplink;
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    add('/uplink/tls', `"cert" and "key" go together (a client certificate needs its private key); only ${quote(tls.cert === undefined ? 'key' : 'cert')} is set`);
  }
  const tlsFiles = (['ca', 'cert', 'key'] as const).filter((k) => tls[k] !== undefined);
  if (scheme !== undefined && tlsFiles.length > 0 && !TLS_SCHEMES.has(scheme)) {
    add('/uplink/tls', `${tlsFiles.map(quote).join(', ')} set, but the URL scheme ${quote(scheme.slice(0, -1))} does not use TLS (use mqtts://, ssl:// or wss://)`);
  }
  if (uplink.backoff.maxMs < uplink.backoff.initialMs) {
    add('/uplink/backoff/maxMs', `must be >= initialMs (${uplink.backoff.initialMs})`);
  }

  const { modem } = config;
  if (modem?.gnss.source === 'nmea' && modem.gnss.nmeaPort === undefined) {
    add('/modem/gnss', 'source "nmea" needs "nmeaPort" (the modem\'s NMEA serial port, e.g. "/dev/ttyUSB1")');
  }
  if (modem?.gnss.nmeaPort !== undefined && modem.gnss.nmeaPort === modem.port) {
    add('/modem/gnss/nmeaPort', `must differ from /modem/port (${quote(modem.port)}): NMEA and AT commands use separate ports`);
  }

  for (const job of ['heartbeat', 'housekeeping'] as const) {
    const why = cronProblem(config.jobs[job]);
    if (why !== undefined) add(`/jobs/${job}`, `must be a cron expression (5 fields, or 6 with seconds first): ${why}`);
  }
  if (config.ota !== undefined) otaProblems(config, add, checkBus);
  return problems;
}

/** An OTA repository given as a URL (kept as written) rather than a folder (resolved like other paths). */
export function isRepositoryUrl(source: string): boolean {
  return /^(https?|file):\/\//i.test(source);
}

function otaProblems(config: AgentConfig, add: (path: string, message: string) => void, checkBus: (bus: string | undefined, path: string) => void): void {
  const ota = config.ota!;
  const { backend } = ota;
  if (backend.type === 'dir-slots' && backend.dir === undefined) add('/ota/backend', 'type "dir-slots" needs "dir" (the slots folder, e.g. "/var/lib/tcu-agent/slots")');
  if (backend.type === 'command' && backend.script === undefined) add('/ota/backend', 'type "command" needs "script" (the integrator\'s install script)');
  if (ota.stateDir === undefined && config.outbox.path === ':memory:') add('/ota', 'needs "stateDir" when the outbox is ":memory:" (the OTA state lives beside the outbox by default)');
  for (const key of ['imageRepo', 'directorRepo'] as const) {
    const source = ota[key];
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source) && !isRepositoryUrl(source)) add(`/ota/${key}`, `must be an http://, https:// or file:// URL, or a folder (not ${quote(source)})`);
  }
  try {
    new URL(ota.hmi.url);
  } catch {
    add('/ota/hmi/url', 'must be a valid URL (scheme, host and optional port, e.g. "mqtt://127.0.0.1:1883")');
  }
  checkBus(ota.signals.bus, '/ota/signals/bus');
  const rate = downloadRateProblem(ota.download);
  if (rate !== undefined) add('/ota/download/minRateBytesPerS', rate);
  const why = cronProblem(ota.checkCron);
  if (why !== undefined) add('/ota/checkCron', `must be a cron expression (5 fields, or 6 with seconds first): ${why}`);
}

/**
 * The download's minimum rate against its bandwidth cap: above half the cap, the capped download
 * itself would look slow (OTA_SLOW_RETRIEVAL). The reason without a path, or undefined when the pair
 * is fine or either is absent. The one place of the rule: the loader reports it at
 * `/ota/download/minRateBytesPerS`, `downloadLimits` (agent/ota/download.ts) under its own `where`.
 */
export function downloadRateProblem(settings: { bandwidthBytesPerS?: number; minRateBytesPerS?: number } | undefined): string | undefined {
  const cap = settings?.bandwidthBytesPerS;
  const min = settings?.minRateBytesPerS;
  if (cap === undefined || min === undefined || min <= cap / 2) return undefined;
  return `${min} B/s must be at most half the bandwidth cap (${cap} B/s), or the cap itself would look slow`;
}

function cronProblem(expression: string): string | undefined {
  try {
    const result = validateDetailed(expression);
    if (result.valid) return undefined;
    return result.errors.map((e) => e.message).join('; ') || 'not accepted by node-cron';
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** Resolves every file path in the configuration against `baseDir`, in place. Absolute paths stay as they are. */
export function resolvePaths(config: AgentConfig, baseDir: string): void {
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  for (const bus of config.can.buses) {
    bus.dbc = at(bus.dbc);
    if (bus.driver === 'candump') bus.path = at(bus.path);
  }
  if (config.outbox.path !== ':memory:') config.outbox.path = at(config.outbox.path);
  const { tls } = config.uplink;
  if (tls.ca !== undefined) tls.ca = at(tls.ca);
  if (tls.cert !== undefined) tls.cert = at(tls.cert);
  if (tls.key !== undefined) tls.key = at(tls.key);
  if (config.modem !== undefined) {
    config.modem.port = at(config.modem.port);
    if (config.modem.gnss.nmeaPort !== undefined) config.modem.gnss.nmeaPort = at(config.modem.gnss.nmeaPort);
  }
  const { ota } = config;
  if (ota !== undefined) {
    if (!isRepositoryUrl(ota.imageRepo)) ota.imageRepo = at(ota.imageRepo);
    if (!isRepositoryUrl(ota.directorRepo)) ota.directorRepo = at(ota.directorRepo);
    if (ota.stateDir !== undefined) ota.stateDir = at(ota.stateDir);
    if (ota.backend.dir !== undefined) ota.backend.dir = at(ota.backend.dir);
    if (ota.backend.script !== undefined) ota.backend.script = at(ota.backend.script);
    // A program name alone ("rauc") is looked up on PATH; only a path is resolved.
    if (ota.backend.command !== undefined && ota.backend.command.includes('/')) ota.backend.command = at(ota.backend.command);
  }
}
