import { systemClock } from '../../core/clock.js';
import { EXIT, parseCommandArgs, parseNumber, requireString, waitForStop, type CommandIO } from '../../core/cli.js';
import { TcuError } from '../../core/errors.js';
import { HMI_PLAYER_ANSWERS, HmiPlayer, type HmiPlayerAnswer } from '../hmi/index.js';

export const HMI_HELP = `Usage: tcu-emulator hmi --broker URL [--topic T] [--answer consent|refuse|ignore] [--delay-ms N]
                        [--duration SECONDS]

Plays the vehicle's HMI (head unit) for the agent's update campaigns, on the local MQTT broker the
agent's "ota.hmi" section names: prints every consent request and notice the agent sends, and
answers each consent request with {"campaign", "answer"} on <topic>/consent/response
(docs/OTA.md, "The agent's campaigns"). Runs until SIGINT or SIGTERM (or --duration).

Options:
  --broker URL            the local broker (e.g. mqtt://127.0.0.1:1883)
  --topic T               the HMI topic root (default tcu/hmi, as the agent's default)
  --answer A              consent (default), refuse, or ignore (never answer: the agent times out)
  --delay-ms N            wait this long before answering (default 0)
  --duration SECONDS      stop after this long (default: until interrupted)
  -h, --help              this text

Standard output: one JSON line per event: {"event":"listening",...}, {"event":"request","body":{...}},
{"event":"notice","body":{...}}, {"event":"answer","campaign","answer"}, {"event":"malformed",...}.

Exit codes: 0 done, 1 runtime failure (the broker cannot be reached), 2 usage error.
`;

export async function hmiCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    broker: { type: 'string' },
    topic: { type: 'string' },
    answer: { type: 'string' },
    'delay-ms': { type: 'string' },
    duration: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.stdout.write(HMI_HELP);
    return EXIT.OK;
  }
  const url = requireString(values.broker, '--broker');
  const answer = values.answer ?? 'consent';
  if (!(HMI_PLAYER_ANSWERS as readonly string[]).includes(answer)) throw new TcuError('CLI_USAGE', `--answer must be one of ${HMI_PLAYER_ANSWERS.join(', ')}, not "${answer}"`);
  const delayMs = parseNumber(values['delay-ms'], '--delay-ms', 0);
  if (delayMs < 0) throw new TcuError('CLI_USAGE', '--delay-ms must not be negative');
  const topic = values.topic ?? 'tcu/hmi';
  const durationMs = parseNumber(values.duration, '--duration', Infinity) * 1000;
  const clock = systemClock();
  const player = new HmiPlayer({ url, topic, answer: answer as HmiPlayerAnswer, delayMs, clock, onEvent: (e) => io.stdout.write(JSON.stringify(e) + '\n') });
  await player.start();
  io.stdout.write(JSON.stringify({ event: 'listening', broker: url, topic, answer, delayMs }) + '\n');
  await waitForStop(io.stop, durationMs, clock);
  await player.stop();
  return EXIT.OK;
}
