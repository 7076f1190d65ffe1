import { TcuError } from '../../../core/errors.js';
import type { CanFrame } from '../frame.js';
import { CANFD_LENGTHS, CAN_MAX_DLEN, HEX_BYTE, MAX_EXT_ID, MAX_STD_ID, bytesToHex, formatId, validateFrame } from '../frame.js';

/**
 * The socketcand protocol (linux-can/socketcand, doc/protocol.md and src/state_raw.c), the raw-mode
 * subset plus the handshake. Every message is one ASCII element `< ... >`:
 *
 *   server `< hi >`, client `< open vcan0 >`, server `< ok >`, client `< rawmode >`, server `< ok >`
 *   server `< frame 123 1436509052.249713 11223344 >`  id hex (8 digits = extended), time, data hex
 *   server `< fdframe 123 01 1436509052.249713 11223344 >`  CAN FD: id, flags hex (CANFD_BRS 1,
 *          CANFD_ESI 2, CANFD_FDF 4), time, data. This is socketcand's own order (flags before time).
 *   server `< rtr 123 1436509052.249713 4 >`  remote frame with its DLC (doc/protocol.md)
 *   server `< error 004 1436509052.249713 >`  error frame: error class hex, time
 *   server `< error unknown command >`  a request was refused (any other `error` element)
 *   client `< send 123 4 11 22 33 44 >`  id hex, length (decimal), bytes hex separated by spaces
 *   client `< sendrtr 123 4 >`  remote frame with DLC
 *   client `< fdsend 123 1 12 11 22 ... >`  CAN FD: id, flags hex, length (decimal), bytes
 *   both   `< echo >`
 *
 * Data in `frame` is accepted both as one hex run (`11223344`, what socketcand sends) and as
 * separate bytes (`11 22 33 44`, what older documentation shows). Pure: no I/O.
 */

export type SocketcandMessage =
  | { kind: 'hi' }
  | { kind: 'ok' }
  | { kind: 'echo' }
  | { kind: 'open'; bus: string }
  | { kind: 'rawmode' }
  | { kind: 'bcmmode' }
  | { kind: 'controlmode' }
  /** A frame from the server (frame, fdframe, rtr, or an error frame). */
  | { kind: 'frame'; frame: CanFrame }
  /** A frame a client asks to send (send, sendrtr, fdsend). */
  | { kind: 'send'; frame: CanFrame }
  /** A refusal or complaint (`< error unknown command >`), not an error frame. */
  | { kind: 'error'; text: string }
  /** A well-formed element this codec does not interpret (BCM, ISO-TP, statistics commands). */
  | { kind: 'other'; command: string; args: string[] };

/** Bus names are at most 16 characters in socketcand. */
export const MAX_BUS_NAME = 16;
/** Long enough for any valid element (an `fdsend` of 64 bytes is about 230 characters). */
export const DEFAULT_MAX_ELEMENT = 1024;

/**
 * Interprets the text of one element (with or without its `<` `>`). `bus` and `ts` stamp frames
 * (a `send` has no time of its own). Throws TcuError SOCKETCAND_PROTOCOL.
 */
