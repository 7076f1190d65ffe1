/**
 * CBOR as the uplink writes and reads it: plain maps with definite, minimal lengths, no cbor-x
 * record extension, untagged byte strings, and millisecond timestamps as CBOR integers (cbor-x
 * would write a number above 32 bits as a float64), the same rules the outbox applies to records.
 */
import { Decoder, Encoder, type Options } from 'cbor-x';

/** One per user: cbor-x encoders keep a buffer between calls. */
export function createWireEncoder(): Encoder {
  return new Encoder({ useRecords: false, mapsAsObjects: true, variableMapSize: true, tagUint8Array: false });
}

/** Maps read as objects (keys as text); integers of 64 bits as numbers, so ids validate as integers. */
export function createWireDecoder(): Decoder {
  return new Decoder({ useRecords: false, mapsAsObjects: true, int64AsNumber: true } as Options & { int64AsNumber: boolean });
}

/** A whole number beyond 32 bits (a millisecond timestamp) as a CBOR integer. */
export function wireInt(n: number): number | bigint {
  return Number.isSafeInteger(n) && (n > 0xffffffff || n < -0x100000000) ? BigInt(n) : n;
}
