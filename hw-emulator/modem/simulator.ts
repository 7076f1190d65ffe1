import type { Clock, TimerHandle } from '../../core/clock.js';
import { Counters } from '../../core/counters.js';
import { TcuError } from '../../core/errors.js';
import { distanceM } from '../vehicle/geo.js';
import { VehicleModel } from '../vehicle/model.js';
import { chance, randomInt, SeededRng, type Rng } from '../vehicle/random.js';
import { formatLine } from './at-syntax.js';
import { makeIdentity } from './commands-general.js';
import { registrationFields, registrationUrcs } from './commands-network.js';
import {
  defaultSettings, MODEM_MODELS, MODEM_SIM_COUNTER_NAMES, type HandlerContext, type Identity, type ModemModel, type ModemSimStatus, type ModemSimulatorOptions, type NetworkView, type PortState, type Settings,
} from './context.js';
import { corruptNmea, garbageBytes, stormUrc } from './faults.js';
import { AtInterpreter } from './interpreter.js';
import { GnssReceiver, modelTrack, type TrackPoint, type VehicleTrack } from './gnss.js';
import { csqIndex, HOME_OPERATOR, networkView, Radio } from './network.js';
import { Listeners, type Unsubscribe } from './listeners.js';
import { epochSentences } from './nmea.js';
import { DEFAULT_SCENARIO, findScenario, phaseAt, validateScenario, type Range, type Scenario, type ScenarioPhase } from './scenarios.js';
import { Wire } from './wire.js';

export { MODEM_SIM_COUNTER_NAMES };
export type { ModemSimStatus, ModemSimulatorOptions, PortState, Unsubscribe };

/** After the reply to AT+CFUN=1,1 (or a crash) the port goes away this much later, ms. */
const PORT_GONE_AFTER_MS = 200;
/** From the port's return to the power-on codes, ms. */
const BOOT_STEPS_MS = { rdy: 500, sim: 1500, sms: 2000, pb: 500 };
/** Registering takes this long after power-on or after coverage returns, ms (`<stat>` 2 meanwhile). */
const ATTACH_MS = { boot: 4000, regain: 1500 };

/**
 * A Quectel cellular modem as seen from its serial ports: bytes in (AT commands), bytes out
 * (echo, responses, unsolicited codes) and NMEA on a second channel, driven by the injected clock
 * and a seeded random source. No I/O: transports (pty.ts, binding.ts) carry the bytes.
 */
export class ModemSimulator {
  readonly identity: Identity;
  readonly scenario: Scenario;
  readonly model: ModemModel;
  private readonly clock: Clock;
  private readonly rng: Rng;
  private readonly radio: Radio;
  private readonly gnss: GnssReceiver;
  private readonly track: VehicleTrack;
  private readonly wire: Wire;
  private readonly stats = new Counters(MODEM_SIM_COUNTER_NAMES);
  private readonly dataListeners = new Listeners<Buffer>();
  private readonly nmeaListeners = new Listeners<Buffer>();
  private readonly portListeners = new Listeners<PortState>();
  private readonly timers = new Set<TimerHandle>();
  private readonly interpreter: AtInterpreter;
  private readonly settings: Settings = defaultSettings();
  private startedAt: number | undefined;
  private second = 0;
  private point: TrackPoint;
  private phase: ScenarioPhase;
  private port: PortState = 'up';
  private ready = true;
  private simReady = true;
  private attachingUntil = 0;
  private bootGeneration = 0;
  private lastView: NetworkView | undefined;
  private radioWasOn: boolean | undefined;
  private address: string | undefined;

