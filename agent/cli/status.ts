import { EXIT, parseCommandArgs, requireString, type CommandIO } from '../../core/cli.js';
import { TcuError } from '../../core/errors.js';
import { loadConfig } from '../../config/index.js';
import { readOutboxStats } from '../outbox/index.js';
import type { OutboxStats } from '../outbox/types.js';

export const STATUS_HELP = `Usage: tcu-agent status --config FILE [--json]

Prints the outbox of the agent the configuration describes: records waiting and their bytes, the
oldest record, records evicted per priority, records delivered, and the last upload. Reads the
database read-only, so it is safe while the agent runs.

Options:
  --config FILE   the configuration file
  --json          one JSON object instead of text
  -h, --help      this text

Exit codes: 0 done, 1 the outbox could not be read, 2 invalid configuration or no outbox yet.
`;

const PRIORITY_NAMES = ['low', 'normal', 'high', 'critical'] as const;

export async function statusCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    config: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.stdout.write(STATUS_HELP);
    return EXIT.OK;
  }
  const config = loadConfig(requireString(values.config, '--config'));
  const stats = readOutboxStats(config.outbox.path);
  if (stats === undefined) throw new TcuError('FILE_READ', `there is no outbox at ${config.outbox.path} yet (has the agent run?)`);
  if (values.json) {
    io.stdout.write(JSON.stringify({ path: config.outbox.path, ...stats, evicted: byName(stats.evicted) }) + '\n');
  } else {
    io.stdout.write(formatStatus(config.outbox.path, config.outbox.maxBytes, stats, Date.now()));
  }
  return EXIT.OK;
}

function byName(evicted: OutboxStats['evicted']): Record<string, number> {
  return Object.fromEntries(PRIORITY_NAMES.map((name, p) => [name, evicted[p as keyof typeof evicted] ?? 0]));
}

export function formatStatus(path: string, cap: number, s: OutboxStats, nowMs: number): string {
  const when = (ts: number | null): string => (ts === null ? 'never' : `${new Date(ts).toISOString()} (${ago(nowMs - ts)} ago)`);
  const evicted = Object.entries(byName(s.evicted))
    .map(([name, n]) => `${name} ${n}`)
    .join(', ');
  return [
    `outbox     ${path}`,
    `records    ${s.depth} waiting, ${bytes(s.bytes)} (cap ${bytes(cap)}, file ${bytes(s.fileBytes)})`,
    `oldest     ${s.oldestTs === null ? 'none' : when(s.oldestTs)}`,
    `evicted    ${evicted}`,
    `delivered  ${s.delivered}`,
    `last upload ${when(s.lastUploadTs)}`,
    '',
  ].join('\n');
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}
