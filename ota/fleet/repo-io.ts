import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, rmdirSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../../core/atomic-file.js';
import { TcuError, asTcuError } from '../../core/errors.js';
import { RepositoryBuilder, metadataBytes, parseMetadata, type Signer, type TufRole } from '../repo/index.js';
import { verifyRoles } from './signing.js';

/**
 * Reading, re-signing and writing a repository folder for the fleet tool: one writer at a time
 * (a lock file), every role checked against the root before anything is written, and the files
 * written in TUF's safe order (targets, snapshot, timestamp last; RepositoryBuilder.write).
 *
 * With `consistent_snapshot: false` a targets.json written alone would not match the live
 * snapshot, and vehicles would refuse the set until the next publish. So `tcu-ota add` without
 * snapshot and timestamp keys stages the signed targets.json in `.tcu-ota/staged-targets.json`;
 * the next command that publishes (publish, add with keys, rollout, an automatic pause) makes it
 * live with a new snapshot and timestamp and removes the staged copy.
 */

export const LOCK_FILE = '.tcu-ota.lock';

/** Where `tcu-ota add` without publishing keeps the signed targets.json until a publish. */
export const STAGED_TARGETS = join('.tcu-ota', 'staged-targets.json');

/**
 * A repository folder written by `tcu-ota init` (or any TUF tool, consistent_snapshot false), with
 * the staged targets.json in place of the live one when `tcu-ota add` left one (`staged: true`).
 */
export function loadRepository(dir: string): { repo: RepositoryBuilder; staged: boolean } {
  if (!existsSync(join(dir, 'root.json'))) throw new TcuError('FILE_READ', `${dir} is not a repository (no root.json); create one with "tcu-ota init"`, { details: { path: dir } });
  const repo = RepositoryBuilder.load(dir);
  const stagedPath = join(dir, STAGED_TARGETS);
  if (!existsSync(stagedPath)) return { repo, staged: false };
  let bytes: Buffer;
  try {
    bytes = readFileSync(stagedPath);
  } catch (err) {
    throw asTcuError(err, 'FILE_READ', `cannot read ${stagedPath}`);
  }
  const staged = parseMetadata('targets', bytes);
  if (staged.signed.version <= repo.targets.signed.version) {
    // Published since (by another tool): the staged copy is stale.
    rmSync(stagedPath, { force: true });
    return { repo, staged: false };
  }
  repo.targets = staged;
  return { repo, staged: true };
}

/** Writes targets.json to the staging place only (the live repository is unchanged). */
export function writeStagedTargets(repo: RepositoryBuilder, dir: string): void {
  const path = join(dir, STAGED_TARGETS);
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileAtomic(path, metadataBytes(repo.targets));
  } catch (err) {
    throw asTcuError(err, 'FILE_WRITE', `cannot write ${path}`);
  }
}

/**
 * Runs `fn` holding `<dir>/.tcu-ota.lock` (created exclusively, holding our pid). A lock whose
 * process is gone is taken over; one held by a live process: FILE_WRITE.
 */
export async function withRepositoryLock<T>(dir: string, fn: () => T | Promise<T>): Promise<T> {
  if (!existsSync(dir)) throw new TcuError('FILE_READ', `${dir} does not exist; create a repository with "tcu-ota init"`, { details: { path: dir } });
  const path = join(dir, LOCK_FILE);
  let fd: number | undefined;
  for (let attempt = 0; fd === undefined; attempt++) {
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch (err) {
      const holder = lockHolder(path);
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0 || (holder !== undefined && processAlive(holder))) {
        throw asTcuError(err, 'FILE_WRITE', `cannot lock ${dir}${holder === undefined ? '' : ` (tcu-ota pid ${holder} is writing it)`}`);
      }
      rmSync(path, { force: true }); // left by a process that is gone
    }
  }
  try {
    writeSync(fd, `${process.pid}\n`);
    closeSync(fd);
    return await fn();
  } finally {
    rmSync(path, { force: true });
  }
}

function lockHolder(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface Resign {
  /** Re-sign targets.json too (a changed target list); its version goes up by one. */
  targets?: readonly Signer[];
  snapshot: readonly Signer[];
  timestamp: readonly Signer[];
  /** New expiry dates; each role signed here gets its own. */
  expires: Record<TufRole, Date>;
  /** Now: the timestamp's `issued` field, a time vehicles take as a lower bound of theirs. */
  issued: Date;
}

export interface Versions {
  root: number;
  targets: number;
  snapshot: number;
  timestamp: number;
}

/** Signs (targets,) snapshot and timestamp, checks each against the root, and writes the folder. */
export function resignAndWrite(repo: RepositoryBuilder, dir: string, r: Resign): Versions {
  if (r.targets) repo.signTargets(r.targets, { expires: r.expires.targets });
  repo.publish(r.snapshot, r.timestamp, { snapshot: { expires: r.expires.snapshot }, timestamp: { expires: r.expires.timestamp, issued: r.issued } });
  verifyRoles(repo, ['targets', 'snapshot', 'timestamp']);
  writeRepository(repo, dir);
  rmSync(join(dir, STAGED_TARGETS), { force: true });
  try {
    rmdirSync(join(dir, dirname(STAGED_TARGETS)));
  } catch {
    // not empty, or not there
  }
  return versionsOf(repo);
}

/**
 * `RepositoryBuilder.write`, then the metadata files made readable by all (0644): they are public,
 * and the web server or CDN uploader serving the folder may run as another user.
 */
export function writeRepository(repo: RepositoryBuilder, dir: string): void {
  repo.write(dir);
  for (const name of repo.metadataFiles().keys()) {
    try {
      chmodSync(join(dir, name), 0o644);
    } catch (err) {
      throw asTcuError(err, 'FILE_WRITE', `cannot make ${join(dir, name)} readable`);
    }
  }
}

/**
 * Writes only the metadata files named (in `metadataFiles` order: roots, targets, snapshot,
 * timestamp last), each atomically and readable by all; the others stay as they are on disk.
 */
export function writeMetadataFiles(repo: RepositoryBuilder, dir: string, names: readonly string[]): void {
  for (const [name, bytes] of repo.metadataFiles()) {
    if (!names.includes(name)) continue;
    const path = join(dir, name);
    try {
      writeFileAtomic(path, bytes);
      chmodSync(path, 0o644);
    } catch (err) {
      throw asTcuError(err, 'FILE_WRITE', `cannot write ${path}`);
    }
  }
}

export function versionsOf(repo: RepositoryBuilder): Versions {
  return { root: repo.root.signed.version, targets: repo.targets.signed.version, snapshot: repo.snapshot.signed.version, timestamp: repo.timestamp.signed.version };
}
