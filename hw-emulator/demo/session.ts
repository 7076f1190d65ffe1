import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/logger.js';
import { readOutboxStats, type OutboxStats } from '../../agent/index.js';
import { Emulator } from '../emulator.js';
import { DemoBroker } from './broker.js';
import { DemoConsole, type ConsoleView } from './console.js';

export const DEMO_VIN = 'WVWZZZ1KZPW000001';
const DEMO_BUS = 'vcan0';
const TOPIC_PREFIX = 'tcu';

export interface DemoOptions {
  dbc: string;
  seed: number;
  /** A broker URL to use instead of the embedded one (no staged outage then). */
  brokerUrl?: string;
  /** Seconds from the start until the embedded broker goes down, and how long it stays down. */
  outageAt: number;
  outageFor: number;
  agentProgram: string;
  clock: Clock;
  logger: Logger;
}

export interface DemoSnapshot {
  broker: 'up' | 'down' | 'external';
  /** Seconds until the next outage event, if one is staged. */
  nextOutageChange: number | undefined;
  console: ConsoleView;
  outbox: OutboxStats | undefined;
  agentLog: string;
}

/**
 * The whole pipeline on one machine: the emulator plays the car over socketcand, the agent (a
 * separate process, as on a board) collects into its outbox and publishes to a broker, and a
 * console subscribes as the cloud would. The embedded broker goes away for a while, so the outbox
 * is seen filling and draining.
 */
export class DemoSession {
  private readonly dir = mkdtempSync(join(tmpdir(), 'tcu-demo-'));
  private readonly emulator: Emulator;
  private readonly broker = new DemoBroker();
  private console: DemoConsole | undefined;
  private agent: ChildProcess | undefined;
  private startedAt = 0;
  private outageTimers: ReturnType<Clock['setTimeout']>[] = [];

  constructor(private readonly options: DemoOptions) {
    this.emulator = new Emulator({
      buses: [{ name: DEMO_BUS, dbcPath: options.dbc }],
      seed: options.seed,
      driveCycle: { initialParkSeconds: 2 },
      socketcand: { host: '127.0.0.1', port: 0 },
      clock: options.clock,
      logger: options.logger,
    });
  }

  get outboxPath(): string {
    return join(this.dir, 'outbox.db');
  }

  get agentLogPath(): string {
    return join(this.dir, 'agent.log');
  }

  /** Starts everything; resolves with the agent process, whose exit ends the demo. */
  async start(): Promise<ChildProcess> {
    const { clock } = this.options;
    this.startedAt = clock.monotonic();
    const { socketcand } = await this.emulator.start();
    const url = this.options.brokerUrl ?? `mqtt://127.0.0.1:${await this.broker.start(0)}`;
    const configPath = join(this.dir, 'agent.json');
    writeFileSync(configPath, JSON.stringify(this.agentConfig(socketcand!.port, url), null, 2));
    const log = openSync(this.agentLogPath, 'a');
    this.agent = spawn(process.execPath, [this.options.agentProgram, 'run', '--config', configPath], { stdio: ['ignore', log, log] });
    closeSync(log);
    this.console = new DemoConsole(url, `${TOPIC_PREFIX}/${DEMO_VIN}`, () => clock.monotonic());
    this.console.start();
    if (!this.options.brokerUrl) {
      this.outageTimers.push(
        clock.setTimeout(() => void this.broker.stop(), this.options.outageAt * 1000),
        clock.setTimeout(() => void this.broker.start(), (this.options.outageAt + this.options.outageFor) * 1000),
      );
    }
    return this.agent;
  }

  snapshot(): DemoSnapshot {
    const elapsed = (this.options.clock.monotonic() - this.startedAt) / 1000;
    const { outageAt, outageFor } = this.options;
    const next = elapsed < outageAt ? outageAt - elapsed : elapsed < outageAt + outageFor ? outageAt + outageFor - elapsed : undefined;
    let outbox: OutboxStats | undefined;
    try {
      outbox = readOutboxStats(this.outboxPath);
    } catch {
      outbox = undefined; // the agent is creating it
    }
    return {
      broker: this.options.brokerUrl ? 'external' : this.broker.running ? 'up' : 'down',
      nextOutageChange: this.options.brokerUrl ? undefined : next,
      console: this.console!.snapshot(),
      outbox,
      agentLog: this.agentLogPath,
    };
  }

  async stop(): Promise<void> {
    for (const t of this.outageTimers) this.options.clock.clearTimeout(t);
    if (this.agent && this.agent.exitCode === null) {
      const exited = new Promise((resolve) => this.agent!.once('exit', resolve));
      this.agent.kill('SIGTERM');
      await exited;
    }
    await this.console?.stop();
    await this.broker.stop();
    await this.emulator.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private agentConfig(socketcandPort: number, brokerUrl: string): Record<string, unknown> {
    const mapped = this.emulator.mappedSignals()[DEMO_BUS] ?? [];
    const ignition = mapped.find((m) => m.quantity === 'ignitionOn');
    const keys = [...new Set(mapped.filter((m) => m.quantity !== 'ignitionOn').map((m) => m.key))];
    return {
      version: 1,
      vehicle: { vin: DEMO_VIN, deviceId: 'demo' },
      can: { buses: [{ name: DEMO_BUS, driver: 'socketcand', host: '127.0.0.1', port: socketcandPort, bus: DEMO_BUS, dbc: this.options.dbc }] },
      collect: {
        periodic: keys.length > 0 ? [{ name: 'vehicle', everyMs: 100, signals: keys }] : [],
        ...(ignition ? { ignition: { signal: ignition.key, onValues: [1] } } : {}),
      },
      outbox: { path: this.outboxPath, commitIntervalMs: 200 },
      uplink: { url: brokerUrl, protocolVersion: 4, topicPrefix: TOPIC_PREFIX, backoff: { initialMs: 500, maxMs: 2000 } },
      jobs: { heartbeat: '*/2 * * * * *', housekeeping: '*/10 * * * * *' },
      logging: { level: 'info' },
    };
  }
}
