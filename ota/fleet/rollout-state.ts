import { TargetFile } from '@tufjs/models';
import { TcuError } from '../../core/errors.js';
import type { RepositoryBuilder } from '../repo/index.js';
import { parseTargetCustom } from '../target-custom.js';
import { stageText } from '../rollout.js';
import type { RolloutStage, TargetCustom } from '../types.js';

/**
 * The rollout state kept in the director's targets (docs/OTA.md, "Staged rollouts"): each
 * target of a campaign carries `custom.rollout = {campaign, stages, stage, paused?}`, its stages
 * percentages of the fleet or vehicle group stages (`{groups: [...]}`). These
 * functions change the director's target list in memory; the caller re-signs and writes it.
 * No I/O.
 */

export interface RolloutState {
  campaign: string;
  stages: RolloutStage[];
  stage: number;
  paused: boolean;
  /** The director's targets in this campaign. */
  targets: string[];
  /** The hardware ids those targets are for. */
  hardwareIds: string[];
}

export const DEFAULT_STAGES: readonly number[] = [1, 10, 50, 100];
const CAMPAIGN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * A campaign id for `tcu-ota`: letters, digits, `.`, `_`, `-`, at most 64, starting with a letter or
 * digit (no `:`, so the vehicle's campaign ids `<campaign>:<target>:<time>` split unambiguously).
 */
export function checkCampaignId(id: string): string {
  if (!CAMPAIGN_ID.test(id)) throw new TcuError('CLI_USAGE', `a campaign id is 1 to 64 letters, digits, ".", "_" or "-" (starting with a letter or digit); not ${JSON.stringify(id)}`);
  return id;
}

const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * `--stages`: `1,10,50,100` → [1, 10, 50, 100]; `group:pilot,10,100` → [{groups: ["pilot"]}, 10, 100].
 * A percentage is whole (canonical JSON signs integers only), 1 to 100, and at least the percentages
 * before it (they are cumulative); `group:A+B` is one stage for the vehicles in group A or B
 * (group names as campaign ids: letters, digits, ".", "_", "-").
 */
export function parseStages(text: string): RolloutStage[] {
  let percent = 0;
  return text.split(',').map((raw) => {
    const part = raw.trim();
    if (part.startsWith('group:')) {
      const groups = part.slice('group:'.length).split('+');
      for (const g of groups) {
        if (!GROUP_NAME.test(g)) throw new TcuError('CLI_USAGE', `--stages: a group stage is group:NAME or group:NAME+NAME, a name 1 to 64 letters, digits, ".", "_" or "-"; not "${part}"`);
      }
      if (new Set(groups).size !== groups.length) throw new TcuError('CLI_USAGE', `--stages: "${part}" names a group twice`);
      return { groups };
    }
    const n = Number(part);
    if (part === '' || !Number.isSafeInteger(n) || n < 1 || n > 100) {
      throw new TcuError('CLI_USAGE', `--stages takes whole percentages from 1 to 100 and group:NAME stages, e.g. group:pilot,1,10,50,100; not "${text}"`);
    }
    if (n < percent) throw new TcuError('CLI_USAGE', `--stages: percentages are cumulative, each at least the one before; not "${text}"`);
    percent = n;
    return n;
  });
}

/** Stages as text: `group:pilot, 10 %, 100 %`. */
export function stagesText(stages: readonly RolloutStage[]): string {
  return stages.map(stageText).join(', ');
}

/** Every campaign the director names, with its targets (from the first target's rollout object). */
export function rolloutCampaigns(director: RepositoryBuilder): RolloutState[] {
  const out = new Map<string, RolloutState>();
  for (const file of Object.values(director.targets.signed.targets)) {
    const custom = customOf(file);
    const r = custom.rollout;
    if (r?.campaign === undefined) continue;
    const state = out.get(r.campaign) ?? { campaign: r.campaign, stages: r.stages ?? [100], stage: r.stage ?? 0, paused: r.paused === true, targets: [], hardwareIds: [] };
    state.targets.push(file.path);
    for (const id of custom.hardwareIds) if (!state.hardwareIds.includes(id)) state.hardwareIds.push(id);
    out.set(r.campaign, state);
  }
  return [...out.values()];
}

export function rolloutCampaign(director: RepositoryBuilder, campaign: string): RolloutState {
  const state = rolloutCampaigns(director).find((c) => c.campaign === campaign);
  if (!state) throw new TcuError('CLI_USAGE', `the director names no campaign ${JSON.stringify(campaign)}`, { details: { campaign } });
  return state;
}

export interface CreateRollout {
  campaign: string;
  stages: readonly RolloutStage[];
  /** The image repository's target names to roll out. */
  targets: readonly string[];
  /** Restrict each target to these hardware ids (each must be listed by the image's target); default: the image's. */
  hardwareIds?: readonly string[];
  /** Director-side `preconditions` and `network` (they replace the image's on the vehicle). */
  extra?: Pick<TargetCustom, 'preconditions' | 'network'>;
  /** Replace the director's entries for the same hardware ids (a finished campaign) instead of refusing. */
  replace?: boolean;
}

/**
 * Names each image target in the director at stage 0: length and hashes copied from the image
 * repository, `hardwareIds`, `version` and `releaseCounter` from the image's custom. Returns the
 * director's entries it replaced.
 */
export function createRollout(director: RepositoryBuilder, image: RepositoryBuilder, c: CreateRollout): string[] {
  checkCampaignId(c.campaign);
  if (c.targets.length === 0) throw new TcuError('CLI_USAGE', 'rollout create needs at least one --target');
  if (rolloutCampaigns(director).some((s) => s.campaign === c.campaign)) {
    throw new TcuError('CLI_USAGE', `the director already has a campaign ${JSON.stringify(c.campaign)}; choose another id (or abort it first)`);
  }
  const entries: TargetFile[] = [];
  const claimed = new Set<string>();
  for (const name of c.targets) {
    const file = image.targets.signed.targets[name];
    if (!file) throw new TcuError('CLI_USAGE', `the image repository has no target ${JSON.stringify(name)}`, { details: { target: name } });
    const imageCustom = customOf(file);
    const hardwareIds = c.hardwareIds ? imageCustom.hardwareIds.filter((id) => c.hardwareIds!.includes(id)) : imageCustom.hardwareIds;
    if (hardwareIds.length === 0) throw new TcuError('CLI_USAGE', `image target ${JSON.stringify(name)} is for ${imageCustom.hardwareIds.join(', ')}, none of the --hardware-id given`);
    for (const id of hardwareIds) {
      if (claimed.has(id)) throw new TcuError('CLI_USAGE', `two targets of the campaign are for hardware id ${JSON.stringify(id)}; a vehicle must find exactly one`);
      claimed.add(id);
    }
    const custom: TargetCustom = {
      hardwareIds,
      ...(imageCustom.version === undefined ? {} : { version: imageCustom.version }),
      ...(imageCustom.releaseCounter === undefined ? {} : { releaseCounter: imageCustom.releaseCounter }),
      ...(c.extra?.preconditions ? { preconditions: c.extra.preconditions } : {}),
      ...(c.extra?.network ? { network: c.extra.network } : {}),
      rollout: { campaign: c.campaign, stages: [...c.stages], stage: 0 },
    };
    parseTargetCustom(custom);
    entries.push(new TargetFile({ path: name, length: file.length, hashes: { ...file.hashes }, unrecognizedFields: { custom: custom as never } }));
  }
  const replaced: string[] = [];
  for (const file of Object.values(director.targets.signed.targets)) {
    const ids = customOf(file).hardwareIds;
    if (!ids.some((id) => claimed.has(id)) && !c.targets.includes(file.path)) continue;
    if (!c.replace) {
      throw new TcuError('CLI_USAGE', `the director already names ${JSON.stringify(file.path)} for hardware ${ids.join(', ')}${campaignNote(file)}; end it with "rollout abort" or pass --replace`);
    }
    replaced.push(file.path);
  }
  for (const name of replaced) director.removeTarget(name);
  for (const entry of entries) director.putTarget(entry);
  return replaced;
}

/** The next stage (or stage `to`). Refused while paused, past the last stage, or backwards. */
export function advanceRollout(director: RepositoryBuilder, campaign: string, to?: number): RolloutState {
  const state = rolloutCampaign(director, campaign);
  if (state.paused) throw new TcuError('CLI_USAGE', `campaign ${JSON.stringify(campaign)} is paused; resume it first`);
  const next = to ?? state.stage + 1;
  if (!Number.isSafeInteger(next) || next >= state.stages.length) {
    throw new TcuError('CLI_USAGE', `campaign ${JSON.stringify(campaign)} has stages 0 to ${state.stages.length - 1} (${stagesText(state.stages)}); it is at stage ${state.stage}`);
  }
  if (next <= state.stage) throw new TcuError('CLI_USAGE', `campaign ${JSON.stringify(campaign)} is at stage ${state.stage} already; a rollout never goes back (pause or abort it)`);
  return updateRollout(director, campaign, (r) => ({ ...r, stage: next }));
}

/** Sets or clears `paused`. Returns the state and whether anything changed. */
export function setRolloutPaused(director: RepositoryBuilder, campaign: string, paused: boolean): { state: RolloutState; changed: boolean } {
  const before = rolloutCampaign(director, campaign);
  if (before.paused === paused) return { state: before, changed: false };
  const state = updateRollout(director, campaign, (r) => {
    const out = { ...r };
    if (paused) out.paused = true;
    else delete out.paused;
    return out;
  });
  return { state, changed: true };
}

/** Removes the campaign's targets from the director: vehicles stop being offered them. */
export function abortRollout(director: RepositoryBuilder, campaign: string): string[] {
  const state = rolloutCampaign(director, campaign);
  for (const name of state.targets) director.removeTarget(name);
  return state.targets;
}

type Rollout = NonNullable<TargetCustom['rollout']>;

function updateRollout(director: RepositoryBuilder, campaign: string, change: (r: Rollout) => Rollout): RolloutState {
  for (const file of Object.values(director.targets.signed.targets)) {
    const raw = file.custom as Record<string, unknown>;
    const rollout = customOf(file).rollout;
    if (rollout?.campaign !== campaign) continue;
    // Keep every field of the raw custom object (unknown ones too); replace only the rollout's known ones.
    const next = change(rollout);
    const rawRollout: Record<string, unknown> = { ...(raw['rollout'] as Record<string, unknown>), ...next };
    if (next.paused === undefined) delete rawRollout['paused'];
    const custom = { ...raw, rollout: rawRollout };
    parseTargetCustom(custom);
    director.putTarget(new TargetFile({ path: file.path, length: file.length, hashes: { ...file.hashes }, unrecognizedFields: { ...file.unrecognizedFields, custom: custom as never } }));
  }
  return rolloutCampaign(director, campaign);
}

function customOf(file: TargetFile): TargetCustom {
  return parseTargetCustom(file.unrecognizedFields['custom'], `target ${JSON.stringify(file.path)} custom`);
}

function campaignNote(file: TargetFile): string {
  const c = customOf(file).rollout?.campaign;
  return c === undefined ? '' : ` (campaign ${JSON.stringify(c)})`;
}
