/**
 * The modem side of the agent: the AT engine on the modem's serial port, the `Modem` that learns
 * registration, signal and identity from it, GNSS (Quectel's AT+QGPSLOC or the NMEA port), and the
 * connectivity policy that steers the uplink (agent/connectivity/).
 *
 * - Connectivity is derived from every modem snapshot (polls, and registration URCs at once): the
 *   uplink is allowed only while registered, and on roaming sends only `roaming.minPriority` and up.
 *   A change of state, technology or network is an `event` record `connectivity`.
 * - `modem` records (signal, registration, technology, operator) every `record.everyMs`, and
 *   `location` records every `gnss.everyMs` while the last valid fix is fresh.
 * - Every valid GNSS fix is offered to the trusted time (drivers/gnss/trusted-time.ts).
 * Nothing here throws once started: failures are reported through `report` and retried.
 */
import type { Clock, TimerHandle } from '../../core/clock.js';
import { TcuError, asTcuError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { ModemConfig } from '../../config/index.js';
import { NmeaSource, TrustedTime, queryQgpsloc, type GnssFix } from '../../drivers/gnss/index.js';
import { AtEngine, Modem, SerialAtPort, type ModemSnapshot, type SerialBinding } from '../../drivers/modem/index.js';
import { policyFor } from '../connectivity/policy.js';
import { deriveConnectivity, isConnectivityChange, type Connectivity } from '../connectivity/state.js';
import type { RecordSink } from '../collect/collectors.js';
import { PRIORITIES, type RecordInput } from '../records.js';

/** What the modem side needs of the uplink. */
export interface UplinkControl {
  setAllowed(allowed: boolean): void;
  setMinPriority(priority: number): void;
}

export interface ModemRuntimeDeps {
  clock: Clock;
  logger: Logger;
  /** The serialport binding (`autoDetect()` of @serialport/bindings-cpp on a board). */
  binding: SerialBinding;
  sink: RecordSink;
  uplink: UplinkControl;
  report: (err: TcuError, where: string) => void;
  trustedTime: TrustedTime;
}

/** A fix older than this many GNSS poll periods is not sent as the current location. */
const FRESH_FIX_PERIODS = 3;
const NMEA_RETRY_MS = 5000;

export class ModemRuntime {
  readonly engine: AtEngine;
  readonly modem: Modem;
  private readonly nmea: NmeaSource | undefined;
  private connectivity: Connectivity | undefined;
  private lastFix: GnssFix | undefined;
  private lastFixAt = -Infinity;
  private readonly timers = new Set<TimerHandle>();
  private stopped = false;
  private gnssStarted = false;

  constructor(
    private readonly config: ModemConfig,
    private readonly deps: ModemRuntimeDeps,
  ) {
    const { clock, logger, binding } = deps;
    const port = new SerialAtPort({ path: config.port, baudRate: config.baudRate, binding, logger });
    this.engine = new AtEngine({ port, clock, defaultTimeoutMs: config.commandTimeoutMs, waitForPort: true, logger });
    this.modem = new Modem({ commander: this.engine, clock, profile: config.profile, pollIntervalMs: config.pollIntervalMs, logger });
    const { gnss } = config;
    if (gnss.source === 'nmea' && gnss.nmeaPort !== undefined) {
      const nmeaPort = new SerialAtPort({ path: gnss.nmeaPort, baudRate: gnss.nmeaBaudRate, binding, logger });
      this.nmea = new NmeaSource({ port: nmeaPort, clock });
    }
  }

  /** Until the modem says otherwise, the uplink stays offline: call before the uplink starts. */
  start(): void {
    this.applyPolicy(deriveConnectivity(this.modem.snapshot()));
    this.engine.onError((err) => this.deps.report(err, 'modem'));
    this.modem.onError((err) => this.deps.report(err, 'modem'));
    this.modem.onSnapshot((snapshot) => this.onSnapshot(snapshot));
    void this.engine
      .start()
      // A stop while the port was still opening must not start the modem's polling afterwards.
      .then(() => (this.stopped ? undefined : this.modem.start()))
      .then(() => this.startGnss())
      .catch((err: unknown) => this.deps.report(asTcuError(err, 'MODEM_UNRESPONSIVE'), 'modem'));
    this.every(this.config.record.everyMs, () => this.recordModem());
    if (this.config.gnss.source !== 'none') this.every(this.config.gnss.everyMs, () => this.recordLocation());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) this.deps.clock.clearTimeout(t);
    this.timers.clear();
    await this.nmea?.stop().catch(() => undefined);
    await this.modem.stop().catch(() => undefined);
    await this.engine.stop().catch(() => undefined);
  }

  /** For the status message. */
  status(): Record<string, unknown> {
    const s = this.modem.snapshot();
    const fix = this.freshFix();
    return {
      connectivity: this.connectivity ?? deriveConnectivity(s),
      link: s.link,
      profile: s.profile,
      // Identity of the hardware, not of the subscriber: the IMSI is personal data and stays here.
      identity: { manufacturer: s.identity.manufacturer, model: s.identity.model, firmware: s.identity.firmware, imei: s.identity.imei, iccid: s.identity.iccid },
      sim: s.sim,
      counters: { ...this.engine.counters(), ...this.modem.counters() },
      ...(fix === undefined ? {} : { location: locationBody(fix) }),
      time: { trusted: this.deps.trustedTime.isTrusted(), source: this.deps.trustedTime.source() },
    };
  }

  private onSnapshot(snapshot: ModemSnapshot): void {
    const next = deriveConnectivity(snapshot);
    const before = this.connectivity;
    this.applyPolicy(next);
    if (isConnectivityChange(before, next)) {
      this.deps.logger.info({ from: before?.state, to: next.state, tech: next.tech, operator: next.operator }, 'connectivity');
      this.push('event', PRIORITIES.normal, { name: 'connectivity', from: before?.state ?? 'unknown', ...next });
    }
    if (!this.gnssStarted && this.config.gnss.source === 'qgpsloc' && snapshot.link === 'open' && snapshot.profile === 'quectel') void this.startGnss();
  }

  private applyPolicy(next: Connectivity): void {
    this.connectivity = next;
    const policy = policyFor(next.state, PRIORITIES[this.config.roaming.minPriority]);
    this.deps.uplink.setMinPriority(policy.minPriority);
    this.deps.uplink.setAllowed(policy.allowed);
  }

  private async startGnss(): Promise<void> {
    if (this.stopped || this.gnssStarted) return;
    const { gnss } = this.config;
    if (gnss.source === 'nmea' && this.nmea !== undefined) {
      this.gnssStarted = true;
      this.nmea.onFix((fix) => this.onFix(fix));
      this.nmea.onError((err) => {
        this.deps.report(err, 'gnss');
        if (err.code === 'GNSS_UNAVAILABLE') this.restartNmea();
      });
      await this.nmea.start().catch((err: unknown) => {
        this.deps.report(asTcuError(err, 'GNSS_UNAVAILABLE'), 'gnss');
        this.restartNmea();
      });
      return;
    }
    if (gnss.source !== 'qgpsloc' || this.modem.snapshot().profile !== 'quectel') {
      if (gnss.source === 'qgpsloc' && this.modem.snapshot().link === 'open') {
        this.deps.report(new TcuError('MODEM_PROFILE', 'gnss.source "qgpsloc" needs a Quectel modem; this one uses the generic profile'), 'gnss');
      }
      return;
    }
    this.gnssStarted = true;
    try {
      await this.modem.gnssStart();
    } catch (err) {
      this.deps.report(asTcuError(err, 'GNSS_UNAVAILABLE'), 'gnss');
    }
    this.every(gnss.pollIntervalMs, () => void this.pollQgpsloc());
  }

  private restartNmea(): void {
    if (this.stopped || this.nmea === undefined) return;
    const nmea = this.nmea;
    const t = this.deps.clock.setTimeout(() => {
      this.timers.delete(t);
      void nmea
        .stop()
        .then(() => (this.stopped ? undefined : nmea.start()))
        .catch(() => this.restartNmea());
    }, NMEA_RETRY_MS);
    this.timers.add(t);
  }

  private async pollQgpsloc(): Promise<void> {
    if (this.engine.state !== 'open') return;
    try {
      const fix = await queryQgpsloc(this.engine, { clock: this.deps.clock, timeoutMs: this.config.commandTimeoutMs });
      this.onFix(fix);
    } catch (err) {
      this.deps.report(asTcuError(err, 'GNSS_UNAVAILABLE'), 'gnss');
    }
  }

  private onFix(fix: GnssFix): void {
    if (!fix.valid || fix.latitude === undefined || fix.longitude === undefined) return;
    this.lastFix = fix;
    this.lastFixAt = this.deps.clock.monotonic();
    const seen = this.deps.trustedTime.observeGnss(fix);
    if (!seen.accepted && seen.error.details['reason'] !== 'gnss-fix') this.deps.report(seen.error, 'time');
  }

  private freshFix(): GnssFix | undefined {
    const period = this.config.gnss.source === 'nmea' ? 1000 : this.config.gnss.pollIntervalMs;
    return this.deps.clock.monotonic() - this.lastFixAt <= FRESH_FIX_PERIODS * period ? this.lastFix : undefined;
  }

  private recordModem(): void {
    const s = this.modem.snapshot();
    if (s.updatedAtMs === undefined) return;
    const c = this.connectivity ?? deriveConnectivity(s);
    const registrations = Object.fromEntries(Object.entries(s.registrations).map(([domain, r]) => [domain, r.status]));
    const signal = s.signal ?? { bars: 0 };
    this.push('modem', PRIORITIES[this.config.record.priority], {
      state: c.state,
      tech: s.tech,
      ...(c.operator === undefined ? {} : { operator: c.operator }),
      ...(c.plmn === undefined ? {} : { plmn: c.plmn }),
      ...signal,
      registrations,
      ...(s.packet === undefined ? {} : { attached: s.packet.attached }),
    });
  }

  private recordLocation(): void {
    const fix = this.freshFix();
    if (fix !== undefined) this.push('location', PRIORITIES[this.config.gnss.priority], locationBody(fix));
  }

  private push(kind: RecordInput['kind'], priority: RecordInput['priority'], body: Record<string, unknown>): void {
    this.deps.sink.push({ kind, ts: this.deps.trustedTime.now(), priority, body });
  }

  private every(ms: number, run: () => void): void {
    const tick = (): void => {
      this.timers.delete(t);
      if (this.stopped) return;
      try {
        run();
      } catch (err) {
        this.deps.report(asTcuError(err, 'MODEM_UNRESPONSIVE'), 'modem');
      }
      t = this.deps.clock.setTimeout(tick, ms);
      this.timers.add(t);
    };
    let t = this.deps.clock.setTimeout(tick, ms);
    this.timers.add(t);
  }
}

/** A fix as the `location` record carries it: numbers only, absent fields left out. */
function locationBody(fix: GnssFix): Record<string, unknown> {
  const out: Record<string, unknown> = { lat: fix.latitude, lon: fix.longitude };
  if (fix.altitudeM !== undefined) out['altM'] = fix.altitudeM;
  if (fix.speedKmh !== undefined) out['speedKmh'] = fix.speedKmh;
  if (fix.courseDeg !== undefined) out['courseDeg'] = fix.courseDeg;
  if (fix.hdop !== undefined) out['hdop'] = fix.hdop;
  if (fix.satellitesUsed !== undefined) out['sats'] = fix.satellitesUsed;
  if (fix.fixType !== undefined) out['fix'] = fix.fixType;
  if (fix.timeMs !== undefined) out['gnssTs'] = fix.timeMs;
  return out;
}
