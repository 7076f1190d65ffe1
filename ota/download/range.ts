/**
 * The client's side of HTTP range requests (RFC 9110 §14): the `Range` header it sends to resume,
 * and the `Content-Range` of a 206 it must check before appending a single byte. Pure.
 */

export interface ContentRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive. */
  end: number;
  /** The representation's full length; undefined when the server sent `*`. */
  total: number | undefined;
}

const CONTENT_RANGE = /^bytes[ \t]+(\d{1,16})-(\d{1,16})\/(\d{1,16}|\*)$/i;

/** `bytes START-END/TOTAL` (TOTAL may be `*`); undefined when malformed or inconsistent. */
export function parseContentRange(header: string | undefined): ContentRange | undefined {
  if (header === undefined) return undefined;
  const m = CONTENT_RANGE.exec(header.trim());
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]);
  const total = m[3] === '*' ? undefined : Number(m[3]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return undefined;
  if (total !== undefined && (!Number.isSafeInteger(total) || end >= total)) return undefined;
  return { start, end, total };
}

/** The request header that asks for everything from byte `from` on. */
export function rangeHeader(from: number): string {
  return `bytes=${from}-`;
}

/**
 * Whether a 206's range continues exactly where the `.part` file ends (`from`) and stays inside a
 * target of `length` bytes: the only answer the downloader appends. Anything else starts over.
 */
export function rangeContinues(range: ContentRange, from: number, length: number): boolean {
  if (range.start !== from || range.end > length - 1) return false;
  return range.total === undefined || range.total === length;
}

/** `Content-Length` as a number; undefined when absent or not a plain non-negative integer. */
export function parseContentLength(header: string | undefined): number | undefined {
  if (header === undefined || !/^\d{1,16}$/.test(header.trim())) return undefined;
  const n = Number(header.trim());
  return Number.isSafeInteger(n) ? n : undefined;
}
