import type { Clock, TimerHandle } from '../../core/clock.js';
import { Counters } from '../../core/counters.js';
import { TcuError, isTcuError } from '../../core/errors.js';
import { silentLogger, type Logger } from '../../core/logger.js';
import { ModemEvents, type ChangeListener, type ModemErrorListener, type SnapshotListener } from './modem-events.js';
import { AtSession } from './modem-session.js';
import { MODEM_COUNTER_NAMES, applyReading, bestTech, cloneSnapshot, diffSnapshots, emptySnapshot, withoutNetworkState, type ModemCounters } from './modem-state.js';
import { afterPrefix } from './parse/fields.js';
import { parseRegistration, registrationDomainOf } from './parse/registration.js';
import { parseCpin } from './parse/sim.js';
import { PREAMBLE, readIdentity, readImsi, readSim } from './profiles/generic.js';
import { chooseProfile, genericProfile, type ModemProfile, type ProfileChoice, type QuectelUrcPort } from './profiles/index.js';
import { gnssLocation, gnssStart } from './profiles/quectel.js';
import type { AtCommander, AtLinkState, ModemSnapshot, RadioTech, Registration, SimState, Unsubscribe } from './types.js';

/**
 * What the agent learns from the modem. Runs identification and initialisation, polls
 * registration, operator, signal and packet state on the injected clock, applies registration
 * URCs at once, and recovers a modem that stops answering (docs/MODEM.md):
 * - `reinitAfterTimeouts` commands in a row without an answer: initialise again
 *   (MODEM_UNRESPONSIVE, action 'reinit');
 * - `resetAfterFailedReinits` failed re-initialisations in a row: AT+CFUN=1,1
 *   (MODEM_UNRESPONSIVE, action 'reset');
 * - `RDY` (the modem restarted) or the link coming back 'open' after 'lost': initialise again.
 * It never touches a serial port: everything goes through the injected AtCommander.
 */

export interface ModemOptions {
  commander: AtCommander;
  clock: Clock;
  profile: ProfileChoice;
  /** Between the end of one poll and the next; 0 disables periodic polling. Default 30 s. */
  pollIntervalMs?: number;
  logger?: Logger;
  /** Default 3. */
  reinitAfterTimeouts?: number;
  /** Default 2. */
  resetAfterFailedReinits?: number;
  /** A registration URC that changes a status brings the next poll this close. Default 2 s. */
  refreshAfterRegistrationMs?: number;
  /** How long AT+CFUN=1,1 may take to answer. Default 15 s. */
  resetTimeoutMs?: number;
  /** The PDP context whose address is reported; the first with an address when absent. */
  pdpContextId?: number;
  quectelUrcPort?: QuectelUrcPort;
}

export type { ChangeListener, ModemErrorListener, SnapshotListener } from './modem-events.js';

type InitReason = 'start' | 'poll' | 'timeouts' | 'link-open' | 'link-restored' | 'modem-restarted';

