import type { Metadata, Root } from '@tufjs/models';
import { TcuError, asTcuError } from '../../core/errors.js';
import { TUF_ROLES, type RepositoryBuilder, type RoleSpec, type Signer, type TufRole } from '../repo/index.js';
import { privateKeys, roleSigners, verifyRoles, type KeyFile } from './signing.js';

/**
 * Renewing and rotating a repository's root (`tcu-ota root`; docs/OTA.md, "Renewing expiries and
 * rotating keys"). Works on a `RepositoryBuilder` in memory; the caller writes the files it names.
 *
 * A new root is version N+1 and must carry a threshold of signatures of root N's root keys AND of
 * its own (TUF 5.3.4, 5.3.5), or vehicles refuse it (OTA_ROOT_ROTATION). A role whose keys or
 * threshold change is re-signed with its new keys in the same change, and so is every role that
 * describes it (targets → snapshot → timestamp), or vehicles would find it signed by keys their
 * new root no longer lists.
 */

/** A role's keys in the new root: key files (public or private) and a threshold (default: the current one). */
export interface RoleChange {
  files?: readonly KeyFile[];
  threshold?: number;
}

export interface RootChange {
  /** The current root's root keys (private), reaching its threshold. */
  current: readonly KeyFile[];
  /**
   * Key files and thresholds given per role (`--targets-key`, `--targets-threshold` ...). A role
   * changes when they differ from the current root's; files given for a role that does not change
   * sign it when it must be re-signed. Absent: the role keeps its keys and threshold.
   */
  roles?: Partial<Record<TufRole, RoleChange>>;
  /** Expiry of each role signed now. */
  expires: Record<TufRole, Date>;
  /** Now: the timestamp's `issued`, when it is re-signed. */
  issued: Date;
}

export interface RootChangeResult {
  /** The new root's version. */
  version: number;
  /** Roles whose keys or threshold changed. */
  changed: TufRole[];
  /** Roles re-signed besides the root (their files change too). */
  resigned: TufRole[];
  /** The metadata files to write, in order (N.root.json, root.json, then what was re-signed). */
  files: string[];
}

/** The roles that must be re-signed when `changed` roles got new keys: each one and those that describe it. */
export function rolesToResign(changed: readonly TufRole[]): TufRole[] {
  const from = changed.includes('targets') ? 1 : changed.includes('snapshot') ? 2 : changed.includes('timestamp') ? 3 : 4;
  return TUF_ROLES.slice(from) as TufRole[];
}

/**
 * The new role specs given the options (`files`, `threshold`), and which roles really change.
 * CLI_USAGE for a key given twice or a threshold the keys cannot meet.
 */
export function newRoleSpecs(repo: RepositoryBuilder, roles: Partial<Record<TufRole, RoleChange>>): { specs: Record<TufRole, RoleSpec>; changed: TufRole[] } {
  const specs = {} as Record<TufRole, RoleSpec>;
  const changed: TufRole[] = [];
  for (const role of TUF_ROLES) {
    const now = repo.roleSpec(role);
    const c = roles[role];
    const keys = c?.files === undefined ? now.keys : c.files.map((f) => f.publicKey);
    const ids = keys.map((k) => k.keyId);
    const twice = ids.find((id, i) => ids.indexOf(id) !== i);
    if (twice !== undefined) throw new TcuError('CLI_USAGE', `--${role}-key: a key is given twice (key id ${twice})`);
    const threshold = c?.threshold ?? now.threshold;
    if (threshold < 1 || threshold > keys.length) throw new TcuError('CLI_USAGE', `--${role}-threshold ${threshold}: the ${role} role would have ${keys.length} key${keys.length === 1 ? '' : 's'}`);
    specs[role] = { keys, threshold };
    const before = new Set(now.keys.map((k) => k.keyId));
    if (threshold !== now.threshold || ids.length !== before.size || ids.some((id) => !before.has(id))) changed.push(role);
  }
  return { specs, changed };
}

/**
 * Signs root N+1 (new expiry; new keys and thresholds for `change.roles`) with the current root keys
 * and the new root's own, re-signs what must be, and checks it all with @tufjs/models the way a
 * vehicle will: the new root against the old one and itself, each re-signed role against the new root.
 */
export function changeRoot(repo: RepositoryBuilder, change: RootChange): RootChangeResult {
  const old: Metadata<Root> = repo.root;
  const oldSigners = roleSigners(repo, 'root', change.current, '--key');
  const { specs, changed } = newRoleSpecs(repo, change.roles ?? {});
  const resigned = rolesToResign(changed);
  // Each role re-signed needs its (new) keys: check them against the new specs before signing anything.
  const signersFor = (role: TufRole): Signer[] => {
    const files = change.roles?.[role]?.files;
    if (files === undefined) {
      throw new TcuError('CLI_USAGE', `--${role}-key is required: ${changed.join(', ')} get new keys, so ${resigned.join(', ')} are re-signed (give the ${role} keys, changed or not)`);
    }
    const keys = privateKeys(files.filter((f) => f.privateKey !== undefined), `--${role}-key`);
    if (keys.length < specs[role].threshold) {
      throw new TcuError('CLI_USAGE', `--${role}-key: the ${role} role needs ${specs[role].threshold} signature${specs[role].threshold === 1 ? '' : 's'} now; ${keys.length} of its key files hold a private key`);
    }
    return keys;
  };
  const roleSignersNow = Object.fromEntries(resigned.map((r) => [r, signersFor(r)])) as Partial<Record<TufRole, Signer[]>>;

  // The new root's own keys sign too: those private keys given with --root-key, and old keys it keeps.
  const newRootIds = new Set(specs.root.keys.map((k) => k.keyId));
  const signers = new Map<string, Signer>(oldSigners.map((k) => [k.keyId, k]));
  for (const f of change.roles?.root?.files ?? []) if (f.privateKey) signers.set(f.privateKey.keyId, f.privateKey);
  const ownSignatures = [...signers.keys()].filter((id) => newRootIds.has(id)).length;
  if (ownSignatures < specs.root.threshold) {
    throw new TcuError('CLI_USAGE', `--root-key: the new root needs ${specs.root.threshold} signatures of its own root keys; ${ownSignatures} private key${ownSignatures === 1 ? '' : 's'} of them given`);
  }
  repo.rotateRoot({ roles: Object.fromEntries(changed.map((r) => [r, specs[r]])), expires: change.expires.root }, [...signers.values()]);
  for (const [who, root] of [['the current', old], ['the new', repo.root]] as const) {
    try {
      root.verifyDelegate('root', repo.root);
    } catch (err) {
      throw asTcuError(err, 'OTA_ROOT_ROTATION', `root version ${repo.root.signed.version} would not verify against ${who} root`);
    }
  }
  if (roleSignersNow.targets) repo.signTargets(roleSignersNow.targets, { expires: change.expires.targets });
  if (roleSignersNow.snapshot) repo.signSnapshot(roleSignersNow.snapshot, { expires: change.expires.snapshot });
  if (roleSignersNow.timestamp) repo.signTimestamp(roleSignersNow.timestamp, { expires: change.expires.timestamp, issued: change.issued });
  verifyRoles(repo, ['root', ...resigned]);

  const version = repo.root.signed.version;
  const files = [`${version}.root.json`, 'root.json'];
  // A re-signed role names the bytes of the file it describes: that file is written as they were hashed.
  if (resigned.length > 0) files.push(...TUF_ROLES.slice(Math.max(1, TUF_ROLES.indexOf(resigned[0]!) - 1)).map((r) => `${r}.json`));
  return { version, changed, resigned, files };
}
