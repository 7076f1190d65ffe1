import { EXIT, type CommandIO } from '../../core/cli.js';
import { TcuError } from '../../core/errors.js';
import { updateDirector } from '../fleet/director.js';
import { loadRepository } from '../fleet/repo-io.js';
import { DEFAULT_STAGES, abortRollout, advanceRollout, checkCampaignId, createRollout, parseStages, rolloutCampaigns, setRolloutPaused } from '../fleet/rollout-state.js';
import { EXPIRES_HELP, EXPIRES_OPTION, HELP_OPTION, SIGNING_KEY_OPTIONS, signingTimes, integerOption, note, signingKeys, parseOptions, printJson, required, type CliDeps } from './common.js';
import { POLICY_HELP, POLICY_OPTIONS, policyCustom } from './custom-options.js';

export const ROLLOUT_HELP = `Usage: tcu-ota rollout create  --repo DIR --image-repo DIR --campaign ID --target NAME...
                               [--stages LIST] [--hardware-id ID...] [--replace]
                               [preconditions and network policy] KEYS
       tcu-ota rollout advance --repo DIR --campaign ID [--to-stage N] KEYS
       tcu-ota rollout pause   --repo DIR --campaign ID KEYS
       tcu-ota rollout resume  --repo DIR --campaign ID KEYS
       tcu-ota rollout abort   --repo DIR --campaign ID KEYS
       tcu-ota rollout list    --repo DIR
  KEYS: --key FILE... --snapshot-key FILE... --timestamp-key FILE... [--expires ROLE=DURATION ...]

Staged rollouts, driven by the director repository alone (a static folder on any web server or
CDN). Each target of a campaign carries custom.rollout = {campaign, stages, stage, paused?} in the
director's signed targets.json. A stage is a cumulative percentage of the fleet or a vehicle group
stage (group:pilot, written {"groups": ["pilot"]}). Unless the rollout is paused, a vehicle takes
the update when a stage up to the current one admits it: a percentage above the bucket of its VIN,
  (first 4 bytes of sha256("<campaign>:<VIN>") as an unsigned integer mod 10000) / 100,
or a group stage naming one of its groups (the agent's vehicle.groups, "ota apply --group").
Every change re-signs the director's targets, snapshot and timestamp and writes them. Prints the
campaign's state as JSON.

  create    names each image target (--target, repeatable) in the director at stage 0: length and
            hashes from the image repository's targets.json, hardware ids, version and release
            counter from its custom (--hardware-id narrows the hardware ids). A director entry
            already naming one of those hardware ids is refused unless --replace (a vehicle must
            find exactly one target). --min-soc, --parked ... set the director's preconditions
            and network policy, which replace the image's on the vehicle.
  advance   the next stage (or --to-stage N); never back; refused while paused
  pause     no vehicle starts the update (those under way finish); "tcu-ota status" pauses on its own
  resume    undoes pause
  abort     the director stops naming the campaign's targets (vehicles not updated stay as they are)
  list      the director's campaigns (no keys needed)

Options:
  --repo DIR             the director repository
  --image-repo DIR       create: the image repository the targets come from
  --campaign ID          1 to 64 letters, digits, ".", "_", "-"
  --target NAME...       create: image target names
  --stages LIST          create: stages, in order: cumulative whole percentages and group:NAME
                         (group:A+B for two groups), e.g. group:pilot,10,100 (default ${DEFAULT_STAGES.join(',')})
  --hardware-id ID...    create: only these of the image target's hardware ids
  --replace              create: replace the director's entries for the same hardware ids
${POLICY_HELP}
  --to-stage N           advance: the stage index to go to
  --key FILE...          the director's targets keys (private), reaching its threshold
  --snapshot-key FILE... --timestamp-key FILE...   the director's snapshot and timestamp keys
${EXPIRES_HELP}
  -h, --help             this text

Exit codes: 0 done, 1 could not read or write, 2 usage error (no such campaign or target, keys
that are not the director's, a stage out of range, advancing a paused campaign).
`;

const ACTIONS = ['create', 'advance', 'pause', 'resume', 'abort', 'list'] as const;
type Action = (typeof ACTIONS)[number];

export async function rolloutCommand(argv: string[], io: CommandIO, deps: CliDeps): Promise<number> {
  const [action, ...rest] = argv;
  if (action === undefined || action === '--help' || action === '-h' || action === 'help') {
    (action === undefined ? io.stderr : io.stdout).write(ROLLOUT_HELP);
    return action === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (!(ACTIONS as readonly string[]).includes(action)) throw new TcuError('CLI_USAGE', `unknown rollout command "${action}" (${ACTIONS.join(', ')})`);
  const values = parseOptions(rest, {
    repo: { type: 'string' },
    'image-repo': { type: 'string' },
    campaign: { type: 'string' },
    target: { type: 'string', multiple: true },
    stages: { type: 'string' },
    'hardware-id': { type: 'string', multiple: true },
    replace: { type: 'boolean', default: false },
    ...POLICY_OPTIONS,
    'to-stage': { type: 'string' },
    ...SIGNING_KEY_OPTIONS,
    ...EXPIRES_OPTION,
    ...HELP_OPTION,
  });
  if (values.help) {
    io.stdout.write(ROLLOUT_HELP);
    return EXIT.OK;
  }
  const dir = required(values.repo, '--repo');
  if (action === 'list') {
    printJson(io, { repo: dir, campaigns: rolloutCampaigns(loadRepository(dir).repo) });
    return EXIT.OK;
  }
  const campaign = checkCampaignId(required(values.campaign, '--campaign'));
  const keys = signingKeys(values);
  const times = signingTimes(values.expires, deps.clock);
  const act = action as Exclude<Action, 'list'>;
  const image = act === 'create' ? loadRepository(required(values['image-repo'], '--image-repo')).repo : undefined;
  const stages = act === 'create' ? parseStages(values.stages ?? DEFAULT_STAGES.join(',')) : undefined;
  const toStage = integerOption(values['to-stage'], '--to-stage', 0);
  const extra = policyCustom(values);

  const update = await updateDirector<{ replaced?: string[]; removed?: string[] }>(dir, keys, times, (repo) => {
    switch (act) {
      case 'create': {
        const replaced = createRollout(repo, image!, { campaign, stages: stages!, targets: required(values.target, '--target'), ...(values['hardware-id'] ? { hardwareIds: values['hardware-id'] } : {}), extra, replace: values.replace });
        return { result: { replaced }, write: true };
      }
      case 'advance':
        advanceRollout(repo, campaign, toStage);
        return { result: {}, write: true };
      case 'pause':
      case 'resume': {
        const { changed } = setRolloutPaused(repo, campaign, act === 'pause');
        if (!changed) note(io, `campaign ${campaign} is ${act === 'pause' ? 'paused' : 'running'} already; nothing written`);
        return { result: {}, write: changed };
      }
      case 'abort':
        return { result: { removed: abortRollout(repo, campaign) }, write: true };
    }
  });
  if (update.staged) note(io, 'a targets.json staged by "tcu-ota add" went live with this change');
  const state = act === 'abort' ? null : (rolloutCampaigns(loadRepository(dir).repo).find((c) => c.campaign === campaign) ?? null);
  printJson(io, { repo: dir, action: act, campaign, state, ...update.result, ...(update.versions ? { versions: update.versions } : {}) });
  return EXIT.OK;
}
