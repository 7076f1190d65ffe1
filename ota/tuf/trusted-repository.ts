import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Updater, type Config, type Fetcher } from 'tuf-js';
import { systemClock, type Clock } from '../../core/clock.js';
import { TcuError, asTcuError } from '../../core/errors.js';
import type { TrustedTime } from '../../drivers/gnss/trusted-time.js';
import { ObservedFetcher, tufErrorToTcu } from './errors.js';
import { LocalFetcher } from './fetcher.js';
import { HttpFetcher, type HttpFetcherOptions } from './http-fetcher.js';
import { ROLES_IN_ORDER, commitFiles, readTrustedFiles, recoverCommit, roleVersions, type MetadataFile, type TrustedFiles } from './trusted-store.js';
import { verifyTrustedSet, type TrustedMetadata } from './verify-set.js';
import type { TufRole } from '../repo/metadata.js';

export interface TrustedRepositoryOptions {
  /** The repository's name and folder under `stateDir`: 'image' or 'director'. */
  name: string;
  /** Holds `<name>/root.json` (the integrator's) and everything trusted since. */
  stateDir: string;
  /** Where the repository is served: an http(s) URL, a file:// URL or a folder path. */
  source: string;
  /** Replaces the fetcher chosen from `source`. */
  fetcher?: Fetcher;
  /** Options for the HTTP fetcher chosen for an http(s) source. */
  http?: HttpFetcherOptions;
  /** The highest trusted time: a system clock or reference time behind it is refused (OTA_CLOCK). */
  trustedTime?: TrustedTime;
  /** The system clock, which tuf-js reads (`new Date()`). Default: the real one. */
  clock?: Clock;
  /** How far behind the trusted time a clock may be. Default 5000 ms. */
  clockToleranceMs?: number;
  /** Lowest threshold the trusted root may set per role (`IMAGE_MIN_THRESHOLDS` for the image repository). */
  minThresholds?: Partial<Record<TufRole, number>>;
  /** tuf-js limits: root rotations per refresh and the maximum length of each metadata file. */
  limits?: Partial<Pick<Config, 'maxRootRotations' | 'rootMaxLength' | 'timestampMaxLength' | 'snapshotMaxLength' | 'targetsMaxLength'>>;
}

/**
 * Uptane's image repository is signed with offline keys, root and targets with thresholds of two or
 * more: the vehicle refuses an image repository whose root asks for fewer (OTA_SIGNATURE), so that
 * one stolen key can never sign software on its own. The director is an online repository.
 */
export const IMAGE_MIN_THRESHOLDS: Readonly<Partial<Record<TufRole, number>>> = { root: 2, targets: 2 };

/**
 * The floor is raised to a timestamp's `issued` less this: a signer's clock a little fast, or a
 * vehicle's a little slow, must not lock the vehicle out (docs/OTA.md, "The clock").
 */
export const ISSUED_MARGIN_MS = 3_600_000;

export interface RefreshOptions {
  /** The reference time for expiry (`tcu-agent ota apply --now`). Default: the trusted time's now. */
  now?: Date;
}

export interface RefreshResult extends TrustedMetadata {
  /** Files committed into the trusted folder by this refresh (empty when nothing changed). */
  changed: MetadataFile[];
}

/**
 * One TUF repository's trusted metadata on the vehicle (docs/OTA.md, "Trusted metadata on the vehicle").
 *
 * `refresh()` runs tuf-js's Updater (the TUF client workflow: root rotation, timestamp, snapshot,
 * targets) in a work copy `<stateDir>/<name>/.work`, checks the result again with
 * `verifyTrustedSet` at our reference time, and only then commits the files that changed into
 * `<stateDir>/<name>/` (trusted-store.ts: atomic as a set, previous copies kept). Any failure
 * leaves the trusted folder as it was and throws a TcuError with an OTA_* code.
 *
 * The first run trusts `<stateDir>/<name>/root.json`, put there by the integrator; a root is never
 * taken from the network without a chain of signatures from it. One refresh at a time per object.
 */
