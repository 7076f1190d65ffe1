/**
 * Streaming SHA-256 of a file, in constant memory: two buffers, so the next read runs on the thread
 * pool while the current chunk is hashed. Used to re-hash a `.part` file before resuming, and by
 * anything that checks an image on disk (the install backends, the benchmark).
 */
import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { TcuError, asTcuError } from '../../core/errors.js';

const CHUNK = 1024 * 1024;

/**
 * Feeds the first `bytes` bytes of an open file into `hash`. Throws FILE_READ when the file is
 * shorter or unreadable, OTA_CANCELLED when `signal` aborts between chunks.
 */
export async function hashFileInto(handle: FileHandle, bytes: number, hash: Hash, signal?: AbortSignal, chunkBytes = CHUNK): Promise<void> {
  const buffers = [Buffer.allocUnsafe(chunkBytes), Buffer.allocUnsafe(chunkBytes)];
  const readAt = async (position: number, which: number): Promise<Buffer> => {
    const want = Math.min(chunkBytes, bytes - position);
    const buf = buffers[which]!;
    let got = 0;
    while (got < want) {
      const { bytesRead } = await handle.read(buf, got, want - got, position + got);
      if (bytesRead === 0) throw new TcuError('FILE_READ', `the file ended at byte ${position + got}, before the ${bytes} bytes expected`);
      got += bytesRead;
    }
    return buf.subarray(0, want);
  };
  let position = 0;
  let which = 0;
  let pending: Promise<Buffer> | undefined = bytes > 0 ? readAt(0, 0) : undefined;
  while (pending) {
    const chunk = await pending;
    position += chunk.length;
    if (signal?.aborted) throw new TcuError('OTA_CANCELLED', 'the download was cancelled while re-hashing the partial file');
    which ^= 1;
    pending = position < bytes ? readAt(position, which) : undefined;
    hash.update(chunk);
  }
}

/** SHA-256 (lowercase hex) and size of a whole file. FILE_READ when it cannot be read. */
export async function sha256File(path: string, signal?: AbortSignal): Promise<{ sha256: string; bytes: number }> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw asTcuError(err, 'FILE_READ', `cannot open ${path}`);
  }
  try {
    const { size } = await handle.stat();
    const hash = createHash('sha256');
    await hashFileInto(handle, size, hash, signal);
    return { sha256: hash.digest('hex'), bytes: size };
  } catch (err) {
    throw asTcuError(err, 'FILE_READ', `cannot read ${path}`);
  } finally {
    await handle.close();
  }
}
