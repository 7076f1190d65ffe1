import { createReadStream, mkdtempSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BaseFetcher } from 'tuf-js';
import { DownloadHTTPError, DownloadLengthMismatchError } from 'tuf-js/dist/error.js';
import { TcuError } from '../../core/errors.js';

/** What tuf-js's BaseFetcher.fetch returns. */
export type ByteStream = ReadableStream<Uint8Array<ArrayBuffer>>;

export interface FetcherOptions {
  /** Where `downloadFile` puts its temporary file. Default: the system's temporary folder. */
  tmpDir?: string;
}

/**
 * A tuf-js fetcher that stops reading at the limit tuf-js gives (TUF's maximum length for each
 * metadata file) and cancels the stream there, so an endless response closes its connection
 * instead of being left open (BaseFetcher only stops reading). Metadata is collected in memory.
 *
 * `fetch(url)` signals a missing file with tuf-js's DownloadHTTPError 404 (tuf-js ends the root
 * rotation walk on 403 and 404), and anything else with a TcuError (OTA_FETCH, OTA_SLOW_RETRIEVAL).
 */
export abstract class BoundedFetcher extends BaseFetcher {
  private readonly tmpDir: string;

  constructor(options: FetcherOptions = {}) {
    super();
    this.tmpDir = options.tmpDir ?? tmpdir();
  }

  override async downloadBytes(url: string, maxLength: number): Promise<Buffer> {
    const reader = (await this.fetch(url)).getReader();
    const chunks: Uint8Array[] = [];
    let total = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.length;
        if (total > maxLength) {
          await reader.cancel().catch(() => undefined);
          throw new DownloadLengthMismatchError(`${url} is longer than its limit of ${maxLength} bytes`);
        }
        chunks.push(value);
      }
    } finally {
      reader.releaseLock();
    }
    return Buffer.concat(chunks);
  }

  override async downloadFile<T>(url: string, maxLength: number, handler: (file: string) => Promise<T>): Promise<T> {
    const bytes = await this.downloadBytes(url, maxLength);
    const dir = mkdtempSync(join(this.tmpDir, 'tcu-fetch-'));
    try {
      const file = join(dir, 'download');
      writeFileSync(file, bytes);
      return await handler(file);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/**
 * Files from a local folder: a USB stick or a workshop share, given as a path or a file:// URL.
 * Only regular files inside the folder are served (a URL or a symbolic link that leads outside it
 * is refused with OTA_FETCH); a missing file is a 404 as a web server would say.
 */
export class LocalFetcher extends BoundedFetcher {
  /** The folder as a file:// URL ending in `/` (the base URL tuf-js joins file names to). */
  readonly baseUrl: string;
  private readonly root: string;

  constructor(folder: string, options: FetcherOptions = {}) {
    super(options);
    this.root = resolve(folder.startsWith('file:') ? fileURLToPath(folder) : folder);
    const url = pathToFileURL(this.root).href;
    this.baseUrl = url.endsWith('/') ? url : `${url}/`;
  }

  override async fetch(url: string): Promise<ByteStream> {
    let path: string;
    try {
      path = resolve(fileURLToPath(url));
    } catch (err) {
      throw new TcuError('OTA_FETCH', `not a file URL: ${url}`, { cause: err, details: { url } });
    }
    if (!inside(this.root, path)) throw new TcuError('OTA_FETCH', `${url} is outside the repository folder ${this.root}`, { details: { url } });
    let real: string;
    try {
      real = realpathSync(path);
      if (!statSync(real).isFile()) throw new DownloadHTTPError(`${url}: not a file`, 404);
    } catch (err) {
      if (err instanceof DownloadHTTPError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new DownloadHTTPError(`${url}: not found`, 404);
      throw new TcuError('OTA_FETCH', `cannot read ${path}: ${(err as Error).message}`, { cause: err, details: { url } });
    }
    let rootReal: string;
    try {
      rootReal = realpathSync(this.root);
    } catch (err) {
      throw new TcuError('OTA_FETCH', `the repository folder ${this.root} cannot be read`, { cause: err, details: { url } });
    }
    if (!inside(rootReal, real)) throw new TcuError('OTA_FETCH', `${url} links outside the repository folder`, { details: { url } });
    const stream = createReadStream(real);
    return Readable.toWeb(stream) as unknown as ByteStream;
  }
}

function inside(root: string, path: string): boolean {
  return path.startsWith(root.endsWith(sep) ? root : root + sep);
}
