import { createHash } from 'node:crypto';
import { closeSync, createReadStream, fsyncSync, mkdirSync, openSync } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { asTcuError } from '../../core/errors.js';

export interface StagedTarget {
  length: number;
  hashes: { sha256: string; sha512: string };
  /** Renames the copy over the destination and fsyncs the folder. */
  commit(): Promise<void>;
  /** Removes the copy (the destination is left as it was). */
  discard(): Promise<void>;
}

/**
 * Copies a target file beside its place in the repository and hashes it in the same pass (a large
 * image is read once, and what is hashed is exactly what was copied): a temporary file next to
 * `dest`, fsynced. Nothing replaces `dest` until `commit`. `onProgress(done, total)` after each chunk.
 */
export async function stageTarget(src: string, dest: string, onProgress?: (done: number, total: number) => void): Promise<StagedTarget> {
  let total: number;
  try {
    total = (await stat(src)).size;
  } catch (err) {
    throw asTcuError(err, 'FILE_READ', `cannot read ${src}`);
  }
  const dir = dirname(dest);
  const tmp = join(dir, `.${basename(dest)}.${process.pid}.tmp`);
  const sha256 = createHash('sha256');
  const sha512 = createHash('sha512');
  let length = 0;
  try {
    mkdirSync(dir, { recursive: true });
    const out = await open(tmp, 'w', 0o644);
    try {
      for await (const chunk of createReadStream(src, { highWaterMark: 1 << 20 })) {
        const buf = chunk as Buffer;
        sha256.update(buf);
        sha512.update(buf);
        let off = 0;
        while (off < buf.length) off += (await out.write(buf, off, buf.length - off)).bytesWritten;
        length += buf.length;
        onProgress?.(length, total);
      }
      await out.sync();
    } finally {
      await out.close();
    }
  } catch (err) {
    await rm(tmp, { force: true });
    throw asTcuError(err, 'FILE_WRITE', `cannot copy ${src} to ${dest}`);
  }
  return {
    length,
    hashes: { sha256: sha256.digest('hex'), sha512: sha512.digest('hex') },
    commit: async () => {
      try {
        await rename(tmp, dest);
        const fd = openSync(dir, 'r');
        try {
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
      } catch (err) {
        await rm(tmp, { force: true });
        throw asTcuError(err, 'FILE_WRITE', `cannot write ${dest}`);
      }
    },
    discard: () => rm(tmp, { force: true }),
  };
}
