/**
 * The telemetry payload: one CBOR map per publish,
 * `{ "v": 1, "vin": text, "boot": text, "records": [ <record map>, ... ] }` (docs/PROTOCOL.md).
 *
 * Each record's CBOR map was encoded once, at commit (`StoredRecord.data`). A payload is built by
 * writing the map header and the three small fields, a CBOR array header (major type 4 with the
 * count), and then copying the records' bytes one after another: no record is decoded or
 * re-encoded, so draining a backlog costs a memory copy per record.
 */
import { TcuError } from '../../core/errors.js';
import type { StoredRecord } from '../records.js';
import { channelOf, type Channel } from './topics.js';

export const PAYLOAD_VERSION = 1;
export const DEFAULT_MAX_PAYLOAD_BYTES = 131_072;

const MAJOR_UINT = 0;
const MAJOR_TEXT = 3;
const MAJOR_ARRAY = 4;
const MAJOR_MAP = 5;

/** Bytes of a CBOR head (major type and argument) for the unsigned argument `n`. */
export function cborHeadLength(n: number): number {
  if (n < 24) return 1;
  if (n < 0x100) return 2;
  if (n < 0x10000) return 3;
  if (n < 0x1_0000_0000) return 5;
  return 9;
}

/** Writes a CBOR head at `offset`; returns the offset after it. */
export function writeCborHead(out: Uint8Array, offset: number, major: number, n: number): number {
  const m = major << 5;
  if (n < 24) {
    out[offset] = m | n;
    return offset + 1;
  }
  if (n < 0x100) {
    out[offset] = m | 24;
    out[offset + 1] = n;
    return offset + 2;
  }
  if (n < 0x10000) {
    out[offset] = m | 25;
    out[offset + 1] = n >>> 8;
    out[offset + 2] = n & 0xff;
    return offset + 3;
  }
  if (n < 0x1_0000_0000) {
    out[offset] = m | 26;
    new DataView(out.buffer, out.byteOffset, out.byteLength).setUint32(offset + 1, n);
    return offset + 5;
  }
  out[offset] = m | 27;
  new DataView(out.buffer, out.byteOffset, out.byteLength).setBigUint64(offset + 1, BigInt(n));
  return offset + 9;
}

function textItem(text: string): Uint8Array {
  const utf8 = Buffer.from(text, 'utf8');
  const out = new Uint8Array(cborHeadLength(utf8.length) + utf8.length);
  out.set(utf8, writeCborHead(out, 0, MAJOR_TEXT, utf8.length));
  return out;
}

/**
 * Builds payloads for one vehicle. Keeps the encoded map prefix of the last boot it saw (a boot
 * changes once per agent run), so building a payload is one allocation and the copies.
 */
export class PayloadBuilder {
  private prefixBoot: string | undefined;
  private prefix: Uint8Array = new Uint8Array(0);

  constructor(readonly vin: string) {}

  /** Bytes of the map up to and excluding the records array's head. */
  prefixLength(boot: string): number {
    return this.prefixFor(boot).length;
  }

  /** Exact size of the payload carrying `count` records of `recordBytes` bytes in total. */
  payloadLength(boot: string, count: number, recordBytes: number): number {
    return this.prefixFor(boot).length + cborHeadLength(count) + recordBytes;
  }

  /** The payload for `records`, which must all be of one boot (UPLINK_INTERNAL otherwise: a bug). */
  build(boot: string, records: readonly StoredRecord[]): Buffer {
    const prefix = this.prefixFor(boot);
    let bytes = 0;
    for (const r of records) {
      if (r.boot !== boot) throw new TcuError('UPLINK_INTERNAL', `a payload mixes boots ${boot} and ${r.boot}`, { details: { boot, other: r.boot } });
      bytes += r.data.length;
    }
    const out = Buffer.allocUnsafe(prefix.length + cborHeadLength(records.length) + bytes);
    out.set(prefix, 0);
    let offset = writeCborHead(out, prefix.length, MAJOR_ARRAY, records.length);
    for (const r of records) {
      out.set(r.data, offset);
      offset += r.data.length;
    }
    return out;
  }

  private prefixFor(boot: string): Uint8Array {
    if (boot === this.prefixBoot) return this.prefix;
    const parts = [
      Uint8Array.of((MAJOR_MAP << 5) | 4),
      textItem('v'),
      Uint8Array.of((MAJOR_UINT << 5) | PAYLOAD_VERSION),
      textItem('vin'),
      textItem(this.vin),
      textItem('boot'),
      textItem(boot),
      textItem('records'),
    ];
    const prefix = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const p of parts) {
      prefix.set(p, offset);
      offset += p.length;
    }
    this.prefixBoot = boot;
    this.prefix = prefix;
    return prefix;
  }
}

/** Records that go out in one publish: one channel (topic), one boot. */
export interface PlannedPayload {
  channel: Channel;
  boot: string;
  records: StoredRecord[];
  /** Exact payload size in bytes. */
  bytes: number;
}

export interface PayloadPlan {
  /** In the order their first record came in the batch (so priority order is kept). */
  payloads: PlannedPayload[];
  /** Records that alone make a payload larger than the limit: never sendable. */
  oversize: StoredRecord[];
}

/**
 * Splits a batch from the outbox into payloads of at most `maxPayloadBytes` bytes and
 * `maxRecords` records each, grouped by channel and boot (the outbox returns one boot per batch;
 * the grouping does not rely on it).
 */
export function planPayloads(builder: PayloadBuilder, records: readonly StoredRecord[], maxPayloadBytes: number, maxRecords = Infinity): PayloadPlan {
  const payloads: PlannedPayload[] = [];
  const oversize: StoredRecord[] = [];
  const open = new Map<string, { payload: PlannedPayload; recordBytes: number }>();
  let last: { payload: PlannedPayload; recordBytes: number } | undefined;
  for (const r of records) {
    const size = r.data.length;
    if (builder.payloadLength(r.boot, 1, size) > maxPayloadBytes) {
      oversize.push(r);
      continue;
    }
    const channel = channelOf(r.kind);
    // Consecutive records mostly share channel and boot: no map lookup then.
    let current = last !== undefined && last.payload.channel === channel && last.payload.boot === r.boot ? last : open.get(`${channel}\u0000${r.boot}`);
    if (current !== undefined) {
      const n = current.payload.records.length;
      if (n >= maxRecords || builder.payloadLength(r.boot, n + 1, current.recordBytes + size) > maxPayloadBytes) current = undefined;
    }
    if (current === undefined) {
      current = { payload: { channel, boot: r.boot, records: [], bytes: 0 }, recordBytes: 0 };
      open.set(`${channel}\u0000${r.boot}`, current);
      payloads.push(current.payload);
    }
    current.payload.records.push(r);
    current.recordBytes += size;
    current.payload.bytes = builder.payloadLength(r.boot, current.payload.records.length, current.recordBytes);
    last = current;
  }
  return { payloads, oversize };
}
