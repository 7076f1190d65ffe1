/**
 * `rauc`: drives the rauc command (https://rauc.readthedocs.io) for a root file system A/B update.
 *
 *   install    rauc install BUNDLE                 (rauc writes the inactive slot and, by default, makes it primary)
 *   activate   rauc status mark-active other
 *   markGood   rauc status mark-good booted
 *   rollback   before the reboot:  rauc status mark-active booted, then rauc status mark-bad other
 *              after the reboot:   rauc status mark-bad booted, then rauc status mark-active other
 *   status     rauc status --detailed --output-format=json
 *
 * The bootloader (through rauc's bootchooser integration) counts boot attempts of a slot on trial and
 * falls back on its own; the campaign's boot logic notices that it booted the previous slot.
 */
import { TcuError } from '../../core/errors.js';
import type { VerifiedTarget } from '../types.js';
import type { BackendStatus, InstallBackend, InstallOptions, InstallResult, SlotInfo } from './backend.js';
import { tail, type CommandResult, type CommandRunner } from './runner.js';

export interface RaucOptions {
  runner: CommandRunner;
  /** The program; default `rauc` (found on PATH). */
  command?: string;
  /** Limit for status and mark commands, ms; default 60 s. */
  timeoutMs?: number;
  /** Limit for `rauc install`, ms; default one hour. */
  installTimeoutMs?: number;
}

function malformed(why: string): TcuError {
  return new TcuError('OTA_INSTALL', `rauc status: unexpected output (${why})`, { details: { why } });
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Parses `rauc status --detailed --output-format=json` into the backends' common status. */
export function parseRaucStatus(text: string): BackendStatus {
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch {
    throw malformed('not JSON');
  }
  if (typeof root !== 'object' || root === null || !Array.isArray((root as { slots?: unknown }).slots)) throw malformed('no slots array');
  const o = root as { booted?: unknown; boot_primary?: unknown; slots: unknown[] };
  const slots: (SlotInfo & { bootname: string | undefined; state: string | undefined })[] = [];
  for (const entry of o.slots) {
    if (typeof entry !== 'object' || entry === null) throw malformed('a slot entry is not an object');
    for (const [name, value] of Object.entries(entry as Record<string, unknown>)) {
      if (typeof value !== 'object' || value === null) throw malformed(`slot ${name} is not an object`);
      const s = value as Record<string, unknown>;
      const bootname = str(s['bootname']);
      if (bootname === undefined) continue; // not bootable (an appfs, a bootloader slot)
      const detail = (s['slot_status'] ?? {}) as { bundle?: { version?: unknown; compatible?: unknown }; checksum?: { sha256?: unknown } };
      const boot = s['boot_status'];
      // rauc records no release counter and no RXSWIN; its compatible string names the hardware.
      const compatible = str(detail.bundle?.compatible);
      slots.push({
        name,
        bootname,
        state: str(s['state']),
        bootState: boot === 'good' ? 'good' : boot === 'bad' ? 'bad' : 'unknown',
        version: str(detail.bundle?.version),
        sha256: str(detail.checksum?.sha256),
        ...(compatible === undefined ? {} : { hardwareIds: [compatible] }),
      });
    }
  }
  const bootedName = str(o.booted);
  const booted = slots.find((s) => s.bootname === bootedName || s.name === bootedName) ?? slots.find((s) => s.state === 'booted');
  const primary = str(o.boot_primary) ?? null;
  return {
    booted: booted?.name ?? null,
    primary,
    slots: slots.map(({ name, bootState, version, sha256, hardwareIds }) => ({ name, bootState, version, sha256, ...(hardwareIds === undefined ? {} : { hardwareIds }) })),
  };
}

export class RaucBackend implements InstallBackend {
  readonly name = 'rauc' as const;
  private readonly command: string;
  private readonly timeoutMs: number;
  private readonly installTimeoutMs: number;

  constructor(private readonly options: RaucOptions) {
    this.command = options.command ?? 'rauc';
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.installTimeoutMs = options.installTimeoutMs ?? 3_600_000;
  }

  private async rauc(args: string[], timeoutMs = this.timeoutMs, signal?: AbortSignal): Promise<CommandResult> {
    const r = await this.options.runner.run(this.command, args, { timeoutMs, signal });
    if (signal?.aborted) throw new TcuError('OTA_CANCELLED', `rauc ${args[0]} was cancelled`);
    if (r.code !== 0) {
      const why = r.code === null ? `ended by ${r.signal}` : `exit code ${r.code}`;
      const disk = /no space left|ENOSPC/i.test(r.stderr);
      throw new TcuError(disk ? 'OTA_DISK_FULL' : 'OTA_INSTALL', `rauc ${args.join(' ')} failed (${why}): ${tail(r.stderr)}`, {
        details: { args, code: r.code, signal: r.signal },
      });
    }
    return r;
  }

  async status(): Promise<BackendStatus> {
    return parseRaucStatus((await this.rauc(['status', '--detailed', '--output-format=json'])).stdout);
  }

  async activeSlot(): Promise<string | null> {
    return (await this.status()).booted;
  }

  async install(imagePath: string, _target: VerifiedTarget, options: InstallOptions = {}): Promise<InstallResult> {
    const before = await this.status();
    await this.rauc(['install', imagePath], this.installTimeoutMs, options.signal);
    const after = await this.status();
    const slot = after.primary !== null && after.primary !== before.booted ? after.primary : after.slots.find((s) => s.name !== before.booted)?.name;
    if (slot === undefined) throw new TcuError('OTA_INSTALL', 'rauc install succeeded but no inactive slot is known', { details: { booted: before.booted } });
    return { slot };
  }

  async activate(): Promise<void> {
    await this.rauc(['status', 'mark-active', 'other']);
  }

  async markGood(): Promise<void> {
    await this.rauc(['status', 'mark-good', 'booted']);
  }

  async rollback(): Promise<void> {
    const s = await this.status();
    if (s.primary !== s.booted) {
      await this.rauc(['status', 'mark-active', 'booted']);
      await this.rauc(['status', 'mark-bad', 'other']);
    } else {
      await this.rauc(['status', 'mark-bad', 'booted']);
      await this.rauc(['status', 'mark-active', 'other']);
    }
  }
}
