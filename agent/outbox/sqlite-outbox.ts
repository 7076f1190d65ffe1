/**
 * The store-and-forward outbox on SQLite (better-sqlite3): the `Outbox` of `types.ts`.
 *
 * - `append` commits a whole batch in one transaction (the agent calls it every ~200 ms), giving
 *   each record the boot id and the next gapless seq of this boot, and its CBOR wire form, encoded
 *   once here. It evicts to honour the byte cap in the same transaction. On SQLITE_FULL (a full
 *   disk, a page quota) it evicts lower-priority records to make room and retries once; then it
 *   refuses the batch with OUTBOX_FULL. Nothing committed is lost or damaged either way.
 * - `nextBatch`: see `next-batch.ts`.
 * - Counters live in memory for `stats()` and in the `counters`/`meta` tables, updated in the
 *   same transactions, so they survive restarts and `readOutboxStats` reads them without a scan.
 */
import { statSync } from 'node:fs';
import type Database from 'better-sqlite3';
import type { Clock } from '../../core/clock.js';
import { TcuError, asTcuError } from '../../core/errors.js';
import { silentLogger, type Logger } from '../../core/logger.js';
import type { Priority, RecordInput, StoredRecord } from '../records.js';
import { deleteAcknowledged } from './acknowledge.js';
import { diskBudget, diskSpaceOf } from './disk.js';
import { createRecordEncoder, type RecordEncoder } from './encoding.js';
import { enforceBudget, evictAged, evictOldest, newTally, persistTally, planCap, tallySum, type CapPlan, type Tally, type Usage } from './eviction.js';
import { openDatabase, type OpenReport, type Synchronous } from './open-db.js';
import { MIGRATIONS, PRIORITY_LEVELS, type Migration } from './schema.js';
import { readBatch, type BatchOptions } from './next-batch.js';
import { prepareStatements, type Statements } from './statements.js';
import type { Outbox, OutboxStats } from './types.js';

export type { OpenReport, Synchronous } from './open-db.js';

export interface OutboxOptions {
  /** The database file; its folder must exist. */
  path: string;
  /** This agent run's id (a UUID): stamped on every record committed. */
  bootId: string;
  /** Cap on the file's footprint on disk (main file and WAL), in bytes. */
  maxBytes: number;
  /** SQLite `synchronous` (WAL mode). NORMAL (the default) survives a process crash and keeps
   * the file consistent through a power cut, which may take the last commits; FULL also keeps those. */
  synchronous?: Synchronous;
  /** Optional age limit per priority: housekeeping evicts records observed longer ago. */
  maxAgeSeconds?: Partial<Record<Priority, number>>;
  clock: Clock;
  logger?: Logger;
  /** Hard limit on database pages (SQLite `max_page_count`), as a disk quota imposes: writes past
   * it fail as on a full disk. Mostly for tests of a full disk. */
  pageLimit?: number;
  /** The schema migrations (tests add synthetic ones); the shipped ones by default. */
  migrations?: readonly Migration[];
}

const PAGE_PROBE_FALLBACK = 4096;

function sqliteCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function fileSize(path: string): number {
  return statSync(path, { throwIfNoEntry: false })?.size ?? 0;
}

class SqliteOutbox implements Outbox {
  private readonly stmts: Statements;
  private readonly encode: RecordEncoder;
  private readonly plan: CapPlan;
  private readonly pageSize: number;
  private readonly bootRef: number;
  private readonly boots = new Map<number, string>();
  private readonly depth: number[] = [0, 0, 0, 0];
  private readonly bytes: number[] = [0, 0, 0, 0];
  private readonly evicted: number[] = [0, 0, 0, 0];
  private delivered = 0;
  private lastUploadTs: number | null = null;
  private lastSeq = 0;
  private nextN = 1;
  private oldestTs: number | null = null;
  private oldestKnown = false;
  /** Pages in use when the disk last said full: a lower budget until the next housekeeping. */
  private fullAtBytes: number | undefined;
  private closed = false;
  private diskLow = false;
  private diskLowReported = false;
  private readonly appendTx: (batch: readonly StoredRecord[]) => Tally;

