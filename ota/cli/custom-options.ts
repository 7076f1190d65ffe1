import { TcuError } from '../../core/errors.js';
import { checkCampaignId, parseStages } from '../fleet/rollout-state.js';
import type { TargetCustom } from '../types.js';
import { integerOption } from './common.js';

/** Command-line options that fill a target's `custom` object (docs/OTA.md, "Target custom fields"). */

export const SOFTWARE_OPTIONS = {
  version: { type: 'string' },
  'release-counter': { type: 'string' },
  rxswin: { type: 'string', multiple: true },
  purpose: { type: 'string' },
  changes: { type: 'string' },
  'duration-seconds': { type: 'string' },
  unavailable: { type: 'string', multiple: true },
} as const;

export const POLICY_OPTIONS = {
  'min-soc': { type: 'string' },
  parked: { type: 'boolean' },
  'ignition-off': { type: 'boolean' },
  'consent-required': { type: 'boolean' },
  'workshop-only': { type: 'boolean' },
  'cellular-allowed': { type: 'boolean' },
  'no-cellular': { type: 'boolean' },
  'roaming-allowed': { type: 'boolean' },
  'no-roaming': { type: 'boolean' },
  'max-bytes': { type: 'string' },
  window: { type: 'string' },
} as const;

export const SOFTWARE_HELP = `  --version V                 human version (custom.version)
  --release-counter N         anti-downgrade counter, a whole number (custom.releaseCounter)
  --rxswin R...               UN R156 RXSWINs this software carries
  --purpose TEXT              why the update exists, shown to the user (userInfo.purpose)
  --changes TEXT              what changes (userInfo.changes)
  --duration-seconds N        expected installation time (userInfo.durationSeconds)
  --unavailable F...          functions unavailable during the update`;

export const POLICY_HELP = `  --min-soc N                 minimum state of charge, percent (preconditions.minSocPercent)
  --parked, --ignition-off, --consent-required, --workshop-only
                              preconditions that must hold (each sets its field to true)
  --cellular-allowed | --no-cellular, --roaming-allowed | --no-roaming
                              network policy (network.cellularAllowed, network.roamingAllowed)
  --max-bytes N               largest download allowed over cellular (network.maxBytes)
  --window HH:MM-HH:MM        local time window for downloading (network.window)`;

type Values = Record<string, string | boolean | string[] | boolean[] | undefined>;

const str = (v: Values, k: string): string | undefined => (typeof v[k] === 'string' ? v[k] : undefined);
const list = (v: Values, k: string): string[] | undefined => (Array.isArray(v[k]) ? (v[k] as string[]) : undefined);
const flag = (v: Values, k: string): boolean => v[k] === true;

/** userInfo, version, releaseCounter, rxswin from the options given. */
export function softwareCustom(v: Values): Omit<TargetCustom, 'hardwareIds'> {
  const out: Omit<TargetCustom, 'hardwareIds'> = {};
  const version = str(v, 'version');
  if (version !== undefined) out.version = version;
  const counter = integerOption(str(v, 'release-counter'), '--release-counter', 0);
  if (counter !== undefined) out.releaseCounter = counter;
  const rxswin = list(v, 'rxswin');
  if (rxswin) out.rxswin = rxswin;
  const userInfo: NonNullable<TargetCustom['userInfo']> = {};
  if (str(v, 'purpose') !== undefined) userInfo.purpose = str(v, 'purpose')!;
  if (str(v, 'changes') !== undefined) userInfo.changes = str(v, 'changes')!;
  const duration = integerOption(str(v, 'duration-seconds'), '--duration-seconds', 0, 7 * 24 * 3600);
  if (duration !== undefined) userInfo.durationSeconds = duration;
  if (list(v, 'unavailable')) userInfo.unavailableFunctions = list(v, 'unavailable')!;
  if (Object.keys(userInfo).length > 0) out.userInfo = userInfo;
  return out;
}

/** preconditions and network from the options given (each object only when one of its options is). */
export function policyCustom(v: Values): Pick<TargetCustom, 'preconditions' | 'network'> {
  const out: Pick<TargetCustom, 'preconditions' | 'network'> = {};
  const pre: NonNullable<TargetCustom['preconditions']> = {};
  const soc = integerOption(str(v, 'min-soc'), '--min-soc', 0, 100);
  if (soc !== undefined) pre.minSocPercent = soc;
  if (flag(v, 'parked')) pre.parked = true;
  if (flag(v, 'ignition-off')) pre.ignitionOff = true;
  if (flag(v, 'consent-required')) pre.consentRequired = true;
  if (flag(v, 'workshop-only')) pre.workshopOnly = true;
  if (Object.keys(pre).length > 0) out.preconditions = pre;
  const net: NonNullable<TargetCustom['network']> = {};
  if (flag(v, 'cellular-allowed') && flag(v, 'no-cellular')) throw new TcuError('CLI_USAGE', '--cellular-allowed and --no-cellular contradict each other');
  if (flag(v, 'roaming-allowed') && flag(v, 'no-roaming')) throw new TcuError('CLI_USAGE', '--roaming-allowed and --no-roaming contradict each other');
  if (flag(v, 'cellular-allowed') || flag(v, 'no-cellular')) net.cellularAllowed = flag(v, 'cellular-allowed');
  if (flag(v, 'roaming-allowed') || flag(v, 'no-roaming')) net.roamingAllowed = flag(v, 'roaming-allowed');
  const maxBytes = integerOption(str(v, 'max-bytes'), '--max-bytes', 0);
  if (maxBytes !== undefined) net.maxBytes = maxBytes;
  const window = str(v, 'window');
  if (window !== undefined) {
    if (!/^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$/.test(window)) throw new TcuError('CLI_USAGE', `--window is HH:MM-HH:MM (24-hour local time), not "${window}"`);
    net.window = window;
  }
  if (Object.keys(net).length > 0) out.network = net;
  return out;
}

/** `--campaign ID [--stages LIST]` → a rollout object at stage 0 (no stages: no staging). */
export function rolloutCustom(campaign: string | undefined, stages: string | undefined): Pick<TargetCustom, 'rollout'> {
  if (campaign === undefined) {
    if (stages !== undefined) throw new TcuError('CLI_USAGE', '--stages needs --campaign');
    return {};
  }
  checkCampaignId(campaign);
  return { rollout: stages === undefined ? { campaign } : { campaign, stages: parseStages(stages), stage: 0 } };
}
