/**
 * A small CBOR (RFC 8949) writer for the shapes records have: a map of text keys to numbers,
 * strings, booleans and null, written directly with the shortest heads. Anything else (nested
 * objects and arrays, byte strings, bigints, dates, undefined) is written by cbor-x as a complete
 * data item and copied in. cbor-x alone needs an object built per record and walks it generically;
 * this is several times faster on the commit path, which on a board's CPU matters.
 *
 * Numbers: safe integers are CBOR integers (major type 0 or 1, 64-bit ones too, where cbor-x would
 * write a float64), other numbers are float32 when that is exact and float64 otherwise (the
 * shortest exact form, as RFC 8949 "preferred serialization" asks).
 */
import { Encoder } from 'cbor-x';

const TWO_32 = 0x1_0000_0000;
/** Encoded text keys kept per writer (signal names repeat in every record). */
const KEY_CACHE_LIMIT = 8192;

export class CborWriter {
  private buf = Buffer.allocUnsafe(16 * 1024);
  private view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  private pos = 0;
  private readonly keys = new Map<string, Buffer>();
  private readonly fallback = new Encoder({ useRecords: false, mapsAsObjects: true, variableMapSize: true, tagUint8Array: false });

  reset(): void {
    this.pos = 0;
  }

  /** A copy of what was written since `reset`. */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    return out;
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  /** A head: major type and argument, in the shortest form. `n` is a non-negative safe integer. */
  head(major: number, n: number): void {
    this.room(9);
    const m = major << 5;
    if (n < 24) {
      this.buf[this.pos++] = m | n;
    } else if (n < 0x100) {
      this.buf[this.pos++] = m | 24;
      this.buf[this.pos++] = n;
    } else if (n < 0x10000) {
      this.buf[this.pos++] = m | 25;
      this.view.setUint16(this.pos, n);
      this.pos += 2;
    } else if (n < TWO_32) {
      this.buf[this.pos++] = m | 26;
      this.view.setUint32(this.pos, n);
      this.pos += 4;
    } else {
      this.buf[this.pos++] = m | 27;
      this.view.setUint32(this.pos, Math.floor(n / TWO_32));
      this.view.setUint32(this.pos + 4, n % TWO_32);
      this.pos += 8;
    }
  }

  number(v: number): void {
    if (Number.isSafeInteger(v)) {
      if (v >= 0) this.head(0, v);
      else this.head(1, -1 - v);
      return;
    }
    this.room(9);
    if (Math.fround(v) === v || Number.isNaN(v)) {
      this.buf[this.pos++] = 0xfa;
      this.view.setFloat32(this.pos, v);
      this.pos += 4;
    } else {
      this.buf[this.pos++] = 0xfb;
      this.view.setFloat64(this.pos, v);
      this.pos += 8;
    }
  }

  text(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    this.head(3, n);
    this.room(n);
    this.pos += this.buf.write(s, this.pos, n, 'utf8');
  }

  /** A map key: cached encodings, since the same names come in every record. */
  key(s: string): void {
    const enc = this.keys.get(s);
    if (enc === undefined) {
      const start = this.pos;
      this.text(s);
      if (this.keys.size < KEY_CACHE_LIMIT) this.keys.set(s, Buffer.from(this.buf.subarray(start, this.pos)));
      return;
    }
    const n = enc.length;
    this.room(n);
    // Keys are short: a loop beats Buffer#copy's call overhead.
    for (let i = 0; i < n; i++) this.buf[this.pos + i] = enc[i]!;
    this.pos += n;
  }

  /** Any value: the common scalars directly, the rest through cbor-x. Throws what cbor-x throws. */
  value(v: unknown): void {
    switch (typeof v) {
      case 'number':
        this.number(v);
        return;
      case 'string':
        this.text(v);
        return;
      case 'boolean':
        this.room(1);
        this.buf[this.pos++] = v ? 0xf5 : 0xf4;
        return;
      default:
        if (v === null) {
          this.room(1);
          this.buf[this.pos++] = 0xf6;
          return;
        }
        this.raw(this.fallback.encode(v));
    }
  }

  private raw(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }
}
