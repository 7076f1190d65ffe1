// Entry point of the tcu-boot-guard program (bundled to dist/tcu-boot-guard.mjs): the dir-slots
// boot counter the service runs before each start of the agent (ota/install/boot-guard.ts).
import { EXIT, parseCommandArgs, processIO, requireString, runMain, type CommandIO } from '../../core/cli.js';
import { systemClock } from '../../core/clock.js';
import { guardBoot } from '../../ota/install/boot-guard.js';

const BOOT_GUARD_HELP = `Usage: tcu-boot-guard --slots DIR [--max-starts N]

Run by the service manager before each start of the agent (systemd: ExecStartPre=). When the
slot "current" points at is on trial (slots.json: "trying"), counts one more start of it; past N
starts (default 3, set it to the agent's ota.maxBootAttempts) falls back as a bootloader would:
"current" back to the previous slot, the slot on trial marked bad. A bundle that cannot even start
is abandoned this way. Prints one JSON line: {"action": "none" | "counted" | "fell-back", "slot", "starts"}.

Exit codes: 0 done, 1 the slots folder could not be read or changed, 2 usage.
`;

async function bootGuardCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    slots: { type: 'string' },
    'max-starts': { type: 'string', default: '3' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.stdout.write(BOOT_GUARD_HELP);
    return EXIT.OK;
  }
  const result = await guardBoot({ dir: requireString(values.slots, '--slots'), maxStarts: Number(values['max-starts']), clock: systemClock() });
  io.stdout.write(`${JSON.stringify(result)}\n`);
  return EXIT.OK;
}

const io = processIO();
void runMain(() => bootGuardCommand(process.argv.slice(2), io), io).then((code) => {
  process.exitCode = code;
});
