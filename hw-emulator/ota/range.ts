/**
 * The server's side of HTTP range requests (RFC 9110 §14.2): which bytes a `Range` header asks for.
 * Written apart from the client's parser (ota/download/range.ts) so each checks the other. Pure.
 *
 * A header that is not a valid single byte range is ignored (the whole file, 200), as the RFC
 * allows; several ranges are ignored too (this server never sends multipart/byteranges).
 */

export type RangeRequest =
  | { kind: 'none' }
  | { kind: 'range'; start: number; end: number }
  /** 416, with `Content-Range: bytes *\/SIZE`. */
  | { kind: 'unsatisfiable' };

const SINGLE = /^bytes[ \t]*=[ \t]*(\d*)[ \t]*-[ \t]*(\d*)[ \t]*$/i;

export function parseRangeRequest(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) return { kind: 'none' };
  const m = SINGLE.exec(header.trim());
  if (!m) return { kind: 'none' };
  const [first, last] = [m[1]!, m[2]!];
  if (first === '' && last === '') return { kind: 'none' };
  if (first === '') {
    // A suffix: the last N bytes.
    const n = Number(last);
    if (!Number.isSafeInteger(n)) return { kind: 'none' };
    if (n === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'range', start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? Infinity : Number(last);
  if (!Number.isSafeInteger(start) || (last !== '' && !Number.isSafeInteger(end)) || end < start) return { kind: 'none' };
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'range', start, end: Math.min(end, size - 1) };
}

/** `bytes START-END/SIZE` for a 206. */
export function contentRange(start: number, end: number, size: number): string {
  return `bytes ${start}-${end}/${size}`;
}
