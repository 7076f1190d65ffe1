import { createHash } from 'node:crypto';
import type { MetaFile, Metadata, Root, Snapshot, Targets, Timestamp } from '@tufjs/models';
import { TcuError, isTcuError, type ErrorCode } from '../../core/errors.js';
import { ISSUED_FIELD, parseMetadata, type AnyMetadata, type TufRole } from '../repo/metadata.js';

/**
 * Our own check of a complete set of trusted metadata (root, timestamp, snapshot, targets), run
 * after tuf-js accepted a refresh and before it is committed, and on its own to use the metadata
 * already trusted without a network (`TrustedRepository.loadTrusted`). tuf-js has done the TUF
 * client workflow by then; this adds what it cannot or does not do:
 *
 * - expiry against OUR reference time (tuf-js uses the system clock), and an `expires` that is not
 *   a valid TUF date is refused (tuf-js would treat it as never expiring);
 * - thresholds counted over distinct PUBLIC KEYS, not key ids: a root that lists one key under two
 *   ids cannot make one signature count twice (tuf-js counts key ids);
 * - each new root of a rotation chain checked the same way (old root's threshold and its own);
 * - versions never below the ones trusted before, and the set consistent with itself
 *   (timestamp → snapshot → targets: versions, and lengths and hashes where given);
 * - the timestamp's optional `issued` (when it was signed): a TUF date, and no role of the set
 *   expired by then (a set stale at its own signing time is refused even on a clock far behind).
 */

export interface TrustedTarget {
  name: string;
  length: number;
  /** Algorithm → hex, as the metadata gives them. */
  hashes: Record<string, string>;
  /** The raw `custom` object (parse it with parseTargetCustom); undefined when absent. */
  custom: unknown;
}

export type RoleVersions = Record<TufRole, number>;

export interface TrustedMetadata {
  repository: string;
  versions: RoleVersions;
  /** Expiry of each role (ISO 8601). */
  expires: Record<TufRole, string>;
  /** When the timestamp was signed (its `issued` field, a TUF date), when it says so. */
  issued?: string;
  targets: ReadonlyMap<string, TrustedTarget>;
}

export interface MetadataFiles {
  root: Uint8Array;
  timestamp: Uint8Array;
  snapshot: Uint8Array;
  targets: Uint8Array;
}

export interface VerifySetOptions {
  repository: string;
  /** Reference time for expiry. */
  now: Date;
  /** Versions trusted before this set (none may go down). */
  previous?: Partial<RoleVersions>;
  /** The root trusted before a rotation, and the new roots downloaded (N.root.json bytes by version). */
  rotation?: { from: Uint8Array; roots: ReadonlyMap<number, Uint8Array> };
  /** Lowest signature threshold the root may set per role (the image repository: offline keys, 2 or more). */
  minThresholds?: Partial<Record<TufRole, number>>;
}

const TUF_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

export function verifyTrustedSet(files: MetadataFiles, options: VerifySetOptions): TrustedMetadata {
  const repo = options.repository;
  const fail = (code: ErrorCode, message: string, details: Record<string, unknown> = {}): TcuError =>
    new TcuError(code, `${repo} repository: ${message}`, { details: { repository: repo, ...details } });

  const root = parse('root', files.root, repo);
  const timestamp = parse('timestamp', files.timestamp, repo);
  const snapshot = parse('snapshot', files.snapshot, repo);
  const targets = parse('targets', files.targets, repo);
  const all: [TufRole, AnyMetadata][] = [
    ['root', root],
    ['timestamp', timestamp],
    ['snapshot', snapshot],
    ['targets', targets],
  ];
  for (const [role, md] of all) {
    if (!TUF_DATE.test(md.signed.expires) || Number.isNaN(Date.parse(md.signed.expires))) {
      throw fail('OTA_METADATA', `${role}.json: expires ${JSON.stringify(md.signed.expires)} is not a TUF date`, { role });
    }
    if (!Number.isSafeInteger(md.signed.version) || md.signed.version < 1) throw fail('OTA_METADATA', `${role}.json: version must be a positive integer`, { role });
  }

  if (options.rotation) checkRotation(options.rotation, root, repo);
  for (const [role, min] of Object.entries(options.minThresholds ?? {})) {
    const t = threshold(root, role, repo);
    if (t < min) throw fail('OTA_SIGNATURE', `root.json sets the ${role} threshold to ${t}; this repository needs ${min} or more`, { role, threshold: t, min });
  }
  if (distinctSigners(root, 'root', root) < threshold(root, 'root', repo)) throw fail('OTA_SIGNATURE', 'root.json is not signed by a threshold of distinct root keys', { role: 'root' });
  for (const [role, md] of all.slice(1)) {
    if (distinctSigners(root, role, md) < threshold(root, role, repo)) {
      throw fail('OTA_SIGNATURE', `${role}.json is not signed by a threshold of distinct ${role} keys`, { role });
    }
  }

  const snapshotMeta = timestamp.signed.snapshotMeta;
  if (snapshotMeta.version !== snapshot.signed.version) throw fail('OTA_ROLLBACK', `timestamp names snapshot version ${snapshotMeta.version}, snapshot.json is ${snapshot.signed.version}`);
  if (!matches(snapshotMeta, files.snapshot)) throw fail('OTA_ROLLBACK', 'snapshot.json does not match the length or hash the timestamp gives');
  const targetsMeta = snapshot.signed.meta['targets.json'];
  if (!targetsMeta) throw fail('OTA_METADATA', 'snapshot.json does not name targets.json');
  if (targetsMeta.version !== targets.signed.version) throw fail('OTA_ROLLBACK', `snapshot names targets version ${targetsMeta.version}, targets.json is ${targets.signed.version}`);
  if (!matches(targetsMeta, files.targets)) throw fail('OTA_ROLLBACK', 'targets.json does not match the length or hash the snapshot gives');

  const versions: RoleVersions = { root: root.signed.version, timestamp: timestamp.signed.version, snapshot: snapshot.signed.version, targets: targets.signed.version };
  for (const [role] of all) {
    const before = options.previous?.[role];
    if (before !== undefined && versions[role] < before) throw fail('OTA_ROLLBACK', `${role}.json version ${versions[role]} is below the trusted ${before}`, { role });
  }
  for (const [role, md] of all) {
    if (md.signed.isExpired(options.now)) {
      throw fail('OTA_EXPIRED', `${role}.json expired at ${md.signed.expires} (reference time ${options.now.toISOString()})`, { role, expires: md.signed.expires });
    }
  }

  const issued = issuedTime(timestamp, all, fail);

  const entries = new Map<string, TrustedTarget>();
  for (const [name, file] of Object.entries(targets.signed.targets)) {
    if (!Number.isSafeInteger(file.length) || file.length < 0) throw fail('OTA_METADATA', `target ${JSON.stringify(name)}: length must be a non-negative integer`);
    entries.set(name, { name, length: file.length, hashes: { ...file.hashes }, custom: file.unrecognizedFields['custom'] });
  }
  const expires = { root: root.signed.expires, timestamp: timestamp.signed.expires, snapshot: snapshot.signed.expires, targets: targets.signed.expires };
  return { repository: repo, versions, expires, targets: entries, ...(issued === undefined ? {} : { issued }) };
}

