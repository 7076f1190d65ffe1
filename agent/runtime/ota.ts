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
import { asTcuError } from '../../core/errors.js';
import type { OtaConfig } from '../../config/index.js';
import { CampaignRunner, CampaignStore, isFinal, type CampaignHooks, type CampaignStateName, type ReportDetails } from '../../ota/campaign/index.js';
import { childProcessRunner, createInstallBackend, type InstallBackend } from '../../ota/install/index.js';
import { IMAGE_MIN_THRESHOLDS, TrustedRepository, type TrustedMetadata } from '../../ota/tuf/index.js';
import { resolveUpdate, type UpdateResolution } from '../../ota/uptane.js';
import { auditCheckError, auditCheckResult, type CheckStep } from '../ota/check-audit.js';
import { downloadCampaignTarget, downloadLimits, type DownloadLimits } from '../ota/download.js';
import { checkHealth } from '../ota/health.js';
import { HmiChannel, noticeOf, type HmiProgress } from '../ota/hmi.js';
import { InstallWatch } from '../ota/install-watch.js';
import { networkGate } from '../ota/network-gate.js';
import { CANCELLABLE, backendSpec, blockedBy, factorySoftware, installedSoftware, sameTarget } from '../ota/policy.js';
import { rebootIntoNewSlot } from '../ota/reboot.js';
import { StopGate } from '../ota/stop-gate.js';
import { OTA_STORE_FILE, checkPreconditions } from '../ota/shared.js';
import type { OtaCheckResult, OtaRuntimeDeps } from './ota-deps.js';

/** The exit code that asks the service manager to start the agent again (dir-slots: into the new slot). EX_TEMPFAIL. */
export const OTA_RESTART_EXIT_CODE = 75;

export interface OtaRuntimeSettings extends OtaConfig {
  stateDir: string;
  vin: string;
  /** `vehicle.groups`: the group stages of a staged rollout that admit this vehicle; also sent in its reports. */
  groups?: readonly string[];
  hardwareId: string;
  /** The MQTT client id on the HMI broker. */
  hmiClientId: string;
}