  constructor(private readonly options: ModemSimulatorOptions) {
    const seed = options.seed ?? 1;
    this.model = options.model ?? 'RM500Q';
    if (!MODEM_MODELS.includes(this.model)) throw new TcuError('EMULATOR_CONFIG', `unknown modem model "${String(this.model)}" (known: ${MODEM_MODELS.join(', ')})`);
    this.scenario = validateScenario(typeof options.scenario === 'object' ? options.scenario : findScenario(options.scenario ?? DEFAULT_SCENARIO));
    this.clock = options.clock;
    const root = new SeededRng(seed * 7919 + 17);
    this.identity = makeIdentity(this.model, root.fork());
    this.radio = new Radio(root.fork());
    this.gnss = new GnssReceiver(root.fork());
    this.rng = root.fork();
    this.track = options.track ?? modelTrack(new VehicleModel({ seed }));
    this.point = this.track.atSecond(0);
    this.phase = this.scenario.phases[0]!;
    if (options.autoGps) this.settings.gpsCfg.set('autogps', ['1']);
    this.wire = new Wire({ clock: this.clock, rng: root.fork(), split: this.scenario.split, emit: (chunk) => this.emitData(chunk) });
    this.interpreter = new AtInterpreter({
      ctx: this.handlerContext(),
      wire: this.wire,
      rng: this.rng,
      scenario: this.scenario,
      stats: this.stats,
      stormText: () => this.stormText(),
      garbage: () => this.garbage(),
    });
  }

  get portState(): PortState {
    return this.port;
  }

  /** Starts the clock of the scenario, the vehicle and the 1 Hz tick. Once: a stopped simulator is not restarted. */
  start(): void {
    if (this.startedAt !== undefined) return;
    this.startedAt = this.clock.monotonic();
    this.enterPhase(0);
    if (this.settings.gpsCfg.get('autogps')?.[0] === '1') this.gnss.start(0);
    this.refreshRegistration();
    this.after(1000, () => this.tick());
    const crashes = this.scenario.crashes;
    if (crashes) this.after(crashes.firstAtMs, () => this.crash(crashes.everyMs));
    if (this.scenario.urcStorm) this.repeat(this.scenario.urcStorm.everyMs, () => this.storm());
    if (this.scenario.garbage) this.repeat(this.scenario.garbage.everyMs, () => this.idleGarbage());
    if (this.options.powerOnUrcs) this.boot(++this.bootGeneration);
  }

  /** Cancels every timer; nothing more is written. */
  stop(): void {
    for (const t of this.timers) this.clock.clearTimeout(t);
    this.timers.clear();
    this.wire.clear();
    this.startedAt = undefined;
  }

  /** Bytes from the agent (the AT port's receive side). */
  receive(data: Uint8Array | string): void {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : Buffer.from(data);
    if (this.port === 'down' || !this.ready) {
      this.stats.inc('bytesIgnored', bytes.length);
      return;
    }
    this.interpreter.receive(bytes);
  }

  /** Bytes the modem sends on its AT port. */
  onData(listener: (chunk: Buffer) => void): Unsubscribe {
    return this.dataListeners.add(listener);
  }

  /** NMEA sentences on the modem's NMEA port (1 Hz while GNSS is on and the outport is usbnmea). */
  onNmea(listener: (chunk: Buffer) => void): Unsubscribe {
    return this.nmeaListeners.add(listener);
  }

  /** The USB device vanished (`down`, a reset began) or came back (`up`). */
  onPort(listener: (state: PortState) => void): Unsubscribe {
    return this.portListeners.add(listener);
  }

  counters(): Readonly<Record<(typeof MODEM_SIM_COUNTER_NAMES)[number], number>> {
    const listenerErrors = this.dataListeners.failures + this.nmeaListeners.failures + this.portListeners.failures;
    return { ...this.stats.snapshot(), listenerErrors };
  }

  status(): ModemSimStatus {
    const view = this.network();
    return {
      port: this.port,
      ready: this.ready,
      phase: this.phase.label,
      stat: view.stat,
      operator: view.operator?.long,
      rsrpDbm: view.signal?.rsrp,
      gnssOn: this.gnss.on,
      fix: this.gnss.latest()?.fix !== undefined,
      second: this.second,
    };
  }

