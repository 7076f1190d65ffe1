/**
 * The agent's OtaRuntime in-process for the tests: real signed repositories (folders), a real
 * dir-slots folder with factory software, a real campaign store, and fakes for what the running
 * agent gives it (uplink, scheduler, vehicle state, restart), recording what it publishes.
 */
import { join } from 'node:path';
import { systemClock, type Clock } from '../../core/clock.js';
import type { TcuError } from '../../core/errors.js';
import { silentLogger } from '../../core/logger.js';
import type { OtaDownloadConfig } from '../../config/index.js';
import { TrustedTime } from '../../drivers/gnss/index.js';
import { OtaRuntime, type OtaRuntimeDeps } from '../../agent/runtime/ota.js';
import { DirSlotsBackend, type CommandRunner, type InstallBackend, type SlotManifest } from '../../ota/install/index.js';
import type { TargetCustom, VehicleState } from '../../ota/types.js';
import { makeImage } from './ota-install.js';
import type { VehicleRepos } from './ota-repos.js';

export const HW = 'tcu-a';

/** Factory software in slot a of `<base>/slots`, confirmed: release counter `counter`, as a production line puts it. */
export async function provisionFactory(base: string, counter: number, clock: Clock = systemClock()): Promise<SlotManifest> {
  const img = makeImage(base, `tcu/app-${counter}.0-factory.tar`, Buffer.from(`factory image ${counter}.0`), { hardwareIds: [HW], version: `${counter}.0`, releaseCounter: counter, rxswin: [`R156-F${counter}`] });
  return DirSlotsBackend.provision({ dir: join(base, 'slots'), clock }, img.path, img.target);
}

/** A new release signed by both repositories; the director names only it (with `preconditions`). */
export function release(v: VehicleRepos, version: number, o: { name: string; bytes: string | Uint8Array; releaseCounter: number; preconditions?: TargetCustom['preconditions'] }): void {
  v.image.addTarget(o.name, o.bytes, { hardwareIds: [HW], version: `${o.releaseCounter}.0`, releaseCounter: o.releaseCounter, rxswin: [`R156-X${o.releaseCounter}`] });
  for (const old of v.director.builder.targetNames()) v.director.builder.removeTarget(old);
  v.director.addTarget(o.name, o.bytes, { hardwareIds: [HW], ...(o.preconditions === undefined ? {} : { preconditions: o.preconditions }) });
  v.image.honestPublish(version);
  v.director.honestPublish(version);
}

export interface RuntimeHarness {
  runtime: OtaRuntime;
  /** What went to the cloud: `ota` reports and `ota/inventory`. */
  published: { suffix: string; body: Record<string, unknown> }[];
  reports(): Record<string, unknown>[];
  errors: TcuError[];
  restarts: string[];
  /** Change it to change what the preconditions see. */
  vehicle: VehicleState;
}

export interface RuntimeOptions {
  backend?: InstallBackend;
  backendType?: 'dir-slots' | 'rauc' | 'command';
  runner?: CommandRunner;
  hmiUrl?: string;
  hmiTopic?: string;
  download?: OtaDownloadConfig;
  vehicle?: VehicleState;
  /** Where the repositories are served from (default their folders). */
  repos?: { image: string; director: string };
}

export function otaRuntime(v: VehicleRepos, o: RuntimeOptions = {}): RuntimeHarness {
  const clock = systemClock();
  const published: RuntimeHarness['published'] = [];
  const errors: TcuError[] = [];
  const restarts: string[] = [];
  const h = { published, errors, restarts, vehicle: o.vehicle ?? { socPercent: 80, parked: true, ignitionOff: true } } as RuntimeHarness;
  const deps: OtaRuntimeDeps = {
    clock,
    logger: silentLogger(),
    trustedTime: new TrustedTime({ clock }),
    uplink: {
      state: 'connected',
      on: () => () => undefined,
      publishMessage: async (suffix, payload) => {
        published.push({ suffix, body: JSON.parse(payload.toString()) as Record<string, unknown> });
      },
    },
    scheduler: { schedule: () => ({ stop: () => undefined }) },
    vehicle: () => h.vehicle,
    connectivity: () => undefined,
    busFrames: () => ({ pt: 1 }),
    report: (err) => errors.push(err),
    restart: (reason) => restarts.push(reason),
    ...(o.runner === undefined ? {} : { runner: o.runner }),
    ...(o.backend === undefined ? {} : { backend: o.backend }),
  };
  h.runtime = new OtaRuntime(
    {
      imageRepo: o.repos?.image ?? v.image.dir,
      directorRepo: o.repos?.director ?? v.director.dir,
      stateDir: v.stateDir,
      backend: { type: o.backendType ?? 'dir-slots', dir: join(v.base, 'slots') },
      checkCron: '0 0 */6 * * *',
      hmi: { url: o.hmiUrl ?? 'mqtt://127.0.0.1:1', topic: o.hmiTopic ?? 'tcu/hmi', consentTimeoutS: 1 },
      signals: { maxAgeMs: 5000, parkedMaxSpeedKmh: 0.5 },
      maxBootAttempts: 3,
      healthTimeoutS: 5,
      ecu: 'tcu',
      ...(o.download === undefined ? {} : { download: o.download }),
      vin: 'WVWZZZ1KZPW000001',
      hardwareId: HW,
      hmiClientId: 'tcu-hmi-test',
    },
    deps,
  );
  h.reports = () => published.filter((p) => p.suffix === 'ota').map((p) => p.body);
  return h;
}
