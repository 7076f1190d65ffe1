/**
 * `command`: an integrator's script does the work (docs/OTA.md, "command backend").
 *
 * The script is run as `SCRIPT ACTION` (no shell) with TCU_OTA_ACTION=ACTION in its environment:
 *
 *   install     TCU_OTA_IMAGE (the verified image file), TCU_OTA_TARGET (the target name),
 *               TCU_OTA_VERSION, TCU_OTA_SHA256, TCU_OTA_LENGTH, TCU_OTA_RELEASE_COUNTER,
 *               TCU_OTA_HARDWARE_IDS and TCU_OTA_RXSWIN (comma-separated). Writes the inactive slot.
 *               May print {"slot": "NAME"} on standard output.
 *   activate    the next boot starts the installed slot, on trial
 *   mark-good   confirm the running slot
 *   mark-bad    abandon the slot on trial; the next boot starts the previous one
 *   status      prints {"booted": "NAME"|null, "primary": "NAME"|null, "slots": [{"name", "bootState", "version",
 *               "sha256", "releaseCounter", "rxswin", "hardwareIds"}]} (slot fields optional; the booted
 *               slot's release counter becomes the factory software's in the inventory)
 *
 * Exit codes: 0 done; 3 no room (OTA_DISK_FULL); anything else, or killed, is OTA_INSTALL with the
 * last lines of its standard error.
 */
import { TcuError } from '../../core/errors.js';
import type { VerifiedTarget } from '../types.js';
import type { BackendStatus, InstallBackend, InstallOptions, InstallResult, SlotBootState, SlotInfo } from './backend.js';
import { tail, type CommandResult, type CommandRunner } from './runner.js';

export type CommandAction = 'install' | 'activate' | 'mark-good' | 'mark-bad' | 'status';

export const EXIT_DISK_FULL = 3;

export interface CommandBackendOptions {
  /** The integrator's script (an absolute path, or a name on PATH). */
  script: string;
  runner: CommandRunner;
  /** Limit for every action but install, ms; default 60 s. */
  timeoutMs?: number;
  /** Limit for install, ms; default one hour. */
  installTimeoutMs?: number;
  /** Extra environment for every action. */
  env?: Record<string, string>;
}

/** The environment of the install action. */
export function installEnv(imagePath: string, target: VerifiedTarget): Record<string, string> {
  const c = target.custom;
  return {
    TCU_OTA_IMAGE: imagePath,
    TCU_OTA_TARGET: target.name,
    TCU_OTA_VERSION: c.version ?? '',
    TCU_OTA_SHA256: target.hashes['sha256'] ?? '',
    TCU_OTA_LENGTH: String(target.length),
    TCU_OTA_RELEASE_COUNTER: c.releaseCounter === undefined ? '' : String(c.releaseCounter),
    TCU_OTA_HARDWARE_IDS: c.hardwareIds.join(','),
    TCU_OTA_RXSWIN: (c.rxswin ?? []).join(','),
  };
}

function badStatus(why: string): TcuError {
  return new TcuError('OTA_INSTALL', `the install script's status output is invalid (${why})`, { details: { why } });
}

const BOOT_STATES: readonly SlotBootState[] = ['good', 'bad', 'trying', 'unknown'];

/** Parses the script's `status` output. */
export function parseCommandStatus(text: string): BackendStatus {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    throw badStatus('not JSON');
  }
  if (typeof o !== 'object' || o === null) throw badStatus('not an object');
  const r = o as Record<string, unknown>;
  const slotName = (v: unknown, field: string): string | null => {
    if (v === null || v === undefined) return null;
    if (typeof v !== 'string' || v === '') throw badStatus(`${field} is not a slot name`);
    return v;
  };
  const slots: SlotInfo[] = [];
  if (r['slots'] !== undefined) {
    if (!Array.isArray(r['slots'])) throw badStatus('slots is not an array');
    for (const s of r['slots'] as unknown[]) {
      if (typeof s !== 'object' || s === null || typeof (s as { name?: unknown }).name !== 'string') throw badStatus('a slot has no name');
      const e = s as Record<string, unknown>;
      const bootState = BOOT_STATES.find((b) => b === e['bootState']) ?? 'unknown';
      // The release counter guards against downgrades: a malformed one is refused, never ignored.
      const counter = e['releaseCounter'];
      if (counter !== undefined && counter !== null && (!Number.isSafeInteger(counter) || (counter as number) < 0)) throw badStatus(`slot ${e['name'] as string}: releaseCounter is not a non-negative integer`);
      const strings = (field: string): string[] | undefined => {
        const v = e[field];
        if (v === undefined || v === null) return undefined;
        if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw badStatus(`slot ${e['name'] as string}: ${field} is not an array of strings`);
        return v as string[];
      };
      const rxswin = strings('rxswin');
      const hardwareIds = strings('hardwareIds');
      slots.push({
        name: e['name'] as string,
        bootState,
        version: typeof e['version'] === 'string' ? e['version'] : undefined,
        sha256: typeof e['sha256'] === 'string' ? e['sha256'] : undefined,
        ...(typeof counter === 'number' ? { releaseCounter: counter } : {}),
        ...(rxswin === undefined ? {} : { rxswin }),
        ...(hardwareIds === undefined ? {} : { hardwareIds }),
      });
    }
  }
  return { booted: slotName(r['booted'], 'booted'), primary: slotName(r['primary'], 'primary'), slots };
}

export class CommandBackend implements InstallBackend {
  readonly name = 'command' as const;

  constructor(private readonly options: CommandBackendOptions) {}

  private async action(action: CommandAction, env: Record<string, string> = {}, signal?: AbortSignal): Promise<CommandResult> {
    const timeoutMs = action === 'install' ? (this.options.installTimeoutMs ?? 3_600_000) : (this.options.timeoutMs ?? 60_000);
    const r = await this.options.runner.run(this.options.script, [action], {
      env: { ...this.options.env, ...env, TCU_OTA_ACTION: action },
      timeoutMs,
      signal,
    });
    if (signal?.aborted) throw new TcuError('OTA_CANCELLED', `the install script's ${action} was cancelled`);
    if (r.code !== 0) {
      const why = r.code === null ? `ended by ${r.signal}` : `exit code ${r.code}`;
      throw new TcuError(r.code === EXIT_DISK_FULL ? 'OTA_DISK_FULL' : 'OTA_INSTALL', `the install script's ${action} failed (${why}): ${tail(r.stderr)}`, {
        details: { action, code: r.code, signal: r.signal },
      });
    }
    return r;
  }

  async status(): Promise<BackendStatus> {
    return parseCommandStatus((await this.action('status')).stdout);
  }

  async activeSlot(): Promise<string | null> {
    return (await this.status()).booted;
  }

  async install(imagePath: string, target: VerifiedTarget, options: InstallOptions = {}): Promise<InstallResult> {
    const r = await this.action('install', installEnv(imagePath, target), options.signal);
    const line = r.stdout.trim().split('\n').pop() ?? '';
    try {
      const o = JSON.parse(line) as { slot?: unknown };
      if (typeof o.slot === 'string' && o.slot !== '') return { slot: o.slot };
    } catch {
      // no slot printed
    }
    return { slot: 'inactive' };
  }

  async activate(): Promise<void> {
    await this.action('activate');
  }

  async markGood(): Promise<void> {
    await this.action('mark-good');
  }

  async rollback(): Promise<void> {
    await this.action('mark-bad');
  }
}
