import { spawn } from 'node:child_process';
import { systemClock } from '../../core/clock.js';
import { EXIT, parseCommandArgs, parseNumber, type CommandIO } from '../../core/cli.js';
import { createLogger } from '../../core/logger.js';
import { Emulator } from '../emulator.js';
import { DEMO_DBC, agentProgram, projectFile } from './paths.js';

const DEMO_BUS = 'vcan0';

export const DEMO_HELP = `Usage: tcu-emulator demo [--dbc FILE] [--seed N] [--duration SECONDS]

What "npm start" runs: the emulator serves a car (default: the VW MQB DBC shipped in
hw-emulator/dbc/) over socketcand on a free local port, and the agent, a separate process,
connects to it and shows the decoded signals live. Ctrl-C stops both.

Options:
  --dbc FILE          another DBC to play
  --seed N            random seed (default 1)
  --duration SECONDS  stop after this long (default: until interrupted)
  -h, --help          this text

Exit codes: as the agent's (0 done, 1 runtime failure, 2 usage error).
`;

/**
 * `npm start`: the emulator serves a car over socketcand on a free local port, and the agent, a
 * separate process as on a board, connects to it and shows the decoded signals live.
 */
export async function demoCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    dbc: { type: 'string' },
    seed: { type: 'string' },
    duration: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.stdout.write(DEMO_HELP);
    return EXIT.OK;
  }
  const dbc = values.dbc ?? projectFile(DEMO_DBC);
  const emulator = new Emulator({
    buses: [{ name: DEMO_BUS, dbcPath: dbc }],
    seed: parseNumber(values.seed, '--seed', 1),
    // A new user should see the car start moving within seconds.
    driveCycle: { initialParkSeconds: 2 },
    socketcand: { host: '127.0.0.1', port: 0 },
    clock: systemClock(),
    logger: createLogger({ level: 'warn', name: 'tcu-emulator', destination: io.stderr }),
  });
  const { socketcand } = await emulator.start();
  const signals = emulator.mappedSignals()[DEMO_BUS] ?? [];
  const args = [agentProgram(), 'watch', '--dbc', dbc, '--socketcand', `${socketcand!.host}:${socketcand!.port}`, '--bus', DEMO_BUS, '--choices'];
  if (signals.length > 0) args.push('--signals', signals.join(','));
  if (values.duration !== undefined) args.push('--duration', values.duration);

  // On a terminal the agent gets the terminal itself, so it draws its live table in place.
  const agent = spawn(process.execPath, args, { stdio: io.isTTY ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'] });
  agent.stdout?.pipe(io.stdout as NodeJS.WritableStream, { end: false });
  agent.stderr?.pipe(io.stderr as NodeJS.WritableStream, { end: false });
  const onStop = (): void => {
    agent.kill('SIGTERM');
  };
  io.stop?.addEventListener('abort', onStop, { once: true });
  const code = await new Promise<number>((resolve) => agent.on('close', (c) => resolve(c ?? EXIT.FAILURE)));
  io.stop?.removeEventListener('abort', onStop);
  await emulator.stop();
  return code;
}