export function decodeElement(element: string, bus: string, ts = 0): SocketcandMessage {
  let body = element.trim();
  if (body.startsWith('<')) body = body.slice(1);
  if (body.endsWith('>')) body = body.slice(0, -1);
  const tokens = body.trim().split(/\s+/);
  const command = tokens[0] ?? '';
  const args = tokens.slice(1);
  if (command === '') bad(element, 'empty element');
  switch (command) {
    case 'hi':
    case 'ok':
    case 'echo':
    case 'rawmode':
    case 'bcmmode':
    case 'controlmode':
      if (args.length > 0) bad(element, `"${command}" takes no arguments`);
      return { kind: command };
    case 'open': {
      const name = args[0];
      if (args.length !== 1 || name === undefined) bad(element, '"open" takes one bus name');
      if (name.length > MAX_BUS_NAME || !/^[\x21-\x7e]+$/.test(name)) bad(element, `bus name must be 1..${MAX_BUS_NAME} printable characters`);
      return { kind: 'open', bus: name };
    }
    case 'frame': {
      if (args.length < 2) bad(element, '"frame" needs an id and a time');
      const { id, ext } = parseId(element, args[0]!, false);
      const data = parseDataRun(element, args.slice(2));
      if (data.length > CAN_MAX_DLEN) bad(element, `a classic frame carries at most 8 bytes, not ${data.length}`);
      return { kind: 'frame', frame: make(id, ext, false, 0, false, false, data, parseTime(element, args[1]!), bus) };
    }
    case 'fdframe': {
      if (args.length < 3) bad(element, '"fdframe" needs an id, flags and a time');
      const { id, ext } = parseId(element, args[0]!, false);
      const flags = parseHex(element, args[1]!, 2, 'flags');
      const data = parseDataRun(element, args.slice(3));
      if (!CANFD_LENGTHS.includes(data.length)) bad(element, `${data.length} bytes is not a valid CAN FD length`);
      return { kind: 'frame', frame: make(id, ext, true, flags, false, false, data, parseTime(element, args[2]!), bus) };
    }
    case 'rtr': {
      if (args.length !== 3) bad(element, '"rtr" needs an id, a time and a DLC');
      const { id, ext } = parseId(element, args[0]!, false);
      const dlc = parseDec(element, args[2]!, CAN_MAX_DLEN, 'DLC');
      return { kind: 'frame', frame: make(id, ext, false, 0, true, false, new Uint8Array(dlc), parseTime(element, args[1]!), bus) };
    }
    case 'error': {
      // `< error CLASS SEC.USEC >` is an error frame; anything else is a complaint.
      if (args.length === 2 && /^[0-9a-fA-F]{1,8}$/.test(args[0]!) && /^\d+\.\d+$/.test(args[1]!)) {
        const cls = Number.parseInt(args[0]!, 16);
        if (cls > MAX_EXT_ID) bad(element, 'error class has bits above 29');
        return { kind: 'frame', frame: make(cls, cls > MAX_STD_ID, false, 0, false, true, new Uint8Array(0), parseTime(element, args[1]!), bus) };
      }
      return { kind: 'error', text: args.join(' ') };
    }
    case 'send': {
      if (args.length < 2) bad(element, '"send" needs an id and a length');
      const { id, ext } = parseId(element, args[0]!, true);
      const len = parseDec(element, args[1]!, CAN_MAX_DLEN, 'length');
      const data = parseByteList(element, args.slice(2), len);
      return { kind: 'send', frame: make(id, ext, false, 0, false, false, data, ts, bus) };
    }
    case 'sendrtr': {
      if (args.length !== 2) bad(element, '"sendrtr" needs an id and a DLC');
      const { id, ext } = parseId(element, args[0]!, true);
      const dlc = parseDec(element, args[1]!, CAN_MAX_DLEN, 'DLC');
      return { kind: 'send', frame: make(id, ext, false, 0, true, false, new Uint8Array(dlc), ts, bus) };
    }
    case 'fdsend': {
      if (args.length < 3) bad(element, '"fdsend" needs an id, flags and a length');
      const { id, ext } = parseId(element, args[0]!, true);
      const flags = parseHex(element, args[1]!, 2, 'flags');
      const len = parseDec(element, args[2]!, 64, 'length');
      if (!CANFD_LENGTHS.includes(len)) bad(element, `${len} is not a valid CAN FD length`);
      const data = parseByteList(element, args.slice(3), len);
      return { kind: 'send', frame: make(id, ext, true, flags, false, false, data, ts, bus) };
    }
    default:
      if (!/^[a-z_]{1,32}$/.test(command)) bad(element, `unknown command ${JSON.stringify(command.slice(0, 32))}`);
      return { kind: 'other', command, args };
  }
}

/** `< hi >`-style elements without arguments, and `< open BUS >`. */
export function encodeSimple(kind: 'hi' | 'ok' | 'echo' | 'rawmode' | 'bcmmode' | 'controlmode'): string {
  return `< ${kind} >`;
}

export function encodeOpen(bus: string): string {
  if (bus.length === 0 || bus.length > MAX_BUS_NAME || !/^[\x21-\x7e]+$/.test(bus) || /[<>]/.test(bus)) {
    throw new TcuError('SOCKETCAND_PROTOCOL', `bus name ${JSON.stringify(bus)} cannot be sent to socketcand (1..16 printable characters)`);
  }
  return `< open ${bus} >`;
}

/** `< error TEXT >`, with anything that could break the framing removed. */
export function encodeError(text: string): string {
  const clean = text.replace(/[<>\r\n\t]/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 200);
  return `< error ${clean || 'error'} >`;
}

/**
 * How the server sends a received frame: frame, fdframe, rtr or error. An error frame travels as its
 * class only (`< error CLASS TIME >`, as socketcand sends it): its data bytes are lost.
 * Throws CAN_FRAME_INVALID.
 */
export function encodeFrame(frame: CanFrame): string {
  validateFrame(frame);
  const ts = formatTime(frame.ts);
  if (frame.err) return `< error ${formatHex(frame.id, 3)} ${ts} >`;
  const id = formatId(frame.id, frame.ext);
  if (frame.rtr) return `< rtr ${id} ${ts} ${frame.data.length} >`;
  const data = frame.data.length === 0 ? '' : ` ${bytesToHex(frame.data)}`;
  if (frame.fd) return `< fdframe ${id} ${formatHex(fdFlags(frame), 2)} ${ts}${data} >`;
  return `< frame ${id} ${ts}${data} >`;
}

