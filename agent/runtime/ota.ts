/**
 * The agent's own update campaigns (docs/OTA.md, "The agent's campaigns"): the composition of the
 * update client (ota/) with the running agent's uplink, signals, modem and scheduler.
 *
 * - At start: the inventory is seeded with the booted slot's software (first start only), the
 *   campaign runner resumes (a campaign that was rebooting is health-checked here: broker reached,
 *   CAN frames arriving; then committed or rolled back), and a check follows.
 * - A check (the `ota.checkCron` job, the start, the `ota-check` command) refreshes both TUF
 *   repositories, resolves the director's target for this hardware (Uptane), and starts a campaign,
 *   carries on the one under way, or cancels it when the director names another target or none.
 * - Reports: every campaign transition as JSON on `<prefix>/<vin>/ota` (QoS 1), thrown back to the
 *   runner when not connected so it stays unreported and goes again (on reconnect, at the next
 *   step or start); the inventory, retained, on `<prefix>/<vin>/ota/inventory` at start and before
 *   and after every update. The HMI gets a notice for every transition and the consent request.
 * - Restart: `dir-slots` cannot reboot the board: the agent stops and exits with
 *   OTA_RESTART_EXIT_CODE so its service manager starts it again, from the new slot. `rauc` and
 *   `command` run `systemctl reboot` first.
 * - Stopping in the middle of a download, a consent wait or a health check is a power cut as far
 *   as the campaign is concerned: nothing more is written, and the next start resumes from the store.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { TcuError, asTcuError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { OtaConfig } from '../../config/index.js';
import type { TrustedTime } from '../../drivers/gnss/index.js';
import { CampaignRunner, CampaignStore, isFinal, type Campaign, type CampaignHooks, type CampaignStateName, type ReportDetails } from '../../ota/campaign/index.js';
import { downloadTarget } from '../../ota/download/index.js';
import { childProcessRunner, createInstallBackend, slotFileName, type CommandRunner, type InstallBackend } from '../../ota/install/index.js';
import { TrustedRepository } from '../../ota/tuf/index.js';
import type { VehicleState, VerifiedTarget } from '../../ota/types.js';
import { resolveUpdate, type UpdateResolution } from '../../ota/uptane.js';
import type { Connectivity } from '../connectivity/state.js';
import type { Scheduler } from '../jobs.js';
import { checkHealth } from '../ota/health.js';
import { HmiChannel, noticeOf } from '../ota/hmi.js';
import { networkGate } from '../ota/network-gate.js';
import { CANCELLABLE, backendSpec, blockedBy, installedSoftware, sameTarget } from '../ota/policy.js';
import { StopGate } from '../ota/stop-gate.js';
import { OTA_STORE_FILE, checkPreconditions, targetLocation } from '../ota/shared.js';
import type { UplinkState } from '../uplink/index.js';

/** The exit code that asks the service manager to start the agent again (dir-slots: into the new slot). EX_TEMPFAIL. */
export const OTA_RESTART_EXIT_CODE = 75;

/** What the campaigns need of the uplink. */
export interface OtaUplink {
  readonly state: UplinkState;
  on(event: 'state', listener: (state: UplinkState) => void): () => void;
  publishMessage(suffix: string, payload: Buffer | string, options?: { retain?: boolean }): Promise<void>;
}

export interface OtaRuntimeSettings extends OtaConfig {
  stateDir: string;
  vin: string;
  hardwareId: string;
  /** The MQTT client id on the HMI broker. */
  hmiClientId: string;
}

export interface OtaRuntimeDeps {
  clock: Clock;
  logger: Logger;
  trustedTime: TrustedTime;
  uplink: OtaUplink;
  scheduler: Scheduler;
  /** The vehicle's state for the preconditions (from signals). */
  vehicle: () => VehicleState;
  /** The modem's connectivity; undefined without a modem (a fixed network). */
  connectivity: () => Connectivity | undefined;
  /** Frames received since start, per bus (the health check). */
  busFrames: () => Record<string, number>;
  report: (err: TcuError, where: string) => void;
  /** The agent must stop and exit with OTA_RESTART_EXIT_CODE. */
  restart: (reason: string) => void;
  /** Runs `systemctl reboot` for rauc and command (default: node:child_process). */
  runner?: CommandRunner;
  /** Replaces the backend the configuration names (tests). */
  backend?: InstallBackend;
}

