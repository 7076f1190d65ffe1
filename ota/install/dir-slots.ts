/**
 * `dir-slots`: two folders and an atomically switched symlink (docs/OTA.md, "dir-slots"). This is
 * how the agent updates its own bundle: the service starts `<slots>/current/<file>`.
 *
 * The slot the running process started from (`booted`) is read once, when the backend is opened at
 * start-up; installs go only into the other slot, through a temporary folder renamed into place, so
 * the running slot is never written. A power cut at any instant leaves `current` on a complete slot:
 * the new slot's files and manifest are fsynced before the rename, the rename is fsynced (folder),
 * and `current` is switched by renaming a new symlink over it.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { writeFileAtomic } from '../../core/atomic-file.js';
import type { Clock } from '../../core/clock.js';
import { TcuError } from '../../core/errors.js';
import type { VerifiedTarget } from '../types.js';
import { otherSlot, type BackendStatus, type InstallBackend, type InstallOptions, type InstallResult } from './backend.js';
import { copyAndHash, fileError, fsyncDir } from './files.js';
import {
  CURRENT_LINK,
  DIR_SLOTS,
  MANIFEST_FILE,
  STATES_FILE,
  readCurrent,
  readManifest,
  readSlotStates,
  verifySlot,
  type DirSlot,
  type SlotManifest,
  type SlotStates,
} from './slot-manifest.js';

export interface DirSlotsOptions {
  /** The slots folder; created when missing. */
  dir: string;
  clock: Clock;
}

const TMP_LINK = '.current.tmp';
const LEFTOVER = /^\.(tmp|old)-[ab]$/;

/** The file name a target gets in its slot: the last part of its name, checked safe. */
export function slotFileName(targetName: string): string {
  const file = basename(targetName);
  if (!/^[A-Za-z0-9._+-]{1,128}$/.test(file) || file.startsWith('.')) {
    throw new TcuError('OTA_TARGET_NAME', `target name "${targetName}" cannot name a file in a slot`, { details: { target: targetName } });
  }
  return file;
}

export class DirSlotsBackend implements InstallBackend {
  readonly name = 'dir-slots' as const;

  private constructor(
    readonly dir: string,
    private readonly clock: Clock,
    private readonly booted: DirSlot | null,
  ) {}

  /** Opens the slots folder at start-up: removes what an interrupted install left, reads `current`. */
  static open(options: DirSlotsOptions): DirSlotsBackend {
    const { dir } = options;
    try {
      mkdirSync(dir, { recursive: true });
      for (const name of readdirSync(dir)) {
        if (LEFTOVER.test(name) || name === TMP_LINK) rmSync(join(dir, name), { recursive: true, force: true });
      }
    } catch (err) {
      throw fileError(err, 'OTA_INSTALL', `cannot prepare the slots folder ${dir}`);
    }
    return new DirSlotsBackend(dir, options.clock, readCurrent(dir));
  }

  /**
   * Factory set-up: puts a first image into slot a, confirmed, and points `current` at it.
   * Only for a folder with no `current` yet (OTA_INSTALL otherwise). Returns the slot's manifest.
   */
  static async provision(options: DirSlotsOptions, imagePath: string, target: VerifiedTarget): Promise<SlotManifest> {
    const backend = DirSlotsBackend.open(options);
    if (backend.booted !== null || readCurrent(options.dir) !== null) {
      throw new TcuError('OTA_INSTALL', `${options.dir} already has software in it`, { details: { dir: options.dir } });
    }
    await backend.install(imagePath, target);
    await backend.activate();
    backend.writeStates({ ...readSlotStates(options.dir), a: 'good' });
    return verifySlot(options.dir, 'a');
  }

  async activeSlot(): Promise<string | null> {
    return this.booted;
  }

  async status(): Promise<BackendStatus> {
    const states = readSlotStates(this.dir);
    return {
      booted: this.booted,
      primary: readCurrent(this.dir),
      slots: DIR_SLOTS.map((slot) => {
        const m = readManifest(this.dir, slot);
        if (m === null) return { name: slot, bootState: states[slot] };
        return {
          name: slot,
          bootState: states[slot],
          ...(m.version === null ? {} : { version: m.version }),
          sha256: m.sha256,
          ...(m.releaseCounter === null ? {} : { releaseCounter: m.releaseCounter }),
          rxswin: m.rxswin,
          hardwareIds: m.hardwareIds,
          target: m.target,
          length: m.length,
        };
      }),
    };
  }

  /** The slot installs go to: the one the running process did not start from. */
  private inactive(): DirSlot {
    return this.booted === null ? 'a' : otherSlot(DIR_SLOTS, this.booted);
  }

