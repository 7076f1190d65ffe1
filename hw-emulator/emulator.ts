import type { Clock, TimerHandle } from '../core/clock.js';
import { Counters } from '../core/counters.js';
import { TcuError, asTcuError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { CanBus } from '../drivers/can/bus.js';
import { CandumpWriter } from '../drivers/can/candump/writer.js';
import { compileDbc } from '../drivers/can/dbc/codec.js';
import { loadDbcFile } from '../drivers/can/dbc/parser.js';
import type { CanFrame } from '../drivers/can/frame.js';
import { SocketCanBus } from '../drivers/can/socketcan.js';
import { builtinMapping, loadMappingFile, resolveMapping } from './mappings/index.js';
import { SocketcandServer } from './socketcand-server.js';
import { TrafficGenerator } from './traffic/index.js';
import { SeededRng, VehicleModel, type DriveCycleOptions } from './vehicle/index.js';

export interface EmulatedBus {
  /** Interface name frames carry (`vcan0`). */
  name: string;
  dbcPath: string;
  /** A mapping file; default: the shipped mapping for the DBC's file name, if any. */
  mappingPath?: string;
}

export interface EmulatorOptions {
  buses: readonly EmulatedBus[];
  seed: number;
  /** Send as fast as possible instead of at each message's cycle time. */
  flood?: boolean;
  socketcand?: { host: string; port: number };
  candumpOut?: string;
  /** Also write every frame to this SocketCAN interface (needs a kernel with vcan). */
  vcan?: string;
  /** Drive-cycle settings, such as how long the car stays parked before its first trip. */
  driveCycle?: DriveCycleOptions;
  /** Period of messages whose DBC declares no GenMsgCycleTime, ms (default 100). */
  defaultCycleTimeMs?: number;
  clock: Clock;
  logger: Logger;
}

export const EMULATOR_COUNTER_NAMES = ['frames', 'vcanSendFailed'] as const;

const TICK_MS = 5;
const FLOOD_BATCH = 2000;

interface BusRuntime {
  spec: EmulatedBus;
  generator: TrafficGenerator;
  /** `Message.Signal` names the vehicle model drives, with the quantity behind each. */
  mappedSignals: { key: string; quantity: string }[];
}

/**
 * The emulator composition: one vehicle model, a traffic generator per bus, and the outputs a
 * developer asked for (socketcand server, candump log, vcan). The agent reaches it only through
 * those wire formats.
 */
export class Emulator {
  private readonly stats = new Counters(EMULATOR_COUNTER_NAMES);
  private readonly runtimes: BusRuntime[] = [];
  private server: SocketcandServer | undefined;
  private writer: CandumpWriter | undefined;
  private vcan: CanBus | undefined;
  private timer: TimerHandle | undefined;
  private running = false;
  readonly model: VehicleModel;

  constructor(private readonly options: EmulatorOptions) {
    if (options.buses.length === 0) throw new TcuError('EMULATOR_CONFIG', 'the emulator needs at least one bus');
    this.model = new VehicleModel({ ...options.driveCycle, seed: options.seed });
    options.buses.forEach((spec, i) => {
      const db = loadDbcFile(spec.dbcPath);
      const mapping = spec.mappingPath ? loadMappingFile(spec.mappingPath) : builtinMapping(spec.dbcPath);
      const resolved = mapping ? resolveMapping(mapping, db) : undefined;
      const generator = new TrafficGenerator({
        codec: compileDbc(db),
        model: this.model,
        mapping: resolved,
        rng: new SeededRng(options.seed * 7919 + i),
        clock: options.clock,
        bus: spec.name,
        defaultCycleTimeMs: options.defaultCycleTimeMs,
        // After a stall (a laptop waking from sleep) skip the backlog instead of sending it at once.
        maxBacklogMs: 1000,
      });
      const mappedSignals = resolved ? resolved.signals.map((s) => ({ key: `${s.message.name}.${s.signal.name}`, quantity: s.rule.quantity })) : [];
      this.runtimes.push({ spec, generator, mappedSignals });
    });
  }

  /** Starts the outputs and the traffic. Resolves with the socketcand address actually bound. */
  async start(): Promise<{ socketcand?: { host: string; port: number } }> {
    const { options } = this;
    let address: { host: string; port: number } | undefined;
    try {
      if (options.socketcand) {
        this.server = new SocketcandServer({ ...options.socketcand, buses: options.buses.map((b) => b.name), clock: options.clock, logger: options.logger });
        address = await this.server.start();
      }
      if (options.candumpOut) this.writer = await CandumpWriter.open(options.candumpOut, { clock: options.clock });
      if (options.vcan) {
        this.vcan = new SocketCanBus({ iface: options.vcan, clock: options.clock, logger: options.logger });
        await this.vcan.open();
      }
    } catch (err) {
      // Leave nothing half-started behind: close what did open.
      await this.stop();
      throw err;
    }
    this.running = true;
    if (options.flood) this.floodLoop();
    else this.tick();
    return address ? { socketcand: address } : {};
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) this.options.clock.clearTimeout(this.timer);
    await this.server?.stop();
    await this.writer?.close();
    await this.vcan?.close();
  }

  /** `Message.Signal` names the model drives (with their quantities), per bus name. */
  mappedSignals(): Record<string, { key: string; quantity: string }[]> {
    return Object.fromEntries(this.runtimes.map((r) => [r.spec.name, r.mappedSignals]));
  }

  counters(): Record<string, unknown> {
    return {
      ...this.stats.snapshot(),
      socketcand: this.server?.counters(),
      candump: this.writer?.counters(),
      skippedMessages: this.runtimes.flatMap((r) => r.generator.skippedMessages.map((s) => `${r.spec.name}:${s.name}`)),
    };
  }

  private tick(): void {
    if (!this.running) return;
    const now = this.options.clock.nowMicros();
    for (const r of this.runtimes) for (const frame of r.generator.framesUntil(now)) this.output(frame);
    this.timer = this.options.clock.setTimeout(() => this.tick(), TICK_MS);
  }

  private floodLoop(): void {
    if (!this.running) return;
    for (const r of this.runtimes) for (let i = 0; i < FLOOD_BATCH; i++) this.output(r.generator.nextFrameFlood());
    setImmediate(() => this.floodLoop());
  }

  private output(frame: CanFrame): void {
    this.stats.inc('frames');
    this.server?.broadcast(frame);
    this.writer?.write(frame);
    if (this.vcan) {
      this.vcan.send(frame).catch((err: unknown) => {
        this.stats.inc('vcanSendFailed');
        if (this.stats.get('vcanSendFailed') === 1) this.options.logger.warn({ err: asTcuError(err, 'CAN_SEND_FAILED').message }, 'vcan send failed');
      });
    }
  }
}
