/** Install backends (docs/OTA.md, "Install backends"): one interface, three implementations. */
import type { Clock } from '../../core/clock.js';
import type { InstallBackend } from './backend.js';
import { CommandBackend } from './command.js';
import { DirSlotsBackend } from './dir-slots.js';
import { RaucBackend } from './rauc.js';
import { childProcessRunner, type CommandRunner } from './runner.js';

export * from './backend.js';
export { CommandBackend, EXIT_DISK_FULL, installEnv, parseCommandStatus, type CommandAction, type CommandBackendOptions } from './command.js';
export { DirSlotsBackend, slotFileName, type DirSlotsOptions } from './dir-slots.js';
export { RaucBackend, parseRaucStatus, type RaucOptions } from './rauc.js';
export { childProcessRunner, type ChildProcessRunnerOptions, type CommandResult, type CommandRunner, type RunOptions } from './runner.js';
export { DIR_SLOTS, readCurrent, readManifest, readSlotStates, verifySlot, type DirSlot, type SlotManifest, type SlotStates } from './slot-manifest.js';

export type BackendSpec =
  | { kind: 'dir-slots'; dir: string }
  | { kind: 'rauc'; command?: string; timeoutMs?: number; installTimeoutMs?: number }
  | { kind: 'command'; script: string; timeoutMs?: number; installTimeoutMs?: number; env?: Record<string, string> };

/** The one place a backend is chosen. Open it once at start-up: `dir-slots` reads the booted slot then. */
export function createInstallBackend(spec: BackendSpec, deps: { clock: Clock; runner?: CommandRunner }): InstallBackend {
  const runner = deps.runner ?? childProcessRunner({ clock: deps.clock });
  switch (spec.kind) {
    case 'dir-slots':
      return DirSlotsBackend.open({ dir: spec.dir, clock: deps.clock });
    case 'rauc':
      return new RaucBackend({ runner, command: spec.command, timeoutMs: spec.timeoutMs, installTimeoutMs: spec.installTimeoutMs });
    case 'command':
      return new CommandBackend({ runner, script: spec.script, timeoutMs: spec.timeoutMs, installTimeoutMs: spec.installTimeoutMs, env: spec.env });
  }
}
