import { systemClock, type TimerHandle } from '../../core/clock.js';
import { EXIT, parseCommandArgs, parseNumber, requireString, waitForStop, type CommandIO } from '../../core/cli.js';
import { TcuError } from '../../core/errors.js';
import { createLogger } from '../../core/logger.js';
import { MODEM_MODELS, type ModemModel } from '../modem/context.js';
import { ModemPty } from '../modem/pty.js';
import { findScenario, SCENARIOS } from '../modem/scenarios.js';
import { ModemSimulator, type ModemSimStatus } from '../modem/simulator.js';

export const MODEM_HELP = `Usage: tcu-emulator modem --pty PATH [--nmea-pty PATH] [--scenario NAME] [--model NAME]
                          [--seed N] [--reset-down SECONDS] [--duration SECONDS]
       tcu-emulator modem --list-scenarios

Plays a Quectel cellular modem on the far side of a pseudo-terminal pair made with socat: the
agent opens PATH as it would open /dev/ttyUSB2 and talks AT commands to it (identity, SIM,
registration with its unsolicited codes, operator, signal, serving cell, packet domain, reset,
GNSS). NMEA comes from the vehicle model's GNSS track. The scenario scripts what the network does
and which faults the line shows; a modem reset (AT+CFUN=1,1, or the reboot scenario) makes the
ports vanish for a few seconds and come back at the same paths.

Prints the agent's paths on standard output, one plain line each: the AT port, then the NMEA port
when --nmea-pty is given. Runs until SIGINT or SIGTERM (or --duration). Standard error gets a JSON
line on each change of port, phase or registration, and a summary on stop.

Options:
  --pty PATH            where the AT port appears (a symbolic link socat creates; an existing
                        file that is not a symbolic link is refused)
  --nmea-pty PATH       also an NMEA port; GNSS then runs from power-on (AT+QGPSCFG="autogps",1)
  --scenario NAME       what happens (default steady-home; see --list-scenarios)
  --model NAME          RM500Q (LTE with NR NSA, default) or EC25 (LTE only)
  --seed N              random seed for identity, radio, faults and the vehicle (default 1)
  --reset-down SECONDS  how long the ports are gone during a reset (default 3)
  --duration SECONDS    stop after this long (default: until interrupted)
  --list-scenarios      print each scenario's name and what it does, and exit
  -h, --help            this text

Needs socat. Exit codes: 0 done, 1 runtime failure (socat missing or failing, a pty vanished),
2 usage error (unknown scenario or model, no --pty, PATH exists and is not a symbolic link).
`;

export async function modemCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    pty: { type: 'string' },
    'nmea-pty': { type: 'string' },
    scenario: { type: 'string' },
    model: { type: 'string' },
    seed: { type: 'string' },
    'reset-down': { type: 'string' },
    duration: { type: 'string' },
    'list-scenarios': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.stdout.write(MODEM_HELP);
    return EXIT.OK;
  }
  if (values['list-scenarios']) {
    const width = Math.max(...SCENARIOS.map((s) => s.name.length));
    for (const s of SCENARIOS) io.stdout.write(`${s.name.padEnd(width)}  ${s.description}\n`);
    return EXIT.OK;
  }
  const atLink = requireString(values.pty, '--pty');
  const model = (values.model ?? 'RM500Q').toUpperCase();
  if (!MODEM_MODELS.includes(model as ModemModel)) throw new TcuError('CLI_USAGE', `--model must be one of ${MODEM_MODELS.join(', ')}, not "${values.model}"`);
  const resetDown = parseNumber(values['reset-down'], '--reset-down', 3);
  if (resetDown < 0) throw new TcuError('CLI_USAGE', '--reset-down must not be negative');
  const clock = systemClock();
  const logger = createLogger({ level: 'warn', name: 'tcu-emulator', destination: io.stderr });
  const sim = new ModemSimulator({
    clock,
    seed: parseNumber(values.seed, '--seed', 1),
    scenario: findScenario(values.scenario ?? 'steady-home'),
    model: model as ModemModel,
    autoGps: values['nmea-pty'] !== undefined,
    resetDownMs: resetDown * 1000,
  });
  const pty = new ModemPty({ sim, atLink, nmeaLink: values['nmea-pty'], logger });
  const paths = await pty.start();
  sim.start();
  io.stdout.write(`${paths.at}\n${paths.nmea === undefined ? '' : `${paths.nmea}\n`}`);

  const ended = new AbortController();
  io.stop?.addEventListener('abort', () => ended.abort(), { once: true });
  let lost: TcuError | undefined;
  pty.onLost((err) => {
    lost = err;
    ended.abort();
  });
  let timer: TimerHandle | undefined;
  let last = '';
  const watch = (): void => {
    const line = statusLine(sim.status());
    if (line !== last) io.stderr.write(`${line}\n`);
    last = line;
    timer = clock.setTimeout(watch, 250);
  };
  watch();
  await waitForStop(ended.signal, parseNumber(values.duration, '--duration', Infinity) * 1000, clock);
  if (timer) clock.clearTimeout(timer);
  sim.stop();
  await pty.stop();
  io.stderr.write(JSON.stringify({ event: 'stopped', ...sim.counters(), droppedBytes: pty.dropped() }) + '\n');
  if (lost) {
    io.stderr.write(`error ${lost.code}: ${lost.message}\n`);
    return EXIT.FAILURE;
  }
  return EXIT.OK;
}

function statusLine(s: ModemSimStatus): string {
  return JSON.stringify({ event: 'modem', port: s.port, ready: s.ready, phase: s.phase, stat: s.stat, operator: s.operator ?? null, gnss: s.gnssOn ? (s.fix ? 'fix' : 'searching') : 'off' });
}
