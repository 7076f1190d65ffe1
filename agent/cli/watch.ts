import { systemClock } from '../../core/clock.js';
import { TcuError } from '../../core/errors.js';
import type { TimerHandle } from '../../core/clock.js';
import { OncePerKind, createLogger } from '../../core/logger.js';
import { compileDbc } from '../../drivers/can/dbc/codec.js';
import { loadDbcFile } from '../../drivers/can/dbc/parser.js';
import { createBus, type BusSpec } from '../buses.js';
import { SignalBoard } from '../watch/signal-board.js';
import { EXIT, parseCommandArgs, parseHostPort, parseNumber, requireString, waitForStop, type CommandIO } from '../../core/cli.js';

export const WATCH_HELP = `Usage: tcu-agent watch --dbc FILE SOURCE [options]

Shows the live decoded signals of a CAN bus. On a terminal the table redraws in place; otherwise
one JSON line a second: {"frames", "decoded", "unknownIds", "rate", "signals": {...}}.

Source (one of):
  --socketcand HOST:PORT  a socketcand server (the emulator, or socketcand on a Linux box)
      --bus NAME          the remote interface to open (default vcan0)
  --socketcan IFACE       a kernel SocketCAN interface (can0, vcan0)
  --log FILE              replay a candump log
      --speed N           replay speed factor (default 1; 0 = as fast as possible)

Options:
  --dbc FILE              the DBC file (required)
  --signals LIST          Message.Signal names to show first, comma-separated
  --choices               value-table text instead of numbers
  --duration SECONDS      stop after this long (default: until interrupted)
  --json                  JSON lines even on a terminal
  -h, --help              this text

Exit codes: 0 done, 1 the bus failed or never opened, 2 usage error or unusable DBC file.
`;

const REDRAW_MS = 500;
const JSON_EVERY_MS = 1000;

export async function watchCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    dbc: { type: 'string' },
    socketcand: { type: 'string' },
    bus: { type: 'string', default: 'vcan0' },
    socketcan: { type: 'string' },
    log: { type: 'string' },
    speed: { type: 'string' },
    signals: { type: 'string' },
    choices: { type: 'boolean', default: false },
    duration: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.stdout.write(WATCH_HELP);
    return EXIT.OK;
  }
  const spec = busSpec(values);
  const codec = compileDbc(loadDbcFile(requireString(values.dbc, '--dbc')));
  const durationMs = parseNumber(values.duration, '--duration', Infinity) * 1000;
  const watched = values.signals ? values.signals.split(',').map((s) => s.trim()).filter(Boolean) : [];
  const live = io.isTTY === true && !values.json;
  const clock = systemClock();
  const board = new SignalBoard(watched);
  const units = new Map(codec.messages.map((m) => [m, new Map(m.message.signals.map((s) => [s.name, s.unit]))]));

  const logger = createLogger({ level: 'warn', name: 'tcu-agent', destination: io.stderr });
  const reports = new OncePerKind(logger);
  const bus = createBus(spec, { clock, logger });
  bus.on('error', (err) => reports.report(err.code, { bus: bus.name }, err.message));
  bus.subscribe((frame) => {
    const message = frame.rtr || frame.err ? undefined : codec.get(frame.id, frame.ext);
    board.countFrame(message !== undefined);
    if (!message) return;
    const signals = values.choices ? message.decodeWithChoices(frame.data) : message.decode(frame.data);
    board.update(message.message.name, signals, units.get(message)!, frame.ts);
  });

  // The end comes from --duration, Ctrl-C or SIGTERM, or the bus closing by itself (the end of a
  // log), whichever is first; it may come while the bus is still connecting.
  const ended = new AbortController();
  const forward = (): void => ended.abort();
  io.stop?.addEventListener('abort', forward, { once: true });
  if (io.stop?.aborted) ended.abort();
  const finished = waitForStop(ended.signal, durationMs, clock).then(() => ended.abort());

  const header = `tcu-agent watch: ${describe(spec)}  (Ctrl-C to stop)`;
  const show = (): void => {
    if (live) {
      const out = io.stdout as NodeJS.WritableStream & { rows?: number; columns?: number };
      io.stdout.write('\x1b[H\x1b[2J' + board.render({ rows: out.rows ?? 24, columns: out.columns ?? 100, nowMs: clock.monotonic(), header }) + '\n');
    } else {
      io.stdout.write(JSON.stringify(jsonStatus(board, watched, clock.monotonic())) + '\n');
    }
  };
  let timer: TimerHandle | undefined;
  let opened = false;
  try {
    opened = await Promise.race([bus.open().then(() => true), finished.then(() => false)]);
    if (opened) {
      bus.on('state', (state) => {
        if (state === 'closed') ended.abort();
      });
      const tick = (): void => {
        show();
        timer = clock.setTimeout(tick, live ? REDRAW_MS : JSON_EVERY_MS);
      };
      timer = clock.setTimeout(tick, live ? REDRAW_MS : JSON_EVERY_MS);
      await finished;
      show();
    }
  } finally {
    if (timer !== undefined) clock.clearTimeout(timer);
    ended.abort();
    io.stop?.removeEventListener('abort', forward);
    await bus.close();
  }
  const c = board.counts();
  io.stderr.write(`watch: ${c.frames} frames, ${c.decoded} decoded, ${c.unknownIds} unknown ids\n`);
  if (!opened && !io.stop?.aborted) {
    io.stderr.write(`watch: ${describe(spec)} never opened\n`);
    return EXIT.FAILURE;
  }
  return EXIT.OK;
}

function busSpec(values: { socketcand?: string; bus?: string; socketcan?: string; log?: string; speed?: string }): BusSpec {
  const given = [values.socketcand, values.socketcan, values.log].filter((v) => v !== undefined).length;
  if (given !== 1) throw new TcuError('CLI_USAGE', 'give exactly one source: --socketcand, --socketcan or --log');
  if (values.socketcand !== undefined) {
    return { driver: 'socketcand', ...parseHostPort(values.socketcand, '--socketcand'), bus: values.bus ?? 'vcan0', waitForServer: true };
  }
  if (values.socketcan !== undefined) return { driver: 'socketcan', iface: values.socketcan };
  const speed = parseNumber(values.speed, '--speed', 1);
  if (speed < 0) throw new TcuError('CLI_USAGE', `--speed must be 0 (as fast as possible) or more, not ${speed}`);
  return { driver: 'candump', path: values.log!, speed };
}

function describe(spec: BusSpec): string {
  switch (spec.driver) {
    case 'socketcand':
      return `socketcand ${spec.host}:${spec.port} ${spec.bus}`;
    case 'socketcan':
      return `SocketCAN ${spec.iface}`;
    case 'candump':
      return `log ${spec.path}`;
  }
}

function jsonStatus(board: SignalBoard, watched: readonly string[], nowMs: number): Record<string, unknown> {
  const signals: Record<string, number | string> = {};
  for (const key of watched) {
    const e = board.get(key);
    if (e) signals[key] = e.value;
  }
  return { ...board.counts(), rate: Math.round(board.frameRate(nowMs)), signals };
}
