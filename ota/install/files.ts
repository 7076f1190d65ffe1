/** File helpers for the install backends: a streamed copy that hashes, folder fsync, error mapping. */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { TcuError, type ErrorCode } from '../../core/errors.js';

const CHUNK = 1024 * 1024;

export { fsyncDir } from '../../core/atomic-file.js';

export interface Hashed {
  sha256: string;
  length: number;
}

function cancelled(): TcuError {
  return new TcuError('OTA_CANCELLED', 'the install was cancelled');
}

/** The error code for a failed file operation: a full disk is OTA_DISK_FULL, the rest `fallback`. */
export function fileErrorCode(err: unknown, fallback: ErrorCode): ErrorCode {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' ? 'OTA_DISK_FULL' : fallback;
}

/** Wraps a file error as a TcuError (a TcuError passes through). */
export function fileError(err: unknown, fallback: ErrorCode, message: string): TcuError {
  if (err instanceof TcuError) return err;
  const text = err instanceof Error ? err.message : String(err);
  return new TcuError(fileErrorCode(err, fallback), `${message}: ${text}`, { cause: err });
}

/** Copies `src` to a new file `dst` (created exclusively), hashing as it goes, then fsyncs `dst`. */
export async function copyAndHash(src: string, dst: string, signal?: AbortSignal): Promise<Hashed> {
  const hash = createHash('sha256');
  const input = await open(src, 'r');
  try {
    const output = await open(dst, 'wx', 0o644);
    try {
      const buffer = Buffer.allocUnsafe(CHUNK);
      let length = 0;
      for (;;) {
        if (signal?.aborted) throw cancelled();
        const { bytesRead } = await input.read(buffer, 0, CHUNK, null);
        if (bytesRead === 0) break;
        const chunk = buffer.subarray(0, bytesRead);
        hash.update(chunk);
        let off = 0;
        while (off < bytesRead) off += (await output.write(chunk, off, bytesRead - off)).bytesWritten;
        length += bytesRead;
      }
      await output.sync();
      return { sha256: hash.digest('hex'), length };
    } finally {
      await output.close();
    }
  } finally {
    await input.close();
  }
}

/** SHA-256 and length of a file, streamed. */
export async function hashFile(path: string): Promise<Hashed> {
  const hash = createHash('sha256');
  const input = await open(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(CHUNK);
    let length = 0;
    for (;;) {
      const { bytesRead } = await input.read(buffer, 0, CHUNK, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      length += bytesRead;
    }
    return { sha256: hash.digest('hex'), length };
  } finally {
    await input.close();
  }
}