export interface OtaCheckResult {
  /** started: a campaign began; in-progress: one under way carries on; blocked: this target failed before and is not retried. */
  result: 'started' | 'in-progress' | 'up-to-date' | 'blocked' | 'error';
  target: string | null;
  code?: string;
  detail: string;
  /** ISO 8601. */
  at: string;
}

const STOP_WAIT_MS = 10_000;
const WATCH_MS = 1000;

export class OtaRuntime {
  private readonly store: CampaignStore;
  private readonly runner: CampaignRunner;
  private readonly backend: InstallBackend;
  private readonly hmi: HmiChannel;
  private readonly repos: { image: TrustedRepository; director: TrustedRepository };
  private readonly stopSignal = new AbortController();
  /** Aborted when a campaign is superseded: its consent wait ends at once. */
  private waits = new AbortController();
  private readonly off: (() => void)[] = [];
  private resumed: Promise<void> = Promise.resolve();
  private checking: Promise<OtaCheckResult> | undefined;
  private running: Promise<void> | undefined;
  private lastCheck: OtaCheckResult | undefined;
  private noticeSeq: number;
  private inventoryPending = true;
  private watch: TimerHandle | undefined;
  private readonly gate = new StopGate();

  constructor(
    private readonly s: OtaRuntimeSettings,
    private readonly deps: OtaRuntimeDeps,
  ) {
    mkdirSync(join(s.stateDir, 'downloads'), { recursive: true });
    const { clock } = deps;
    this.backend = deps.backend ?? createInstallBackend(backendSpec(s.backend), { clock, ...(deps.runner === undefined ? {} : { runner: deps.runner }) });
    const repo = (name: string, source: string): TrustedRepository => new TrustedRepository({ name, stateDir: s.stateDir, source, trustedTime: deps.trustedTime });
    this.repos = { image: repo('image', s.imageRepo), director: repo('director', s.directorRepo) };
    this.hmi = new HmiChannel({ url: s.hmi.url, topic: s.hmi.topic, clientId: s.hmiClientId, clock, logger: deps.logger.child({ component: 'hmi' }), report: (err) => deps.report(err, 'hmi') });
    this.store = CampaignStore.open({ path: join(s.stateDir, OTA_STORE_FILE), clock });
    this.noticeSeq = this.store.transitions().reduce((max, t) => Math.max(max, t.seq), 0);
    this.runner = new CampaignRunner({ store: this.store, backend: this.backend, hooks: this.hooks(), clock, ecu: s.ecu, logger: deps.logger, maxBootAttempts: s.maxBootAttempts, healthTimeoutMs: s.healthTimeoutS * 1000 });
  }

  /** Call after the uplink started: resume, report the inventory, check now and on `checkCron`. */
  start(): void {
    this.hmi.start();
    this.off.push(
      this.deps.uplink.on('state', (state) => {
        if (state !== 'connected' || this.stopped) return;
        void this.runner.flushReports().then(() => this.publishInventory(), () => undefined);
      }),
    );
    const job = this.deps.scheduler.schedule('ota-check', this.s.checkCron, () => void this.check());
    this.off.push(() => job.stop());
    // Only a campaign that was rebooting is settled now; any other waits for the check, which
    // carries it on, or cancels it when the director now names another target or none.
    this.resumed = this.seed().then(() => this.track(this.runner.settle()));
    void this.resumed.then(() => this.check());
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    const stopping = this.gate.stop(this.running, this.deps.clock, STOP_WAIT_MS);
    this.stopSignal.abort();
    for (const off of this.off) off();
    if (this.watch !== undefined) this.deps.clock.clearTimeout(this.watch);
    // An install or activation step finishes (bounded); a hook waiting is abandoned as a power cut would.
    await stopping;
    await this.hmi.close();
    this.store.close();
  }

