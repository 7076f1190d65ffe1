import { spawn } from 'node:child_process';
import { systemClock } from '../../core/clock.js';
import { EXIT, parseCommandArgs, parseNumber, type CommandIO } from '../../core/cli.js';
import { createLogger } from '../../core/logger.js';
import { Emulator } from '../emulator.js';
import { DEMO_DBC, agentProgram, projectFile } from './paths.js';

const DEMO_BUS = 'vcan0';

/**
 * `npm start`: the emulator serves a car over socketcand on a free local port, and the agent, a
 * separate process as on a board, connects to it and shows the decoded signals live.
 */
export async function demoCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    dbc: { type: 'string' },
    seed: { type: 'string' },
    duration: { type: 'string' },
  });
  const dbc = values.dbc ?? projectFile(DEMO_DBC);
  const emulator = new Emulator({
    buses: [{ name: DEMO_BUS, dbcPath: dbc }],
    seed: parseNumber(values.seed, '--seed', 1),
    // A new user should see the car start moving within seconds.
    driveCycle: { initialParkSeconds: 2 },
    socketcand: { host: '127.0.0.1', port: 0 },
    clock: systemClock(),
    logger: createLogger({ level: 'warn', name: 'tcu-emulator', destination: 2 }),
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