  /** The modem resets (as after AT+CFUN=1,1): the port goes away, comes back, RDY follows. */
  reset(): void {
    this.stats.inc('resets');
    const generation = ++this.bootGeneration;
    this.ready = false;
    this.interpreter.clear();
    this.after(PORT_GONE_AFTER_MS, () => {
      if (generation !== this.bootGeneration) return;
      this.wire.clear();
      this.setPort('down');
      this.gnss.stop();
      this.restoreSettings();
      this.simReady = false;
      this.refreshRegistration();
      this.after(this.options.resetDownMs ?? 3000, () => {
        if (generation !== this.bootGeneration) return;
        this.setPort('up');
        this.boot(generation);
      });
    });
  }

  private boot(generation: number): void {
    const steps = BOOT_STEPS_MS;
    this.ready = false;
    this.simReady = false;
    this.after(steps.rdy, () => {
      if (generation !== this.bootGeneration) return;
      this.ready = true;
      this.registerAfter(ATTACH_MS.boot);
      if (this.settings.gpsCfg.get('autogps')?.[0] === '1') this.gnss.start(this.second);
      this.urc('RDY');
      this.after(steps.sim, () => {
        if (generation !== this.bootGeneration) return;
        this.urc('+CFUN: 1');
        this.simReady = this.scenario.simPresent;
        if (!this.scenario.simPresent) return this.urc('+CPIN: NOT READY');
        this.urc('+CPIN: READY');
        this.urc('+QUSIM: 1');
        this.after(steps.sms, () => {
          if (generation !== this.bootGeneration) return;
          this.urc('+QIND: SMS DONE');
          this.after(steps.pb, () => generation === this.bootGeneration && this.urc('+QIND: PB DONE'));
        });
      });
    });
  }

  private crash(everyMs: number): void {
    this.reset();
    this.after(everyMs, () => this.crash(everyMs));
  }

  private tick(): void {
    this.second++;
    const previous = this.point;
    this.point = this.track.atSecond(this.second);
    this.radio.tick(distanceM(previous.gnss, this.point.gnss));
    this.refreshRegistration();
    const utcMs = Math.floor(this.clock.now() / 1000) * 1000;
    const epoch = this.gnss.epoch(this.second, utcMs, this.point, this.phase.sky);
    if (epoch && this.port === 'up' && this.settings.gpsCfg.get('outport')?.[0] === 'usbnmea') {
      const sentences = epochSentences(epoch);
      this.stats.inc('nmeaSentences', sentences.length);
      const garbage = this.scenario.garbage;
      if (garbage && chance(this.rng, garbage.nmeaProbability)) sentences.splice(randomInt(this.rng, 0, sentences.length), 0, corruptNmea(this.rng, sentences[0]!));
      this.nmeaListeners.emit(Buffer.from(sentences.join(''), 'latin1'));
    }
    const next = (this.second + 1) * 1000 - this.elapsed();
    this.after(Math.max(0, next), () => this.tick());
  }

  private enterPhase(atMs: number): void {
    const before = this.phase;
    const { phase, nextAtMs } = phaseAt(this.scenario, atMs);
    this.phase = phase;
    const hadService = before.network !== 'searching' && before.network !== 'none';
    const hasService = phase.network !== 'searching' && phase.network !== 'none';
    if (atMs > 0 && hasService && (!hadService || before.network !== phase.network)) this.registerAfter(ATTACH_MS.regain);
    if (Number.isFinite(nextAtMs)) this.after(nextAtMs - this.elapsed(), () => this.enterPhase(nextAtMs));
    if (atMs > 0) this.refreshRegistration();
  }

  private network(): NetworkView {
    const s = this.settings;
    return networkView({
      radio: this.radio,
      phase: this.phase,
      radioOn: s.cfun === 1 && this.port === 'up',
      simPresent: this.scenario.simPresent,
      deregistered: s.copsMode === 2,
      attaching: !this.simReady || this.elapsed() < this.attachingUntil,
      hasNr: this.model === 'RM500Q',
      address: s.attach ? this.address : undefined,
    });
  }

  /** `<stat>` is 2 (searching) for `ms`, then the registration is evaluated again. */
  private registerAfter(ms: number): void {
    this.attachingUntil = this.elapsed() + ms;
    this.after(ms, () => {
      // The attach ends here, whatever the clock reads: a timer may fire a hair before its deadline.
      this.attachingUntil = 0;
      this.refreshRegistration();
    });
  }