  status(): Record<string, unknown> {
    if (this.stopped) return { stopped: true };
    const c = this.store.current();
    return {
      campaign: c === null ? null : { id: c.id, state: c.state, target: c.target.name, version: c.target.custom.version ?? null, code: c.code, detail: c.detail },
      boot: this.store.bootState().phase,
      ...(this.lastCheck === undefined ? {} : { lastCheck: this.lastCheck }),
      hmi: this.hmi.counters(),
    };
  }

  /** Checks the repositories now (one check at a time); the campaign it starts runs on in the background. */
  check(): Promise<OtaCheckResult> {
    this.checking ??= this.doCheck()
      .catch((err: unknown) => {
        // Never rejects: a job or a command started it, and nobody else would handle it.
        const e = asTcuError(err, 'OTA_STATE');
        if (!this.stopped) this.deps.report(e, 'ota');
        return this.checked({ result: 'error', code: e.code, target: null, detail: e.message });
      })
      .finally(() => (this.checking = undefined));
    return this.checking;
  }

  private checked(r: Omit<OtaCheckResult, 'at'>): OtaCheckResult {
    this.lastCheck = { ...r, at: new Date(this.deps.clock.now()).toISOString() };
    this.deps.logger.info({ ...this.lastCheck }, 'ota check');
    return this.lastCheck;
  }

  private async doCheck(): Promise<OtaCheckResult> {
    await this.resumed;
    const done = (r: Omit<OtaCheckResult, 'at'>): OtaCheckResult => this.checked(r);
    if (this.stopped) return done({ result: 'error', code: 'OTA_CANCELLED', target: null, detail: 'the agent is stopping' });
    let resolution: UpdateResolution;
    try {
      const image = await this.repos.image.refresh();
      const director = await this.repos.director.refresh();
      const installed = installedSoftware(this.store.inventory.get(this.s.ecu));
      resolution = resolveUpdate({ director, image, hardwareId: this.s.hardwareId, vin: this.s.vin, ...(installed === undefined ? {} : { installed }) });
    } catch (err) {
      const e = asTcuError(err, 'OTA_FETCH');
      // Stopped during the refresh (the store closed under it): nothing to report.
      if (this.stopped) return done({ result: 'error', code: 'OTA_CANCELLED', target: null, detail: 'the agent is stopping' });
      this.deps.report(e, 'ota');
      // Offline or refused now: a campaign already under way (verified when it started) carries on.
      const c = this.store.current();
      if (c !== null && !isFinal(c.state)) this.track(this.runner.run());
      return done({ result: 'error', code: e.code, target: null, detail: e.message });
    }
    if (this.stopped) return done({ result: 'error', code: 'OTA_CANCELLED', target: null, detail: 'the agent is stopping' });
    const wanted = resolution.kind === 'update' ? resolution.target : undefined;
    const c = this.store.current();
    if (c !== null && !isFinal(c.state)) {
      const keep = (wanted !== undefined && sameTarget(c.target, wanted)) || !CANCELLABLE.includes(c.state) || (resolution.kind === 'up-to-date' && resolution.reason !== undefined);
      if (keep) {
        this.track(this.runner.run());
        return done({ result: 'in-progress', target: c.target.name, detail: `campaign ${c.id} is ${c.state}` });
      }
      // The director names another target, or none: the campaign under way is withdrawn.
      this.waits.abort();
      this.waits = new AbortController();
      await this.runner.cancel('OTA_CANCELLED', wanted === undefined ? 'withdrawn: the director names no target for this vehicle' : `superseded by ${wanted.name}`);
      await this.running;
    }
    if (wanted === undefined) {
      const detail = resolution.kind === 'up-to-date' && resolution.reason !== undefined ? `${resolution.reason}: ${resolution.detail ?? ''}` : resolution.target ? `${resolution.target.name} is installed` : 'nothing to install for this hardware';
      return done({ result: 'up-to-date', code: 'UP_TO_DATE', target: resolution.target?.name ?? null, detail });
    }
    const last = this.store.current();
    if (blockedBy(last, wanted)) {
      return done({ result: 'blocked', code: last!.code ?? 'OTA_HEALTH', target: wanted.name, detail: `campaign ${last!.id} ended ${last!.state}; this target is not tried again until the director names another` });
    }
    this.track(this.runner.start(wanted, { ecu: this.s.ecu }));
    return done({ result: 'started', target: wanted.name, detail: `${wanted.name}${wanted.custom.version ? ` ${wanted.custom.version}` : ''}` });
  }

