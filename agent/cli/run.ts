import { systemClock } from '../../core/clock.js';
import { EXIT, parseCommandArgs, requireString, waitForStop, type CommandIO } from '../../core/cli.js';
import { createLogger } from '../../core/logger.js';
import { loadConfig } from '../../config/index.js';
import { Agent } from '../runtime/agent.js';
import { ServiceManager } from '../runtime/service-manager.js';
import { AGENT_VERSION } from '../version.js';

export const RUN_HELP = `Usage: tcu-agent run --config FILE

Runs the agent as on a board: reads the configured CAN buses, collects signals and events into
the SQLite outbox, and sends them to the MQTT broker, deleting each record only once the broker
has acknowledged it. Logs are JSON lines on standard output.

SIGTERM or SIGINT shuts down cleanly: stop reading, commit what is in memory, give in-flight
publishes a few seconds to be acknowledged (the rest stays in the outbox), close the database.
A second signal exits at once.

Options:
  --config FILE   the configuration file (see config/examples/)
  -h, --help      this text

With an "ota" section, an update installed into the other dir-slots slot stops the agent cleanly
and exits with 75, so its service manager (systemd: Restart=always) starts it again from the new
slot, where it health-checks the update and commits it or rolls back.

Started by systemd with NOTIFY_SOCKET set (Type=notify), it reports READY=1 once running,
WATCHDOG=1 at half of WatchdogSec while its event loop turns, and STOPPING=1 on the way out,
through the systemd-notify program (the unit needs NotifyAccess=all; docs/BOARDS.md).

Exit codes: 0 stopped cleanly, 1 runtime failure, 2 invalid configuration (one line per problem),
75 restart requested (an update to start into).
`;

export async function runCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    config: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.stdout.write(RUN_HELP);
    return EXIT.OK;
  }
  const config = loadConfig(requireString(values.config, '--config'));
  const clock = systemClock();
  const logger = createLogger({ level: config.logging.level, name: 'tcu-agent', destination: io.stdout });
  // Under systemd (Type=notify, WatchdogSec=): READY once running, watchdog pings, STOPPING.
  const service = ServiceManager.fromEnv({ env: io.env ?? {}, pid: process.pid, clock, logger });
  const agent = await Agent.start(config, { clock, logger, version: AGENT_VERSION });
  service?.ready(AGENT_VERSION);
  const restart = await Promise.race([waitForStop(io.stop, Infinity, clock).then(() => undefined), agent.restartRequested]);
  const reason = restart?.reason ?? 'signal';
  const told = service?.stopping(reason);
  await agent.stop(reason);
  await told;
  return restart?.exitCode ?? EXIT.OK;
}
