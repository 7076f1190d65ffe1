import { systemClock } from '../../core/clock.js';
import { EXIT, parseCommandArgs, parseHostPort, parseNumber, requireString, waitForStop, type CommandIO } from '../../core/cli.js';
import { OTA_FAULT_HELP, formatFault, parseFault } from '../ota/faults.js';
import { OtaRepoServer } from '../ota/server.js';

export const OTA_SERVER_HELP = `Usage: tcu-emulator ota-server --root DIR [--listen HOST:PORT] [--fault NAME[:ARG][@PATH] ...]
                               [--duration SECONDS]

Serves a folder of static files over HTTP as an OTA repository (TUF's layout: root.json,
N.root.json, timestamp.json, snapshot.json, targets.json and targets/...; or one repository per
subfolder), with GET, HEAD and byte ranges (206, Content-Range, 416), and faults for testing the
agent's update client. Runs until SIGINT or SIGTERM (or --duration).

On start it prints one JSON line: {"event":"listening","url":"http://HOST:PORT/","root":"...","faults":[...]}.
On stop, a JSON summary of counters goes to standard error.

Options:
  --root DIR              the folder served at /
  --listen HOST:PORT      where to listen (default 127.0.0.1:8080; port 0 picks a free port)
  --fault SPEC            a fault, repeatable; SPEC is NAME[:ARG][@PATH]: with @PATH only that file
                          or folder (relative to the root) is affected
  --duration SECONDS      stop after this long (default: until interrupted)
  -h, --help              this text

Faults:
${Object.values(OTA_FAULT_HELP)
  .map((line) => `  ${line}`)
  .join('\n')}

Exit codes: 0 done, 1 runtime failure (the address in use), 2 usage error (no --root, a root that
is not a folder, a bad fault).
`;

export async function otaServerCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    root: { type: 'string' },
    listen: { type: 'string' },
    fault: { type: 'string', multiple: true },
    duration: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.stdout.write(OTA_SERVER_HELP);
    return EXIT.OK;
  }
  const root = requireString(values.root, '--root');
  const listen = parseHostPort(values.listen ?? '127.0.0.1:8080', '--listen');
  const faults = (values.fault ?? []).map(parseFault);
  const durationMs = parseNumber(values.duration, '--duration', Infinity) * 1000;
  const clock = systemClock();
  const server = new OtaRepoServer({ root, faults, clock });
  const { url } = await server.start(listen.host, listen.port);
  io.stdout.write(JSON.stringify({ event: 'listening', url, root, faults: faults.map(formatFault) }) + '\n');
  await waitForStop(io.stop, durationMs, clock);
  await server.stop();
  io.stderr.write(JSON.stringify({ event: 'stopped', ...server.counters() }) + '\n');
  return EXIT.OK;
}