  /** Follows a runner promise: failures reported, never rejects; the HMI and inventory brought up to date after it. */
  private track(p: Promise<unknown>): Promise<void> {
    const tracked: Promise<void> = p.then(
      () => undefined,
      (err: unknown) => {
        if (!this.stopped) this.deps.report(asTcuError(err, 'OTA_STATE'), 'ota');
      },
    ).finally(() => {
      if (this.running === tracked) this.running = undefined;
      if (!this.stopped) {
        this.notifyHmi();
        this.publishInventory();
      }
    });
    this.running = tracked;
    return tracked;
  }

  private get stopped(): boolean {
    return this.gate.stopped;
  }

  private hold<T>(work: () => Promise<T>): Promise<T> {
    return this.gate.hold(work);
  }

  private hooks(): CampaignHooks {
    const { clock } = this.deps;
    return {
      download: (target, signal) =>
        this.hold(async () => {
          const sha256 = target.hashes['sha256'];
          if (sha256 === undefined) throw new TcuError('OTA_METADATA', `target ${target.name} has no sha256 hash`);
          const dest = join(this.s.stateDir, 'downloads', slotFileName(target.name));
          const result = await downloadTarget({
            url: targetLocation(this.s.imageRepo, target.name),
            dest,
            length: target.length,
            sha256,
            clock,
            signal: AbortSignal.any([signal, this.stopSignal.signal]),
            networkGate: networkGate(target, { connectivity: this.deps.connectivity, clock }),
          });
          return result.path;
        }),
      consent: (target) =>
        this.hold(async () => {
          this.notifyHmi();
          const c = this.store.current();
          const campaign = c?.id ?? target.name;
          const u = target.custom.userInfo ?? {};
          const request = { campaign, target: target.name, version: target.custom.version ?? null, userInfo: u };
          return this.hmi.askConsent(request, this.s.hmi.consentTimeoutS * 1000, AbortSignal.any([this.stopSignal.signal, this.waits.signal]));
        }),
      preconditions: (target) =>
        this.hold(async () => {
          const result = checkPreconditions(target, this.deps.vehicle());
          if (result.ok) this.watchInstall(target);
          return result;
        }),
      healthCheck: () =>
        this.hold(() =>
          checkHealth(
            {
              uplinkConnected: () => this.deps.uplink.state === 'connected',
              busFrames: this.deps.busFrames,
              noNetwork: () => {
                const state = this.deps.connectivity()?.state;
                return state === 'offline' || state === 'searching';
              },
              ignitionOff: () => this.deps.vehicle().ignitionOff === true,
            },
            // Answer before the runner's own limit, so the audit log has each check's result.
            { clock, timeoutMs: Math.max(1, this.s.healthTimeoutS * 1000 - Math.min(1000, (this.s.healthTimeoutS * 1000) / 4)), signal: this.stopSignal.signal },
          ),
        ),
      reboot: async () => {
        this.notifyHmi();
        if (this.backend.name !== 'dir-slots') {
          const runner = this.deps.runner ?? childProcessRunner({ clock });
          const r = await runner.run('systemctl', ['reboot'], { timeoutMs: 60_000 }).catch((err: unknown) => ({ code: null, signal: null, stdout: '', stderr: String(err) }));
          if (r.code !== 0) {
            // No restart: the agent would start again in the same slot and ask for the reboot again,
            // in a loop. The campaign stays `rebooting`; the next check asks for the reboot again.
            this.deps.report(new TcuError('OTA_INSTALL', `systemctl reboot failed: ${r.stderr.trim() || `exit ${String(r.code)}`}; asked again at the next check`), 'ota');
            return;
          }
        }
        this.deps.logger.warn({ backend: this.backend.name, exitCode: OTA_RESTART_EXIT_CODE }, 'restarting into the other slot');
        this.deps.restart('ota-reboot');
      },
      onReport: (state, details) => this.report(state, details),
    };
  }

