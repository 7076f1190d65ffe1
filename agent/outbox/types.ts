import type { Priority, RecordInput, StoredRecord } from '../records.js';

export interface BatchOptions {
  maxRecords: number;
  maxBytes: number;
  exclude?: ReadonlySet<number>;
  /** Records below this priority are left where they are (the roaming policy). Default 0. */
  minPriority?: number;
}

export interface OutboxStats {
  /** Records waiting. */
  depth: number;
  /** Bytes of the records waiting (what the cap counts). */
  bytes: number;
  /** The database file's size on disk (main file and WAL). */
  fileBytes: number;
  /** Timestamp (ms) of the oldest record waiting (the first committed of any priority), or null when empty. */
  oldestTs: number | null;
  /** Records evicted since the outbox was created, per priority (0..3). */
  evicted: Record<Priority, number>;
  /** When the uplink last had a publish acknowledged (ms), or null. */
  lastUploadTs: number | null;
  /** Records acknowledged and deleted since the outbox was created. */
  delivered: number;
}

/**
 * The store-and-forward buffer. Everything is synchronous (better-sqlite3): a call returns once
 * its transaction is committed.
 */
export interface Outbox {
  /** Commits records in one transaction; assigns boot and seq. Evicts to honour the byte cap. */
  append(records: readonly RecordInput[]): StoredRecord[];
  /**
   * The next records to send, highest priority first, then oldest, all of one boot, skipping
   * `exclude` (ids already in flight) and priorities below `minPriority`; at most `maxRecords`
   * and about `maxBytes` of bodies.
   */
  nextBatch(options: BatchOptions): StoredRecord[];
  /** Deletes records the broker acknowledged, and notes the upload time. */
  acknowledge(ids: readonly number[], atMs: number): void;
  stats(): OutboxStats;
  /** Housekeeping: age limits, byte cap, WAL checkpoint. Returns how many records it evicted. */
  housekeeping(nowMs: number): number;
  close(): void;
}
