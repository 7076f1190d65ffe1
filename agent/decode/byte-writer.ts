/**
 * Appends text to a reusable byte buffer, for output paths where building strings (and then
 * flattening and encoding them) costs more than the work itself. ASCII is copied byte by byte;
 * anything else goes through UTF-8 encoding.
 */
export class ByteWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(capacity = 1 << 20) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  get length(): number {
    return this.pos;
  }

  /** The bytes written so far (a copy), and the writer is emptied. */
  take(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.pos));
    this.pos = 0;
    return out;
  }

  /** Drops everything after `length` (undoes a partly written record). */
  truncate(length: number): void {
    this.pos = Math.min(this.pos, length);
  }

  /** Pre-encoded bytes (keys and other constant pieces). */
  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < b.length; i++) buf[p++] = b[i]!;
    this.pos = p;
  }

  /** A string as UTF-8. */
  text(s: string): void {
    this.reserve(s.length);
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        this.pos = p;
        this.utf8(s.slice(i));
        return;
      }
      buf[p++] = c;
    }
    this.pos = p;
  }

  byte(c: number): void {
    this.reserve(1);
    this.buf[this.pos++] = c;
  }

  /** A number as JSON writes it (`null` for NaN and infinities). */
  number(v: number): void {
    if (v === (v | 0)) {
      this.integer(v);
    } else if (v !== v || v === Infinity || v === -Infinity) {
      this.text('null');
    } else {
      this.text(String(v));
    }
  }

  /**
   * A time in whole microseconds as seconds with up to six decimals (`1700000000.000298`): the
   * exact decimal candump printed, which reads back as the same double as `micros / 1e6`.
   */
  seconds(micros: number): void {
    if (!Number.isSafeInteger(micros) || micros < 0) {
      this.number(micros / 1e6);
      return;
    }
    const whole = Math.floor(micros / 1e6);
    let fraction = micros - whole * 1e6;
    this.unsigned(whole);
    if (fraction === 0) return;
    let digits = 6;
    while (fraction % 10 === 0) {
      fraction /= 10;
      digits--;
    }
    this.reserve(8);
    const buf = this.buf;
    buf[this.pos] = 46; // '.'
    let p = this.pos + 1 + digits;
    this.pos = p;
    for (let i = 0; i < digits; i++) {
      buf[--p] = 48 + (fraction % 10);
      fraction = Math.floor(fraction / 10);
    }
  }

  /** A non-negative safe integer. */
  private unsigned(v: number): void {
    this.reserve(16);
    const buf = this.buf;
    let digits = 1;
    for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
    let p = this.pos + digits;
    this.pos = p;
    for (let x = v; ; x = Math.floor(x / 10)) {
      buf[--p] = 48 + (x % 10);
      if (x < 10) break;
    }
  }

  /**
   * A number known to be a multiple of 10^-decimals up to rounding (a scaled DBC value), written
   * exactly as `number(v)` would, without converting it to a string. It takes the fast path only
   * when the decimal N / 10^decimals reads back as exactly `v`, with N small enough that the
   * decimal is the shortest one that does (at most 10 significant digits, where two different
   * decimals never round to the same double); otherwise it falls back to `number(v)`.
   */
  decimal(v: number, decimals: number, scale: number): void {
    if (decimals > 0 && decimals <= 9 && (v >= 1e-6 || v <= -1e-6)) {
      const n = Math.round(v * scale);
      if (n / scale === v && n <= 0x7fffffff && n >= -0x7fffffff) {
        this.fixed(n, decimals);
        return;
      }
    }
    this.number(v);
  }

  private fixed(n: number, decimals: number): void {
    this.reserve(decimals + 14);
    const buf = this.buf;
    if (n < 0) {
      buf[this.pos++] = 45; // '-'
      n = -n;
    }
    let trailing = 0;
    while (trailing < decimals && n % 10 === 0) {
      n = n / 10;
      trailing++;
    }
    const fraction = decimals - trailing;
    if (fraction === 0) {
      this.integer(n);
      return;
    }
    let digits = 1;
    for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
    const intDigits = Math.max(1, digits - fraction);
    const total = intDigits + 1 + fraction;
    let p = this.pos + total;
    this.pos = p;
    let x = n;
    for (let i = 0; i < fraction; i++) {
      buf[--p] = 48 + (x % 10);
      x = Math.floor(x / 10);
    }
    buf[--p] = 46; // '.'
    for (let i = 0; i < intDigits; i++) {
      buf[--p] = 48 + (x % 10);
      x = Math.floor(x / 10);
    }
  }

  private integer(v: number): void {
    if (v > 0x7fffffff || v < -0x7fffffff) {
      this.text(String(v));
      return;
    }
    this.reserve(11);
    const buf = this.buf;
    if (v < 0) {
      buf[this.pos++] = 45; // '-'
      v = -v;
    }
    if (v < 10) {
      buf[this.pos++] = 48 + v;
      return;
    }
    let digits = 1;
    for (let x = v; x >= 10; x = (x / 10) | 0) digits++;
    let p = this.pos + digits;
    this.pos = p;
    for (let x = v; x > 0; x = (x / 10) | 0) buf[--p] = 48 + (x % 10);
  }

  private utf8(s: string): void {
    this.reserve(Buffer.byteLength(s));
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }
}