export class TrustedRepository {
  readonly name: string;
  /** The trusted folder. */
  readonly dir: string;
  private readonly workDir: string;
  private readonly fetcher: Fetcher;
  private readonly baseUrl: string;
  private readonly trustedTime: TrustedTime | undefined;
  private readonly clock: Clock;
  private readonly toleranceMs: number;
  private readonly limits: TrustedRepositoryOptions['limits'];
  private readonly minThresholds: TrustedRepositoryOptions['minThresholds'];
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: TrustedRepositoryOptions) {
    if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(options.name)) {
      throw new TcuError('CONFIG_INVALID', `repository name ${JSON.stringify(options.name)} must be a plain folder name`);
    }
    this.name = options.name;
    this.dir = join(options.stateDir, options.name);
    this.workDir = join(this.dir, '.work');
    this.trustedTime = options.trustedTime;
    this.clock = options.clock ?? systemClock();
    this.toleranceMs = options.clockToleranceMs ?? 5000;
    this.limits = options.limits;
    this.minThresholds = options.minThresholds;
    const isHttp = /^https?:\/\//i.test(options.source);
    if (options.fetcher) {
      this.fetcher = options.fetcher;
      this.baseUrl = isHttp || options.source.startsWith('file:') ? options.source : pathToFileURL(options.source).href;
    } else if (isHttp) {
      this.fetcher = new HttpFetcher(options.http);
      this.baseUrl = options.source;
    } else {
      const local = new LocalFetcher(options.source);
      this.fetcher = local;
      this.baseUrl = local.baseUrl;
    }
  }

  /** Brings the trusted metadata up to date with the repository; see the class comment. */
  refresh(options: RefreshOptions = {}): Promise<RefreshResult> {
    const run = this.queue.then(() => this.doRefresh(options));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * The metadata already trusted, checked again at the reference time without any network
   * (offline, or to read the targets after a refresh): OTA_METADATA when nothing beyond the root is
   * trusted yet, OTA_EXPIRED when a role has expired (a vehicle offline for too long).
   */
  loadTrusted(options: RefreshOptions = {}): TrustedMetadata {
    const now = this.referenceTime(options.now);
    this.recover();
    const files = readTrustedFiles(this.dir, this.name);
    const { root, timestamp, snapshot, targets } = files;
    if (!root || !timestamp || !snapshot || !targets) {
      throw new TcuError('OTA_METADATA', `${this.name} repository: only a root is trusted yet; refresh first`, { details: { repository: this.name } });
    }
    return verifyTrustedSet({ root, timestamp, snapshot, targets }, { repository: this.name, now, ...(this.minThresholds ? { minThresholds: this.minThresholds } : {}) });
  }

  /**
   * The reference time for expiry: `now` if given, else the trusted time (max of the system clock
   * and the floor). OTA_CLOCK when the system clock (which tuf-js uses) or `now` is behind the
   * trusted floor by more than the tolerance.
   */
  referenceTime(now?: Date): Date {
    if (now !== undefined && Number.isNaN(now.getTime())) throw new TcuError('OTA_CLOCK', 'the reference time is not a valid date');
    const system = this.clock.now();
    const floor = this.trustedTime?.floor();
    if (floor !== undefined) {
      const details = { repository: this.name, floorMs: Math.floor(floor), systemMs: system };
      if (system < floor - this.toleranceMs) {
        throw new TcuError('OTA_CLOCK', `the system clock is ${Math.round(floor - system)} ms behind the trusted time ${new Date(floor).toISOString()}`, { details });
      }
      if (now !== undefined && now.getTime() < floor - this.toleranceMs) {
        throw new TcuError('OTA_CLOCK', `the reference time ${now.toISOString()} is behind the trusted time ${new Date(floor).toISOString()}`, {
          details: { ...details, nowMs: now.getTime() },
        });
      }
    }
    return now ?? new Date(this.trustedTime ? this.trustedTime.now() : system);
  }

  private async doRefresh(options: RefreshOptions): Promise<RefreshResult> {
    const now = this.referenceTime(options.now);
    this.recover();
    const before = readTrustedFiles(this.dir, this.name);
    if (!before.root) {
      throw new TcuError('OTA_METADATA', `${this.name} repository: no trusted root; the integrator puts root.json in ${this.dir}`, { details: { repository: this.name } });
    }
    this.prepareWork(before);
    const observed = new ObservedFetcher(this.fetcher);
    try {
      try {
        const updater = new Updater({ metadataDir: this.workDir, metadataBaseUrl: this.baseUrl, fetcher: observed, config: { ...this.limits } });
        await updater.refresh();
      } catch (err) {
        throw tufErrorToTcu(err, this.name, observed);
      }
      const after = readTrustedFiles(this.workDir, this.name);
      const { root, timestamp, snapshot, targets } = after;
      if (!root || !timestamp || !snapshot || !targets) throw new TcuError('OTA_METADATA', `${this.name} repository: the refresh left an incomplete set`);
      const rotation = observed.roots.size > 0 ? { from: before.root, roots: observed.roots } : undefined;
      const verified = verifyTrustedSet({ root, timestamp, snapshot, targets }, { repository: this.name, now, previous: roleVersions(before), rotation, ...(this.minThresholds ? { minThresholds: this.minThresholds } : {}) });
      const changed = new Map<MetadataFile, Buffer>();
      const onDisk = readTrustedFiles(this.dir, this.name, false);
      for (const role of ROLES_IN_ORDER) {
        const bytes = after[role];
        const old = onDisk[role];
        if (bytes && (!old || !bytes.equals(old))) changed.set(`${role}.json`, bytes);
      }
      commitFiles(this.dir, changed);
      // A verified signing time, less a margin for the signer's clock, is a lower bound of the present.
      if (verified.issued !== undefined) this.trustedTime?.raise('metadata', Date.parse(verified.issued) - ISSUED_MARGIN_MS);
      return { ...verified, changed: [...changed.keys()] };
    } finally {
      rmSync(this.workDir, { recursive: true, force: true });
    }
  }

  private prepareWork(files: TrustedFiles): void {
    try {
      rmSync(this.workDir, { recursive: true, force: true });
      mkdirSync(this.workDir, { recursive: true });
      for (const role of ROLES_IN_ORDER) {
        const bytes = files[role];
        if (bytes) writeFileSync(join(this.workDir, `${role}.json`), bytes);
      }
    } catch (err) {
      throw asTcuError(err, 'OTA_STATE', `${this.name} repository: cannot prepare ${this.workDir}`);
    }
  }

  private recover(): void {
    if (!existsSync(this.dir)) {
      throw new TcuError('OTA_METADATA', `${this.name} repository: ${this.dir} does not exist; the integrator puts root.json there`, { details: { repository: this.name } });
    }
    recoverCommit(this.dir);
  }
}

