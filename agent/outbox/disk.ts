/**
 * The file system under the outbox. The byte cap bounds the outbox, but the disk may be smaller
 * than the cap, or shared and filling up. In WAL mode every change, the deletes of eviction and
 * acknowledge included, first needs room for WAL frames, and a checkpoint then needs room to copy
 * them into the main file: an outbox that let its pages fill the disk could change nothing at all
 * (not evict, not delete what the broker acknowledged, not checkpoint). So the pages in use are
 * also bounded by what the disk can take while keeping room for the WAL to reach its reserve,
 * plus a margin: eviction starts while the disk can still take the deletes.
 */
import { statSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';

/** Kept free beyond the WAL's own room. */
export const DISK_MARGIN_BYTES = 128 * 1024;

export interface DiskSpace {
  totalBytes: number;
  /** Free for an unprivileged writer. */
  availBytes: number;
}

/** The file system holding `path`, or undefined where statfs fails (the budget is then the cap's alone). */
export function diskSpaceOf(path: string): DiskSpace | undefined {
  try {
    const s = statfsSync(dirname(path));
    return { totalBytes: s.blocks * s.bsize, availBytes: s.bavail * s.bsize };
  } catch {
    return undefined;
  }
}

function sizeOf(path: string): number {
  return statSync(path, { throwIfNoEntry: false })?.size ?? 0;
}

/**
 * The most the outbox's pages in use may reach on this disk now: the main file's size plus the
 * free space, less the room the WAL may still grow into (up to `walReserveBytes`) and the margin.
 */
export function diskBudget(path: string, walReserveBytes: number): number | undefined {
  const disk = diskSpaceOf(path);
  if (disk === undefined) return undefined;
  const walRoom = Math.max(0, walReserveBytes - sizeOf(`${path}-wal`));
  return sizeOf(path) + disk.availBytes - walRoom - DISK_MARGIN_BYTES;
}
