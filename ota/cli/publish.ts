import { EXIT, type CommandIO } from '../../core/cli.js';
import { loadRepository, resignAndWrite, withRepositoryLock } from '../fleet/repo-io.js';
import { roleSigners } from '../fleet/signing.js';
import { tufDate } from '../repo/index.js';
import { EXPIRES_HELP, EXPIRES_OPTION, HELP_OPTION, signingTimes, keyFiles, note, parseOptions, printJson, required, type CliDeps } from './common.js';

export const PUBLISH_HELP = `Usage: tcu-ota publish --repo DIR --snapshot-key FILE... --timestamp-key FILE...
                        [--key FILE...] [--expires ROLE=DURATION ...]

Signs a new snapshot.json (naming targets.json as it is, including one staged by "tcu-ota add")
and a new timestamp.json (naming that snapshot), each with a fresh expiry, and writes them
(targets first, timestamp last). Run it after adding targets, and before the timestamp expires
(a day by default): vehicles refuse expired metadata. With --key, targets.json is re-signed first
(one version up, a fresh expiry; 90 days by default), so a release renews before its targets
expire without adding anything. Prints the versions as JSON.

Options:
  --repo DIR                 the repository
  --key FILE...              also re-sign targets.json: targets keys (private) reaching its threshold
  --snapshot-key FILE...     snapshot keys (private) reaching the snapshot threshold
  --timestamp-key FILE...    timestamp keys (private) reaching the timestamp threshold
${EXPIRES_HELP}
  -h, --help                 this text

Exit codes: 0 published, 1 could not read or write, 2 usage error (keys that are not the role's or
below its threshold).
`;

export async function publishCommand(argv: string[], io: CommandIO, deps: CliDeps): Promise<number> {
  const values = parseOptions(argv, {
    repo: { type: 'string' },
    key: { type: 'string', multiple: true },
    'snapshot-key': { type: 'string', multiple: true },
    'timestamp-key': { type: 'string', multiple: true },
    ...EXPIRES_OPTION,
    ...HELP_OPTION,
  });
  if (values.help) {
    io.stdout.write(PUBLISH_HELP);
    return EXIT.OK;
  }
  const dir = required(values.repo, '--repo');
  const snapshotKeys = keyFiles(values['snapshot-key'], '--snapshot-key');
  const timestampKeys = keyFiles(values['timestamp-key'], '--timestamp-key');
  const targetKeys = values.key === undefined ? undefined : keyFiles(values.key, '--key');
  const times = signingTimes(values.expires, deps.clock);
  const { expires } = times;
  return withRepositoryLock(dir, () => {
    const { repo, staged } = loadRepository(dir);
    const snapshot = roleSigners(repo, 'snapshot', snapshotKeys, '--snapshot-key');
    const timestamp = roleSigners(repo, 'timestamp', timestampKeys, '--timestamp-key');
    const targets = targetKeys === undefined ? undefined : roleSigners(repo, 'targets', targetKeys, '--key');
    const versions = resignAndWrite(repo, dir, { ...(targets === undefined ? {} : { targets }), snapshot, timestamp, ...times });
    if (staged) note(io, `published the staged targets.json (version ${versions.targets})`);
    const renewed = targets === undefined ? {} : { targets: tufDate(expires.targets) };
    printJson(io, { repo: dir, versions, targets: repo.targetNames(), expires: { ...renewed, snapshot: tufDate(expires.snapshot), timestamp: tufDate(expires.timestamp) } });
    return EXIT.OK;
  });
}