  constructor(
    private readonly db: Database.Database,
    private readonly options: OutboxOptions,
    private readonly logger: Logger,
  ) {
    this.stmts = prepareStatements(db);
    this.encode = createRecordEncoder();
    this.plan = planCap(options.maxBytes, diskSpaceOf(options.path)?.totalBytes);
    this.pageSize = Number(db.pragma('page_size', { simple: true })) || PAGE_PROBE_FALLBACK;
    this.bootRef = this.registerBoot(options.bootId);
    for (const row of db.prepare<[], { ref: number; boot: string }>('SELECT ref, boot FROM boots').iterate()) {
      this.boots.set(row.ref, row.boot);
    }
    for (const c of this.stmts.counters.all()) {
      this.depth[c.priority] = c.depth;
      this.bytes[c.priority] = c.bytes;
      this.evicted[c.priority] = c.evicted;
    }
    this.nextN = Number(this.stmts.getMeta.get('next_n') ?? 1);
    this.delivered = Number(this.stmts.getMeta.get('delivered') ?? 0);
    const last = this.stmts.getMeta.get('last_upload_ts');
    this.lastUploadTs = typeof last === 'number' ? last : null;
    this.appendTx = db.transaction((batch: readonly StoredRecord[]) => this.insertBatch(batch));
  }

  private registerBoot(bootId: string): number {
    const row = this.db.prepare<[string], { ref: number; last_seq: number }>('SELECT ref, last_seq FROM boots WHERE boot = ?').get(bootId);
    if (row) {
      this.lastSeq = row.last_seq;
      return row.ref;
    }
    return Number(this.db.prepare('INSERT INTO boots (boot, last_seq) VALUES (?, 0)').run(bootId).lastInsertRowid);
  }

  private ensureOpen(): void {
    if (this.closed) throw new TcuError('OUTBOX_CLOSED', `the outbox ${this.options.path} is closed`);
  }

  private usage(tally: Tally): Usage {
    return {
      usedBytes: () => (this.stmts.pageCount.get()! - this.stmts.freelistCount.get()!) * this.pageSize,
      recordBytes: () => tallySum(this.bytes) + tallySum(tally.bytes),
    };
  }

  /** The cap's budget, lowered by what the disk can take (disk.ts) and after a full disk. */
  private budget(): number {
    let b = this.plan.budgetBytes;
    if (this.fullAtBytes !== undefined) b = Math.min(b, this.fullAtBytes);
    const disk = diskBudget(this.options.path, this.plan.walReserveBytes);
    this.diskLow = disk !== undefined && disk < b;
    return disk === undefined ? b : Math.max(0, Math.min(b, disk));
  }

  /** Logged once each time the disk starts limiting evictions (not on every append). */
  private noteDiskLow(evicted: number): void {
    if (evicted > 0 && this.diskLow && !this.diskLowReported) {
      this.diskLowReported = true;
      this.logger.warn({ code: 'OUTBOX_DISK_LOW', path: this.options.path, capBytes: this.plan.capBytes, evicted }, 'the disk is fuller than the outbox cap allows: evicting early to keep room for the WAL');
    } else if (!this.diskLow) {
      this.diskLowReported = false;
    }
  }

  /** How far below the budget an eviction goes: a chunk, small beside a budget a full disk lowered. */
  private slack(budget: number): number {
    return Math.min(this.plan.slackBytes, Math.ceil(budget / 50));
  }

  private applyTally(tally: Tally): void {
    for (const p of PRIORITY_LEVELS) {
      this.depth[p]! += tally.depth[p]!;
      this.bytes[p]! += tally.bytes[p]!;
      this.evicted[p]! += tally.evicted[p]!;
    }
    if (tally.depth.some((d) => d < 0)) this.oldestKnown = false;
  }

  /** Runs inside the append transaction. */
  private insertBatch(batch: readonly StoredRecord[]): Tally {
    const tally = newTally();
    for (const r of batch) {
      this.stmts.tables[r.priority]!.insert.run(r.id, this.bootRef, r.seq, r.kind, r.ts, r.data);
      tally.depth[r.priority]! += 1;
      tally.bytes[r.priority]! += r.bytes;
    }
    const budget = this.budget();
    // The byte cap evicts any priority, lowest first; room the disk lacks is never made by evicting
    // records more important than the ones arriving.
    const maxPriority = this.diskLow ? batch.reduce<Priority>((m, r) => (r.priority > m ? r.priority : m), 0) : 3;
    enforceBudget(this.stmts, this.usage(tally), budget, this.slack(budget), tally, maxPriority);
    persistTally(this.stmts, tally);
    const last = batch[batch.length - 1]!;
    this.stmts.setBootSeq.run(last.seq, this.bootRef);
    this.stmts.setMeta.run('next_n', this.nextN + batch.length);
    return tally;
  }

