/**
 * Bytes from a modem's AT port → tokens: whole lines and the `> ` prompt. Pure: no I/O, no timers.
 *
 * V.250 / 3GPP TS 27.007 framing as modems really send it, and what this splitter does with it:
 * - A line ends at CR, at LF, or at CRLF. `\r\r\n`, a lone `\n` and a lone `\r` all end a line; the
 *   empty lines between terminators are blank and dropped, so every variant gives the same tokens.
 *   Leading and trailing spaces and tabs are trimmed; a line of only blanks is dropped.
 * - `> ` at the start of a line (what the modem sends to ask for an SMS or file payload, with no
 *   line ending) is a `prompt` token as soon as its two characters are in, and the line starts
 *   afresh after it (`> hello` gives a prompt then `hello`, the modem echoing the payload). A line
 *   of just `>` is a prompt too. Both rules give the same tokens wherever the stream is cut.
 * - AT result codes and replies are 7-bit text (V.250: IRA; 27.007 encodes other character sets
 *   as hex). Every other byte is garbage: control bytes other than CR, LF and TAB (NUL, Ctrl-Z,
 *   ESC, DEL, ...) and all bytes 0x80-0xFF (boot noise at the wrong baud rate, line noise) are
 *   stripped and counted (`garbageBytes`). So noise glued to a line (`\xC3\xA9OK`, which happens to
 *   be valid UTF-8) still leaves the line (`OK`) intact.
 * - A line longer than `maxLineLength` bytes is dropped whole, up to its terminator, and counted
 *   (`malformedLines`) and returned as a `malformed` token, so a flood never grows memory.
 *
 * Split invariance: the tokens depend only on the byte stream, never on how it was cut into reads.
 */

export type AtToken =
  | { kind: 'line'; text: string }
  | { kind: 'prompt' }
  /** A line dropped because it exceeded the bound; `length` is how many bytes it had. */
  | { kind: 'malformed'; length: number };

/** 4 KiB: far above any real reply line (a +COPS=? scan or a +QGPSGNMEA sentence). */
export const DEFAULT_MAX_LINE_LENGTH = 4096;

const CR = 0x0d;
const LF = 0x0a;
const TAB = 0x09;
const SPACE = 0x20;
const GT = 0x3e;
const DEL = 0x7f;

export class AtLineSplitter {
  private readonly buf: Uint8Array;
  private len = 0;
  /** Bytes of the current line beyond the bound (the line is dropped at its terminator). */
  private overflow = 0;
  private garbage = 0;
  private malformed = 0;

  constructor(readonly maxLineLength = DEFAULT_MAX_LINE_LENGTH) {
    this.buf = new Uint8Array(Math.max(2, maxLineLength));
  }

  /** Control bytes and bytes above 0x7F stripped so far. */
  get garbageBytes(): number {
    return this.garbage;
  }

  /** Over-long lines dropped so far. */
  get malformedLines(): number {
    return this.malformed;
  }

  /** True while a partial line waits for its terminator. */
  get hasPartial(): boolean {
    return this.len > 0 || this.overflow > 0;
  }

  /** Feeds one read. Never throws. Returns the tokens completed by it, in order. */
  push(chunk: Uint8Array | string): AtToken[] {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
    const out: AtToken[] = [];
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      if (b === CR || b === LF) {
        this.endLine(out);
        continue;
      }
      if ((b < SPACE && b !== TAB) || b >= DEL) {
        this.garbage++;
        continue;
      }
      if (this.overflow > 0 || this.len >= this.buf.length) {
        this.overflow++;
        continue;
      }
      this.buf[this.len++] = b;
      if (this.len === 2 && this.buf[0] === GT && b === SPACE) {
        this.len = 0;
        out.push({ kind: 'prompt' });
      }
    }
    return out;
  }

  /** Forgets a partial line (after the port was reopened: its start is gone for good). */
  reset(): void {
    this.len = 0;
    this.overflow = 0;
  }

  private endLine(out: AtToken[]): void {
    if (this.overflow > 0) {
      this.malformed++;
      out.push({ kind: 'malformed', length: this.len + this.overflow });
      this.reset();
      return;
    }
    if (this.len === 0) return;
    const view = this.buf.subarray(0, this.len);
    const text = Buffer.from(view.buffer, view.byteOffset, view.length).toString('latin1').replace(/^[ \t]+|[ \t]+$/g, '');
    this.reset();
    if (text === '') return;
    out.push(text === '>' ? { kind: 'prompt' } : { kind: 'line', text });
  }
}

/**
 * True when `line` is the modem echoing `command` (echo on, ATE1): the same text, compared without
 * case and surrounding blanks. The splitter has already joined an echo that arrived across reads.
 */
export function isEchoOf(line: string, command: string): boolean {
  const a = line.trim();
  const b = command.trim();
  return a.length === b.length && a.toUpperCase() === b.toUpperCase();
}
