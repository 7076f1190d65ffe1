import { systemClock } from '../../core/clock.js';
import { EXIT, parseCommandArgs, parseHostPort, parseNumber, runMain, waitForStop, type CommandIO } from '../../core/cli.js';
import { TcuError } from '../../core/errors.js';
import { createLogger } from '../../core/logger.js';
import { Emulator } from '../emulator.js';
import { demoCommand } from './demo.js';
import { hmiCommand } from './hmi.js';
import { modemCommand } from './modem.js';
import { otaServerCommand } from './ota-server.js';

export const EMULATOR_HELP = `Usage: tcu-emulator --dbc FILE [options]
       tcu-emulator demo [--dbc FILE] [--seed N] [--duration SECONDS]
       tcu-emulator modem --pty PATH [--nmea-pty PATH] [--scenario NAME] [--seed N] [--list-scenarios]

Plays a car's CAN buses from a DBC file and a vehicle model (a drive cycle: ignition, speed,
engine speed, gear, charge and fuel, odometer, temperatures, GNSS), so the agent runs with no
hardware. Mapped signals follow the model; every other message is sent at its GenMsgCycleTime
(default 100 ms) with plausible values inside each signal's range. Deterministic for a seed.

Options:
  --dbc FILE              a DBC file; repeat it to pair one DBC with each --bus
  --bus NAME              a bus to emulate (default vcan0); repeatable
  --mapping FILE          model-to-signal mapping (default: the shipped one for the DBC, if any)
  --socketcand HOST:PORT  serve the buses over socketcand (default 127.0.0.1:29536 when no other
                          output is given; port 0 picks a free port)
  --candump-out FILE      append every frame to a candump log
  --vcan IFACE            also send every frame on a SocketCAN interface (needs the vcan module)
  --seed N                random seed (default 1)
  --cycle-ms N            period of messages without GenMsgCycleTime (default 100), to set a bus load
  --duration SECONDS      stop after this long (default: until interrupted)
  --flood                 send as fast as possible, for load tests
  -h, --help              this text

On start it prints one JSON line: {"event":"listening","socketcand":{"host","port"},"buses":[...]}.
On stop, a JSON summary of frames sent and dropped goes to standard error.

Commands:
  demo                    the emulator plus the agent showing live decoded signals
  modem                   a Quectel cellular modem (AT commands, NMEA) on a pseudo-terminal
                          (tcu-emulator modem --help)
  ota-server              an OTA repository over HTTP with Range and faults (tcu-emulator ota-server --help)
  hmi                     the HMI answering the agent's update consent requests (tcu-emulator hmi --help)

Exit codes: 0 done, 1 runtime failure, 2 usage error or unusable DBC/mapping file.
`;

const DEFAULT_SOCKETCAND = '127.0.0.1:29536';

export async function tcuEmulator(argv: string[], io: CommandIO): Promise<number> {
  if (argv[0] === 'demo') return runMain(() => demoCommand(argv.slice(1), io), io);
  if (argv[0] === 'modem') return runMain(() => modemCommand(argv.slice(1), io), io);
  if (argv[0] === 'ota-server') return runMain(() => otaServerCommand(argv.slice(1), io), io);
  if (argv[0] === 'hmi') return runMain(() => hmiCommand(argv.slice(1), io), io);
  return runMain(() => emulate(argv, io), io);
}

async function emulate(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    dbc: { type: 'string', multiple: true },
    bus: { type: 'string', multiple: true },
    mapping: { type: 'string' },
    socketcand: { type: 'string' },
    'candump-out': { type: 'string' },
    vcan: { type: 'string' },
    seed: { type: 'string' },
    'cycle-ms': { type: 'string' },
    duration: { type: 'string' },
    flood: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.stdout.write(EMULATOR_HELP);
    return EXIT.OK;
  }
  const dbcs = values.dbc ?? [];
  if (dbcs.length === 0) throw new TcuError('CLI_USAGE', '--dbc is required (see --help)');
  const names = values.bus ?? ['vcan0'];
  if (dbcs.length !== 1 && dbcs.length !== names.length) {
    throw new TcuError('CLI_USAGE', `give one --dbc for all buses or one per --bus (${dbcs.length} DBCs, ${names.length} buses)`);
  }
  const candumpOut = values['candump-out'];
  const socketcand = values.socketcand ?? (candumpOut === undefined && values.vcan === undefined ? DEFAULT_SOCKETCAND : undefined);
  const clock = systemClock();
  const emulator = new Emulator({
    buses: names.map((name, i) => ({ name, dbcPath: dbcs[dbcs.length === 1 ? 0 : i]!, mappingPath: values.mapping })),
    seed: parseNumber(values.seed, '--seed', 1),
    defaultCycleTimeMs: values['cycle-ms'] === undefined ? undefined : parseNumber(values['cycle-ms'], '--cycle-ms', 100),
    flood: values.flood,
    socketcand: socketcand === undefined ? undefined : parseHostPort(socketcand, '--socketcand'),
    candumpOut,
    vcan: values.vcan,
    clock,
    logger: createLogger({ level: 'warn', name: 'tcu-emulator', destination: io.stderr }),
  });
  const durationMs = parseNumber(values.duration, '--duration', Infinity) * 1000;
  const started = await emulator.start();
  io.stdout.write(JSON.stringify({ event: 'listening', ...started, buses: names }) + '\n');
  await waitForStop(io.stop, durationMs, clock);
  await emulator.stop();
  io.stderr.write(JSON.stringify({ event: 'stopped', ...emulator.counters() }) + '\n');
  return EXIT.OK;
}
