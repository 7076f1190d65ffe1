import { createHash } from 'node:crypto';
import { copyFileSync, createReadStream, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { TargetFile, type Metadata, type Root, type Snapshot, type Targets, type Timestamp } from '@tufjs/models';
import { writeFileAtomic } from '../../core/atomic-file.js';
import { TcuError, asTcuError } from '../../core/errors.js';
import { parseTargetCustom } from '../target-custom.js';
import { checkTargetName } from '../tuf/target-name.js';
import { publicKeyOf, type Signer } from './keys.js';
import {
  buildRoot,
  buildSnapshot,
  buildTargets,
  buildTimestamp,
  metaFileFor,
  metadataBytes,
  parseMetadata,
  signMetadata,
  targetFileFor,
  withVersion,
  type AnyMetadata,
  type RoleSpec,
  type TufRole,
} from './metadata.js';

/**
 * A TUF repository being authored (what `tcu-ota` and the tests use). It holds the four top-level
 * roles in memory and writes TUF's standard layout, with `consistent_snapshot: false`:
 *
 *   root.json, 1.root.json, 2.root.json ...   every root version (clients walk N+1.root.json)
 *   targets.json, snapshot.json, timestamp.json
 *   targets/<name>                             the target files, under their plain names
 *
 * Each `sign*` step raises the role's version by one when the role was signed before (a new
 * repository starts every role at version 1), keeps its expiry unless a new one is given, and
 * signs with exactly the signers given: thresholds are the caller's business, so tests can
 * publish badly signed metadata too. `publish` re-derives snapshot (targets.json's version,
 * length, sha256) and timestamp (snapshot.json's) from the bytes that `write` will write.
 */

export interface RepositoryInit {
  roles: Record<TufRole, RoleSpec>;
  expires: Record<TufRole, Date>;
}

export interface SignOptions {
  expires?: Date;
  /** timestamp only: when it is signed, written as its `issued` field (none when absent). */
  issued?: Date;
  /** Force a version (tests: rollbacks, skipped versions). */
  version?: number;
}

export interface RootRotation extends SignOptions {
  /** New keys and thresholds for the roles that change; the others keep theirs. */
  roles?: Partial<Record<TufRole, RoleSpec>>;
}

interface PendingTarget {
  name: string;
  source: { path: string } | { bytes: Uint8Array };
}

export class RepositoryBuilder {
  root: Metadata<Root>;
  targets: Metadata<Targets>;
  snapshot: Metadata<Snapshot>;
  timestamp: Metadata<Timestamp>;
  /** Root versions signed in this session, written as N.root.json. */
  private readonly rootFiles = new Map<number, Buffer>();
  private readonly pendingTargets = new Map<string, PendingTarget>();
  private readonly signed = new Set<TufRole>();

  private constructor(root: Metadata<Root>, targets: Metadata<Targets>, snapshot: Metadata<Snapshot>, timestamp: Metadata<Timestamp>) {
    this.root = root;
    this.targets = targets;
    this.snapshot = snapshot;
    this.timestamp = timestamp;
  }

  /** A new repository: every role at version 1, unsigned, no targets. */
  static create(init: RepositoryInit): RepositoryBuilder {
    const root = buildRoot({ expires: init.expires.root, roles: init.roles });
    const targets = buildTargets({ expires: init.expires.targets });
    const snapshot = buildSnapshot({ expires: init.expires.snapshot, meta: { 'targets.json': metaFileFor(1, undefined) } });
    const timestamp = buildTimestamp({ expires: init.expires.timestamp, snapshotMeta: metaFileFor(1, undefined) });
    return new RepositoryBuilder(root, targets, snapshot, timestamp);
  }

  /** Reads a repository written by `write` (or by any TUF tool, with consistent_snapshot false). */
  static load(dir: string): RepositoryBuilder {
    const read = (file: string): Buffer => {
      try {
        return readFileSync(join(dir, file));
      } catch (err) {
        throw asTcuError(err, 'FILE_READ', `cannot read ${join(dir, file)}`);
      }
    };
    const repo = new RepositoryBuilder(
      parseMetadata('root', read('root.json')),
      parseMetadata('targets', read('targets.json')),
      parseMetadata('snapshot', read('snapshot.json')),
      parseMetadata('timestamp', read('timestamp.json')),
    );
    if (repo.root.signed.consistentSnapshot) {
      throw new TcuError('OTA_METADATA', 'this repository uses consistent_snapshot: true; only false is supported (docs/OTA.md)');
    }
    for (const role of ['root', 'targets', 'snapshot', 'timestamp'] as const) repo.signed.add(role);
    return repo;
  }

  /** The keys and threshold of a role as the current root lists them. */
  roleSpec(role: TufRole): RoleSpec {
    const r = this.root.signed.roles[role];
    if (!r) throw new TcuError('OTA_METADATA', `root has no role ${role}`);
    const keys = r.keyIDs.map((id) => {
      const key = this.root.signed.keys[id];
      if (!key?.keyVal['public']) throw new TcuError('OTA_METADATA', `root lists key ${id} for ${role} but does not define it`);
      return { keyId: id, publicHex: publicKeyOf(key.keyVal['public']).publicHex };
    });
    return { keys, threshold: r.threshold };
  }

  /** Adds (or replaces) a target from bytes in memory. `custom` is checked with parseTargetCustom. */
  addTarget(name: string, bytes: Uint8Array, custom?: unknown): TargetFile {
    const file = targetFileFor(name, bytes, custom);
    this.pendingTargets.set(name, { name, source: { bytes: Buffer.from(bytes) } });
    return this.putTarget(file);
  }

  /** Adds (or replaces) a target from a file, hashing it as a stream (large images). */
  async addTargetFile(name: string, path: string, custom?: unknown): Promise<TargetFile> {
    checkTargetName(name);
    parseTargetCustom(custom);
    const sha256 = createHash('sha256');
    const sha512 = createHash('sha512');
    let length = 0;
    try {
      for await (const chunk of createReadStream(path)) {
        const buf = chunk as Buffer;
        length += buf.length;
        sha256.update(buf);
        sha512.update(buf);
      }
    } catch (err) {
      throw asTcuError(err, 'FILE_READ', `cannot read ${path}`);
    }
    const unrecognizedFields: Record<string, never> = custom === undefined ? {} : { custom: custom as never };
    const file = new TargetFile({ path: name, length, hashes: { sha256: sha256.digest('hex'), sha512: sha512.digest('hex') }, unrecognizedFields });
    this.pendingTargets.set(name, { name, source: { path } });
    return this.putTarget(file);
  }

  /** Puts an entry into targets.json as it is (tests: entries that do not match their file). */
  putTarget(file: TargetFile): TargetFile {
    this.targets.signed.targets[file.path] = file;
    return file;
  }

  /** The names of the targets listed now. */
  targetNames(): string[] {
    return Object.keys(this.targets.signed.targets);
  }

  removeTarget(name: string): boolean {
    this.pendingTargets.delete(name);
    if (!(name in this.targets.signed.targets)) return false;
    delete this.targets.signed.targets[name];
    return true;
  }

  /** Signs the current root as it is (a new repository's version 1, or a re-sign after `load`). */
  signRoot(signers: readonly Signer[], options: SignOptions = {}): void {
    this.root = this.next('root', this.root, options);
    signMetadata(this.root, signers);
    this.rootFiles.set(this.root.signed.version, metadataBytes(this.root));
  }

  /**
   * The next root (version + 1 unless forced) with changed roles; `signers` must hold a threshold of
   * the old root's root keys and of the new one's (TUF 5.3.4 and 5.3.5), or vehicles refuse it.
   */
  rotateRoot(rotation: RootRotation, signers: readonly Signer[]): void {
    const roles = {} as Record<TufRole, RoleSpec>;
    for (const role of ['root', 'targets', 'snapshot', 'timestamp'] as const) roles[role] = rotation.roles?.[role] ?? this.roleSpec(role);
    const version = rotation.version ?? this.root.signed.version + 1;
    const expires = rotation.expires ?? new Date(this.root.signed.expires);
    this.root = buildRoot({ version, expires, roles });
    signMetadata(this.root, signers);
    this.signed.add('root');
    this.rootFiles.set(version, metadataBytes(this.root));
  }

  signTargets(signers: readonly Signer[], options: SignOptions = {}): void {
    this.targets = this.next('targets', this.targets, options);
    signMetadata(this.targets, signers);
  }

  /** New snapshot (naming targets.json as it will be written) and timestamp (naming that snapshot). */
  publish(snapshotSigners: readonly Signer[], timestampSigners: readonly Signer[], options: { snapshot?: SignOptions; timestamp?: SignOptions } = {}): void {
    this.signSnapshot(snapshotSigners, options.snapshot);
    this.signTimestamp(timestampSigners, options.timestamp);
  }

  signSnapshot(signers: readonly Signer[], options: SignOptions = {}): void {
    const meta = metaFileFor(this.targets.signed.version, metadataBytes(this.targets));
    const version = options.version ?? (this.signed.has('snapshot') ? this.snapshot.signed.version + 1 : this.snapshot.signed.version);
    const expires = options.expires ?? new Date(this.snapshot.signed.expires);
    this.snapshot = buildSnapshot({ version, expires, meta: { 'targets.json': meta } });
    signMetadata(this.snapshot, signers);
    this.signed.add('snapshot');
  }

  signTimestamp(signers: readonly Signer[], options: SignOptions = {}): void {
    const meta = metaFileFor(this.snapshot.signed.version, metadataBytes(this.snapshot));
    const version = options.version ?? (this.signed.has('timestamp') ? this.timestamp.signed.version + 1 : this.timestamp.signed.version);
    const expires = options.expires ?? new Date(this.timestamp.signed.expires);
    this.timestamp = buildTimestamp({ version, expires, snapshotMeta: meta, ...(options.issued === undefined ? {} : { issued: options.issued }) });
    signMetadata(this.timestamp, signers);
    this.signed.add('timestamp');
  }

  /** The metadata files `write` would write, by file name. */
  metadataFiles(): Map<string, Buffer> {
    const files = new Map<string, Buffer>();
    for (const [version, bytes] of [...this.rootFiles].sort((a, b) => a[0] - b[0])) files.set(`${version}.root.json`, bytes);
    files.set('root.json', metadataBytes(this.root));
    files.set('targets.json', metadataBytes(this.targets));
    files.set('snapshot.json', metadataBytes(this.snapshot));
    files.set('timestamp.json', metadataBytes(this.timestamp));
    return files;
  }

  /**
   * Writes the layout into `dir`: target files first, then the roots, targets.json, snapshot.json
   * and timestamp.json last, each atomically, so a client polling meanwhile sees the old timestamp
   * until everything it names is in place.
   */
  write(dir: string): void {
    try {
      for (const t of this.pendingTargets.values()) {
        const path = join(dir, 'targets', ...t.name.split('/'));
        mkdirSync(dirname(path), { recursive: true });
        if ('bytes' in t.source) writeFileAtomic(path, t.source.bytes);
        else if (!sameFile(t.source.path, path)) copyFileSync(t.source.path, path);
      }
      mkdirSync(dir, { recursive: true });
      for (const [name, bytes] of this.metadataFiles()) writeFileAtomic(join(dir, name), bytes);
    } catch (err) {
      throw asTcuError(err, 'FILE_WRITE', `cannot write the repository in ${dir}`);
    }
    this.pendingTargets.clear();
  }

  private next<T extends AnyMetadata>(role: TufRole, md: T, options: SignOptions): T {
    const bump = this.signed.has(role);
    this.signed.add(role);
    const version = options.version ?? (bump ? md.signed.version + 1 : md.signed.version);
    return withVersion(md, version, options.expires);
  }
}

function sameFile(a: string, b: string): boolean {
  try {
    const sa = statSync(a);
    const sb = statSync(b);
    return sa.ino === sb.ino && sa.dev === sb.dev;
  } catch {
    return false;
  }
}
