import { systemClock, type TimerHandle } from '../../core/clock.js';
import { EXIT, parseCommandArgs, parseNumber, waitForStop, type CommandIO } from '../../core/cli.js';
import { createLogger } from '../../core/logger.js';
import { DemoSession, type DemoSnapshot } from '../demo/session.js';
import { DEMO_DBC, agentProgram, projectFile } from './paths.js';

export const DEMO_HELP = `Usage: tcu-emulator demo [--dbc FILE] [--seed N] [--duration SECONDS] [--broker URL]
                         [--outage-at SECONDS] [--outage-for SECONDS]

What "npm start" runs, the whole pipeline on this machine: the emulator plays a car (default: the
VW MQB DBC in hw-emulator/dbc/) over socketcand; the agent, a separate process as on a board,
collects its signals into the SQLite outbox and publishes them to an embedded MQTT broker as
CBOR; a console subscribes as the cloud would and shows what arrives. After --outage-at seconds
(default 20) the broker goes down for --outage-for seconds (default 15): the outbox fills, then
drains when the broker is back, and nothing is lost. Ctrl-C stops everything.

Options:
  --dbc FILE            another DBC to play
  --seed N              random seed (default 1)
  --duration SECONDS    stop after this long (default: until interrupted)
  --broker URL          use this broker instead of the embedded one (no staged outage)
  --outage-at SECONDS   when the embedded broker goes down (default 20)
  --outage-for SECONDS  how long it stays down (default 15)
  -h, --help            this text

On a terminal the view redraws in place; otherwise one JSON line a second.
Exit codes: 0 done, 1 runtime failure, 2 usage error.
`;

export async function demoCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    dbc: { type: 'string' },
    seed: { type: 'string' },
    duration: { type: 'string' },
    broker: { type: 'string' },
    'outage-at': { type: 'string' },
    'outage-for': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.stdout.write(DEMO_HELP);
    return EXIT.OK;
  }
  const clock = systemClock();
  const session = new DemoSession({
    dbc: values.dbc ?? projectFile(DEMO_DBC),
    seed: parseNumber(values.seed, '--seed', 1),
    brokerUrl: values.broker,
    outageAt: parseNumber(values['outage-at'], '--outage-at', 20),
    outageFor: parseNumber(values['outage-for'], '--outage-for', 15),
    agentProgram: agentProgram(),
    clock,
    logger: createLogger({ level: 'warn', name: 'tcu-emulator', destination: io.stderr }),
  });
  const agent = await session.start();
  const ended = new AbortController();
  io.stop?.addEventListener('abort', () => ended.abort(), { once: true });
  agent.once('exit', () => ended.abort());
  let timer: TimerHandle | undefined;
  const tick = (): void => {
    const snap = session.snapshot();
    io.stdout.write(io.isTTY ? render(snap) : JSON.stringify(summary(snap)) + '\n');
    timer = clock.setTimeout(tick, io.isTTY ? 500 : 1000);
  };
  timer = clock.setTimeout(tick, io.isTTY ? 500 : 1000);
  await waitForStop(ended.signal, parseNumber(values.duration, '--duration', Infinity) * 1000, clock);
  clock.clearTimeout(timer);
  const exitedEarly = agent.exitCode !== null && !io.stop?.aborted;
  const last = session.snapshot();
  io.stdout.write(io.isTTY ? render(last) : JSON.stringify(summary(last)) + '\n');
  await session.stop();
  if (exitedEarly) {
    io.stderr.write(`the agent exited with code ${agent.exitCode}; its log was ${last.agentLog}\n`);
    return EXIT.FAILURE;
  }
  return EXIT.OK;
}

function summary(s: DemoSnapshot): Record<string, unknown> {
  return {
    broker: s.broker,
    received: s.console.records,
    duplicates: s.console.duplicates,
    rate: Math.round(s.console.rate),
    outboxDepth: s.outbox?.depth ?? null,
    delivered: s.outbox?.delivered ?? null,
    agentOnline: s.console.agentOnline ?? null,
    signals: Object.fromEntries(s.console.signals),
    events: s.console.events,
  };
}

function render(s: DemoSnapshot): string {
  const brokerLine =
    s.broker === 'external'
      ? 'broker: external'
      : `broker: ${s.broker === 'up' ? 'UP' : 'DOWN (staged outage)'}${s.nextOutageChange !== undefined ? `, ${s.broker === 'up' ? 'goes down' : 'comes back'} in ${Math.ceil(s.nextOutageChange)} s` : ''}`;
  const o = s.outbox;
  const lines = [
    'tcu demo: emulator -> agent -> outbox -> MQTT -> this console   (Ctrl-C to stop)',
    brokerLine,
    `agent outbox: ${o ? `${o.depth} records waiting, ${o.delivered} delivered, evicted ${Object.values(o.evicted).reduce((a, b) => a + b, 0)}` : 'starting'}`,
    `received: ${s.console.records} records (${Math.round(s.console.rate)}/s), duplicates dropped ${s.console.duplicates}, agent ${s.console.agentOnline === undefined ? '?' : s.console.agentOnline ? 'online' : 'offline'}`,
    '',
    ...[...s.console.signals].slice(0, 24).map(([k, v]) => `  ${k.padEnd(44)} ${typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : v}`),
    '',
    'events:',
    ...s.console.events.map((e) => `  ${e}`),
    '',
    `agent log: ${s.agentLog}`,
  ];
  return '\x1b[H\x1b[2J' + lines.join('\n') + '\n';
}