  private async report(state: CampaignStateName, details: ReportDetails): Promise<void> {
    this.notifyHmi();
    const c = this.store.current();
    const rollout = c !== null && c.id === details.campaign ? c.target.custom.rollout?.campaign : undefined;
    const body = { v: 1, vin: this.s.vin, state, ...details, ...(rollout === undefined ? {} : { rollout: { campaign: rollout } }) };
    await this.deps.uplink.publishMessage('ota', JSON.stringify(body));
    if (details.inventory !== undefined) {
      this.inventoryPending = true;
      this.publishInventory();
    }
  }

  /** The inventory, retained on `<prefix>/<vin>/ota/inventory`, when it is due and the uplink is connected. */
  private publishInventory(): void {
    if (!this.inventoryPending || this.stopped || this.deps.uplink.state !== 'connected') return;
    let body: string;
    try {
      body = JSON.stringify({ v: 1, vin: this.s.vin, ...this.store.inventory.report() });
    } catch (err) {
      this.deps.report(asTcuError(err, 'OTA_STATE'), 'ota');
      return;
    }
    this.inventoryPending = false;
    this.deps.uplink.publishMessage('ota/inventory', body, { retain: true }).catch(() => {
      this.inventoryPending = true;
    });
  }

  /** A notice to the HMI for every transition not yet shown (this process's; older ones were shown before). */
  private notifyHmi(): void {
    if (this.stopped) return;
    try {
      const c = this.store.current();
      for (const t of this.store.transitions()) {
        if (t.seq <= this.noticeSeq) continue;
        this.noticeSeq = t.seq;
        this.hmi.notice(noticeOf(t, c !== null && c.id === t.campaign ? c.target.custom.userInfo : undefined));
      }
    } catch (err) {
      this.deps.report(asTcuError(err, 'OTA_STATE'), 'ota');
    }
  }

  /** Watches the preconditions while the campaign installs; a broken one cancels it (OTA_PRECONDITION) if still possible. */
  private watchInstall(target: VerifiedTarget): void {
    if (this.watch !== undefined) this.deps.clock.clearTimeout(this.watch);
    const tick = (): void => {
      this.watch = undefined;
      if (this.stopped) return;
      const c: Campaign | null = this.store.current();
      if (c === null || !sameTarget(c.target, target) || (c.state !== 'installing' && c.state !== 'awaiting-consent')) return;
      const now = checkPreconditions(target, this.deps.vehicle());
      if (c.state === 'installing' && !now.ok) {
        this.deps.logger.warn({ campaign: c.id, detail: now.detail }, 'a precondition broke during the install');
        void this.runner.cancel(now.code, `during the install: ${now.detail}`).catch(() => undefined);
        return;
      }
      this.watch = this.deps.clock.setTimeout(tick, WATCH_MS);
    };
    this.watch = this.deps.clock.setTimeout(tick, WATCH_MS);
  }

  /** First start: the inventory records the booted slot's software (factory), when the backend knows it. */
  private async seed(): Promise<void> {
    try {
      const status = await this.backend.status();
      const booted = status.slots.find((slot) => slot.name === status.booted);
      if (booted?.version !== undefined) this.store.inventory.seed({ ecu: this.s.ecu, version: booted.version, ...(booted.sha256 === undefined ? {} : { hash: booted.sha256 }) });
    } catch (err) {
      this.deps.report(asTcuError(err, 'OTA_INSTALL'), 'ota');
    }
  }
}
