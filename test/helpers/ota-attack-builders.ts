import { TargetFile, type MetaFile } from '@tufjs/models';
import type { ErrorCode } from '../../core/errors.js';
import { buildSnapshot, buildTimestamp, metaFileFor, metadataBytes, signMetadata, targetFileFor, type Signer } from '../../ota/repo/index.js';
import { DAY, testKey, type RepoName, type TestRepo, type Vehicle } from './ota-repos.js';

/**
 * Builders for the attacks of ota-attacks.ts (and the unit tests that plant their own): metadata
 * signed out of order, bad rotations, a director that disagrees, target names that escape. The
 * vehicle is `vehicleRepos()`'s: target NAME (bytes BYTES) for hardware tcu-a.
 */

export const NAME = 'tcu/app-1.0.tar';
export const BYTES = 'application image 1.0';

/** Undoes what an attack left in the repositories' builders, before the next honest release. */
export type Repair = () => void;

export interface Attack {
  /** The test's title. */
  title: string;
  /** The repository whose refresh refuses it; 'resolve' when both refresh and resolveUpdate refuses. */
  at: RepoName | 'resolve';
  code: ErrorCode;
  /** tuf-js's (or our) message, pinned to the code. */
  message?: RegExp;
  details?: Record<string, unknown>;
  /** The reference time of the refresh (`--now`), when the attack needs one. */
  now?: (v: Vehicle) => Date;
  /** Plants the attack (after bringing the trusted state where it needs it); may return its repair. */
  plant(v: Vehicle): Repair | void | Promise<Repair | void>;
}

export interface AttackGroup {
  name: string;
  attacks: Attack[];
}

export function timestampFor(repo: TestRepo, version: number, snapshot: { version: number; bytes?: Buffer }, signers: Signer[] = repo.keys.timestamp): Buffer {
  const md = buildTimestamp({ version, expires: new Date(repo.nowMs + DAY), snapshotMeta: metaFileFor(snapshot.version, snapshot.bytes) });
  signMetadata(md, signers);
  return metadataBytes(md);
}

export function snapshotFor(repo: TestRepo, version: number, meta: Record<string, MetaFile>): Buffer {
  const md = buildSnapshot({ version, expires: new Date(repo.nowMs + 7 * DAY), meta });
  signMetadata(md, repo.keys.snapshot);
  return metadataBytes(md);
}

/** Writes targets bytes, a snapshot naming them and a timestamp naming that snapshot. */
export function publishRawTargets(repo: TestRepo, targets: Buffer, targetsVersion: number, version: number): void {
  const snapshot = snapshotFor(repo, version, { 'targets.json': metaFileFor(targetsVersion, targets) });
  repo.put('targets.json', targets);
  repo.put('snapshot.json', snapshot);
  repo.put('timestamp.json', timestampFor(repo, version, { version, bytes: snapshot }));
}

/** Two new root keys from seed `from`. */
export const rootKeys = (from: number) => [testKey(from), testKey(from + 1)];
export const roleOf = (ks: ReturnType<typeof rootKeys>) => ({ keys: ks.map((k) => k.publicKey()), threshold: 2 });

/** Root 2 (and its keys) as it should have been: signed by the old and the new root keys. */
export function properRotation(r: TestRepo, newRoot: ReturnType<typeof rootKeys>): void {
  r.builder.rotateRoot({ version: 2, roles: { root: roleOf(newRoot) } }, [...r.keys.root, ...newRoot]);
  r.keys.root = newRoot;
}

/** The director names `name` with other bytes than the image repository. */
export function directorNames(veh: Vehicle, name: string, bytes: string, custom: unknown = { hardwareIds: ['tcu-a'] }): void {
  veh.director.builder.removeTarget(NAME);
  veh.director.builder.putTarget(targetFileFor(name, Buffer.from(bytes), custom, false));
  veh.director.publish();
}

/** Puts back the director's honest entry. */
export function directorHonest(veh: Vehicle): void {
  for (const name of Object.keys(veh.director.builder.targets.signed.targets)) veh.director.builder.removeTarget(name);
  veh.director.addTarget(NAME, BYTES, { hardwareIds: ['tcu-a'], preconditions: { minSocPercent: 40 } });
}

/** Target names that escape their folder; ota/repo refuses them, so the entries are made by hand. */
export const EVIL_TARGET_NAMES = ['../../etc/shadow', '/etc/shadow', 'tcu/../../x', 'tcu\\..\\x', 'tcu//x', 'tcu/%2e%2e/x', 'tcu/\u0000x'];

export function plantTargetName(v: Vehicle, evil: string): Repair {
  const honest = v.image.builder.targets.signed.targets[NAME]!;
  for (const r of [v.image, v.director]) {
    r.builder.removeTarget(NAME);
    r.builder.putTarget(new TargetFile({ path: evil, length: honest.length, hashes: honest.hashes, unrecognizedFields: honest.unrecognizedFields }));
    r.publish();
  }
  return () => {
    for (const r of [v.image, v.director]) r.builder.removeTarget(evil);
    v.image.addTarget(NAME, BYTES, { hardwareIds: ['tcu-a'], version: '1.0', releaseCounter: 1 });
    directorHonest(v);
  };
}
