/**
 * Durable file writes. A power cut at any instant must leave either the old content or the new,
 * never a mix or an empty file: write a temporary file in the same folder, fsync it, rename it over
 * the target (atomic on POSIX file systems), then fsync the folder so the rename itself is durable.
 * The pieces are exported for writers that commit several files as one set (ota/tuf/trusted-store.ts).
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Writes `bytes` to `path` (created or truncated, mode 0600) and fsyncs the file. */
export function writeFileDurable(path: string, bytes: Uint8Array): void {
  const fd = openSync(path, 'w', 0o600);
  try {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** fsync of a folder, so renames and new entries in it survive a power cut. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileDurable(tmp, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(dirname(path));
}
