import { createHash } from 'node:crypto';
import { Metadata, MetaFile, MetadataKind, Root, Signature, Snapshot, TargetFile, Targets, Timestamp } from '@tufjs/models';
import { TcuError, asTcuError } from '../../core/errors.js';
import { parseTargetCustom } from '../target-custom.js';
import { checkTargetName } from '../tuf/target-name.js';
import { toTufKey, type PublicKey, type Signer } from './keys.js';

/**
 * Building, signing and serialising TUF metadata with @tufjs/models (the same classes tuf-js
 * verifies with). Pure: no I/O. `repository.ts` puts these together into a repository on disk.
 */

export type TufRole = 'root' | 'targets' | 'snapshot' | 'timestamp';
export const TUF_ROLES: readonly TufRole[] = ['root', 'targets', 'snapshot', 'timestamp'];
/** The TUF specification version written into `spec_version`. */
export const SPEC_VERSION = '1.0.31';

export interface RoleSpec {
  keys: PublicKey[];
  threshold: number;
}

export type AnyMetadata = Metadata<Root> | Metadata<Targets> | Metadata<Snapshot> | Metadata<Timestamp>;

/** TUF's date format: `YYYY-MM-DDTHH:MM:SSZ` (python-tuf refuses fractions of a second). */
export function tufDate(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new TcuError('OTA_METADATA', 'an expiry date is not a valid date');
  return `${date.toISOString().slice(0, 19)}Z`;
}

export function buildRoot(options: { version?: number; expires: Date; roles: Record<TufRole, RoleSpec>; consistentSnapshot?: boolean }): Metadata<Root> {
  const keys: Record<string, unknown> = {};
  const roles: Record<string, unknown> = {};
  for (const role of TUF_ROLES) {
    const spec = options.roles[role];
    if (!Number.isSafeInteger(spec.threshold) || spec.threshold < 1 || spec.threshold > spec.keys.length) {
      throw new TcuError('OTA_METADATA', `role ${role}: threshold ${spec.threshold} needs 1 to ${spec.keys.length} (the number of its keys)`);
    }
    const ids = new Set(spec.keys.map((k) => k.keyId));
    if (ids.size !== spec.keys.length) throw new TcuError('OTA_METADATA', `role ${role} lists a key twice`);
    for (const key of spec.keys) keys[key.keyId] = toTufKey(key).toJSON();
    roles[role] = { keyids: [...ids], threshold: spec.threshold };
  }
  const signed = Root.fromJSON({
    version: options.version ?? 1,
    spec_version: SPEC_VERSION,
    expires: tufDate(options.expires),
    keys,
    roles,
    consistent_snapshot: options.consistentSnapshot ?? false,
  } as never);
  return new Metadata(signed);
}

export function buildTargets(options: { version?: number; expires: Date; targets?: Record<string, TargetFile> }): Metadata<Targets> {
  return new Metadata(new Targets({ version: options.version ?? 1, specVersion: SPEC_VERSION, expires: tufDate(options.expires), targets: options.targets ?? {} }));
}

export function buildSnapshot(options: { version?: number; expires: Date; meta: Record<string, MetaFile> }): Metadata<Snapshot> {
  return new Metadata(new Snapshot({ version: options.version ?? 1, specVersion: SPEC_VERSION, expires: tufDate(options.expires), meta: options.meta }));
}

/**
 * `issued`, when given, is written as the timestamp's `issued` field (a TUF date): when it was
 * signed. TUF clients ignore the field; ours take it as a lower bound of the time (docs/OTA.md, "The clock").
 */
export function buildTimestamp(options: { version?: number; expires: Date; snapshotMeta: MetaFile; issued?: Date }): Metadata<Timestamp> {
  return new Metadata(
    new Timestamp({
      version: options.version ?? 1,
      specVersion: SPEC_VERSION,
      expires: tufDate(options.expires),
      snapshotMeta: options.snapshotMeta,
      ...(options.issued === undefined ? {} : { unrecognizedFields: { [ISSUED_FIELD]: tufDate(options.issued) } }),
    }),
  );
}