  /** Re-evaluates the registration; sends +CREG/+CGREG/+CEREG/+C5GREG codes as each `<n>` asks. */
  private refreshRegistration(): void {
    // Radio back on (AT+CFUN=1, AT+COPS=0 after =2): registering takes a moment, as after coverage returns.
    const radioOn = this.settings.cfun === 1 && this.settings.copsMode === 0;
    if (radioOn && this.radioWasOn === false) this.registerAfter(ATTACH_MS.regain);
    this.radioWasOn = radioOn;
    let view = this.network();
    if (view.operator && this.settings.attach) {
      this.address ??= `10.${randomInt(this.rng, 0, 255)}.${randomInt(this.rng, 0, 255)}.${randomInt(this.rng, 1, 254)}`;
      view = { ...view, address: this.address };
    } else this.address = undefined;
    const last = this.lastView;
    this.lastView = view;
    if (last) for (const line of registrationUrcs(last, view, this.settings.reg, this.model === 'RM500Q')) this.urc(line);
  }

  private handlerContext(): HandlerContext {
    return {
      model: this.model,
      identity: this.identity,
      homeOperator: HOME_OPERATOR,
      settings: this.settings,
      simPresent: this.scenario.simPresent,
      simReady: () => this.simReady,
      network: () => this.network(),
      now: () => this.clock.now(),
      gnss: {
        on: () => this.gnss.on,
        start: () => this.gnss.start(this.second),
        stop: () => this.gnss.stop(),
        latest: () => this.gnss.latest(),
      },
      radioChanged: () => this.interpreter.whenReplied(() => this.refreshRegistration()),
      requestReset: () => this.interpreter.whenReplied(() => this.reset()),
      restoreDefaults: () => {
        this.restoreSettings();
        this.interpreter.whenReplied(() => this.refreshRegistration());
      },
    };
  }

  /** Power-on settings; the GNSS configuration stays (Quectel keeps it in non-volatile memory). */
  private restoreSettings(): void {
    Object.assign(this.settings, { ...defaultSettings(), gpsCfg: this.settings.gpsCfg });
  }

  private urc(line: string): void {
    if (this.port === 'down') return;
    this.stats.inc('urcs');
    this.wire.push(formatLine(line));
  }

  private storm(): void {
    if (this.port === 'down' || !this.ready) return;
    const { burst } = this.scenario.urcStorm!;
    const n = randomInt(this.rng, burst.min, burst.max);
    for (let i = 0; i < n; i++) this.urc(this.stormText());
  }

  /** One URC of a storm; registration codes only as the agent asked for them, and true to the state. */
  private stormText(): string {
    const view = this.network();
    const extra = (['+CEREG', '+CREG'] as const).filter((d) => this.settings.reg[d] > 0).map((d) => `${d}: ${registrationFields(d, this.settings.reg[d], view)}`);
    return stormUrc(this.rng, csqIndex(view.signal), this.clock.now(), extra);
  }

  private idleGarbage(): void {
    if (this.port === 'up' && this.ready && !this.interpreter.busy && this.wire.idle) this.wire.push(this.garbage());
  }

  private garbage(): Buffer {
    const bytes = garbageBytes(this.rng);
    this.stats.inc('garbageBytes', bytes.length);
    return bytes;
  }

  private emitData(chunk: Buffer): void {
    this.stats.inc('bytesOut', chunk.length);
    this.dataListeners.emit(chunk);
  }

  private setPort(state: PortState): void {
    this.port = state;
    this.portListeners.emit(state);
  }

  private elapsed(): number {
    return this.startedAt === undefined ? 0 : this.clock.monotonic() - this.startedAt;
  }

  private after(ms: number, fn: () => void): void {
    const handle = this.clock.setTimeout(() => {
      this.timers.delete(handle);
      fn();
    }, ms);
    this.timers.add(handle);
  }

  private repeat(every: Range, fn: () => void): void {
    this.after(randomInt(this.rng, every.min, every.max), () => {
      fn();
      this.repeat(every, fn);
    });
  }
}
