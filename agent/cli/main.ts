import { decodeCommand, DECODE_HELP } from './decode.js';
import { watchCommand, WATCH_HELP } from './watch.js';
import { EXIT, runMain, type CommandIO } from '../../core/cli.js';

const HELP = `Usage: tcu-agent <command> [options]

The telematics agent that runs on the car's telematics control unit.

Commands:
  decode     decode a candump log with a DBC file into JSON lines
  watch      show the live decoded signals of a CAN bus

Run "tcu-agent <command> --help" for a command's options.

Exit codes: 0 success, 1 runtime failure, 2 usage error or invalid input file.
`;

type Command = (argv: string[], io: CommandIO) => Promise<number>;

const COMMANDS: Record<string, { run: Command; help: string }> = {
  decode: { run: decodeCommand, help: DECODE_HELP },
  watch: { run: watchCommand, help: WATCH_HELP },
};

export async function tcuAgent(argv: string[], io: CommandIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(HELP);
    return name === undefined ? EXIT.USAGE : EXIT.OK;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    io.stderr.write(`error CLI_USAGE: unknown command "${name}"\n\n${HELP}`);
    return EXIT.USAGE;
  }
  return runMain(() => command.run(rest, io), io);
}

