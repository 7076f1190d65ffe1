import { dirname, join } from 'node:path';
import { EXIT, parseCommandArgs, type CommandIO } from '../../core/cli.js';
import { TcuError } from '../../core/errors.js';
import { loadConfig, type AgentConfig } from '../../config/index.js';
import { inventoryReport, readInventory, type InventoryEntry } from '../../ota/inventory.js';
import { OTA_STORE_FILE } from '../ota/apply.js';


export const INVENTORY_HELP = `Usage: tcu-agent inventory (--state-dir DIR | --config FILE) [--json]

Prints the software inventory (UN R156: software versions recorded and readable): per ECU the
version, image hash, release counter, RXSWINs, where it came from (factory or an update campaign)
and when. It changes only when an update is committed. Reads the OTA state store read-only, so it
is safe while the agent runs.

Options:
  --state-dir DIR   the OTA state folder (holds ${OTA_STORE_FILE})
  --config FILE     the agent's configuration instead: its ota.stateDir, by default <the outbox's
                    folder>/ota (the folder the running agent uses)
  --json            the JSON the agent reports to the cloud, instead of text
  -h, --help        this text

Exit codes: 0 done (an empty inventory when no update ever ran), 1 the store could not be read,
2 usage error.
`;

export async function inventoryCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    'state-dir': { type: 'string' },
    config: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.stdout.write(INVENTORY_HELP);
    return EXIT.OK;
  }
  if ((values['state-dir'] === undefined) === (values.config === undefined)) throw new TcuError('CLI_USAGE', 'give either --state-dir or --config (one of them)');
  const stateDir = values['state-dir'] ?? otaStateDir(loadConfig(values.config!));
  const path = join(stateDir, OTA_STORE_FILE);
  const entries = readInventory(path);
  io.stdout.write(values.json ? JSON.stringify(inventoryReport(entries, Date.now())) + '\n' : formatInventory(entries));
  return EXIT.OK;
}

/** The agent's OTA state folder: `ota.stateDir`, else `<the outbox's folder>/ota` (as agent/runtime/agent.ts). */
export function otaStateDir(config: AgentConfig): string {
  if (config.ota?.stateDir !== undefined) return config.ota.stateDir;
  if (config.outbox.path === ':memory:') throw new TcuError('CLI_USAGE', 'the configuration keeps the outbox in memory and names no ota.stateDir: give --state-dir');
  return join(dirname(config.outbox.path), 'ota');
}

export function formatInventory(entries: readonly InventoryEntry[]): string {
  if (entries.length === 0) return 'no software recorded yet (no update has been committed, no factory software seeded)\n';
  return (
    entries
      .map((e) =>
        [
          `${e.ecu}`,
          `  version         ${e.version ?? 'unknown'}${e.releaseCounter === null ? '' : ` (release counter ${e.releaseCounter})`}`,
          `  hash            ${e.hash === null ? 'unknown' : `sha256:${e.hash}`}${e.length === null ? '' : `, ${e.length} bytes`}`,
          `  RXSWIN          ${e.rxswin.length === 0 ? 'none' : e.rxswin.join(', ')}`,
          `  source          ${e.source}${e.campaign === null ? '' : `, campaign ${e.campaign}`}${e.target === null ? '' : `, target ${e.target}`}`,
          `  updated         ${new Date(e.updatedAt).toISOString()}`,
        ].join('\n'),
      )
      .join('\n') + '\n'
  );
}
