import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT, type CommandIO } from '../../core/cli.js';
import { TcuError } from '../../core/errors.js';
import { STAGED_TARGETS, versionsOf, withRepositoryLock, writeMetadataFiles } from '../fleet/repo-io.js';
import { changeRoot, type RoleChange } from '../fleet/root-rotation.js';
import { RepositoryBuilder, TUF_ROLES, tufDate, type TufRole } from '../repo/index.js';
import { EXPIRES_HELP, EXPIRES_OPTION, HELP_OPTION, ROLE_KEY_OPTIONS, integerOption, keyFiles, note, parseOptions, printJson, required, signingTimes, type CliDeps } from './common.js';

export const ROOT_HELP = `Usage: tcu-ota root renew  --repo DIR --key FILE... [--expires root=DURATION]
       tcu-ota root rotate --repo DIR --key FILE... [--ROLE-key FILE... [--ROLE-threshold N]]...
                           [--expires ROLE=DURATION ...] [--image]
  ROLE: root, targets, snapshot, timestamp

Signs a new root: version N+1, written as N+1.root.json and root.json. Vehicles walk the chain
from the root they trust (N+1.root.json, N+2.root.json ...) and accept each new root only when a
threshold of the previous root's root keys AND of its own signed it.

  renew     the same keys and thresholds with a fresh expiry (root: 1 year unless --expires
            root=...). Run it well before root.json expires: vehicles refuse an expired root.
            (Targets expire too: "tcu-ota publish --key ..." re-signs targets.json.)
  rotate    new keys and/or thresholds for the roles given: --ROLE-key lists the role's keys in
            the new root (private keys sign now; a public key file adds an offline key), and
            --ROLE-threshold its threshold (default: the current one). The new root is signed by
            --key (the current root keys, reaching the current threshold) and by the new root's
            own private keys (reaching the new threshold). A role whose keys change is re-signed
            with its new keys at once, and so is each role that describes it (targets → snapshot
            → timestamp): give the private keys of each role re-signed, changed or not.

Nothing is written before every signature checks out against the old and the new root. Prints the
new versions, what changed and what was re-signed as JSON.

Options:
  --repo DIR                 the repository
  --key FILE...              the current root keys (private), reaching the current root threshold
  --root-key FILE...         rotate: the new root's keys        --root-threshold N
  --targets-key FILE...      rotate: the targets keys           --targets-threshold N
  --snapshot-key FILE...     rotate: the snapshot keys          --snapshot-threshold N
  --timestamp-key FILE...    rotate: the timestamp keys         --timestamp-threshold N
${EXPIRES_HELP}
  --image                    an image repository: root and targets thresholds below 2 are refused
  -h, --help                 this text

Exit codes: 0 written, 1 could not read or write, 2 usage error (keys that are not the current
root's or below a threshold, a rotation that changes nothing, a role re-signed without its keys).
`;

const ACTIONS = ['renew', 'rotate'] as const;

export async function rootCommand(argv: string[], io: CommandIO, deps: CliDeps): Promise<number> {
  const [action, ...rest] = argv;
  if (action === undefined || action === '--help' || action === '-h' || action === 'help') {
    (action === undefined ? io.stderr : io.stdout).write(ROOT_HELP);
    return action === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (!(ACTIONS as readonly string[]).includes(action)) throw new TcuError('CLI_USAGE', `unknown root command "${action}" (${ACTIONS.join(', ')})`);
  const values = parseOptions(rest, {
    repo: { type: 'string' },
    key: { type: 'string', multiple: true },
    ...ROLE_KEY_OPTIONS,
    ...EXPIRES_OPTION,
    ...HELP_OPTION,
  });
  if (values.help) {
    io.stdout.write(ROOT_HELP);
    return EXIT.OK;
  }
  const dir = required(values.repo, '--repo');
  const current = keyFiles(values.key, '--key');
  const roles: Partial<Record<TufRole, RoleChange>> = {};
  for (const role of TUF_ROLES) {
    const files = values[`${role}-key`];
    const threshold = integerOption(values[`${role}-threshold`], `--${role}-threshold`, 1);
    if (action === 'renew' && (files !== undefined || threshold !== undefined)) throw new TcuError('CLI_USAGE', `root renew keeps every key; --${role}-key and --${role}-threshold are for "root rotate"`);
    if (files === undefined && threshold === undefined) continue;
    roles[role] = { ...(files === undefined ? {} : { files: keyFiles(files, `--${role}-key`) }), ...(threshold === undefined ? {} : { threshold }) };
  }
  const times = signingTimes(values.expires, deps.clock);

  return withRepositoryLock(dir, () => {
    if (!existsSync(join(dir, 'root.json'))) throw new TcuError('FILE_READ', `${dir} is not a repository (no root.json); create one with "tcu-ota init"`, { details: { path: dir } });
    // The live repository: a targets.json staged by "tcu-ota add" stays staged.
    const repo = RepositoryBuilder.load(dir);
    const before = versionsOf(repo);
    const result = changeRoot(repo, { current, roles, ...times });
    if (action === 'rotate' && result.changed.length === 0) throw new TcuError('CLI_USAGE', 'root rotate: no key or threshold changes; "tcu-ota root renew" extends the expiry');
    for (const role of ['root', 'targets'] as const) {
      const threshold = repo.roleSpec(role).threshold;
      if (!result.changed.includes(role) || threshold >= 2) continue;
      if (values.image) throw new TcuError('CLI_USAGE', `an image repository needs --${role}-threshold 2 or more (Uptane: offline keys, more than one signature)`);
      note(io, `warning: ${role} threshold ${threshold}: one stolen key ${role === 'root' ? 'can replace every key of this repository' : 'signs any software'}`);
    }
    if (result.resigned.includes('targets') && existsSync(join(dir, STAGED_TARGETS))) {
      throw new TcuError('CLI_USAGE', `${join(dir, STAGED_TARGETS)} holds a targets.json signed by the old targets keys; publish it ("tcu-ota publish") before rotating the targets keys`);
    }
    writeMetadataFiles(repo, dir, result.files);
    const expires = Object.fromEntries((['root', ...result.resigned] as TufRole[]).map((r) => [r, tufDate(times.expires[r])]));
    const keys = Object.fromEntries(TUF_ROLES.map((r) => [r, { keyids: repo.roleSpec(r).keys.map((k) => k.keyId), threshold: repo.roleSpec(r).threshold }]));
    printJson(io, { repo: dir, action, from: before, versions: versionsOf(repo), changed: result.changed, resigned: result.resigned, written: result.files, expires, roles: keys });
    return EXIT.OK;
  });
}
