import { dispatchCommand, type CommandIO } from '../../core/cli.js';

const HELP = `Usage: tcu-agent <command> [options]

The telematics agent that runs on the car's telematics control unit.

Commands:
  run        run the agent: CAN buses to the outbox to the MQTT broker (--config FILE)
  status     the outbox of a configured agent: depth, evictions, last upload
  decode     decode a candump log with a DBC file into JSON lines
  watch      show the live decoded signals of a CAN bus
  modem-info ask the modem on a serial port once: identity, registration, signal, position
  inventory  the software inventory: per ECU version, hash, RXSWIN (read-only)
  ota apply  one signed update end to end (TUF + Uptane, dir-slots), one JSON line

Run "tcu-agent <command> --help" for a command's options.

Exit codes: 0 success, 1 runtime failure, 2 usage error or invalid input file.
`;

type Command = (argv: string[], io: CommandIO) => Promise<number>;

/**
 * Each command is loaded when it runs: the bundle evaluates a command's modules (tuf-js for `ota`,
 * the serial binding for `modem-info`, ...) only for that command, which keeps `run` on a board
 * smaller in memory.
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => (await import('./run.js')).runCommand,
  status: async () => (await import('./status.js')).statusCommand,
  decode: async () => (await import('./decode.js')).decodeCommand,
  watch: async () => (await import('./watch.js')).watchCommand,
  'modem-info': async () => (await import('./modem-info.js')).modemInfoCommand,
  inventory: async () => (await import('./inventory.js')).inventoryCommand,
  ota: async () => (await import('./ota.js')).otaCommand,
};

export function tcuAgent(argv: string[], io: CommandIO): Promise<number> {
  const commands = Object.fromEntries(Object.entries(COMMANDS).map(([name, load]) => [name, async (rest: string[]) => (await load())(rest, io)]));
  return dispatchCommand(argv, io, HELP, commands);
}
