import fc from 'fast-check';
import { CANFD_LENGTHS, MAX_EXT_ID, MAX_STD_ID, makeFrame, type CanFrame } from '../../drivers/can/frame.js';

export type FrameKind = 'classic' | 'remote' | 'fd' | 'error';

export interface CanFrameArbOptions {
  /** Which kinds of frame to draw. Default: classic, remote and CAN FD (no error frames). */
  kinds?: readonly FrameKind[];
  /** Bus names. Default: always `vcan0`. */
  bus?: fc.Arbitrary<string>;
  /** Remote frames carry their DLC as data length 0..8 (default); false: always 0 bytes. */
  remoteLength?: boolean;
  /** The ESI flag is drawn at random on FD frames (default); false: never set. */
  esi?: boolean;
}

/**
 * Any valid CanFrame of the chosen kinds: 11- or 29-bit ids, classic payloads of 0..8 bytes, every
 * CAN FD length, error frames with a class of up to 29 bits, and a time of whole microseconds.
 */
export function canFrameArb(options: CanFrameArbOptions = {}): fc.Arbitrary<CanFrame> {
  const kinds = options.kinds ?? ['classic', 'remote', 'fd'];
  const remoteLength = options.remoteLength ?? true;
  const withEsi = options.esi ?? true;
  return fc
    .record({
      kind: fc.constantFrom(...kinds),
      ext: fc.boolean(),
      stdId: fc.integer({ min: 0, max: MAX_STD_ID }),
      extId: fc.integer({ min: 0, max: MAX_EXT_ID }),
      errClass: fc.integer({ min: 0, max: MAX_EXT_ID }),
      classic: fc.uint8Array({ maxLength: 8 }),
      fdLen: fc.constantFrom(...CANFD_LENGTHS),
      fdSeed: fc.uint8Array({ minLength: 64, maxLength: 64 }),
      brs: fc.boolean(),
      esi: fc.boolean(),
      dlc: fc.integer({ min: 0, max: 8 }),
      sec: fc.nat({ max: 2_000_000_000 }),
      micros: fc.nat({ max: 999_999 }),
      bus: options.bus ?? fc.constant('vcan0'),
    })
    .map((r) => {
      const id = r.ext ? r.extId : r.stdId;
      const ts = r.sec * 1_000_000 + r.micros;
      switch (r.kind) {
        case 'remote':
          return makeFrame({ id, ext: r.ext, rtr: true, data: new Uint8Array(remoteLength ? r.dlc : 0), ts, bus: r.bus });
        case 'fd':
          return makeFrame({ id, ext: r.ext, fd: true, brs: r.brs, esi: withEsi && r.esi, data: r.fdSeed.slice(0, r.fdLen), ts, bus: r.bus });
        case 'error':
          return makeFrame({ id: r.errClass, ext: r.errClass > MAX_STD_ID, err: true, data: r.classic, ts, bus: r.bus });
        default:
          return makeFrame({ id, ext: r.ext, data: r.classic, ts, bus: r.bus });
      }
    });
}
