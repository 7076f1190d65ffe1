/**
 * An in-memory Outbox for the uplink's tests (a fake: the real one is SQLite, agent/outbox/).
 * Records are encoded as the real outbox does at commit: the CBOR map `{seq, ts, kind, ...body}`.
 */
import { Encoder } from 'cbor-x';
import type { BatchOptions, Outbox, OutboxStats } from '../../../agent/outbox/types.js';
import type { Priority, RecordInput, StoredRecord } from '../../../agent/records.js';

export class FakeOutbox implements Outbox {
  private readonly encoder = new Encoder({ useRecords: false });
  private readonly rows = new Map<number, StoredRecord>();
  private nextId = 1;
  private seq = 0;
  private delivered = 0;
  private lastUploadTs: number | null = null;
  /** Every id acknowledged, in order (duplicates show up twice). */
  readonly acknowledgedIds: number[] = [];
  nextBatchCalls = 0;
  /** Set to make the next calls throw, as a failing disk would. */
  failNextBatch = false;
  /** Set to make acknowledge throw (a full disk that cannot take the deletes). */
  failAcknowledge = false;

  constructor(public boot = 'boot-1') {}

  append(records: readonly RecordInput[]): StoredRecord[] {
    return records.map((r) => {
      const seq = ++this.seq;
      const data = new Uint8Array(this.encoder.encode({ seq, ts: r.ts, kind: r.kind, ...r.body }));
      const stored: StoredRecord = { id: this.nextId++, boot: this.boot, seq, kind: r.kind, ts: r.ts, priority: r.priority, data, bytes: data.length };
      this.rows.set(stored.id, stored);
      return stored;
    });
  }

  /** Stores a record as given (for oversize and mixed-boot cases). */
  put(record: Omit<StoredRecord, 'id'>): StoredRecord {
    const stored = { ...record, id: this.nextId++ };
    this.rows.set(stored.id, stored);
    return stored;
  }

  /** Starts a new boot: seq restarts at 1, as after an agent restart. */
  newBoot(boot: string): void {
    this.boot = boot;
    this.seq = 0;
  }

  nextBatch(options: BatchOptions): StoredRecord[] {
    this.nextBatchCalls++;
    if (this.failNextBatch) throw new Error('disk I/O error');
    const eligible = [...this.rows.values()]
      .filter((r) => !options.exclude?.has(r.id) && r.priority >= (options.minPriority ?? 0))
      .sort((a, b) => b.priority - a.priority || a.id - b.id);
    const boot = eligible[0]?.boot;
    const out: StoredRecord[] = [];
    let bytes = 0;
    for (const r of eligible) {
      if (r.boot !== boot) continue;
      if (out.length >= options.maxRecords || (out.length > 0 && bytes + r.bytes > options.maxBytes)) break;
      out.push(r);
      bytes += r.bytes;
    }
    return out;
  }

  acknowledge(ids: readonly number[], atMs: number): void {
    if (this.failAcknowledge) throw new Error('database or disk is full');
    for (const id of ids) {
      this.acknowledgedIds.push(id);
      if (this.rows.delete(id)) this.delivered++;
    }
    this.lastUploadTs = atMs;
  }

  stats(): OutboxStats {
    const rows = [...this.rows.values()];
    return {
      depth: rows.length,
      bytes: rows.reduce((n, r) => n + r.bytes, 0),
      fileBytes: 0,
      oldestTs: rows.reduce<number | null>((m, r) => (m === null || r.ts < m ? r.ts : m), null),
      evicted: { 0: 0, 1: 0, 2: 0, 3: 0 } as Record<Priority, number>,
      lastUploadTs: this.lastUploadTs,
      delivered: this.delivered,
    };
  }

  housekeeping(): number {
    return 0;
  }

  close(): void {
    this.rows.clear();
  }
}
