import { readFileSync } from 'node:fs';
import { TcuError, asTcuError } from '../../core/errors.js';
import { Ed25519PrivateKey, parsePublicKey, type PublicKey, type RepositoryBuilder, type TufRole } from '../repo/index.js';

/**
 * Key files as the fleet tool reads them, and the check that the keys given for a role are the
 * role's keys and reach its threshold, so `tcu-ota` never writes metadata vehicles would refuse.
 */

export interface KeyFile {
  path: string;
  publicKey: PublicKey;
  /** Present when the file holds the private key (PKCS#8 PEM or the securesystemslib JSON form). */
  privateKey?: Ed25519PrivateKey;
}

/** Reads a private or public key file (docs/OTA.md, "Keys"). FILE_READ when unreadable, CLI_USAGE when not a key. */
export function readKeyFile(path: string): KeyFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw asTcuError(err, 'FILE_READ', `cannot read the key file ${path}`);
  }
  try {
    if (isPrivate(text)) {
      const privateKey = Ed25519PrivateKey.parse(text);
      return { path, publicKey: privateKey.publicKey(), privateKey };
    }
    return { path, publicKey: parsePublicKey(text) };
  } catch (err) {
    const cause = asTcuError(err, 'OTA_METADATA');
    throw new TcuError('CLI_USAGE', `${path} is not an Ed25519 key file: ${cause.message}`, { cause: err, details: { path } });
  }
}

function isPrivate(text: string): boolean {
  const trimmed = text.trim();
  if (trimmed.startsWith('-----BEGIN')) return trimmed.startsWith('-----BEGIN PRIVATE KEY-----');
  try {
    const obj = JSON.parse(trimmed) as { keyval?: { private?: unknown } } | null;
    return typeof obj?.keyval?.private === 'string';
  } catch {
    return false;
  }
}

/** The private keys of `files`, which must be distinct keys (CLI_USAGE otherwise). */
export function privateKeys(files: readonly KeyFile[], flag: string): Ed25519PrivateKey[] {
  const seen = new Set<string>();
  const out: Ed25519PrivateKey[] = [];
  for (const f of files) {
    if (seen.has(f.publicKey.keyId)) throw new TcuError('CLI_USAGE', `${flag}: ${f.path} is a key given twice (key id ${f.publicKey.keyId})`);
    seen.add(f.publicKey.keyId);
    if (!f.privateKey) throw new TcuError('CLI_USAGE', `${flag}: ${f.path} holds a public key only; signing needs the private key`);
    out.push(f.privateKey);
  }
  return out;
}

/**
 * The signers for `role`: every key given must be one of the role's keys in the repository's root,
 * and together they must reach its threshold. CLI_USAGE otherwise (nothing is written).
 */
export function roleSigners(repo: RepositoryBuilder, role: TufRole, files: readonly KeyFile[], flag: string): Ed25519PrivateKey[] {
  const keys = privateKeys(files, flag);
  const spec = repo.roleSpec(role);
  const allowed = new Set(spec.keys.map((k) => k.keyId));
  for (const key of keys) {
    if (!allowed.has(key.keyId)) {
      const file = files.find((f) => f.publicKey.keyId === key.keyId)?.path ?? key.keyId;
      throw new TcuError('CLI_USAGE', `${flag}: ${file} is not a ${role} key of this repository (key id ${key.keyId})`);
    }
  }
  if (keys.length < spec.threshold) {
    throw new TcuError('CLI_USAGE', `${flag}: the ${role} role needs ${spec.threshold} signature${spec.threshold === 1 ? '' : 's'}; ${keys.length} key${keys.length === 1 ? '' : 's'} given`);
  }
  return keys;
}

/** Checks with @tufjs/models that each role now verifies against the root (a last guard before writing). */
export function verifyRoles(repo: RepositoryBuilder, roles: readonly TufRole[]): void {
  for (const role of roles) {
    const md = role === 'root' ? repo.root : role === 'targets' ? repo.targets : role === 'snapshot' ? repo.snapshot : repo.timestamp;
    try {
      repo.root.verifyDelegate(role, md);
    } catch (err) {
      throw asTcuError(err, 'OTA_SIGNATURE', `${role}.json would not verify`);
    }
  }
}
