import { TcuError } from '../../../core/errors.js';
import type { CanFrame } from '../frame.js';
import { CANFD_LENGTHS, CAN_MAX_DLEN, CANFD_MAX_DLEN, MAX_STD_ID, bytesToHex, formatId, validateFrame } from '../frame.js';

/**
 * The can-utils `candump -L` log format, as `candump -l` writes it and `canplayer` reads it:
 *
 *     (1436509052.249713) can0 123#DEADBEEF          classic, 11-bit id (3 hex digits)
 *     (1436509052.249713) can0 12345678#DEADBEEF     classic, 29-bit id (8 hex digits)
 *     (1436509052.249713) can0 123#R  /  123#R5      remote frame, without / with a length
 *     (1436509052.249713) can0 123##1DEADBEEF        CAN FD: flags nibble (1 = BRS, 2 = ESI, 4 = FDF), data
 *     (1436509052.249713) can0 20000004#0004000000000000   error frame (CAN_ERR_FLAG 0x20000000 | class)
 *
 * Parsing follows can-utils `lib.c` `parse_canframe`: hex is case-insensitive, one optional `.`
 * may stand before each data byte (`12.34.56`), a remote frame may carry a length digit 0..8, and a
 * classic frame with 8 data bytes may carry the raw DLC as `_9`..`_F` (accepted, not kept: CanFrame
 * has no field for it). candump right-aligns interface names with spaces, and `candump -x` appends
 * ` R` or ` T` (received / transmitted): both are accepted. Stricter than lib.c where lib.c
 * silently drops input: more than 8 (classic) or 64 (FD) data bytes, an FD payload that is not a valid
 * CAN FD length, an 11-bit id above 0x7FF, flag bits in an 8-digit id other than CAN_ERR_FLAG, and
 * any trailing text are errors. CAN XL frames (5-digit ids) are not supported.
 *
 * Pure: no I/O. `parseCandumpLine` is on the hot path of `tcu-agent decode`, hence the char-code scanner.
 */

const CAN_ERR_FLAG = 0x20000000;
const MAX_LINE_IN_MESSAGE = 120;

/** Parses one `candump -L` line. Throws TcuError CANDUMP_SYNTAX, and nothing else, on any malformed input. */
export function parseCandumpLine(line: string): CanFrame {
  const n = trimmedEnd(line);
  let i = 0;
  while (i < n && isBlank(line.charCodeAt(i))) i++;
  if (i >= n) fail(line, 'the line is empty');
  if (line.charCodeAt(i) !== 40 /* ( */) fail(line, 'expected "(" and a timestamp at the start of the line');
  i++;

  // (seconds.micros)
  let sec = 0;
  let secDigits = 0;
  for (let c = line.charCodeAt(i); c >= 48 && c <= 57; c = line.charCodeAt(++i)) {
    sec = sec * 10 + (c - 48);
    secDigits++;
  }
  if (secDigits === 0) fail(line, 'the timestamp has no seconds digits');
  if (line.charCodeAt(i) !== 46 /* . */) fail(line, 'expected "." between seconds and microseconds in the timestamp');
  i++;
  let micros = 0;
  let fracDigits = 0;
  for (let c = line.charCodeAt(i); c >= 48 && c <= 57; c = line.charCodeAt(++i)) {
    if (fracDigits < 6) micros = micros * 10 + (c - 48);
    fracDigits++;
  }
  if (fracDigits === 0) fail(line, 'the timestamp has no digits after "."');
  for (let k = fracDigits; k < 6; k++) micros *= 10;
  if (line.charCodeAt(i) !== 41 /* ) */) fail(line, 'expected ")" after the timestamp');
  i++;
  const ts = sec * 1_000_000 + micros;
  if (!Number.isSafeInteger(ts)) fail(line, 'the timestamp is too large');

  // interface name
  const afterTs = i;
  while (i < n && isBlank(line.charCodeAt(i))) i++;
  if (i === afterTs || i >= n) fail(line, 'expected a space and an interface name after the timestamp');
  const busStart = i;
  while (i < n && !isBlank(line.charCodeAt(i))) i++;
  const bus = line.slice(busStart, i);

  // frame
  const afterBus = i;
  while (i < n && isBlank(line.charCodeAt(i))) i++;
  if (i === afterBus || i >= n) fail(line, 'expected a space and a frame (such as 123#DEADBEEF) after the interface name');
  const frameStart = i;
  while (i < n && !isBlank(line.charCodeAt(i))) i++;
  const frameEnd = i;

  // optional ` R` / ` T` direction flag of `candump -x`
  while (i < n && isBlank(line.charCodeAt(i))) i++;
  if (i < n) {
    const c = line.charCodeAt(i);
    if (!(i + 1 === n && (c === 82 || c === 84))) fail(line, 'unexpected text after the frame');
  }
  return scanFrame(line, frameStart, frameEnd, ts, bus);
}

