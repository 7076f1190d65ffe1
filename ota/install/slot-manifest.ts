/**
 * The on-disk layout of the `dir-slots` backend (docs/OTA.md, "dir-slots"):
 *
 *   <slots>/a/<file>           the target file, copied as is (its name is the target name's last part)
 *   <slots>/a/.slot.json       the slot manifest (SlotManifest), written last
 *   <slots>/b/...              the other slot
 *   <slots>/current -> a       relative symlink: the slot the next start runs, switched atomically
 *   <slots>/slots.json         each slot's boot state: {"format":1,"a":"good","b":"trying"}
 *
 * Reading helpers here are side-effect free, so tests and `tcu-agent` can inspect a slots folder.
 */
import { readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TcuError } from '../../core/errors.js';
import type { SlotBootState } from './backend.js';
import { hashFile } from './files.js';

export type DirSlot = 'a' | 'b';
export const DIR_SLOTS: readonly [DirSlot, DirSlot] = ['a', 'b'];
export const MANIFEST_FILE = '.slot.json';
export const CURRENT_LINK = 'current';
export const STATES_FILE = 'slots.json';

export interface SlotManifest {
  format: 1;
  /** The target's full name in the repository. */
  target: string;
  /** The file in the slot folder. */
  file: string;
  version: string | null;
  sha256: string;
  length: number;
  releaseCounter: number | null;
  rxswin: string[];
  hardwareIds: string[];
  /** ISO 8601, from the injected clock. */
  installedAt: string;
}

export type SlotStates = Record<DirSlot, SlotBootState>;

function installError(message: string, details: Record<string, unknown>, cause?: unknown): TcuError {
  return new TcuError('OTA_INSTALL', message, { details, cause });
}

/** The slot `current` points at, or null when there is no `current` yet. A foreign value is OTA_INSTALL. */
export function readCurrent(slotsDir: string): DirSlot | null {
  let target: string;
  try {
    target = readlinkSync(join(slotsDir, CURRENT_LINK));
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return null;
    throw installError(`cannot read ${CURRENT_LINK} in ${slotsDir}`, { slotsDir }, err);
  }
  if (target === 'a' || target === 'b') return target;
  throw installError(`${CURRENT_LINK} in ${slotsDir} points at "${target}", not a slot`, { slotsDir, target });
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/** Parses a manifest, or explains why it is not one. */
export function parseManifest(text: string): SlotManifest | string {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  if (typeof m !== 'object' || m === null) return 'not an object';
  const o = m as Record<string, unknown>;
  if (o['format'] !== 1) return 'unknown format';
  if (typeof o['target'] !== 'string' || typeof o['file'] !== 'string' || typeof o['installedAt'] !== 'string') return 'target, file or installedAt missing';
  if (typeof o['sha256'] !== 'string' || !/^[0-9a-f]{64}$/.test(o['sha256'])) return 'bad sha256';
  if (!Number.isSafeInteger(o['length']) || (o['length'] as number) < 0) return 'bad length';
  if (o['version'] !== null && typeof o['version'] !== 'string') return 'bad version';
  if (o['releaseCounter'] !== null && !Number.isSafeInteger(o['releaseCounter'])) return 'bad releaseCounter';
  if (!isStringArray(o['rxswin']) || !isStringArray(o['hardwareIds'])) return 'bad rxswin or hardwareIds';
  if (!/^[A-Za-z0-9._+-]{1,128}$/.test(o['file']) || o['file'].startsWith('.')) return 'bad file name';
  return m as SlotManifest;
}

/** The manifest of a slot, unchecked against its file; null when the slot has none. */
export function readManifest(slotsDir: string, slot: DirSlot): SlotManifest | null {
  let text: string;
  try {
    text = readFileSync(join(slotsDir, slot, MANIFEST_FILE), 'utf8');
  } catch {
    return null;
  }
  const m = parseManifest(text);
  return typeof m === 'string' ? null : m;
}

/**
 * Checks that a slot is complete: a valid manifest whose file has its length and SHA-256.
 * Returns the manifest; throws OTA_INSTALL naming what is wrong.
 */
export async function verifySlot(slotsDir: string, slot: DirSlot): Promise<SlotManifest> {
  const dir = join(slotsDir, slot);
  let text: string;
  try {
    text = readFileSync(join(dir, MANIFEST_FILE), 'utf8');
  } catch (err) {
    throw installError(`slot ${slot} has no manifest`, { slot, dir }, err);
  }
  const m = parseManifest(text);
  if (typeof m === 'string') throw installError(`slot ${slot} has an invalid manifest: ${m}`, { slot, dir });
  const file = join(dir, m.file);
  try {
    if (statSync(file).size !== m.length) throw installError(`slot ${slot}: ${m.file} has the wrong length`, { slot, file });
    const h = await hashFile(file);
    if (h.sha256 !== m.sha256) throw installError(`slot ${slot}: ${m.file} does not match its manifest's sha256`, { slot, file });
  } catch (err) {
    if (err instanceof TcuError) throw err;
    throw installError(`slot ${slot}: cannot read ${m.file}`, { slot, file }, err);
  }
  return m;
}

/** Each slot's boot state; a missing or unreadable file counts as all unknown. */
export function readSlotStates(slotsDir: string): SlotStates {
  const states: SlotStates = { a: 'unknown', b: 'unknown' };
  try {
    const o = JSON.parse(readFileSync(join(slotsDir, STATES_FILE), 'utf8')) as Record<string, unknown>;
    for (const slot of DIR_SLOTS) {
      const v = o[slot];
      if (v === 'good' || v === 'bad' || v === 'trying' || v === 'unknown') states[slot] = v;
    }
  } catch {
    // no file yet, or unreadable: every slot unknown
  }
  return states;
}
