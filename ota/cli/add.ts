import { join } from 'node:path';
import { TargetFile } from '@tufjs/models';
import { EXIT, type CommandIO } from '../../core/cli.js';
import { TcuError } from '../../core/errors.js';
import { stageTarget } from '../fleet/copy-target.js';
import { loadRepository, resignAndWrite, versionsOf, withRepositoryLock, writeStagedTargets, type Versions } from '../fleet/repo-io.js';
import { roleSigners, verifyRoles } from '../fleet/signing.js';
import { parseTargetCustom } from '../target-custom.js';
import { checkTargetName } from '../tuf/target-name.js';
import type { TargetCustom } from '../types.js';
import { EXPIRES_HELP, EXPIRES_OPTION, HELP_OPTION, SIGNING_KEY_OPTIONS, signingTimes, keyFiles, note, parseOptions, printJson, required, type CliDeps } from './common.js';
import { POLICY_HELP, POLICY_OPTIONS, SOFTWARE_HELP, SOFTWARE_OPTIONS, policyCustom, rolloutCustom, softwareCustom } from './custom-options.js';
import { progressBar } from './progress.js';

export const ADD_HELP = `Usage: tcu-ota add --repo DIR --target NAME --file PATH --hardware-id ID... --key FILE...
                    [custom fields] [--snapshot-key FILE... --timestamp-key FILE...]
                    [--expires ROLE=DURATION ...] [--replace]

Adds a target (or changes its custom fields): copies PATH to DIR/targets/NAME while hashing it
(sha256 and sha512, one pass; a progress bar on standard error when it is a terminal), and signs
targets.json with the targets keys given (their threshold). With --snapshot-key and
--timestamp-key it publishes at once. Otherwise the signed targets.json is staged in
DIR/.tcu-ota/ (several adds may follow) and "tcu-ota publish" makes it live; until then vehicles
see the previous release. Prints the target entry and the versions as JSON.

Options:
  --repo DIR                  the repository
  --target NAME               the target's name (a safe relative path: tcu/app-2.0.tar)
  --file PATH                 the file
  --hardware-id ID...         the hardware it is for (custom.hardwareIds; required)
${SOFTWARE_HELP}
${POLICY_HELP}
  --campaign ID               rollout campaign (custom.rollout.campaign)
  --stages LIST               stages from stage 0: cumulative whole percentages and group:NAME
                              vehicle group stages, e.g. group:pilot,1,10,50,100
  --key FILE...               targets keys (private) reaching the targets threshold
  --snapshot-key FILE...      also publish: snapshot keys
  --timestamp-key FILE...     also publish: timestamp keys
${EXPIRES_HELP}
  --replace                   allow NAME to get other content (a published name normally never
                              changes its bytes: vehicles downloading it would fail)
  -h, --help                  this text

Exit codes: 0 added, 1 could not read or write, 2 usage error (keys that are not the role's or
below its threshold, a custom field out of range, an unsafe name).
`;

export async function addCommand(argv: string[], io: CommandIO, deps: CliDeps): Promise<number> {
  const values = parseOptions(argv, {
    repo: { type: 'string' },
    target: { type: 'string' },
    file: { type: 'string' },
    'hardware-id': { type: 'string', multiple: true },
    ...SOFTWARE_OPTIONS,
    ...POLICY_OPTIONS,
    campaign: { type: 'string' },
    stages: { type: 'string' },
    ...SIGNING_KEY_OPTIONS,
    replace: { type: 'boolean', default: false },
    ...EXPIRES_OPTION,
    ...HELP_OPTION,
  });
  if (values.help) {
    io.stdout.write(ADD_HELP);
    return EXIT.OK;
  }
  const dir = required(values.repo, '--repo');
  const name = required(values.target, '--target');
  const file = required(values.file, '--file');
  const custom: TargetCustom = { hardwareIds: required(values['hardware-id'], '--hardware-id'), ...softwareCustom(values), ...policyCustom(values), ...rolloutCustom(values.campaign, values.stages) };
  try {
    checkTargetName(name, '--target');
    parseTargetCustom(custom);
  } catch (err) {
    throw new TcuError('CLI_USAGE', (err as Error).message, { cause: err });
  }
  const publish = values['snapshot-key'] !== undefined || values['timestamp-key'] !== undefined;
  const targetKeys = keyFiles(values.key, '--key');
  const snapshotKeys = publish ? keyFiles(values['snapshot-key'], '--snapshot-key') : [];
  const timestampKeys = publish ? keyFiles(values['timestamp-key'], '--timestamp-key') : [];
  const times = signingTimes(values.expires, deps.clock);
  const { expires } = times;

  return withRepositoryLock(dir, async () => {
    const { repo } = loadRepository(dir);
    const signers = roleSigners(repo, 'targets', targetKeys, '--key');
    const snapshot = publish ? roleSigners(repo, 'snapshot', snapshotKeys, '--snapshot-key') : [];
    const timestamp = publish ? roleSigners(repo, 'timestamp', timestampKeys, '--timestamp-key') : [];
    const before = repo.targets.signed.targets[name];
    const progress = progressBar(io.stderr, `hashing ${name}`, deps.clock);
    const staged = await stageTarget(file, join(dir, 'targets', ...name.split('/')), (done, total) => progress.update(done, total)).finally(() => progress.finish());
    let versions: Versions;
    let entry: TargetFile;
    try {
      if (before && !values.replace && (before.length !== staged.length || before.hashes['sha256'] !== staged.hashes.sha256)) {
        throw new TcuError('CLI_USAGE', `target ${JSON.stringify(name)} exists with other content; publish new content under a new name (or pass --replace)`);
      }
      entry = new TargetFile({ path: name, length: staged.length, hashes: staged.hashes, unrecognizedFields: { custom: custom as never } });
      repo.putTarget(entry);
      repo.signTargets(signers, { expires: expires.targets });
      verifyRoles(repo, ['targets']);
      // The target file goes in place first, then the metadata naming it.
      await staged.commit();
    } catch (err) {
      await staged.discard();
      throw err;
    }
    if (publish) versions = resignAndWrite(repo, dir, { snapshot, timestamp, ...times });
    else {
      writeStagedTargets(repo, dir);
      versions = versionsOf(repo);
      note(io, `targets.json version ${versions.targets} staged; run "tcu-ota publish --repo ${dir}" to make it live`);
    }
    printJson(io, { repo: dir, target: entry.toJSON(), name, published: publish, versions });
    return EXIT.OK;
  });
}