export type { OtaCheckResult, OtaRuntimeDeps, OtaUplink } from './ota-deps.js';

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
  /** False while the start-up settles an update on trial (its health check may take healthTimeoutS). */
  private settled = true;
  private checking: Promise<OtaCheckResult> | undefined;
  private running: Promise<void> | undefined;
  private lastCheck: OtaCheckResult | undefined;
  private noticeSeq: number;
  private inventoryPending = true;
  private readonly watch: InstallWatch;
  private readonly limits: DownloadLimits;
  /** The download under way, for the status. */
  private progress: HmiProgress | undefined;
  private readonly gate = new StopGate();

  constructor(
    private readonly s: OtaRuntimeSettings,
    private readonly deps: OtaRuntimeDeps,
  ) {
    // A bandwidth cap the minimum rate cannot live with is refused at start (CONFIG_INVALID).
    this.limits = downloadLimits(s.download);
    mkdirSync(join(s.stateDir, 'downloads'), { recursive: true });
    const { clock } = deps;
    this.backend = deps.backend ?? createInstallBackend(backendSpec(s.backend), { clock, ...(deps.runner === undefined ? {} : { runner: deps.runner }) });
    const repo = (name: string, source: string): TrustedRepository => new TrustedRepository({ name, stateDir: s.stateDir, source, trustedTime: deps.trustedTime, ...(name === 'image' ? { minThresholds: IMAGE_MIN_THRESHOLDS } : {}) });
    this.repos = { image: repo('image', s.imageRepo), director: repo('director', s.directorRepo) };
    this.hmi = new HmiChannel({ url: s.hmi.url, topic: s.hmi.topic, clientId: s.hmiClientId, clock, logger: deps.logger.child({ component: 'hmi' }), report: (err) => deps.report(err, 'hmi') });
    this.store = CampaignStore.open({ path: join(s.stateDir, OTA_STORE_FILE), clock });
    this.noticeSeq = this.store.transitions().reduce((max, t) => Math.max(max, t.seq), 0);
    this.runner = new CampaignRunner({ store: this.store, backend: this.backend, hooks: this.hooks(), clock, ecu: s.ecu, logger: deps.logger, maxBootAttempts: s.maxBootAttempts, healthTimeoutMs: s.healthTimeoutS * 1000 });
    const current = () => this.store.current();
    this.watch = new InstallWatch({ clock, intervalMs: WATCH_MS, logger: deps.logger, current, vehicle: deps.vehicle, stopped: () => this.stopped, cancel: (code, detail, reason) => this.runner.cancel(code, detail, reason) });
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
    this.settled = false;
    this.resumed = this.seed()
      .then(() => this.track(this.runner.settle()))
      .finally(() => (this.settled = true));
    void this.resumed.then(() => this.check());
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    const stopping = this.gate.stop(this.running, this.deps.clock, STOP_WAIT_MS);
    this.stopSignal.abort();
    for (const off of this.off) off();
    this.watch.stop();
    // An install or activation step finishes (bounded); a hook waiting is abandoned as a power cut would.
    await stopping;
    await this.hmi.close();
    this.store.close();
  }

  status(): Record<string, unknown> {
    if (this.stopped) return { stopped: true };
    const c = this.store.current();
    return {
      campaign:
        c === null
          ? null
          : { id: c.id, state: c.state, target: c.target.name, version: c.target.custom.version ?? null, code: c.code, detail: c.detail, ...(c.reason === undefined ? {} : { reason: c.reason }), ...(c.state === 'downloading' && this.progress ? { progress: this.progress } : {}) },
      boot: this.store.bootState().phase,
      ...(this.lastCheck === undefined ? {} : { lastCheck: this.lastCheck }),
      hmi: this.hmi.counters(),
    };
  }

  /** Checks the repositories now (one check at a time); the campaign it starts runs on in the background. */
  check(): Promise<OtaCheckResult> {
    // Settling an update on trial (the health check after the restart) can outlast a command's
    // time limit: answer at once; the start-up runs a check as soon as it is settled.
    const trial = this.settled ? null : this.store.current();
    if (trial?.state === 'rebooting') {
      return Promise.resolve(this.checked({ result: 'in-progress', target: trial.target.name, detail: 'the update on trial is being health-checked; a check follows when it is settled' }));
    }
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
    let step: CheckStep = 'image';
    const repos: { image?: TrustedMetadata; director?: TrustedMetadata } = {};
    let installedCounter: number | null = null;
    try {
      const image = (repos.image = await this.repos.image.refresh());
      step = 'director';
      const director = (repos.director = await this.repos.director.refresh());
      step = 'resolve';
      const entry = this.store.inventory.get(this.s.ecu);
      installedCounter = entry?.releaseCounter ?? null;
      const installed = installedSoftware(entry);
      resolution = resolveUpdate({ director, image, hardwareId: this.s.hardwareId, vin: this.s.vin, groups: this.s.groups ?? [], ...(installed === undefined ? {} : { installed }) });
    } catch (err) {
      const e = asTcuError(err, 'OTA_FETCH');
      // Stopped during the refresh (the store closed under it): nothing to report.
      if (this.stopped) return done({ result: 'error', code: 'OTA_CANCELLED', target: null, detail: 'the agent is stopping' });
      // Every refusal (a security code) and failure goes into the audit log, with the step that stopped.
      this.audited(() => auditCheckError(this.store, e, step, repos));
      this.deps.report(e, 'ota');
      // Offline or refused now: a campaign already under way (verified when it started) carries on.
      const c = this.store.current();
      if (c !== null && !isFinal(c.state)) this.track(this.runner.run());
      return done({ result: 'error', code: e.code, target: null, detail: e.message });
    }
    if (this.stopped) return done({ result: 'error', code: 'OTA_CANCELLED', target: null, detail: 'the agent is stopping' });
    this.audited(() => auditCheckResult(this.store, resolution, { image: repos.image!, director: repos.director! }, installedCounter));
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

  /** Writes an audit entry; a store that cannot be written is reported, the check goes on. */
  private audited(write: () => void): void {
    try {
      write();
    } catch (err) {
      this.deps.report(asTcuError(err, 'OTA_STATE'), 'ota');
    }
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
          const c = this.store.current();
          const { stateDir, imageRepo } = this.s;
          // Progress: in the status, and a notice to the HMI every 5 % or 2 s.
          const onProgress = (progress: HmiProgress): void => {
            this.progress = progress;
            if (c === null || this.stopped) return;
            const v = target.custom.version ?? null;
            this.hmi.notice({ v: 1, campaign: c.id, state: 'downloading', target: target.name, version: v, code: null, detail: `${progress.percent} % downloaded`, at: new Date(clock.now()).toISOString(), progress });
          };
          const gate = networkGate(target, { connectivity: this.deps.connectivity, clock });
          const both = AbortSignal.any([signal, this.stopSignal.signal]);
          return downloadCampaignTarget(target, { stateDir, imageRepo, clock, signal: both, limits: this.limits, networkGate: gate, onProgress, intervalMs: 2000 }).finally(() => (this.progress = undefined));
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
          if (result.ok) this.watch.start(target);
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
        // rauc, command: `systemctl reboot` first; when it fails the agent stays up (no restart loop).
        await rebootIntoNewSlot({
          backend: this.backend.name,
          runner: () => this.deps.runner ?? childProcessRunner({ clock }),
          logger: this.deps.logger,
          report: (err) => this.deps.report(err, 'ota'),
          restart: () => this.deps.restart('ota-reboot'),
          exitCode: OTA_RESTART_EXIT_CODE,
        });
      },
      onReport: (state, details) => this.report(state, details),
    };
  }

  private async report(state: CampaignStateName, details: ReportDetails): Promise<void> {
    this.notifyHmi();
    const c = this.store.current();
    const rollout = c !== null && c.id === details.campaign ? c.target.custom.rollout?.campaign : undefined;
    const body = { v: 1, vin: this.s.vin, state, ...details, ...(rollout === undefined ? {} : { rollout: { campaign: rollout } }), ...(this.s.groups?.length ? { groups: this.s.groups } : {}) };
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

  /**
   * First start: the inventory records the booted slot's software (factory), as far as the backend
   * knows it: with dir-slots its release counter too, so a signed downgrade is refused from the start.
   */
  private async seed(): Promise<void> {
    try {
      const factory = factorySoftware(await this.backend.status(), this.s.ecu);
      if (factory !== undefined) this.store.inventory.seed(factory);
    } catch (err) {
      this.deps.report(asTcuError(err, 'OTA_INSTALL'), 'ota');
    }
  }
}
