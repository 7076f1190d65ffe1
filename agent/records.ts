/**
 * Records: what collectors produce, the outbox keeps and the uplink sends. A record is committed
 * to the outbox before anything else happens to it; from then on delivery is at least once, and
 * the pair (boot, seq) identifies it so the cloud can drop duplicates.
 */

/** Higher sends first and is evicted last. */
export const PRIORITIES = { low: 0, normal: 1, high: 2, critical: 3 } as const;
export type PriorityName = keyof typeof PRIORITIES;
export type Priority = (typeof PRIORITIES)[PriorityName];

/**
 * `signals`: sampled signal values; `event`: something happened; `status`: an agent status
 * snapshot; `modem`: registration and signal; `location`: a GNSS fix. The uplink routes by kind.
 */
export type RecordKind = 'signals' | 'event' | 'status' | 'modem' | 'location';

/** What a collector hands to the outbox. */
export interface RecordInput {
  kind: RecordKind;
  /** Milliseconds since the epoch, when the content was observed. */
  ts: number;
  priority: Priority;
  /** The content: for `signals` `{ "Message.Signal": value, ... }`; for `event` `{ name, ...details }`. CBOR-encodable. */
  body: Record<string, unknown>;
}

/**
 * A record as committed: identified by the boot it was committed in and its sequence number
 * there. Its wire form is encoded once, at commit, so draining a backlog never re-encodes.
 */
export interface StoredRecord {
  /** Outbox row id: the handle for deleting it once acknowledged. */
  id: number;
  /** Boot id of the agent run that committed it. */
  boot: string;
  /** 1, 2, 3, ... within a boot, without gaps at commit time. */
  seq: number;
  kind: RecordKind;
  ts: number;
  priority: Priority;
  /** The record's CBOR map as it goes on the wire: `{seq, ts, kind, ...body}` (docs/PROTOCOL.md). */
  data: Uint8Array;
  /** `data.length`: what the byte cap counts. */
  bytes: number;
}