  append(records: readonly RecordInput[]): StoredRecord[] {
    this.ensureOpen();
    if (records.length === 0) return [];
    const boot = this.options.bootId;
    const batch = records.map((r, i): StoredRecord => {
      const seq = this.lastSeq + 1 + i;
      const data = this.encode(seq, r, i);
      return { id: (this.nextN + i) * 4 + r.priority, boot, seq, kind: r.kind, ts: r.ts, priority: r.priority, data, bytes: data.length };
    });
    let tally: Tally;
    try {
      tally = this.appendTx(batch);
    } catch (err) {
      if (sqliteCode(err) !== 'SQLITE_FULL') throw asTcuError(err, 'OUTBOX_WRITE', `cannot commit ${records.length} records`);
      tally = this.retryWhenFull(batch);
    }
    this.applyTally(tally);
    this.noteDiskLow(tallySum(tally.evicted));
    this.lastSeq += batch.length;
    this.nextN += batch.length;
    if (this.oldestKnown) {
      for (const r of batch) if (this.oldestTs === null || r.ts < this.oldestTs) this.oldestTs = r.ts;
    }
    return batch;
  }

  /** SQLITE_FULL: evict records no more important than the batch's best, then try once more. */
  private retryWhenFull(batch: readonly StoredRecord[]): Tally {
    const refuse = (cause: unknown, freed: number): TcuError =>
      new TcuError('OUTBOX_FULL', `the outbox is full: ${batch.length} records refused`, {
        cause,
        details: { refused: batch.length, freedBytes: freed, path: this.options.path },
      });
    const maxPriority = batch.reduce<Priority>((m, r) => (r.priority > m ? r.priority : m), 0);
    const incoming = batch.reduce((s, r) => s + r.bytes, 0);
    const eligible = this.bytes.reduce((s, b, p) => (p <= maxPriority ? s + b : s), 0);
    // Evicting cannot make room for more than there is to evict: refuse without evicting.
    if (eligible < incoming) throw refuse(undefined, 0);
    let freed = 0;
    try {
      const pre = newTally();
      const usage = this.usage(pre);
      const used = usage.usedBytes();
      const ratio = Math.max(1, used / Math.max(1, usage.recordBytes()));
      this.db.transaction(() => {
        freed = evictOldest(this.stmts, Math.ceil(incoming * ratio) + Math.min(this.plan.slackBytes, Math.ceil(used / 50)), maxPriority, pre);
        persistTally(this.stmts, pre);
      })();
      this.applyTally(pre);
      this.fullAtBytes = used;
      this.logger.warn({ code: 'OUTBOX_FULL', usedBytes: used, evicted: -tallySum(pre.depth) }, 'the disk is full: evicted to make room');
    } catch (err) {
      throw refuse(err, freed);
    }
    if (freed === 0) throw refuse(undefined, 0);
    try {
      return this.appendTx(batch);
    } catch (err) {
      if (sqliteCode(err) === 'SQLITE_FULL') throw refuse(err, freed);
      throw asTcuError(err, 'OUTBOX_WRITE', `cannot commit ${batch.length} records`);
    }
  }

  nextBatch(options: BatchOptions): StoredRecord[] {
    this.ensureOpen();
    try {
      return readBatch(this.stmts, this.boots, this.depth, options);
    } catch (err) {
      throw asTcuError(err, 'OUTBOX_IO', 'cannot read the next batch');
    }
  }

  acknowledge(ids: readonly number[], atMs: number): void {
    this.ensureOpen();
    if (ids.length === 0) return;
    const tally = newTally();
    let deleted = 0;
    try {
      this.db.transaction(() => {
        deleted = deleteAcknowledged(this.db, this.stmts.tables, ids, tally);
        persistTally(this.stmts, tally);
        if (deleted > 0) this.stmts.setMeta.run('delivered', this.delivered + deleted);
        this.stmts.setMeta.run('last_upload_ts', atMs);
      })();
    } catch (err) {
      throw asTcuError(err, 'OUTBOX_IO', `cannot delete ${ids.length} acknowledged records`);
    }
    this.applyTally(tally);
    this.delivered += deleted;
    this.lastUploadTs = atMs;
  }

  private oldest(): number | null {
    if (!this.oldestKnown) {
      let min: number | null = null;
      for (const p of PRIORITY_LEVELS) {
        if (this.depth[p] === 0) continue;
        const ts = this.stmts.tables[p]!.firstTs.get();
        if (ts !== undefined && (min === null || ts < min)) min = ts;
      }
      this.oldestTs = min;
      this.oldestKnown = true;
    }
    return this.oldestTs;
  }

