import { readFileSync } from 'node:fs';
import { EXIT, type CommandIO } from '../../core/cli.js';
import { TcuError, asTcuError } from '../../core/errors.js';
import { updateDirector } from '../fleet/director.js';
import { listenForReports } from '../fleet/mqtt-reports.js';
import { loadRepository } from '../fleet/repo-io.js';
import { parseReportLines, type OtaReport } from '../fleet/reports.js';
import { rolloutCampaigns, setRolloutPaused } from '../fleet/rollout-state.js';
import { ReportCollector, type CampaignSummary, type KnownCampaign } from '../fleet/summary.js';
import { formatSummaries } from '../fleet/summary-text.js';
import { EXPIRES_HELP, EXPIRES_OPTION, HELP_OPTION, SIGNING_KEY_OPTIONS, signingTimes, integerOption, note, signingKeys, numberOption, parseOptions, printJson, type CliDeps } from './common.js';

export const STATUS_HELP = `Usage: tcu-ota status (--reports FILE... | --broker URL --topic PREFIX [--duration SECONDS])
                       [--campaign ID] [--threshold PCT] [--min-vehicles N] [--json]
                       [--director DIR [--key FILE... --snapshot-key FILE... --timestamp-key FILE...]]

Summarises the campaign reports vehicles send (docs/OTA.md, "Reports"): per rollout
campaign and per stage, the vehicles in each state (downloading, downloaded, awaiting-consent,
installing, rebooting, succeeded, failed, rolled-back; each vehicle counted once, in its latest
state), the failure codes and the failure rate: (failed, except cancelled, + rolled back) /
finished. With --director, stages come from the director (a vehicle's stage follows from its
VIN, and for a vehicle group stage from the "groups" its reports name) and a stage whose failure
rate is above --threshold pauses its campaign: the director is re-signed with paused: true (given
its keys; without them the pause is only reported).

Reports come from files of JSON lines (one report per line; bad lines are counted and skipped)
or from an MQTT broker: <PREFIX>/<VIN>/ota, QoS 1, listened to for --duration seconds (default:
until interrupted); a pause happens as soon as a report passes the threshold. Both may be given.

Options:
  --reports FILE...         JSON-lines files of reports
  --broker URL              mqtt://host:port or mqtts://... (password from TCU_OTA_MQTT_PASSWORD)
  --topic PREFIX            the topic prefix the vehicles publish under
  --username NAME           MQTT user name
  --duration SECONDS        how long to listen to the broker
  --campaign ID             only this campaign
  --threshold PCT           failure rate (percent) above which a stage pauses (default 5)
  --min-vehicles N          finished vehicles a stage needs before its rate counts (default 1)
  --json                    print the summary as one JSON object
  --director DIR            the director repository (stages; the automatic pause)
  --key FILE... --snapshot-key FILE... --timestamp-key FILE...   the director's keys, to pause
${EXPIRES_HELP}
  -h, --help                this text

Exit codes: 0 no stage over the threshold, 1 could not read, write or connect, 2 usage error,
3 a stage is over the threshold (its campaign paused when the keys were given).
`;

export const EXIT_OVER_THRESHOLD = 3;

type Action = 'none' | 'paused' | 'already paused' | 'over the threshold; not paused (no director keys given)' | 'over the threshold; not paused (no --director)';