/** How a client asks to send a frame: send, sendrtr or fdsend. Throws CAN_FRAME_INVALID for error frames. */
export function encodeSend(frame: CanFrame): string {
  validateFrame(frame);
  if (frame.err) throw new TcuError('CAN_FRAME_INVALID', 'error frames cannot be sent through socketcand');
  const id = formatId(frame.id, frame.ext);
  if (frame.rtr) return `< sendrtr ${id} ${frame.data.length} >`;
  const bytes = hexList(frame.data);
  if (frame.fd) return `< fdsend ${id} ${fdFlags(frame).toString(16).toUpperCase()} ${frame.data.length}${bytes} >`;
  return `< send ${id} ${frame.data.length}${bytes} >`;
}

export interface SocketcandParserOptions {
  onMessage: (message: SocketcandMessage) => void;
  /** Garbage, an oversize element, or an element that does not decode. The parser carries on. */
  onError: (err: TcuError) => void;
  /** The bus frames are stamped with; may be changed later through `bus`. */
  bus?: string;
  /** Time stamp for `send` requests, which carry none. Default 0. */
  now?: () => number;
  /** Longest element kept; a longer one is reported and skipped. Default 1024 characters. */
  maxElement?: number;
}

/**
 * Incremental parser: feed it whatever the socket delivers; it calls `onMessage` once per complete
 * element, in order. Elements may be split anywhere across chunks. Text outside elements is garbage
 * (reported once per run); an element that grows past `maxElement` is reported and dropped, so
 * memory stays bounded; a `<` inside an element starts a new element (the old one is reported).
 */
export class SocketcandParser {
  bus: string;
  private readonly maxElement: number;
  private inElement = false;
  /** Skipping the rest of an oversize element (until the next `<`). */
  private skipping = false;
  private inGarbage = false;
  private partial = '';

  constructor(private readonly options: SocketcandParserOptions) {
    this.bus = options.bus ?? '';
    this.maxElement = options.maxElement ?? DEFAULT_MAX_ELEMENT;
  }

  push(chunk: string | Uint8Array): void {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('latin1');
    let i = 0;
    const n = text.length;
    while (i < n) {
      if (this.inElement) {
        const close = text.indexOf('>', i);
        const open = text.indexOf('<', i);
        if (open >= 0 && (close < 0 || open < close)) {
          // A new element starts before this one closed: the old one is broken.
          this.report(`element not closed before the next "<": ${preview(this.partial + text.slice(i, open))}`);
          this.partial = '';
          i = open + 1;
          continue;
        }
        const end = close < 0 ? n : close;
        if (this.partial.length + (end - i) > this.maxElement) {
          this.report(`element longer than ${this.maxElement} characters: ${preview(this.partial + text.slice(i, Math.min(end, i + 40)))}`);
          this.partial = '';
          this.inElement = false;
          this.skipping = close < 0;
          i = close < 0 ? n : close + 1;
          continue;
        }
        if (close < 0) {
          this.partial += text.slice(i);
          return;
        }
        const element = this.partial + text.slice(i, close);
        this.partial = '';
        this.inElement = false;
        i = close + 1;
        this.element(element);
        continue;
      }
      const c = text.charCodeAt(i);
      if (c === 60 /* < */) {
        this.inElement = true;
        this.skipping = false;
        this.inGarbage = false;
        i++;
      } else if (this.skipping) {
        if (c === 62 /* > */) this.skipping = false;
        i++;
      } else if (c === 32 || c === 9 || c === 10 || c === 13) {
        i++;
      } else {
        if (!this.inGarbage) {
          this.inGarbage = true;
          this.report(`unexpected ${describe(c)} outside an element; skipping to the next "<"`);
        }
        i++;
      }
    }
  }

  /** Forgets any partial element (after a reconnect). */
  reset(): void {
    this.inElement = false;
    this.skipping = false;
    this.inGarbage = false;
    this.partial = '';
  }

  private element(text: string): void {
    let message: SocketcandMessage;
    try {
      message = decodeElement(text, this.bus, this.options.now?.() ?? 0);
    } catch (err) {
      this.options.onError(err instanceof TcuError ? err : new TcuError('SOCKETCAND_PROTOCOL', String(err)));
      return;
    }
    this.options.onMessage(message);
  }

  private report(message: string): void {
    this.options.onError(new TcuError('SOCKETCAND_PROTOCOL', message, { details: { bus: this.bus } }));
  }
}

// ---------------------------------------------------------------------------------------------