  stats(): OutboxStats {
    this.ensureOpen();
    const path = this.options.path;
    return {
      depth: tallySum(this.depth),
      bytes: tallySum(this.bytes),
      fileBytes: fileSize(path) + fileSize(`${path}-wal`),
      oldestTs: this.oldest(),
      evicted: { 0: this.evicted[0]!, 1: this.evicted[1]!, 2: this.evicted[2]!, 3: this.evicted[3]! },
      lastUploadTs: this.lastUploadTs,
      delivered: this.delivered,
    };
  }

  housekeeping(nowMs: number): number {
    this.ensureOpen();
    const tally = newTally();
    try {
      this.fullAtBytes = undefined;
      this.db.transaction(() => {
        const ages = this.options.maxAgeSeconds ?? {};
        for (const p of PRIORITY_LEVELS) {
          const seconds = ages[p];
          if (seconds !== undefined && Number.isFinite(seconds) && seconds >= 0) evictAged(this.stmts, p, nowMs - seconds * 1000, tally);
        }
        const budget = this.budget(); // reads the file system once (statfs)
        enforceBudget(this.stmts, this.usage(tally), budget, this.slack(budget), tally);
        persistTally(this.stmts, tally);
        if (tallySum(this.depth) + tallySum(tally.depth) === 0) {
          this.db.prepare('DELETE FROM boots WHERE ref <> ?').run(this.bootRef);
        }
      })();
    } catch (err) {
      throw asTcuError(err, 'OUTBOX_IO', 'housekeeping could not evict');
    }
    this.applyTally(tally);
    const evicted = tallySum(tally.evicted);
    this.noteDiskLow(evicted);
    try {
      if (this.diskLow) {
        // The disk is short of room: keep what the outbox holds. Free pages stay in the file and the
        // WAL keeps its size (up to journal_size_limit), so the next deletes and checkpoints have
        // room even if something else fills the disk meanwhile.
        this.db.pragma('wal_checkpoint(RESTART)');
      } else {
        // Hands free pages back to the file system, then truncates the WAL (the file shrinks here).
        this.db.exec('PRAGMA incremental_vacuum');
        this.db.pragma('wal_checkpoint(TRUNCATE)');
      }
    } catch (err) {
      throw asTcuError(err, 'OUTBOX_IO', 'housekeeping could not vacuum or checkpoint');
    }
    if (evicted > 0) this.logger.info({ evicted, perPriority: tally.evicted }, 'outbox housekeeping evicted records');
    return evicted;
  }

  /** Checkpoints (the WAL is folded into the file and truncated) and closes. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    let failure: unknown;
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch (err) {
      failure = err;
    }
    this.db.close();
    // Committed records are safe in the WAL either way; the next open folds them in.
    if (failure !== undefined) throw asTcuError(failure, 'OUTBOX_IO', 'the final checkpoint failed');
  }
}

/**
 * Opens the outbox at `options.path`: creates it, migrates it, or, when the file is corrupt or
 * unreadable, moves it aside and starts a fresh one. Throws only OUTBOX_OPEN (a folder that is
 * missing or not writable, a file locked by another process).
 */
export function openOutbox(options: OutboxOptions): { outbox: Outbox; report: OpenReport } {
  const logger = options.logger ?? silentLogger();
  if (!(options.maxBytes > 0)) throw new TcuError('OUTBOX_OPEN', `maxBytes must be positive (got ${options.maxBytes})`);
  const plan = planCap(options.maxBytes, diskSpaceOf(options.path)?.totalBytes);
  const opened = openDatabase({
    path: options.path,
    synchronous: options.synchronous ?? 'NORMAL',
    walAutocheckpointPages: Math.max(16, Math.floor(plan.walReserveBytes / 2 / PAGE_PROBE_FALLBACK)),
    walSizeLimitBytes: plan.walReserveBytes,
    ...(options.pageLimit === undefined ? {} : { pageLimit: options.pageLimit }),
    migrations: options.migrations ?? MIGRATIONS,
    clock: options.clock,
    logger,
  });
  let outbox: SqliteOutbox;
  try {
    outbox = new SqliteOutbox(opened.db, options, logger);
  } catch (err) {
    opened.db.close();
    throw asTcuError(err, 'OUTBOX_OPEN', `cannot load the outbox ${options.path}`);
  }
  const base = { path: options.path, schemaVersion: opened.schemaVersion, depth: outbox.stats().depth, checkMs: opened.checkMs };
  const report: OpenReport = opened.corrupt
    ? { ...base, outcome: 'corrupt', corrupt: opened.corrupt }
    : opened.outcome === 'migrated'
      ? { ...base, outcome: 'migrated', fromVersion: opened.fromVersion }
      : { ...base, outcome: opened.outcome };
  logger.info({ ...report }, `outbox ${report.outcome}`);
  return { outbox, report };
}