  async install(imagePath: string, target: VerifiedTarget, options: InstallOptions = {}): Promise<InstallResult> {
    const slot = this.inactive();
    if (readCurrent(this.dir) === slot) {
      throw new TcuError('OTA_INSTALL', `slot ${slot} is already activated for the next start: restart or roll back first`, { details: { slot } });
    }
    const sha256 = target.hashes['sha256'];
    if (sha256 === undefined) throw new TcuError('OTA_METADATA', `target ${target.name} has no sha256 hash`, { details: { target: target.name } });
    const file = slotFileName(target.name);
    const tmp = join(this.dir, `.tmp-${slot}`);
    const old = join(this.dir, `.old-${slot}`);
    try {
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(tmp);
      const copied = await copyAndHash(imagePath, join(tmp, file), options.signal);
      if (copied.length !== target.length || copied.sha256 !== sha256.toLowerCase()) {
        throw new TcuError('OTA_TARGET_MISMATCH', `${imagePath} does not match target ${target.name} (length or sha256)`, {
          details: { target: target.name, length: copied.length, expectedLength: target.length },
        });
      }
      const c = target.custom;
      const manifest: SlotManifest = {
        format: 1,
        target: target.name,
        file,
        version: c.version ?? null,
        sha256: copied.sha256,
        length: copied.length,
        releaseCounter: c.releaseCounter ?? null,
        rxswin: c.rxswin ?? [],
        hardwareIds: c.hardwareIds,
        installedAt: new Date(this.clock.now()).toISOString(),
      };
      writeFileAtomic(join(tmp, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
      fsyncDir(tmp);
      if (options.signal?.aborted) throw new TcuError('OTA_CANCELLED', 'the install was cancelled');
      // Swap into place: the inactive slot's old content goes aside, the complete new one takes its name.
      rmSync(old, { recursive: true, force: true });
      if (existsSync(join(this.dir, slot))) renameSync(join(this.dir, slot), old);
      renameSync(tmp, join(this.dir, slot));
      fsyncDir(this.dir);
      rmSync(old, { recursive: true, force: true });
      this.writeStates({ ...readSlotStates(this.dir), [slot]: 'unknown' });
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      throw fileError(err, 'OTA_INSTALL', `installing ${target.name} into slot ${slot} failed`);
    }
    return { slot };
  }

  async activate(): Promise<void> {
    const slot = this.inactive();
    await verifySlot(this.dir, slot);
    this.writeStates({ ...readSlotStates(this.dir), [slot]: 'trying' });
    if (readCurrent(this.dir) !== slot) this.switchCurrent(slot);
  }

  async markGood(): Promise<void> {
    if (this.booted === null) throw new TcuError('OTA_INSTALL', 'no slot is running: nothing to confirm');
    const states = readSlotStates(this.dir);
    if (states[this.booted] !== 'good') this.writeStates({ ...states, [this.booted]: 'good' });
  }

  async rollback(): Promise<void> {
    const current = readCurrent(this.dir);
    const states = readSlotStates(this.dir);
    if (current !== this.booted) {
      // Activated but not started yet: point `current` back at what runs now, then mark the other bad.
      if (this.booted === null) this.removeCurrent();
      else this.switchCurrent(this.booted);
      if (current !== null) this.writeStates({ ...states, [current]: 'bad' });
      return;
    }
    if (this.booted !== null && states[this.booted] === 'trying') {
      // Running the slot on trial: the next start goes back to the previous one, which must be complete.
      const previous = otherSlot(DIR_SLOTS, this.booted);
      await verifySlot(this.dir, previous);
      this.switchCurrent(previous);
      this.writeStates({ ...states, [this.booted]: 'bad' });
    }
    // Nothing on trial: nothing to roll back.
  }

  private switchCurrent(slot: DirSlot): void {
    const tmp = join(this.dir, TMP_LINK);
    try {
      rmSync(tmp, { force: true });
      symlinkSync(slot, tmp);
      renameSync(tmp, join(this.dir, CURRENT_LINK));
      fsyncDir(this.dir);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw fileError(err, 'OTA_INSTALL', `switching ${CURRENT_LINK} to slot ${slot} failed`);
    }
  }

  private removeCurrent(): void {
    try {
      rmSync(join(this.dir, CURRENT_LINK), { force: true });
      fsyncDir(this.dir);
    } catch (err) {
      throw fileError(err, 'OTA_INSTALL', `removing ${CURRENT_LINK} failed`);
    }
  }

  private writeStates(states: SlotStates): void {
    try {
      writeFileAtomic(join(this.dir, STATES_FILE), `${JSON.stringify({ format: 1, ...states })}\n`);
    } catch (err) {
      throw fileError(err, 'OTA_INSTALL', `writing ${STATES_FILE} failed`);
    }
  }
}