function make(id: number, ext: boolean, fd: boolean, flags: number, rtr: boolean, err: boolean, data: Uint8Array, ts: number, bus: string): CanFrame {
  return { id, ext, fd, brs: fd && (flags & 1) !== 0, esi: fd && (flags & 2) !== 0, rtr, err, data, ts, bus };
}

function fdFlags(frame: CanFrame): number {
  return (frame.brs ? 1 : 0) | (frame.esi ? 2 : 0);
}

/** Ids: 8 hex digits mean extended (socketcand's rule). `strict` (client requests) also refuses std ids > 7FF. */
function parseId(element: string, token: string, strict: boolean): { id: number; ext: boolean } {
  if (!/^[0-9a-fA-F]{1,8}$/.test(token)) bad(element, `CAN id ${JSON.stringify(token.slice(0, 16))} is not 1..8 hex digits`);
  const id = Number.parseInt(token, 16);
  const ext = token.length === 8 || (!strict && id > MAX_STD_ID);
  if (ext && id > MAX_EXT_ID) bad(element, `29-bit id ${token} is above 1FFFFFFF`);
  if (!ext && id > MAX_STD_ID) bad(element, `11-bit id ${token} is above 7FF (write extended ids with 8 digits)`);
  return { id, ext };
}

function parseHex(element: string, token: string, maxDigits: number, what: string): number {
  if (token.length > maxDigits || !/^[0-9a-fA-F]+$/.test(token)) bad(element, `${what} ${JSON.stringify(token.slice(0, 16))} is not hex`);
  return Number.parseInt(token, 16);
}

function parseDec(element: string, token: string, max: number, what: string): number {
  if (!/^\d{1,3}$/.test(token)) bad(element, `${what} ${JSON.stringify(token.slice(0, 16))} is not a number`);
  const value = Number(token);
  if (value > max) bad(element, `${what} ${value} is above ${max}`);
  return value;
}

/** `sec.usec` → microseconds. */
function parseTime(element: string, token: string): number {
  const m = /^(\d{1,12})\.(\d{1,9})$/.exec(token);
  if (!m) bad(element, `time ${JSON.stringify(token.slice(0, 24))} is not seconds.microseconds`);
  const micros = Number((m[2]! + '00000').slice(0, 6));
  return Number(m[1]) * 1_000_000 + micros;
}

/** Frame data: one hex run or several; a token of 1..2 digits is one byte, longer ones are runs of pairs. */
function parseDataRun(element: string, tokens: string[]): Uint8Array {
  const bytes: number[] = [];
  for (const t of tokens) {
    if (!/^[0-9a-fA-F]+$/.test(t)) bad(element, `data ${JSON.stringify(t.slice(0, 16))} is not hex`);
    if (t.length <= 2) {
      bytes.push(Number.parseInt(t, 16));
      continue;
    }
    if (t.length % 2 !== 0) bad(element, 'data has an odd number of hex digits');
    if (bytes.length + t.length / 2 > 64) bad(element, 'more than 64 data bytes');
    for (let k = 0; k < t.length; k += 2) bytes.push(Number.parseInt(t.slice(k, k + 2), 16));
  }
  return Uint8Array.from(bytes);
}

/** Bytes of a send request: exactly `len` tokens of 1..2 hex digits. */
function parseByteList(element: string, tokens: string[], len: number): Uint8Array {
  if (tokens.length !== len) bad(element, `length says ${len} bytes but ${tokens.length} follow`);
  const data = new Uint8Array(len);
  for (let k = 0; k < len; k++) {
    const t = tokens[k]!;
    if (!/^[0-9a-fA-F]{1,2}$/.test(t)) bad(element, `byte ${JSON.stringify(t.slice(0, 16))} is not 1..2 hex digits`);
    data[k] = Number.parseInt(t, 16);
  }
  return data;
}

function formatTime(ts: number): string {
  const us = Math.max(0, Math.round(ts));
  const sec = Math.floor(us / 1_000_000);
  return `${sec}.${String(us - sec * 1_000_000).padStart(6, '0')}`;
}

function formatHex(value: number, digits: number): string {
  return value.toString(16).toUpperCase().padStart(digits, '0');
}

function hexList(data: Uint8Array): string {
  let out = '';
  for (let k = 0; k < data.length; k++) out += ' ' + HEX_BYTE[data[k]!];
  return out;
}

function describe(c: number): string {
  return c >= 33 && c <= 126 ? `"${String.fromCharCode(c)}"` : `byte 0x${c.toString(16).padStart(2, '0')}`;
}

function preview(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}...` : text);
}

function bad(element: string, reason: string): never {
  throw new TcuError('SOCKETCAND_PROTOCOL', `${reason} in ${preview(element.trim())}`, { details: { element: element.slice(0, 120) } });
}