/** Parses the frame part alone (`123#DEADBEEF`, as `cansend` takes it). Throws TcuError CANDUMP_SYNTAX. */
export function parseCandumpFrame(text: string, bus = 'can0', ts = 0): CanFrame {
  return scanFrame(text, 0, text.length, ts, bus);
}

function scanFrame(s: string, start: number, end: number, ts: number, bus: string): CanFrame {
  // identifier: 3 or 8 hex digits, then '#'
  let i = start;
  let raw = 0;
  while (i < end) {
    const v = nibble(s.charCodeAt(i));
    if (v < 0) break;
    raw = raw * 16 + v;
    i++;
  }
  const idDigits = i - start;
  if (idDigits === 0) fail(s, 'the frame does not start with a hex CAN id');
  if (i >= end || s.charCodeAt(i) !== 35 /* # */) fail(s, 'expected "#" after the CAN id');
  if (idDigits === 5) fail(s, 'CAN XL frames (5-digit ids) are not supported');
  if (idDigits !== 3 && idDigits !== 8) fail(s, `a CAN id has 3 or 8 hex digits, not ${idDigits}`);
  let ext = idDigits === 8;
  let err = false;
  let id = raw;
  if (ext) {
    if (raw >= 0x40000000) fail(s, `id ${s.slice(start, start + 8)} has flag bits above the 29-bit id other than CAN_ERR_FLAG`);
    if (raw >= CAN_ERR_FLAG) {
      err = true;
      id = raw - CAN_ERR_FLAG;
      // Error frames carry error-class bits, not an identifier; mark them extended only when the
      // class does not fit 11 bits, so the frame stays valid.
      ext = id > MAX_STD_ID;
    }
  } else if (raw > MAX_STD_ID) {
    fail(s, `an 11-bit id is at most 7FF, not ${s.slice(start, start + 3).toUpperCase()}`);
  }
  i++; // '#'

  let c = i < end ? s.charCodeAt(i) : -1;
  // remote frame: R, R<len>, R8_<raw dlc>
  if (c === 82 || c === 114) {
    i++;
    let len = 0;
    if (i < end) {
      len = nibble(s.charCodeAt(i));
      if (len < 0 || len > CAN_MAX_DLEN) fail(s, 'a remote frame length is one digit 0..8');
      i++;
      if (i < end && len === CAN_MAX_DLEN && s.charCodeAt(i) === 95 /* _ */) i = rawDlc(s, i + 1, end);
      if (i < end) fail(s, 'unexpected text after the remote frame length');
    }
    return frame(id, ext, false, false, false, true, err, new Uint8Array(len), ts, bus);
  }

  let fd = false;
  let brs = false;
  let esi = false;
  if (c === 35 /* # */) {
    fd = true;
    const flags = i + 1 < end ? nibble(s.charCodeAt(i + 1)) : -1;
    if (flags < 0) fail(s, 'a CAN FD frame needs a hex flags digit after "##"');
    brs = (flags & 1) !== 0;
    esi = (flags & 2) !== 0;
    i += 2;
    c = i < end ? s.charCodeAt(i) : -1;
  }

  const max = fd ? CANFD_MAX_DLEN : CAN_MAX_DLEN;
  let data = new Uint8Array(Math.min(max, (end - i + 1) >> 1));
  let len = 0;
  while (i < end) {
    c = s.charCodeAt(i);
    if (c === 46 /* . */) {
      i++;
      if (i >= end) break;
      c = s.charCodeAt(i);
    }
    if (c === 95 /* _ */ && !fd && len === CAN_MAX_DLEN) {
      i = rawDlc(s, i + 1, end);
      if (i < end) fail(s, 'unexpected text after the raw DLC');
      break;
    }
    const hi = nibble(c);
    if (hi < 0) fail(s, `unexpected character ${describe(c)} in the data`);
    if (i + 1 >= end) fail(s, 'the data has an odd number of hex digits');
    const lo = nibble(s.charCodeAt(i + 1));
    if (lo < 0) fail(s, `unexpected character ${describe(s.charCodeAt(i + 1))} in the data`);
    if (len >= max) fail(s, fd ? 'a CAN FD frame carries at most 64 data bytes' : 'a classic CAN frame carries at most 8 data bytes');
    data[len++] = (hi << 4) | lo;
    i += 2;
  }
  if (len < data.length) data = data.slice(0, len);
  if (fd && !CANFD_LENGTHS.includes(len)) fail(s, `${len} bytes is not a valid CAN FD length (0..8, 12, 16, 20, 24, 32, 48, 64)`);
  return frame(id, ext, fd, brs, esi, false, err, data, ts, bus);
}

