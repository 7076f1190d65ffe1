/**
 * Agent configuration files for tests and benchmarks that run `tcu-agent` (in-process or as the
 * bundled program): the skeleton every one repeats (format version, vehicle, buses, outbox,
 * uplink), written as JSON, with the sections a test cares about given explicitly.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentConfigInput, BusConfigInput, CandumpBusConfigInput, OutboxConfigInput, SocketcandBusConfigInput, UplinkConfigInput } from '../../config/index.js';

/** A valid VIN (ISO 3779) for tests that do not care which. */
export const TEST_VIN = 'WVWZZZ1KZPW000003';

/** The small fixtures: a two-message DBC and a candump log of it (with a malformed line). */
export const ENGINE_DBC = join(process.cwd(), 'test/fixtures/dbc-small/engine.dbc');
export const ENGINE_LOG = join(process.cwd(), 'test/fixtures/logs/engine.log');

export interface AgentConfigSpec extends Partial<Pick<AgentConfigInput, 'collect' | 'jobs' | 'logging'>> {
  /** Default TEST_VIN. */
  vin?: string;
  /** Default "test". */
  deviceId?: string;
  buses: BusConfigInput[];
  /** The outbox file, or the whole section. */
  outbox: string | OutboxConfigInput;
  /** The broker's URL, or the whole section. */
  uplink: string | UplinkConfigInput;
}

/** The configuration object (as a file holds it, defaults left to the loader). */
export function agentConfig(spec: AgentConfigSpec): AgentConfigInput {
  return {
    version: 1,
    vehicle: { vin: spec.vin ?? TEST_VIN, deviceId: spec.deviceId ?? 'test' },
    can: { buses: spec.buses },
    ...(spec.collect === undefined ? {} : { collect: spec.collect }),
    outbox: typeof spec.outbox === 'string' ? { path: spec.outbox } : spec.outbox,
    uplink: typeof spec.uplink === 'string' ? { url: spec.uplink } : spec.uplink,
    ...(spec.jobs === undefined ? {} : { jobs: spec.jobs }),
    ...(spec.logging === undefined ? {} : { logging: spec.logging }),
  };
}

/** Writes `agentConfig(spec)` to `path` as JSON; returns `path`. */
export function writeAgentConfig(path: string, spec: AgentConfigSpec): string {
  writeFileSync(path, JSON.stringify(agentConfig(spec)));
  return path;
}

/** A bus replaying a candump log (`driver: candump`). */
export function candumpBus(options: { name?: string; path: string; dbc: string; speed?: number; loop?: boolean }): CandumpBusConfigInput {
  return { name: options.name ?? 'pt', driver: 'candump', path: options.path, dbc: options.dbc, ...(options.speed === undefined ? {} : { speed: options.speed }), ...(options.loop === undefined ? {} : { loop: options.loop }) };
}

/** A bus served by a socketcand server (the emulator's) on the loopback. */
export function socketcandBus(options: { name?: string; port: number; bus?: string; dbc: string; host?: string }): SocketcandBusConfigInput {
  return { name: options.name ?? 'pt', driver: 'socketcand', host: options.host ?? '127.0.0.1', port: options.port, bus: options.bus ?? 'vcan0', dbc: options.dbc };
}