/** The field of timestamp.json's `signed` that says when it was signed. */
export const ISSUED_FIELD = 'issued';

/**
 * Signs `md` with each signer (Metadata.sign: Ed25519 over the canonical JSON of `signed`).
 * `append: false` (the default) drops the signatures it had first.
 */
export function signMetadata(md: AnyMetadata, signers: readonly Signer[], append = false): void {
  if (!append) md.signatures = {};
  for (const signer of signers) {
    try {
      md.sign((data) => new Signature({ keyID: signer.keyId, sig: signer.sign(data) }), true);
    } catch (err) {
      throw asTcuError(err, 'OTA_METADATA', 'cannot sign (canonical JSON allows integers only)');
    }
  }
}

/** The bytes of a metadata file as written (JSON, two-space indent, final newline). */
export function metadataBytes(md: AnyMetadata): Buffer {
  return Buffer.from(`${JSON.stringify(md.toJSON(), null, 2)}\n`, 'utf8');
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Snapshot's and timestamp's description of a metadata file: version, length and sha256 of its bytes. */
export function metaFileFor(version: number, bytes: Uint8Array | undefined): MetaFile {
  if (bytes === undefined) return new MetaFile({ version });
  return new MetaFile({ version, length: bytes.length, hashes: { sha256: sha256Hex(bytes) } });
}

/**
 * A target entry: length, sha256 and sha512 of the file, and the `custom` object, checked with
 * parseTargetCustom (so nothing the vehicles would refuse is published) unless `checkCustom` is false.
 */
export function targetFileFor(name: string, bytes: Uint8Array, custom?: unknown, checkCustom = true): TargetFile {
  checkTargetName(name);
  if (checkCustom) parseTargetCustom(custom);
  const hashes = { sha256: sha256Hex(bytes), sha512: createHash('sha512').update(bytes).digest('hex') };
  const unrecognizedFields: Record<string, never> = custom === undefined ? {} : { custom: custom as never };
  return new TargetFile({ path: name, length: bytes.length, hashes, unrecognizedFields });
}

/** Parses a metadata file of the given role with @tufjs/models; anything malformed is OTA_METADATA. */
export function parseMetadata(role: 'root', bytes: Uint8Array): Metadata<Root>;
export function parseMetadata(role: 'targets', bytes: Uint8Array): Metadata<Targets>;
export function parseMetadata(role: 'snapshot', bytes: Uint8Array): Metadata<Snapshot>;
export function parseMetadata(role: 'timestamp', bytes: Uint8Array): Metadata<Timestamp>;
export function parseMetadata(role: TufRole, bytes: Uint8Array): AnyMetadata;
export function parseMetadata(role: TufRole, bytes: Uint8Array): AnyMetadata {
  let data: unknown;
  try {
    data = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw asTcuError(err, 'OTA_METADATA', `${role}.json is not JSON`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new TcuError('OTA_METADATA', `${role}.json is not a JSON object`);
  try {
    switch (role) {
      case 'root':
        return Metadata.fromJSON(MetadataKind.Root, data as never);
      case 'targets':
        return Metadata.fromJSON(MetadataKind.Targets, data as never);
      case 'snapshot':
        return Metadata.fromJSON(MetadataKind.Snapshot, data as never);
      case 'timestamp':
        return Metadata.fromJSON(MetadataKind.Timestamp, data as never);
    }
  } catch (err) {
    throw asTcuError(err, 'OTA_METADATA', `${role}.json is malformed`);
  }
}

/** A copy of `signed` with another version and/or expiry (the models' fields are read-only). */
export function withVersion<T extends AnyMetadata>(md: T, version: number, expires?: Date): T {
  const json = md.signed.toJSON() as Record<string, unknown>;
  json['version'] = version;
  if (expires) json['expires'] = tufDate(expires);
  const wrapped = { signed: json, signatures: [] };
  const role = md.signed.type as TufRole;
  return parseMetadata(role, Buffer.from(JSON.stringify(wrapped))) as T;
}
