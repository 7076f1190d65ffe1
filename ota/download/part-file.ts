/**
 * The `.part` file of a download: bytes appended in order, hashed as they come (the hash always
 * covers exactly the bytes the file will hold), written in batches of about 1 MiB, re-hashed from
 * disk when a download resumes, and renamed over the destination only after an fsync.
 */
import { constants } from 'node:fs';
import { createHash, type Hash } from 'node:crypto';
import { mkdir, open, rename, rm, statfs, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { TcuError, asTcuError } from '../../core/errors.js';
import { hashFileInto } from './hash-file.js';

const FLUSH_BYTES = 1024 * 1024;
/** Small chunks (a trickling server) are written sooner, so the queue stays short. */
const MAX_BUFFERS = 256;

/** ENOSPC and EDQUOT are OTA_DISK_FULL; any other write failure is FILE_WRITE. */
export function writeError(err: unknown, path: string): TcuError {
  if (err instanceof TcuError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new TcuError('OTA_DISK_FULL', `no room left writing ${path}`, { cause: err, details: { path } });
  return asTcuError(err, 'FILE_WRITE', `cannot write ${path}`);
}

export class PartFile {
  private hash: Hash = createHash('sha256');
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private written = 0;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
  ) {}

  static async open(path: string): Promise<PartFile> {
    try {
      await mkdir(dirname(path), { recursive: true });
      return new PartFile(path, await open(path, constants.O_RDWR | constants.O_CREAT, 0o600));
    } catch (err) {
      throw writeError(err, path);
    }
  }

  /** Bytes of the target held: on disk plus those waiting to be written, all hashed. */
  get received(): number {
    return this.written + this.pendingBytes;
  }

  /**
   * Takes over what the file already holds: re-hashes it from disk, streaming. A file longer than
   * the target cannot be a prefix of it and is emptied; the answer then says why.
   */
  async resume(length: number, signal?: AbortSignal): Promise<string | undefined> {
    const { size } = await this.handle.stat();
    if (size > length) {
      await this.reset();
      return `the partial file had ${size} bytes, more than the target's ${length}`;
    }
    await hashFileInto(this.handle, size, this.hash, signal);
    this.written = size;
    return undefined;
  }

  /** Hashes `chunk` and queues it; writes once about 1 MiB (or 256 chunks) is queued. */
  async append(chunk: Buffer): Promise<void> {
    this.hash.update(chunk);
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= FLUSH_BYTES || this.pending.length >= MAX_BUFFERS) await this.flush();
  }

  /** Writes everything queued at the end of the file. OTA_DISK_FULL or FILE_WRITE on failure. */
  async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    let buffers = this.pending;
    try {
      while (buffers.length > 0) {
        const { bytesWritten } = await this.handle.writev(buffers, this.written);
        this.written += bytesWritten;
        this.pendingBytes -= bytesWritten;
        buffers = skip(buffers, bytesWritten);
        this.pending = buffers;
      }
    } catch (err) {
      throw writeError(err, this.path);
    }
  }

  /** Empties the file and the hash: the download starts over from byte 0. */
  async reset(): Promise<void> {
    this.pending = [];
    this.pendingBytes = 0;
    this.written = 0;
    this.hash = createHash('sha256');
    try {
      await this.handle.truncate(0);
    } catch (err) {
      throw writeError(err, this.path);
    }
  }

  /** SHA-256 (hex) of every byte appended so far; appending may go on. */
  digest(): string {
    return this.hash.copy().digest('hex');
  }

  /** Free bytes on the file system holding the file. */
  async freeBytes(): Promise<number> {
    const fs = await statfs(dirname(this.path));
    return fs.bavail * fs.bsize;
  }

  /** fsync, close, rename over `dest` (atomic), fsync the folder so the rename survives a power cut. */
  async commit(dest: string): Promise<void> {
    await this.flush();
    try {
      await this.handle.sync();
      await this.close();
      await rename(this.path, dest);
      const dir = await open(dirname(dest), 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    } catch (err) {
      throw writeError(err, dest);
    }
  }

  /** Closes and deletes the file (a target that did not match its metadata). */
  async discard(): Promise<void> {
    await this.close();
    await rm(this.path, { force: true });
  }

  /** Deletes the file only if it holds nothing (a download refused before its first byte). */
  async discardIfEmpty(): Promise<void> {
    if (!this.closed && this.pendingBytes === 0 && (await this.handle.stat()).size === 0) await this.discard();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}

function skip(buffers: Buffer[], bytes: number): Buffer[] {
  let left = bytes;
  let i = 0;
  while (i < buffers.length && left >= buffers[i]!.length) left -= buffers[i++]!.length;
  const rest = buffers.slice(i);
  if (left > 0 && rest.length > 0) rest[0] = rest[0]!.subarray(left);
  return rest;
}
