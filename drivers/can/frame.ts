import { TcuError } from '../../core/errors.js';

/** One CAN or CAN FD frame, as every driver delivers it and every consumer reads it. */
export interface CanFrame {
  /** 11-bit or 29-bit identifier, without any flag bits. */
  id: number;
  /** 29-bit (extended) identifier. */
  ext: boolean;
  /** CAN FD frame. */
  fd: boolean;
  /** CAN FD bit-rate switch. */
  brs: boolean;
  /** CAN FD error state indicator. */
  esi: boolean;
  /** Remote transmission request (classic CAN only). */
  rtr: boolean;
  /** Error frame (the id then carries the kernel's error class bits). */
  err: boolean;
  /** Payload: 0 to 8 bytes for classic CAN, a valid CAN FD length up to 64 for FD. */
  data: Uint8Array;
  /** Receive or send time, microseconds since the epoch. */
  ts: number;
  /** Bus (interface) name, such as `can0` or `vcan0`. */
  bus: string;
}

export const MAX_STD_ID = 0x7ff;
export const MAX_EXT_ID = 0x1fffffff;
export const CAN_MAX_DLEN = 8;
export const CANFD_MAX_DLEN = 64;

/** The data lengths a CAN FD frame can have (DLC 0..15). */
export const CANFD_LENGTHS: readonly number[] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64];

/** Smallest valid CAN FD length that holds `n` bytes. */
export function fdLengthFor(n: number): number {
  for (const len of CANFD_LENGTHS) if (len >= n) return len;
  throw new TcuError('CAN_FRAME_INVALID', `a CAN FD frame holds at most 64 bytes, not ${n}`);
}

/** Builds a frame with defaults for everything not given. */
export function makeFrame(partial: Partial<CanFrame> & Pick<CanFrame, 'id'>): CanFrame {
  const frame: CanFrame = {
    id: partial.id,
    ext: partial.ext ?? partial.id > MAX_STD_ID,
    fd: partial.fd ?? false,
    brs: partial.brs ?? false,
    esi: partial.esi ?? false,
    rtr: partial.rtr ?? false,
    err: partial.err ?? false,
    data: partial.data ?? new Uint8Array(0),
    ts: partial.ts ?? 0,
    bus: partial.bus ?? 'can0',
  };
  return frame;
}

/** Throws CAN_FRAME_INVALID when the frame could not exist on a bus. */
export function validateFrame(frame: CanFrame): void {
  const problem = frameProblem(frame);
  if (problem) throw new TcuError('CAN_FRAME_INVALID', problem, { details: { id: frame.id, bus: frame.bus } });
}

export function frameProblem(frame: CanFrame): string | undefined {
  const max = frame.ext ? MAX_EXT_ID : MAX_STD_ID;
  if (!Number.isInteger(frame.id) || frame.id < 0 || frame.id > max) {
    return `id ${frame.id} is outside 0..0x${max.toString(16)} for a ${frame.ext ? '29' : '11'}-bit frame`;
  }
  const len = frame.data.length;
  if (frame.fd) {
    if (frame.rtr) return 'CAN FD has no remote frames';
    if (!CANFD_LENGTHS.includes(len)) return `${len} bytes is not a valid CAN FD length`;
  } else if (len > CAN_MAX_DLEN) {
    return `a classic CAN frame carries at most 8 bytes, not ${len}`;
  }
  if ((frame.brs || frame.esi) && !frame.fd) return 'BRS and ESI flags exist only on CAN FD frames';
  return undefined;
}

/** `123` or `12345678`, as candump and socketcand print ids. */
export function formatId(id: number, ext: boolean): string {
  return id.toString(16).toUpperCase().padStart(ext ? 8 : 3, '0');
}

/** `HEX_BYTE[b]` is byte b as two upper-case hex digits: the one table every text encoder uses. */
export const HEX_BYTE: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).toUpperCase().padStart(2, '0'));

/** `DEADBEEF`: the bytes as one run of upper-case hex digits, as candump and socketcand write data. */
export function bytesToHex(data: Uint8Array): string {
  let out = '';
  for (let i = 0; i < data.length; i++) out += HEX_BYTE[data[i]!];
  return out;
}