export class Modem {
  private readonly commander: AtCommander;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly stats = new Counters(MODEM_COUNTER_NAMES);
  private readonly session: AtSession;
  private readonly options: Required<Pick<ModemOptions, 'pollIntervalMs' | 'reinitAfterTimeouts' | 'resetAfterFailedReinits' | 'refreshAfterRegistrationMs' | 'resetTimeoutMs'>> & ModemOptions;
  private profile: ModemProfile;
  private current: ModemSnapshot;
  private techHint: RadioTech | undefined;
  private initialised = false;
  private everInitialised = false;
  /** Bumped when the modem restarts or the link goes: an initialisation that spans it does not count. */
  private generation = 0;
  private failedReinits = 0;
  private started = false;
  private subscriptions: Unsubscribe[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  private initQueued = false;
  private pollInFlight: Promise<ModemSnapshot> | undefined;
  private lastPollError: TcuError | undefined;
  private pollTimer: TimerHandle | undefined;
  private pollDueAt = 0;
  private readonly events: ModemEvents;

  constructor(options: ModemOptions) {
    this.options = { pollIntervalMs: 30_000, reinitAfterTimeouts: 3, resetAfterFailedReinits: 2, refreshAfterRegistrationMs: 2_000, resetTimeoutMs: 15_000, ...options };
    this.commander = options.commander;
    this.clock = options.clock;
    this.logger = options.logger ?? silentLogger();
    this.events = new ModemEvents(this.stats, this.logger);
    this.session = new AtSession(this.commander, { counters: this.stats, report: (e) => this.report(e) });
    this.profile = options.profile === 'auto' ? genericProfile() : chooseProfile(options.profile, {}, options);
    this.current = emptySnapshot(this.commander.state, this.profile.name);
  }

  snapshot(): ModemSnapshot {
    return cloneSnapshot(this.current);
  }

  counters(): ModemCounters {
    return this.stats.snapshot();
  }

  /** Commands the modem said it lacks (not sent again). */
  unsupportedCommands(): string[] {
    return this.session.unsupportedCommands();
  }

  onSnapshot(listener: SnapshotListener): Unsubscribe {
    return this.events.onSnapshot(listener);
  }

  onChange(listener: ChangeListener): Unsubscribe {
    return this.events.onChange(listener);
  }

  onError(listener: ModemErrorListener): Unsubscribe {
    return this.events.onError(listener);
  }

  /** Subscribes to URCs and link state, initialises (failures become error events), polls, and keeps polling. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.subscriptions = [this.commander.onUnsolicited((line) => this.handleUrc(line)), this.commander.onState((state) => this.handleLink(state))];
    this.setLink(this.commander.state);
    await this.exclusive(() => this.initialise('start'));
    await this.poll();
  }

  /** Stops polling and listening; resolves when the command sequence under way has ended. */
  async stop(): Promise<void> {
    this.started = false;
    for (const unsubscribe of this.subscriptions) unsubscribe();
    this.subscriptions = [];
    if (this.pollTimer) this.clock.clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    await this.chain;
  }

  /** One poll (initialising first when needed); resolves with the new snapshot. Never rejects. */
  poll(): Promise<ModemSnapshot> {
    if (this.pollInFlight) return this.pollInFlight;
    const p = this.exclusive(() => this.doPoll()).finally(() => {
      this.pollInFlight = undefined;
      this.schedulePoll(this.options.pollIntervalMs, true);
    });
    this.pollInFlight = p;
    return p;
  }

  /**
   * Identity, registration, operator, technology, signal and packet state, once (for
   * `tcu-agent modem-info`). Rejects with AT_PORT_CLOSED when the link is not open, and with
   * MODEM_UNRESPONSIVE when the modem did not answer.
   */
  async queryOnce(): Promise<ModemSnapshot> {
    if (this.commander.state !== 'open') throw new TcuError('AT_PORT_CLOSED', `the modem link is ${this.commander.state}`, { details: { link: this.commander.state } });
    const snapshot = await this.poll();
    if (this.lastPollError) throw new TcuError('MODEM_UNRESPONSIVE', `the modem did not answer: ${this.lastPollError.message}`, { cause: this.lastPollError, details: { link: snapshot.link } });
    return snapshot;
  }

  /** Quectel: starts the GNSS receiver (AT+QGPS=1). MODEM_PROFILE on a generic modem. */
  async gnssStart(): Promise<void> {
    this.requireQuectel('AT+QGPS=1');
    await gnssStart(this.session);
  }

  /** Quectel: the raw `+QGPSLOC:` line(s) of AT+QGPSLOC=2, for drivers/gnss. GNSS_UNAVAILABLE without a fix. */
  async gnssLocation(): Promise<string[]> {
    this.requireQuectel('AT+QGPSLOC=2');
    return gnssLocation(this.session);
  }

  // ---- sequences (run one at a time through `exclusive`) ----------------------------------------

  private async doPoll(): Promise<ModemSnapshot> {
    this.lastPollError = undefined;
    this.setLink(this.commander.state);
    if (this.commander.state !== 'open') {
      this.lastPollError = new TcuError('AT_PORT_CLOSED', `the modem link is ${this.commander.state}`);
      return this.snapshot();
    }
    if (!this.initialised && !(await this.initialise('poll'))) {
      this.stats.inc('pollsAborted');
      this.lastPollError ??= new TcuError('MODEM_UNRESPONSIVE', 'the modem could not be initialised');
      await this.recoverWhenDue();
      return this.snapshot();
    }
    try {
      const generation = this.generation;
      const reading = await this.profile.poll(this.session, { previous: this.current, cid: this.options.pdpContextId });
      if (generation !== this.generation) throw new TcuError('MODEM_UNRESPONSIVE', 'the modem restarted during the poll');
      this.stats.inc('polls');
      this.techHint = reading.techHint;
      this.update(applyReading(this.current, reading, this.techHint, this.clock.now()), true);
    } catch (err) {
      this.stats.inc('pollsAborted');
      this.lastPollError = err instanceof TcuError ? err : new TcuError('MODEM_UNRESPONSIVE', String(err), { cause: err });
      if (!isTcuError(err, 'AT_TIMEOUT') && !isTcuError(err, 'AT_PORT_CLOSED') && !isTcuError(err, 'MODEM_UNRESPONSIVE')) this.report(this.lastPollError);
      await this.recoverWhenDue();
    }
    return this.snapshot();
  }

  private async recoverWhenDue(): Promise<void> {
    if (this.session.consecutiveTimeouts >= this.options.reinitAfterTimeouts) await this.recover();
  }

  /** Preamble, identity, profile, its init commands, SIM. False when the modem stopped answering. */
  private async initialise(reason: InitReason): Promise<boolean> {
    const generation = this.generation;
    if (this.commander.state !== 'open') return false;
    try {
      for (const command of PREAMBLE) await this.session.lines(command);
      const identity = await readIdentity(this.session);
      this.profile = chooseProfile(this.options.profile, identity, this.options);
      for (const command of this.profile.initCommands) await this.session.lines(command, { optional: true });
      const sim = await readSim(this.session);
      const iccid = sim === 'missing' ? undefined : await this.profile.readIccid(this.session);
      const imsi = sim === 'ready' ? await readImsi(this.session) : undefined;
      if (generation !== this.generation) return false;
      this.initialised = true;
      this.everInitialised = true;
      const full = { ...identity, ...(imsi === undefined ? {} : { imsi }), ...(iccid === undefined ? {} : { iccid }) };
      this.update({ ...this.current, profile: this.profile.name, identity: full, sim: sim ?? 'unknown' });
      this.logger.info({ reason, profile: this.profile.name, model: identity.model, firmware: identity.firmware, sim }, 'modem initialised');
      return true;
    } catch (err) {
      this.initialised = false;
      this.lastPollError = err instanceof TcuError ? err : new TcuError('MODEM_UNRESPONSIVE', String(err), { cause: err });
      if (!isTcuError(err, 'AT_TIMEOUT') && !isTcuError(err, 'AT_PORT_CLOSED')) this.report(this.lastPollError);
      return false;
    }
  }

  private async recover(): Promise<void> {
    const timeouts = this.session.consecutiveTimeouts;
    this.session.resetTimeouts();
    this.stats.inc('reinits');
    this.report(new TcuError('MODEM_UNRESPONSIVE', `the modem did not answer ${timeouts} commands in a row; initialising it again`, { details: { action: 'reinit', consecutiveTimeouts: timeouts, failedReinits: this.failedReinits } }));
    if (await this.initialise('timeouts')) {
      this.failedReinits = 0;
      return;
    }
    this.stats.inc('reinitsFailed');
    this.failedReinits++;
    if (this.failedReinits < this.options.resetAfterFailedReinits) return;
    const failed = this.failedReinits;
    this.failedReinits = 0;
    this.stats.inc('resets');
    this.report(new TcuError('MODEM_UNRESPONSIVE', `${failed} re-initialisations failed; resetting the modem (AT+CFUN=1,1)`, { details: { action: 'reset', failedReinits: failed } }));
    this.initialised = false;
    this.generation++;
    try {
      await this.commander.send('AT+CFUN=1,1', { timeoutMs: this.options.resetTimeoutMs });
    } catch {
      // A restarting modem may not answer, or its port may vanish: RDY or the port coming back re-initialise it.
    }
    this.session.resetTimeouts();
    this.update({ ...withoutNetworkState(this.current), sim: 'unknown' });
  }

  /** Initialise again after RDY or the link coming back; then poll, so the snapshot is fresh. */
  private queueInit(reason: InitReason): void {
    if (this.initQueued) return;
    this.initQueued = true;
    void this.exclusive(async () => {
      this.initQueued = false;
      if (!this.started || this.initialised) return;
      if (this.everInitialised) this.stats.inc('reinits');
      if (await this.initialise(reason)) {
        this.failedReinits = 0;
        this.session.resetTimeouts();
        await this.doPoll();
      }
    });
  }

  private refreshSimIdentity(): void {
    void this.exclusive(async () => {
      if (!this.started || !this.initialised) return;
      try {
        const iccid = await this.profile.readIccid(this.session);
        const imsi = await readImsi(this.session);
        this.update({ ...this.current, identity: { ...this.current.identity, ...(imsi === undefined ? {} : { imsi }), ...(iccid === undefined ? {} : { iccid }) } });
      } catch {
        // A timeout or a closed port: counted by the session; the next poll deals with it.
      }
    });
  }

  // ---- events -------------------------------------------------------------------------------

  private handleUrc(line: string): void {
    this.stats.inc('urcs');
    if (registrationDomainOf(line) !== undefined) {
      this.stats.inc('registrationUrcs');
      const reply = this.session.parse(() => parseRegistration(line, 'urc'));
      if (reply) this.applyRegistration(reply.registration);
      return;
    }
    const code = line.trim().toUpperCase();
    if (code === 'RDY') {
      this.generation++;
      this.initialised = false;
      this.update({ ...withoutNetworkState(this.current), sim: 'unknown' });
      if (this.started) this.queueInit('modem-restarted');
    } else if (/POWER(ED)? DOWN$/.test(code)) {
      // POWERED DOWN, NORMAL POWER DOWN, UNDER-VOLTAGE POWER DOWN: off until it restarts (RDY).
      this.generation++;
      this.initialised = false;
      this.update({ ...withoutNetworkState(this.current), sim: 'unknown' });
    } else if (afterPrefix(line, '+CPIN') !== undefined) {
      const sim = this.session.parse(() => parseCpin(line));
      if (sim) this.simChanged(sim);
    }
  }

  private applyRegistration(reg: Registration): void {
    const before = this.current.registrations[reg.domain];
    const registrations = { ...this.current.registrations, [reg.domain]: reg };
    this.update({ ...this.current, registrations, tech: bestTech(registrations, this.techHint) });
    if (before?.status !== reg.status) this.schedulePoll(this.options.refreshAfterRegistrationMs, true);
  }

  private simChanged(sim: SimState): void {
    const previous = this.current.sim;
    let identity = this.current.identity;
    if (sim === 'missing') {
      const { imsi: _imsi, iccid: _iccid, ...rest } = identity;
      identity = rest;
    }
    this.update({ ...this.current, sim, identity });
    if (sim === 'ready' && previous !== 'ready') this.refreshSimIdentity();
  }

  private handleLink(state: AtLinkState): void {
    const previous = this.current.link;
    if (state === previous) return;
    this.setLink(state);
    if (state === 'open' && this.started) this.queueInit(previous === 'lost' ? 'link-restored' : 'link-open');
  }

  private setLink(state: AtLinkState): void {
    if (state === this.current.link) return;
    if (state === 'open') {
      this.update({ ...this.current, link: state });
      return;
    }
    // The modem is out of reach: what it told us about the network is no longer known.
    this.generation++;
    this.initialised = false;
    this.update({ ...withoutNetworkState(this.current), link: state });
  }

  // ---- plumbing -----------------------------------------------------------------------------

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.chain.then(task, task);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private schedulePoll(delayMs: number, onlyIfSooner: boolean): void {
    if (!this.started || this.options.pollIntervalMs <= 0) return;
    const due = this.clock.monotonic() + delayMs;
    if (this.pollTimer) {
      if (onlyIfSooner && this.pollDueAt <= due) return;
      this.clock.clearTimeout(this.pollTimer);
    }
    this.pollDueAt = due;
    this.pollTimer = this.clock.setTimeout(() => {
      this.pollTimer = undefined;
      void this.poll();
    }, delayMs);
    this.pollTimer.unref?.();
  }

  private requireQuectel(command: string): void {
    if (this.profile.name !== 'quectel') throw new TcuError('MODEM_PROFILE', `${command} needs the quectel profile; this modem runs the ${this.profile.name} profile`, { details: { command, profile: this.profile.name } });
  }

  private update(next: ModemSnapshot, polled = false): void {
    const changes = diffSnapshots(this.current, next);
    this.current = next;
    if (changes.length > 0 || polled) this.events.updated(this.current, changes);
  }

  private report(error: TcuError): void {
    this.events.report(error);
  }
}
