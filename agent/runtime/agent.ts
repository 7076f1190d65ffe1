import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import type { Clock } from '../../core/clock.js';
import { TcuError, asTcuError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { AgentConfig } from '../../config/index.js';
import type { CanBus } from '../../drivers/can/bus.js';
import { compileDbc } from '../../drivers/can/dbc/codec.js';
import type { DbcCodec } from '../../drivers/can/dbc/model.js';
import { loadDbcFile } from '../../drivers/can/dbc/parser.js';
import { createBus, type BusSpec } from '../buses.js';
import { Committer } from '../collect/committer.js';
import { SignalState } from '../collect/signal-state.js';
import { cronScheduler, type Scheduler } from '../jobs.js';
import { openOutbox } from '../outbox/index.js';
import type { Outbox, OutboxStats } from '../outbox/types.js';
import { PRIORITIES, type Priority, type RecordInput } from '../records.js';
import { Uplink } from '../uplink/index.js';
import type { SerialBinding } from '../../drivers/modem/index.js';
import type { Connectivity } from '../connectivity/state.js';
import { SignalVehicleState } from '../ota/vehicle-state.js';
import { buildCollection, type Collection } from './collection.js';
import { ModemRuntime } from './modem.js';
import type { OtaCheckResult, OtaRuntime } from './ota.js';
import { TrustedTimeStore, trustedClock } from './trusted-time.js';

export interface AgentDeps {
  clock: Clock;
  logger: Logger;
  /** This run's boot id; default a fresh UUID. */
  bootId?: string;
  scheduler?: Scheduler;
  random?: () => number;
  /** The agent's version, reported at start and in status. */
  version: string;
  /** The serialport binding for the modem; default `autoDetect()` of @serialport/bindings-cpp. */
  serialBinding?: SerialBinding;
}

/** The agent asks to be stopped and started again (an update to restart into): the caller exits with `exitCode`. */
export interface AgentRestart {
  reason: string;
  exitCode: number;
}

type OtaModule = typeof import('./ota.js');

interface BusRuntime {
  name: string;
  bus: CanBus;
  state: SignalState;
}

const BUS_RETRY_MS = [1000, 2000, 5000, 10_000, 30_000];
const STOP_TIMEOUT_MS = 5000;
const STOP_SEND_MS = 3000;

/**
 * The composition root: configuration in, a running agent out. CAN buses feed signal state,
 * collectors turn it into records, the committer batches them into the outbox, the uplink drains
 * the outbox to the broker, and cron jobs publish status and keep house. Nothing here knows the
 * emulator: it talks to buses and brokers through the same interfaces real hardware uses.
 */
export class Agent {
  private readonly startedAt: number;
  private stopping = false;
  private readonly jobs: { stop(): void }[] = [];
  private readonly reportedErrors = new Map<string, number>();
  private readonly waits = new Set<() => void>();
  private ota: OtaRuntime | undefined;
  private askRestart: ((restart: AgentRestart) => void) | undefined;
  /** Resolves when the agent asks to be restarted (an update installed into the other slot); the caller stops it and exits with the code. */
  readonly restartRequested: Promise<AgentRestart>;

  private constructor(
    private readonly config: AgentConfig,
    private readonly deps: AgentDeps & { bootId: string; trusted: TrustedTimeStore },
    private readonly outbox: Outbox,
    private readonly committer: Committer,
    private readonly buses: BusRuntime[],
    private readonly collection: Collection,
    private readonly uplink: Uplink,
    private readonly modem: ModemRuntime | undefined,
  ) {
    this.startedAt = deps.clock.now();
    this.restartRequested = new Promise((resolve) => (this.askRestart = resolve));
  }

  static async start(config: AgentConfig, given: AgentDeps): Promise<Agent> {
    // One clock for the whole agent: the injected one, raised to the trusted time (GNSS) when the
    // board's clock is behind it (a power cut without a real-time clock).
    const early: TcuError[] = [];
    const trusted = new TrustedTimeStore(config.outbox.path === ':memory:' ? undefined : dirname(config.outbox.path), given.clock, (err) => early.push(err));
    const deps = { ...given, clock: trustedClock(given.clock, trusted.time), bootId: given.bootId ?? randomUUID(), trusted };
    // The native serial binding loads only when a modem is configured.
    if (config.modem !== undefined && deps.serialBinding === undefined) deps.serialBinding = (await import('@serialport/bindings-cpp')).autoDetect();
    const { clock, logger } = deps;
    const states = new Map<string, SignalState>();
    // Buses that share a DBC file share its compiled codec (memory on a small board).
    const codecs = new Map<string, DbcCodec>();
    const codecFor = (path: string): DbcCodec => {
      let codec = codecs.get(path);
      if (codec === undefined) codecs.set(path, (codec = compileDbc(loadDbcFile(path))));
      return codec;
    };
    const buses: BusRuntime[] = config.can.buses.map((b) => {
      const state = new SignalState(b.name, codecFor(b.dbc), clock);
      states.set(b.name, state);
      return { name: b.name, bus: createBus(busSpec(b), { clock, logger }), state };
    });

    // The update client loads only when campaigns are configured (tuf-js and the rest stay out of memory otherwise).
    const otaModule = config.ota === undefined ? undefined : await import('./ota.js');
    const { outbox, report } = openOutbox({
      path: config.outbox.path,
      bootId: deps.bootId,
      maxBytes: config.outbox.maxBytes,
      synchronous: config.outbox.synchronous,
      maxAgeSeconds: ageLimits(config.outbox.maxAgeSeconds),
      clock,
      logger,
    });
    let agent: Agent;
    try {
      agent = Agent.compose(config, deps, states, buses, outbox, report);
      if (otaModule !== undefined) agent.ota = agent.createOta(otaModule, states);
      for (const err of early) agent.reportError(err, 'time');
    } catch (err) {
      outbox.close();
      throw err;
    }
    try {
      agent.wire(deps.scheduler ?? cronScheduler());
      deps.logger.info({ boot: deps.bootId, vin: config.vehicle.vin, buses: buses.map((b) => b.name) }, 'agent started');
    } catch (err) {
      // Stop what did start (the uplink's connection, jobs), so the process can exit.
      await agent.stop('start failed');
      throw err;
    }
    return agent;
  }

  private static compose(
    config: AgentConfig,
    deps: AgentDeps & { bootId: string; trusted: TrustedTimeStore },
    states: ReadonlyMap<string, SignalState>,
    buses: BusRuntime[],
    outbox: Outbox,
    report: unknown,
  ): Agent {
    const { clock, logger } = deps;
    // The callbacks below reach the agent, which exists only once they are all built.
    const self: { agent?: Agent } = {};
    const committer = new Committer(
      outbox,
      {
        intervalMs: config.outbox.commitIntervalMs,
        maxRecords: config.outbox.commitMaxRecords,
        onCommit: () => self.agent?.uplink.notify(),
        onError: (err) => self.agent?.reportError(err, 'outbox'),
      },
      clock,
    );
    const collection = buildCollection(config.collect, states, committer, clock);
    const uplink = new Uplink({
      config: config.uplink,
      vin: config.vehicle.vin,
      clientId: config.uplink.clientId ?? `tcu-${config.vehicle.deviceId}`,
      outbox,
      clock,
      logger: logger.child({ component: 'uplink' }),
      random: deps.random ?? Math.random,
      statusProvider: () => self.agent?.status() ?? {},
      ...(config.ota === undefined ? {} : { commands: { 'ota-check': async () => ({ check: await self.agent!.otaCheck() }) } }),
    });
    const modem =
      config.modem === undefined
        ? undefined
        : new ModemRuntime(config.modem, {
            clock,
            logger: logger.child({ component: 'modem' }),
            binding: deps.serialBinding!,
            sink: committer,
            uplink,
            report: (err, where) => self.agent?.reportError(err, where),
            trustedTime: deps.trusted.time,
          });
    const agent = new Agent(config, deps, outbox, committer, buses, collection, uplink, modem);
    self.agent = agent;
    agent.event('agent-start', PRIORITIES.high, { version: deps.version, outbox: report });
    return agent;
  }

  get bootId(): string {
    return this.deps.bootId;
  }

  /** Checks for an update now (the `ota-check` command); UPLINK_COMMAND_FAILED without an `ota` section. */
  async otaCheck(): Promise<OtaCheckResult> {
    if (this.ota === undefined || this.stopping) throw new TcuError('UPLINK_COMMAND_FAILED', 'update campaigns are not configured (no "ota" section) or the agent is stopping');
    return this.ota.check();
  }

  private createOta(module: OtaModule, states: ReadonlyMap<string, SignalState>): OtaRuntime {
    const config = this.config.ota!;
    const { clock, logger } = this.deps;
    const vehicle = SignalVehicleState.bind(config.signals, { states, ignition: () => this.collection.ignition?.state, clock });
    const modem = this.modem;
    return new module.OtaRuntime(
      {
        ...config,
        stateDir: config.stateDir ?? join(dirname(this.config.outbox.path), 'ota'),
        vin: this.config.vehicle.vin,
        groups: this.config.vehicle.groups ?? [],
        hardwareId: this.config.vehicle.hardwareId,
        hmiClientId: `tcu-hmi-${this.config.vehicle.deviceId}`,
      },
      {
        clock,
        logger: logger.child({ component: 'ota' }),
        trustedTime: this.deps.trusted.time,
        uplink: this.uplink,
        scheduler: this.deps.scheduler ?? cronScheduler(),
        vehicle: () => vehicle.read(),
        connectivity: modem === undefined ? () => undefined : () => modem.status()['connectivity'] as Connectivity,
        busFrames: () => Object.fromEntries(this.buses.map((b) => [b.name, b.bus.counters().rxFrames])),
        report: (err, where) => this.reportError(err, where),
        restart: (reason) => this.askRestart?.({ reason, exitCode: module.OTA_RESTART_EXIT_CODE }),
      },
    );
  }

  /** SIGTERM: stop reading, commit what is in memory, let in-flight publishes finish (or leave them in the outbox), close. */
  async stop(reason = 'stop'): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const done of [...this.waits]) done();
    for (const j of this.jobs) j.stop();
    await this.ota?.stop().catch((err: unknown) => this.reportError(asTcuError(err, 'OTA_STATE'), 'ota'));
    await Promise.all(this.buses.map((b) => b.bus.close().catch(() => undefined)));
    this.collection.stop();
    await this.modem?.stop();
    this.event('agent-stop', PRIORITIES.high, { reason });
    this.committer.stop();
    // While connected, send what is left (the stop event at least) before disconnecting.
    const sent = await this.uplink.stop(STOP_TIMEOUT_MS, { sendFirstMs: STOP_SEND_MS });
    const left = this.outbox.stats().depth;
    try {
      this.outbox.close();
    } catch (err) {
      // The final checkpoint failed (a full disk): committed records are safe in the WAL, and the
      // next open folds them in. Not a reason to fail the stop.
      this.deps.logger.warn({ code: asTcuError(err, 'OUTBOX_IO').code, err: (err as Error).message }, 'the outbox closed without its final checkpoint');
    }
    this.saveTrustedTime();
    const lost = this.committer.counters().droppedAtStop;
    this.deps.logger.info({ reason, unacknowledged: sent.unacknowledged, waitingInOutbox: left, droppedAtStop: lost }, 'agent stopped');
  }

  /** The status message: what the heartbeat publishes and `status` commands answer. */
  status(): Record<string, unknown> {
    // `outbox.evicted` is cumulative and persisted: the cloud takes the difference between two
    // statuses, which stays right even when a status is lost while the vehicle is offline.
    const outbox: OutboxStats = this.outbox.stats();
    return {
      v: 1,
      vin: this.config.vehicle.vin,
      boot: this.deps.bootId,
      ts: this.deps.clock.now(),
      version: this.deps.version,
      uptimeS: Math.round((this.deps.clock.now() - this.startedAt) / 1000),
      memory: memoryFigures(),
      outbox,
      committer: this.committer.counters(),
      uplink: this.uplink.counters(),
      buses: Object.fromEntries(this.buses.map((b) => [b.name, { state: b.bus.state, ...b.bus.counters(), ...b.state.counts() }])),
      ...(this.modem === undefined ? {} : { modem: this.modem.status() }),
      ...(this.ota === undefined ? {} : { ota: this.otaStatus() }),
      errors: Object.fromEntries(this.reportedErrors),
    };
  }

  private otaStatus(): Record<string, unknown> {
    try {
      return this.ota!.status();
    } catch (err) {
      return { error: asTcuError(err, 'OTA_STATE').code };
    }
  }

  /**
   * Starts everything, in an order where what can still fail (TLS files, schedules) comes before
   * anything that runs on its own; `start()` stops what did start when this throws.
   */
  private wire(scheduler: Scheduler): void {
    const { clock, logger } = this.deps;
    this.uplink.on('error', (err) => this.reportError(err, 'uplink'));
    // With a modem, the uplink waits for a network registration (the modem runtime allows it).
    this.modem?.start();
    this.uplink.start();
    this.jobs.push(
      scheduler.schedule('heartbeat', this.config.jobs.heartbeat, () => this.uplink.publishStatus(this.status())),
      scheduler.schedule('housekeeping', this.config.jobs.housekeeping, () => {
        try {
          this.outbox.housekeeping(clock.now());
        } catch (err) {
          this.reportError(asTcuError(err, 'OUTBOX_WRITE'), 'outbox');
        }
        this.saveTrustedTime();
        logger.debug({ status: this.status() }, 'counters');
      }),
    );
    // After the uplink: the campaign reports go through it, and a health check waits for it.
    this.ota?.start();
    for (const b of this.buses) {
      b.bus.subscribe((frame) => b.state.ingest(frame));
      b.bus.on('error', (err) => this.reportError(err, b.name));
      void this.openBus(b);
    }
    this.collection.start();
  }

  /** Opens a bus, retrying with back-off while it is unavailable (a board whose CAN comes up late). */
  private async openBus(b: BusRuntime): Promise<void> {
    for (let attempt = 0; !this.stopping; attempt++) {
      try {
        await b.bus.open();
        return;
      } catch (err) {
        this.reportError(asTcuError(err, 'CAN_BUS_OPEN_FAILED'), b.name);
        await this.wait(BUS_RETRY_MS[Math.min(attempt, BUS_RETRY_MS.length - 1)]!);
      }
    }
  }

  /** A delay that `stop()` cuts short. */
  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.deps.clock.clearTimeout(timer);
        this.waits.delete(done);
        resolve();
      };
      const timer = this.deps.clock.setTimeout(done, ms);
      this.waits.add(done);
    });
  }

  private saveTrustedTime(): void {
    try {
      this.deps.trusted.save();
    } catch (err) {
      this.reportError(asTcuError(err, 'FILE_WRITE'), 'time');
    }
  }

  /** Errors are counted per kind; the first of each kind becomes an event record and a log line. */
  private reportError(err: TcuError, where: string): void {
    const key = `${where}:${err.code}`;
    const n = (this.reportedErrors.get(key) ?? 0) + 1;
    this.reportedErrors.set(key, n);
    if (n > 1) return;
    this.deps.logger.warn({ code: err.code, where, err: err.message }, 'error (further ones of this kind are counted, not logged)');
    this.event('error', PRIORITIES.high, { code: err.code, where, message: err.message });
  }

  private event(name: string, priority: Priority, details: Record<string, unknown>): void {
    const record: RecordInput = { kind: 'event', ts: this.deps.clock.now(), priority, body: { name, ...details } };
    this.committer.push(record);
  }
}

function busSpec(b: AgentConfig['can']['buses'][number]): BusSpec {
  switch (b.driver) {
    case 'socketcan':
      return { driver: 'socketcan', iface: b.iface, name: b.name };
    case 'socketcand':
      return { driver: 'socketcand', host: b.host, port: b.port, bus: b.bus, name: b.name, waitForServer: true };
    case 'candump':
      return { driver: 'candump', path: b.path, speed: b.speed, loop: b.loop, name: b.name };
  }
}

function ageLimits(byName: AgentConfig['outbox']['maxAgeSeconds']): Partial<Record<Priority, number>> {
  const out: Partial<Record<Priority, number>> = {};
  for (const [name, seconds] of Object.entries(byName ?? {})) {
    if (seconds !== undefined) out[PRIORITIES[name as keyof typeof PRIORITIES]] = seconds;
  }
  return out;
}

/** The process's memory, for the status: what a board's budget is checked against. */
function memoryFigures(): Record<string, number> {
  const m = process.memoryUsage();
  return { rssBytes: m.rss, heapUsedBytes: m.heapUsed, heapTotalBytes: m.heapTotal, externalBytes: m.external, arrayBuffersBytes: m.arrayBuffers };
}
