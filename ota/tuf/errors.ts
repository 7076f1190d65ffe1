import { LengthOrHashMismatchError, UnsignedMetadataError } from '@tufjs/models/dist/error.js';
import type { Fetcher } from 'tuf-js';
import { BadVersionError, DownloadHTTPError, DownloadLengthMismatchError, ExpiredMetadataError, PersistError } from 'tuf-js/dist/error.js';
import { TcuError, type ErrorCode } from '../../core/errors.js';

/**
 * Turning what tuf-js throws into our codes (docs/OTA.md, "Verification and error codes").
 *
 * tuf-js throws typed errors for root and timestamp, but wraps every failure while loading
 * snapshot.json and targets.json into a RuntimeError whose message is "Unable to load ... error
 * Error: <original message>": the class is lost. So fetch failures are taken from the fetcher
 * itself (`ObservedFetcher` keeps the first one, with its class), and the wrapped verification
 * failures are recognised by tuf-js 5.0.1's messages (the pinned version; the attack tests pin
 * each message to its code, so an upgrade that changes one fails a test instead of a vehicle).
 */

/** Wraps the fetcher tuf-js uses for one refresh: keeps the first real failure and the files fetched. */
export class ObservedFetcher implements Fetcher {
  /** The first failure that ended the refresh (a 403/404 on N.root.json ends the root walk: not a failure). */
  failure: unknown;
  /** File names (the URL's last segment) downloaded in full, in order. */
  readonly fetched: string[] = [];
  /** Bytes of each N.root.json downloaded, by version. */
  readonly roots = new Map<number, Buffer>();
  private lastAttempt: { file: string; ok: boolean } | undefined;

  constructor(private readonly inner: Fetcher) {}

  async downloadBytes(url: string, maxLength: number): Promise<Buffer> {
    const file = lastSegment(url);
    this.lastAttempt = { file, ok: false };
    try {
      const bytes = await this.inner.downloadBytes(url, maxLength);
      this.lastAttempt = { file, ok: true };
      this.fetched.push(file);
      const m = /^(\d+)\.root\.json$/.exec(file);
      if (m) this.roots.set(Number(m[1]), bytes);
      return bytes;
    } catch (err) {
      const endOfRootWalk = /^\d+\.root\.json$/.test(file) && err instanceof DownloadHTTPError && (err.statusCode === 403 || err.statusCode === 404);
      if (!endOfRootWalk && this.failure === undefined) this.failure = err;
      throw err;
    }
  }

  downloadFile<T>(url: string, maxLength: number, handler: (file: string) => Promise<T>): Promise<T> {
    return this.inner.downloadFile(url, maxLength, handler);
  }

  /** The last download was a new root and it arrived: an error now comes from checking it (TUF 5.3.4 - 5.3.5). */
  inRootRotation(): boolean {
    const last = this.lastAttempt;
    return last !== undefined && last.ok && /^\d+\.root\.json$/.test(last.file);
  }
}

/** Our error for a failed refresh of repository `repo`. */
export function tufErrorToTcu(err: unknown, repo: string, observed?: ObservedFetcher): TcuError {
  if (err instanceof TcuError) return err;
  if (observed?.failure !== undefined) return fetchError(observed.failure, repo);
  const message = err instanceof Error ? err.message : String(err);
  const code = codeFor(err, message, observed?.inRootRotation() ?? false);
  return new TcuError(code, `${repo} repository: ${message}`, { cause: err, details: { repository: repo } });
}

function fetchError(err: unknown, repo: string): TcuError {
  if (err instanceof TcuError) {
    return new TcuError(err.code, `${repo} repository: ${err.message}`, { cause: err, details: { ...err.details, repository: repo } });
  }
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof DownloadLengthMismatchError) {
    return new TcuError('OTA_ENDLESS_DATA', `${repo} repository: ${message}`, { cause: err, details: { repository: repo } });
  }
  const details: Record<string, unknown> = { repository: repo };
  if (err instanceof DownloadHTTPError) details['status'] = err.statusCode;
  return new TcuError('OTA_FETCH', `${repo} repository: ${message}`, { cause: err, details });
}

const MESSAGE_CODES: ReadonlyArray<[RegExp, ErrorCode]> = [
  [/is expired/, 'OTA_EXPIRED'],
  [/was signed by \d+\/\d+ keys|multiple signatures found for keyid|duplicate key IDs/, 'OTA_SIGNATURE'],
  [
    /Expected (length|hash)|does not match snapshot version|doesn't match timestamp|is less than current version|Missing file .* in new snapshot|Expected version \d+/,
    'OTA_ROLLBACK',
  ],
];

function codeFor(err: unknown, message: string, inRootRotation: boolean): ErrorCode {
  if (err instanceof PersistError) return 'OTA_STATE';
  if (err instanceof ExpiredMetadataError) return 'OTA_EXPIRED';
  if (inRootRotation) {
    // A new root that fails: not signed by the old and the new thresholds, or not version N + 1.
    if (err instanceof UnsignedMetadataError || err instanceof BadVersionError) return 'OTA_ROOT_ROTATION';
    if (/was signed by|duplicate key IDs|multiple signatures/.test(message)) return 'OTA_ROOT_ROTATION';
    return 'OTA_METADATA';
  }
  if (err instanceof UnsignedMetadataError) return 'OTA_SIGNATURE';
  // A metadata file that does not match the length or hash its (signed) parent gives for it.
  if (err instanceof LengthOrHashMismatchError) return 'OTA_ROLLBACK';
  if (err instanceof BadVersionError) return 'OTA_ROLLBACK';
  if (err instanceof DownloadLengthMismatchError) return 'OTA_ENDLESS_DATA';
  if (err instanceof DownloadHTTPError) return 'OTA_FETCH';
  for (const [pattern, code] of MESSAGE_CODES) if (pattern.test(message)) return code;
  return 'OTA_METADATA';
}

function lastSegment(url: string): string {
  const path = url.split(/[?#]/)[0] ?? '';
  const last = path.slice(path.lastIndexOf('/') + 1);
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}
