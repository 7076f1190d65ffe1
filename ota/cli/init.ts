import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT, type CommandIO } from '../../core/cli.js';
import { TcuError } from '../../core/errors.js';
import { versionsOf, withRepositoryLock, writeRepository } from '../fleet/repo-io.js';
import { privateKeys, verifyRoles, type KeyFile } from '../fleet/signing.js';
import { RepositoryBuilder, TUF_ROLES, tufDate, type RoleSpec, type TufRole } from '../repo/index.js';
import { EXPIRES_HELP, EXPIRES_OPTION, HELP_OPTION, ROLE_KEY_OPTIONS, expiriesFrom, integerOption, keyFiles, note, parseOptions, printJson, required, type CliDeps } from './common.js';

export const INIT_HELP = `Usage: tcu-ota init --repo DIR --root-key FILE... --root-threshold N --targets-key FILE...
                     --targets-threshold N --snapshot-key FILE... --timestamp-key FILE...
                     [--snapshot-threshold N] [--timestamp-threshold N] [--expires ROLE=DURATION ...]
                     [--image]

Creates a TUF repository in DIR (TUF's standard layout, consistent_snapshot false): root.json and
1.root.json, an empty targets.json, snapshot.json and timestamp.json, each signed by a threshold of
its role's keys. A role's keys are the files given for it (several after one option, or the option
repeated); a public key file lists a key without signing, so offline keys can be added by their
public half as long as enough private keys sign now. Prints the versions and key ids as JSON.

Uptane's image repository keeps root and targets keys offline with thresholds of two or more: with
--image, thresholds below 2 for root or targets are refused; without it they draw a warning (a
director's targets key is online, with threshold 1).

Options:
  --repo DIR                   the new repository (refused if DIR/root.json exists)
  --root-key FILE...           root keys                     --root-threshold N
  --targets-key FILE...        targets keys                  --targets-threshold N
  --snapshot-key FILE...       snapshot keys                 --snapshot-threshold N (default 1)
  --timestamp-key FILE...      timestamp keys                --timestamp-threshold N (default 1)
${EXPIRES_HELP}
  --image                      an image repository: root and targets thresholds of at least 2
  -h, --help                   this text

Exit codes: 0 created, 1 could not write, 2 usage error (a key file missing or not a key, a
threshold the keys cannot meet, an existing repository).
`;

export async function initCommand(argv: string[], io: CommandIO, deps: CliDeps): Promise<number> {
  const values = parseOptions(argv, {
    repo: { type: 'string' },
    ...ROLE_KEY_OPTIONS,
    ...EXPIRES_OPTION,
    ...HELP_OPTION,
  });
  if (values.help) {
    io.stdout.write(INIT_HELP);
    return EXIT.OK;
  }
  const dir = required(values.repo, '--repo');
  const files = {} as Record<TufRole, KeyFile[]>;
  const thresholds = {} as Record<TufRole, number>;
  for (const role of TUF_ROLES) {
    files[role] = keyFiles(values[`${role}-key`], `--${role}-key`);
    const ids = files[role].map((f) => f.publicKey.keyId);
    const twice = files[role].find((f, i) => ids.indexOf(f.publicKey.keyId) !== i);
    if (twice) throw new TcuError('CLI_USAGE', `--${role}-key: ${twice.path} is a key given twice (key id ${twice.publicKey.keyId})`);
    const flag = `--${role}-threshold`;
    const given = values[`${role}-threshold`];
    if ((role === 'root' || role === 'targets') && given === undefined) throw new TcuError('CLI_USAGE', `${flag} is required`);
    thresholds[role] = integerOption(given, flag, 1, files[role].length) ?? 1;
  }
  for (const role of ['root', 'targets'] as const) {
    if (thresholds[role] >= 2) continue;
    if (values.image) throw new TcuError('CLI_USAGE', `an image repository needs --${role}-threshold 2 or more (Uptane: offline keys, more than one signature)`);
    note(
      io,
      role === 'root'
        ? `warning: root threshold ${thresholds.root}: one stolen root key can replace every key of this repository; Uptane asks for 2 or more offline root keys (--image enforces it).`
        : `warning: targets threshold ${thresholds.targets}: one stolen key signs any software. Fine for a director's online targets key; an image repository needs 2 or more (--image enforces it).`,
    );
  }
  const expires = expiriesFrom(values.expires, deps.clock);
  const roles = {} as Record<TufRole, RoleSpec>;
  for (const role of TUF_ROLES) roles[role] = { keys: files[role].map((f) => f.publicKey), threshold: thresholds[role] };
  const repo = RepositoryBuilder.create({ roles, expires });
  const signers = {} as Record<TufRole, ReturnType<typeof privateKeys>>;
  for (const role of TUF_ROLES) {
    signers[role] = privateKeys(files[role].filter((f) => f.privateKey !== undefined), `--${role}-key`);
    if (signers[role].length < thresholds[role]) {
      throw new TcuError('CLI_USAGE', `--${role}-key: the ${role} role needs ${thresholds[role]} signatures now; ${signers[role].length} of its key files hold a private key`);
    }
  }
  if (existsSync(join(dir, 'root.json'))) throw new TcuError('CLI_USAGE', `${dir} holds a repository already (root.json); not replacing it`);
  mkdirSync(dir, { recursive: true });
  return withRepositoryLock(dir, () => {
    repo.signRoot(signers.root);
    repo.signTargets(signers.targets);
    repo.publish(signers.snapshot, signers.timestamp, { timestamp: { issued: new Date(deps.clock.now()) } });
    verifyRoles(repo, TUF_ROLES);
    writeRepository(repo, dir);
    const keys = Object.fromEntries(TUF_ROLES.map((r) => [r, roles[r].keys.map((k) => k.keyId)]));
    printJson(io, { repo: dir, versions: versionsOf(repo), thresholds, keys, expires: Object.fromEntries(TUF_ROLES.map((r) => [r, tufDate(expires[r])])) });
    return EXIT.OK;
  });
}
