import { TcuError } from '../../core/errors.js';

/**
 * A target's name is a path relative to the repository's `targets/` folder, and the download and
 * install code turn it into a file name and a URL. A name is refused (OTA_TARGET_NAME) when it is:
 * empty or longer than 1024 characters; absolute (`/x`) or a Windows drive path (`C:`); has a
 * backslash, NUL or any other control character; has `%` (a URL or a server would decode `%2e%2e`
 * or `%2f` into a traversal); has an empty segment (`a//b`, a trailing `/`); has a `.` or `..`
 * segment; or has a segment longer than 255 bytes (a file system limit).
 */
export const MAX_TARGET_NAME_LENGTH = 1024;

export function targetNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'not a string';
  if (name.length === 0) return 'empty';
  if (name.length > MAX_TARGET_NAME_LENGTH) return `longer than ${MAX_TARGET_NAME_LENGTH} characters`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'a control character (NUL, newline ...)';
  if (name.includes('\\')) return 'a backslash';
  if (name.includes('%')) return 'a "%" (percent-encoding)';
  if (name.startsWith('/')) return 'absolute';
  if (/^[A-Za-z]:/.test(name)) return 'a drive letter';
  for (const segment of name.split('/')) {
    if (segment === '') return 'an empty path segment';
    if (segment === '.' || segment === '..') return `a "${segment}" segment`;
    if (Buffer.byteLength(segment, 'utf8') > 255) return 'a segment longer than 255 bytes';
  }
  return undefined;
}

/** Throws OTA_TARGET_NAME when `targetNameProblem` finds something. */
export function checkTargetName(name: unknown, where = 'target'): string {
  const problem = targetNameProblem(name);
  if (problem !== undefined) {
    throw new TcuError('OTA_TARGET_NAME', `${where} name ${JSON.stringify(name)} is unsafe: ${problem}`, { details: { name: String(name), problem } });
  }
  return name as string;
}