function issuedTime(timestamp: Metadata<Timestamp>, all: [TufRole, AnyMetadata][], fail: (code: ErrorCode, message: string, details?: Record<string, unknown>) => TcuError): string | undefined {
  const issued = timestamp.signed.unrecognizedFields[ISSUED_FIELD];
  if (issued === undefined) return undefined;
  if (typeof issued !== 'string' || !TUF_DATE.test(issued) || Number.isNaN(Date.parse(issued))) {
    throw fail('OTA_METADATA', `timestamp.json: ${ISSUED_FIELD} ${JSON.stringify(issued)} is not a TUF date`, { role: 'timestamp' });
  }
  for (const [role, md] of all) {
    if (Date.parse(issued) >= Date.parse(md.signed.expires)) {
      throw fail('OTA_EXPIRED', `${role}.json expired at ${md.signed.expires}, before the timestamp was signed (${issued})`, { role, expires: md.signed.expires, issued });
    }
  }
  return issued;
}

function checkRotation(rotation: NonNullable<VerifySetOptions['rotation']>, finalRoot: Metadata<Root>, repo: string): void {
  let trusted = parse('root', rotation.from, repo);
  for (let v = trusted.signed.version + 1; v <= finalRoot.signed.version; v++) {
    const bytes = rotation.roots.get(v);
    const fail = (message: string): TcuError => new TcuError('OTA_ROOT_ROTATION', `${repo} repository: ${v}.root.json ${message}`, { details: { repository: repo, version: v } });
    if (!bytes) throw fail('was not part of the rotation');
    const next = parse('root', bytes, repo);
    if (next.signed.version !== v) throw fail(`holds version ${next.signed.version}`);
    if (distinctSigners(trusted, 'root', next) < threshold(trusted, 'root', repo)) throw fail('is not signed by a threshold of distinct keys of the previous root');
    if (distinctSigners(next, 'root', next) < threshold(next, 'root', repo)) throw fail('is not signed by a threshold of its own distinct root keys');
    trusted = next;
  }
}

function parse(role: 'root', bytes: Uint8Array, repo: string): Metadata<Root>;
function parse(role: 'timestamp', bytes: Uint8Array, repo: string): Metadata<Timestamp>;
function parse(role: 'snapshot', bytes: Uint8Array, repo: string): Metadata<Snapshot>;
function parse(role: 'targets', bytes: Uint8Array, repo: string): Metadata<Targets>;
function parse(role: TufRole, bytes: Uint8Array, repo: string): AnyMetadata {
  try {
    return parseMetadata(role, bytes);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const code: ErrorCode = /multiple signatures found for keyid|duplicate key IDs/.test(message) ? 'OTA_SIGNATURE' : isTcuError(err) ? err.code : 'OTA_METADATA';
    throw new TcuError(code, `${repo} repository: ${message}`, { cause: err, details: { repository: repo, role } });
  }
}

function threshold(root: Metadata<Root>, role: string, repo: string): number {
  const spec = root.signed.roles[role];
  if (!spec) throw new TcuError('OTA_METADATA', `${repo} repository: root has no role ${role}`);
  return spec.threshold;
}

/** How many distinct public keys of `role` (as `root` defines it) signed `md` validly. */
function distinctSigners(root: Metadata<Root>, role: string, md: AnyMetadata): number {
  const spec = root.signed.roles[role];
  if (!spec) return 0;
  const signers = new Set<string>();
  for (const id of spec.keyIDs) {
    const key = root.signed.keys[id];
    if (!key || !md.signatures[id]) continue;
    try {
      key.verifySignature(md);
    } catch {
      continue;
    }
    signers.add(`${key.keyType}:${(key.keyVal['public'] ?? '').trim().toLowerCase()}`);
  }
  return signers.size;
}

function matches(meta: MetaFile, bytes: Uint8Array): boolean {
  if (meta.length !== undefined && meta.length !== bytes.length) return false;
  for (const [algorithm, expected] of Object.entries(meta.hashes ?? {})) {
    let actual: string;
    try {
      actual = createHash(algorithm).update(bytes).digest('hex');
    } catch {
      return false;
    }
    if (actual !== expected.toLowerCase()) return false;
  }
  return true;
}
