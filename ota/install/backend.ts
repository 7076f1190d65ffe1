/**
 * The one interface every install backend implements (docs/OTA.md, "Install backends").
 *
 * A backend owns two slots (A/B) of the software it updates. It installs only into the slot that is
 * NOT running, never touching the running one; `activate()` makes the next boot start the new slot
 * on trial ('trying'); after that boot the campaign's health check either confirms it (`markGood()`)
 * or abandons it (`rollback()`: the next boot starts the previous slot again).
 *
 * Every failure is a TcuError: OTA_INSTALL (the backend failed; the running software is untouched),
 * OTA_DISK_FULL, OTA_CANCELLED (the signal was aborted), OTA_TARGET_NAME, OTA_TARGET_MISMATCH.
 */
import type { VerifiedTarget } from '../types.js';

export type BackendName = 'dir-slots' | 'rauc' | 'command';

/** What the boot logic knows about a slot: confirmed, abandoned, on trial, or unknown (never activated, or not reported). */
export type SlotBootState = 'good' | 'bad' | 'trying' | 'unknown';

export interface SlotInfo {
  name: string;
  bootState: SlotBootState;
  /** The software version in the slot, when the backend knows it. */
  version?: string;
  sha256?: string;
  /**
   * What else the backend knows of the slot's software (docs/OTA.md, "Install backends"): dir-slots
   * reads all of it from the slot manifest; the command backend's script may print it; rauc knows
   * none of the release counter and RXSWINs (its `bundle.compatible` is given as the hardware id).
   * The agent records the booted slot's in the inventory at the first start, so the release counter
   * of the factory software blocks a signed downgrade before the first update.
   */
  releaseCounter?: number;
  rxswin?: string[];
  hardwareIds?: string[];
  /** The target name the slot's software came from (dir-slots). */
  target?: string;
  /** The image's length, bytes. */
  length?: number;
}

export interface BackendStatus {
  /** The slot the running software started from; null when there is none yet (an empty `dir-slots` folder). */
  booted: string | null;
  /** The slot the next boot will start; null when none. */
  primary: string | null;
  slots: SlotInfo[];
}

export interface InstallOptions {
  /** Aborting it stops the install (OTA_CANCELLED) and leaves the inactive slot unused. */
  signal?: AbortSignal;
}

export interface InstallResult {
  /** The slot that now holds the new software (not yet activated). */
  slot: string;
}

export interface InstallBackend {
  readonly name: BackendName;
  /** The slot the running software started from (`status().booted`). */
  activeSlot(): Promise<string | null>;
  status(): Promise<BackendStatus>;
  /**
   * Writes `imagePath` (already verified against `target`) into the inactive slot. Never writes the
   * running slot. Idempotent: installing again starts the inactive slot afresh.
   */
  install(imagePath: string, target: VerifiedTarget, options?: InstallOptions): Promise<InstallResult>;
  /** Makes the next boot start the slot last installed, on trial. Idempotent. */
  activate(): Promise<void>;
  /** Confirms the running slot (the commit of an update). Idempotent. */
  markGood(): Promise<void>;
  /**
   * Abandons the slot on trial (the brief's markBad): it is marked bad and the next boot starts the
   * previous slot. Called after `activate()`, before or after the reboot into the new slot.
   */
  rollback(): Promise<void>;
}

/** The other slot of a pair. */
export function otherSlot<T extends string>(pair: readonly [T, T], slot: T): T {
  return slot === pair[0] ? pair[1] : pair[0];
}
