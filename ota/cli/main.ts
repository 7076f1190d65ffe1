import { EXIT, runMain, type CommandIO } from '../../core/cli.js';

const HELP = `Usage: tcu-ota <command> [options]

The fleet operator's tool: keys, signed TUF repositories (image and director), staged rollouts.

Run "tcu-ota <command> --help" for a command's options.

Exit codes: 0 success, 1 runtime failure, 2 usage error or invalid input file.
`;

type Command = (argv: string[], io: CommandIO) => Promise<number>;

/** The commands; each lives in its own file in ota/cli/. */
const COMMANDS: Record<string, Command> = {};

export async function tcuOta(argv: string[], io: CommandIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr.write(HELP);
    return EXIT.USAGE;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(HELP);
    return EXIT.OK;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    io.stderr.write(`error CLI_USAGE: unknown command "${name}"\n\n${HELP}`);
    return EXIT.USAGE;
  }
  return runMain(() => command(rest, io), io);
}