/** Skips the raw DLC digit (9..F) after `_`; returns the index after it. */
function rawDlc(s: string, i: number, end: number): number {
  const dlc = i < end ? nibble(s.charCodeAt(i)) : -1;
  if (dlc < 9) fail(s, 'a raw DLC after "_" is one hex digit 9..F');
  return i + 1;
}

function frame(
  id: number,
  ext: boolean,
  fd: boolean,
  brs: boolean,
  esi: boolean,
  rtr: boolean,
  err: boolean,
  data: Uint8Array,
  ts: number,
  bus: string,
): CanFrame {
  return { id, ext, fd, brs, esi, rtr, err, data, ts, bus };
}

/**
 * One `candump -L` line, without a newline: `(1436509052.249713) can0 123#DEADBEEF`. Seconds are
 * zero-padded to 10 digits as candump prints them; FD flags are written without FDF (`##1` for BRS).
 * A remote frame is written with its length only (`R5`); its data bytes are not part of the format.
 * Throws CAN_FRAME_INVALID for a frame that could not exist or a bus name the format cannot hold.
 */
export function formatCandumpLine(frame: CanFrame): string {
  const ts = frame.ts;
  if (!Number.isFinite(ts) || ts < 0 || ts > Number.MAX_SAFE_INTEGER) {
    throw new TcuError('CAN_FRAME_INVALID', `timestamp ${ts} cannot be written to a candump log`, { details: { bus: frame.bus } });
  }
  const us = Math.round(ts);
  const sec = Math.floor(us / 1_000_000);
  const micros = us - sec * 1_000_000;
  if (!isLogName(frame.bus)) {
    throw new TcuError('CAN_FRAME_INVALID', `bus name ${JSON.stringify(frame.bus)} cannot be written to a candump log`, {
      details: { bus: frame.bus },
    });
  }
  return `(${String(sec).padStart(10, '0')}.${String(micros).padStart(6, '0')}) ${frame.bus} ${formatCandumpFrame(frame)}`;
}

/** The frame part alone: `123#DEADBEEF`, `12345678#R`, `123##1AABB`, `20000004#...`. */
export function formatCandumpFrame(frame: CanFrame): string {
  validateFrame(frame);
  let out = frame.err ? formatId(frame.id + CAN_ERR_FLAG, true) : formatId(frame.id, frame.ext);
  if (frame.rtr && !frame.fd) return frame.data.length === 0 ? `${out}#R` : `${out}#R${frame.data.length}`;
  out += frame.fd ? `##${(frame.brs ? 1 : 0) | (frame.esi ? 2 : 0)}` : '#';
  return out + bytesToHex(frame.data);
}

function isLogName(bus: string): boolean {
  if (bus.length === 0) return false;
  for (let k = 0; k < bus.length; k++) {
    const c = bus.charCodeAt(k);
    if (c <= 32 || c === 127) return false;
  }
  return true;
}

function nibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

function isBlank(c: number): boolean {
  return c === 32 || c === 9;
}

/** End of the line without trailing spaces, tabs, CR or LF. */
function trimmedEnd(line: string): number {
  let n = line.length;
  while (n > 0) {
    const c = line.charCodeAt(n - 1);
    if (c !== 32 && c !== 9 && c !== 13 && c !== 10) break;
    n--;
  }
  return n;
}

function describe(c: number): string {
  return c >= 33 && c <= 126 ? `"${String.fromCharCode(c)}"` : `0x${c.toString(16).padStart(2, '0')}`;
}

function fail(text: string, reason: string): never {
  const shown = text.length > MAX_LINE_IN_MESSAGE ? `${text.slice(0, MAX_LINE_IN_MESSAGE)}...` : text;
  throw new TcuError('CANDUMP_SYNTAX', `${reason}: ${JSON.stringify(shown)}`, { details: { line: shown } });
}
