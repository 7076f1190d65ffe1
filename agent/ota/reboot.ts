/**
 * The reboot into the slot just activated (docs/OTA.md, "Restart and reboot"). `dir-slots` needs no
 * reboot: the agent exits with OTA_RESTART_EXIT_CODE and its service manager starts the new bundle.
 * `rauc` and `command` run `systemctl reboot` (no shell, 60 s limit) first; when that fails the
 * agent does NOT exit (it would start again in the same slot and ask again, in a loop): the failure
 * is reported as OTA_INSTALL, the campaign stays `rebooting`, and the next check asks again.
 */
import { TcuError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { BackendName, CommandRunner } from '../../ota/install/index.js';

export const REBOOT_COMMAND: readonly [string, readonly string[]] = ['systemctl', ['reboot']];
const REBOOT_TIMEOUT_MS = 60_000;

export interface RebootDeps {
  backend: BackendName;
  /** Runs the reboot command (rauc, command). */
  runner: () => CommandRunner;
  logger: Logger;
  report: (err: TcuError) => void;
  /** The agent stops and exits with `exitCode`. */
  restart: () => void;
  exitCode: number;
}

/** `restarting`: the agent is asked to exit; `reboot-failed`: it stays up, the campaign waits in `rebooting`. */
export async function rebootIntoNewSlot(d: RebootDeps): Promise<'restarting' | 'reboot-failed'> {
  if (d.backend !== 'dir-slots') {
    const [command, args] = REBOOT_COMMAND;
    const r = await d
      .runner()
      .run(command, args, { timeoutMs: REBOOT_TIMEOUT_MS })
      .catch((err: unknown) => ({ code: null, signal: null, stdout: '', stderr: err instanceof Error ? err.message : String(err) }));
    if (r.code !== 0) {
      const why = r.stderr.trim() || (r.code === null ? `ended by ${String(r.signal)}` : `exit ${r.code}`);
      d.report(new TcuError('OTA_INSTALL', `systemctl reboot failed: ${why}; asked again at the next check`, { details: { code: r.code, signal: r.signal } }));
      return 'reboot-failed';
    }
  }
  d.logger.warn({ backend: d.backend, exitCode: d.exitCode }, 'restarting into the other slot');
  d.restart();
  return 'restarting';
}
