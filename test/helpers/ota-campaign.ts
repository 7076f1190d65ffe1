/**
 * A campaign on real folders for the tests: a dir-slots folder provisioned with version 1, a state
 * store, hooks that record what they are asked. `boot()` is one start of the agent: it closes the
 * previous store and opens the store, the backend and a runner afresh, as a new process would.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { HealthResult } from '../../ota/campaign/boot.js';
import { CampaignRunner, type CampaignHooks, type ConsentAnswer, type PreconditionResult } from '../../ota/campaign/campaign.js';
import type { CampaignStateName } from '../../ota/campaign/states.js';
import { CampaignStore, type ReportDetails } from '../../ota/campaign/store.js';
import { DirSlotsBackend } from '../../ota/install/dir-slots.js';
import type { VerifiedTarget } from '../../ota/types.js';
import type { FakeClock } from './fake-clock.js';
import { makeImage, seededBytes } from './ota-install.js';

export interface Booted {
  store: CampaignStore;
  backend: DirSlotsBackend;
  runner: CampaignRunner;
}

export interface CampaignHarness {
  slotsDir: string;
  storePath: string;
  reports: { state: CampaignStateName; details: ReportDetails }[];
  reboots: number;
  healthCalls: number;
  /** Replace to change what the hooks answer. */
  health: () => Promise<HealthResult>;
  consent: () => Promise<ConsentAnswer>;
  preconditions: () => Promise<PreconditionResult>;
  download: (target: VerifiedTarget, signal: AbortSignal) => Promise<string>;
  /** While set, reports of this state throw (the broker is unreachable). */
  failReportsOf: CampaignStateName | null;
  image(version: number, bytes?: number): { path: string; target: VerifiedTarget };
  boot(options?: { maxBootAttempts?: number; healthTimeoutMs?: number }): Booted;
  close(): void;
}

/** The harness in `dir`, slots provisioned with version 1 (release counter 1) in slot a. */
export async function campaignHarness(dir: string, clock: FakeClock): Promise<CampaignHarness> {
  const slotsDir = join(dir, 'slots');
  const imagesDir = join(dir, 'images');
  const downloads = join(dir, 'downloads');
  mkdirSync(imagesDir);
  mkdirSync(downloads);
  const image = (version: number, bytes = 200_000) =>
    makeImage(imagesDir, `tcu/agent-${version}.mjs`, seededBytes(version, bytes), { version: `${version}.0.0`, releaseCounter: version, rxswin: [`R156-TCU-${version}`] });
  const first = image(1);
  await DirSlotsBackend.provision({ dir: slotsDir, clock }, first.path, first.target);
  let current: CampaignStore | undefined;
  const h: CampaignHarness = {
    slotsDir,
    storePath: join(dir, 'ota.db'),
    reports: [],
    reboots: 0,
    healthCalls: 0,
    health: async () => ({ ok: true, checks: { agent: true, broker: true, can: true } }),
    consent: async () => 'given',
    preconditions: async () => ({ ok: true }),
    download: async (target) => {
      const path = join(downloads, target.name.replaceAll('/', '_'));
      copyFileSync(join(imagesDir, target.name.replaceAll('/', '_')), path);
      return path;
    },
    failReportsOf: null,
    image,
    boot(options = {}) {
      current?.close();
      const store = CampaignStore.open({ path: h.storePath, clock });
      current = store;
      store.inventory.seed({ ecu: 'tcu', version: first.target.custom.version ?? null, hash: first.target.hashes['sha256'], releaseCounter: 1, rxswin: first.target.custom.rxswin });
      const backend = DirSlotsBackend.open({ dir: slotsDir, clock });
      const hooks: CampaignHooks = {
        download: (target, signal) => h.download(target, signal),
        consent: () => h.consent(),
        preconditions: () => h.preconditions(),
        healthCheck: () => {
          h.healthCalls++;
          return h.health();
        },
        reboot: () => {
          h.reboots++;
        },
        onReport: (state, details) => {
          if (h.failReportsOf === state) throw new Error('broker unreachable');
          h.reports.push({ state, details });
        },
      };
      const runner = new CampaignRunner({ store, backend, hooks, clock, ecu: 'tcu', ...options });
      return { store, backend, runner };
    },
    close() {
      current?.close();
      current = undefined;
    },
  };
  return h;
}
