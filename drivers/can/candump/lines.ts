import { StringDecoder } from 'node:string_decoder';

/**
 * Splits a stream of text chunks into lines, holding at most one partial line of bounded length:
 * a line longer than `maxLineLength` is dropped as it arrives (reported as `null` in its place),
 * so input without newlines cannot grow memory. Chunks may be strings or bytes (UTF-8, a character
 * may be split across chunks). A trailing `\r` stays on the line; `isBlank` treats it as space.
 */
export class LineSplitter {
  private partial = '';
  private skipping = false;
  private readonly utf8 = new StringDecoder('utf8');

  constructor(readonly maxLineLength = 4096) {}

  /** The lines this chunk completes, in order; `null` stands for a dropped over-long line. */
  push(chunk: string | Uint8Array): (string | null)[] {
    const text = typeof chunk === 'string' ? chunk : this.utf8.write(chunk as Buffer);
    const out: (string | null)[] = [];
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      if (this.skipping) {
        this.skipping = false;
      } else {
        const line = this.partial.length > 0 ? this.partial + text.slice(start, nl) : text.slice(start, nl);
        this.partial = '';
        out.push(line.length > this.maxLineLength ? null : line);
      }
      start = nl + 1;
    }
    if (!this.skipping && start < text.length) {
      this.partial += text.slice(start);
      if (this.partial.length > this.maxLineLength) {
        out.push(null);
        this.partial = '';
        this.skipping = true;
      }
    }
    return out;
  }

  /** The last line, when the input did not end with a newline. */
  end(): (string | null)[] {
    const rest = this.partial + this.utf8.end();
    this.partial = '';
    const skipped = this.skipping;
    this.skipping = false;
    if (skipped || rest.length === 0) return [];
    return [rest.length > this.maxLineLength ? null : rest];
  }
}

/** Only spaces, tabs and carriage returns. */
export function isBlank(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13) return false;
  }
  return true;
}
