import { dispatchCommand, type CommandIO } from '../../core/cli.js';
import { systemClock } from '../../core/clock.js';
import { addCommand } from './add.js';
import type { CliDeps, Command } from './common.js';
import { initCommand } from './init.js';
import { keygenCommand } from './keygen.js';
import { publishCommand } from './publish.js';
import { rolloutCommand } from './rollout.js';
import { rootCommand } from './root.js';
import { serveCommand } from './serve.js';
import { statusCommand } from './status.js';

const HELP = `Usage: tcu-ota <command> [options]

The fleet operator's tool: keys, signed TUF repositories (image and director), staged rollouts.

Commands:
  keygen    an Ed25519 key pair (TUF key format)
  init      a new repository: root with thresholds and expiries, empty targets, snapshot, timestamp
  add       a target file with its custom fields, signed by the targets keys
  publish   a new snapshot and timestamp (with --key: targets re-signed too)
  root      renew | rotate: a new root (fresh expiry; new keys and thresholds)
  rollout   create | advance | pause | resume | abort | list: staged rollouts in the director
  status    campaign reports summarised per stage; automatic pause over a failure threshold
  serve     a repository over HTTP with Range, for development

Run "tcu-ota <command> --help" for a command's options.

Exit codes: 0 success, 1 runtime failure, 2 usage error or invalid input file
(status: 3 when a stage is over the failure threshold).
`;

/** The commands; each lives in its own file in ota/cli/. */
const COMMANDS: Record<string, Command> = {
  keygen: keygenCommand,
  init: initCommand,
  add: addCommand,
  publish: publishCommand,
  root: rootCommand,
  rollout: rolloutCommand,
  status: statusCommand,
  serve: serveCommand,
};

export function tcuOta(argv: string[], io: CommandIO, deps: CliDeps = { clock: systemClock() }): Promise<number> {
  const commands = Object.fromEntries(Object.entries(COMMANDS).map(([name, command]) => [name, (rest: string[]) => command(rest, io, deps)]));
  return dispatchCommand(argv, io, HELP, commands);
}