export async function statusCommand(argv: string[], io: CommandIO, deps: CliDeps): Promise<number> {
  const values = parseOptions(argv, {
    reports: { type: 'string', multiple: true },
    broker: { type: 'string' },
    topic: { type: 'string' },
    username: { type: 'string' },
    duration: { type: 'string' },
    campaign: { type: 'string' },
    threshold: { type: 'string' },
    'min-vehicles': { type: 'string' },
    json: { type: 'boolean', default: false },
    director: { type: 'string' },
    ...SIGNING_KEY_OPTIONS,
    ...EXPIRES_OPTION,
    ...HELP_OPTION,
  });
  if (values.help) {
    io.stdout.write(STATUS_HELP);
    return EXIT.OK;
  }
  if (values.reports === undefined && values.broker === undefined) throw new TcuError('CLI_USAGE', 'give --reports FILE or --broker URL --topic PREFIX');
  if (values.broker !== undefined && values.topic === undefined) throw new TcuError('CLI_USAGE', '--broker needs --topic PREFIX');
  const thresholdPercent = numberOption(values.threshold, '--threshold', 0, 100) ?? 5;
  const minVehicles = integerOption(values['min-vehicles'], '--min-vehicles', 1) ?? 1;
  const durationS = numberOption(values.duration, '--duration', 0, 365 * 24 * 3600);
  const withKeys = values.key !== undefined || values['snapshot-key'] !== undefined || values['timestamp-key'] !== undefined;
  if (withKeys && values.director === undefined) throw new TcuError('CLI_USAGE', 'the director keys need --director DIR');
  const keys = withKeys ? signingKeys(values) : undefined;
  const director = values.director;
  const only = values.campaign;

  const known = (): KnownCampaign[] => (director === undefined ? [] : rolloutCampaigns(loadRepository(director).repo).filter((c) => only === undefined || c.campaign === only));
  let collector = new ReportCollector(known());
  const all: OtaReport[] = [];
  const actions = new Map<string, Action>();
  let invalid = 0;
  const invalidSeen = new Set<string>();
  const onInvalid = (where: string, message: string): void => {
    invalid++;
    const kind = message.replace(/"[^"]*"/g, '""');
    if (!invalidSeen.has(kind)) note(io, `warning: ${where}: ${message} (skipped; reported once per kind)`);
    invalidSeen.add(kind);
  };
  const summaries = (): CampaignSummary[] => collector.summarise({ thresholdPercent, minVehicles }).filter((s) => only === undefined || s.campaign === only);

  /** Pauses each campaign over the threshold that is not paused yet; re-reads the director after a pause. */
  const enforce = async (): Promise<void> => {
    for (const s of summaries()) {
      if (!s.overThreshold || actions.get(s.campaign) === 'paused') continue;
      if (director === undefined || s.stages === null) actions.set(s.campaign, 'over the threshold; not paused (no --director)');
      else if (s.paused) actions.set(s.campaign, actions.get(s.campaign) ?? 'already paused');
      else if (keys === undefined) actions.set(s.campaign, 'over the threshold; not paused (no director keys given)');
      else {
        await updateDirector(director, keys, signingTimes(values.expires, deps.clock), (repo) => ({ result: undefined, write: setRolloutPaused(repo, s.campaign, true).changed }));
        actions.set(s.campaign, 'paused');
        const worst = s.groups.find((g) => g.overThreshold)!;
        note(io, `campaign ${s.campaign} paused: ${worst.group === 'stage' ? `stage ${worst.stage}` : worst.group} failure rate ${worst.failureRate} % is above ${thresholdPercent} %`);
        collector = new ReportCollector(known());
        for (const r of all) collector.add(r);
      }
    }
  };
  const add = (r: OtaReport): void => {
    all.push(r);
    collector.add(r);
  };

  for (const file of values.reports ?? []) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw asTcuError(err, 'FILE_READ', `cannot read ${file}`);
    }
    for (const line of parseReportLines(text)) {
      if (line.report) add(line.report);
      else onInvalid(`${file}:${line.line}`, line.error ?? 'malformed');
    }
  }
  await enforce();
  if (values.broker !== undefined) {
    await listenForReports({
      url: values.broker,
      prefix: values.topic!,
      ...(values.username === undefined ? {} : { username: values.username }),
      ...(process.env['TCU_OTA_MQTT_PASSWORD'] === undefined ? {} : { password: process.env['TCU_OTA_MQTT_PASSWORD'] }),
      ...(durationS === undefined ? {} : { durationMs: durationS * 1000 }),
      ...(io.stop === undefined ? {} : { signal: io.stop }),
      clock: deps.clock,
      onReport: async (r) => {
        add(r);
        await enforce();
      },
      onInvalid,
      onReady: () => note(io, `listening on ${values.broker} for ${values.topic!.replace(/\/+$/, '')}/+/ota`),
    });
  }

  const result = summaries().map((s) => ({ ...s, action: actions.get(s.campaign) ?? ('none' as Action) }));
  if (values.json) printJson(io, { reports: all.length, invalid, thresholdPercent, minVehicles, campaigns: result });
  else io.stdout.write(`${all.length} report${all.length === 1 ? '' : 's'}${invalid ? ` (${invalid} invalid, skipped)` : ''}\n${formatSummaries(result, thresholdPercent)}`);
  return result.some((s) => s.overThreshold) ? EXIT_OVER_THRESHOLD : EXIT.OK;
}
