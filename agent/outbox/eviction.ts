/**
 * The byte cap and the age limits: what to evict, in which order, and how much.
 *
 * The cap bounds the file on disk (main file and WAL). A reserve of it is kept for the WAL (the
 * automatic checkpoint and `journal_size_limit` are sized from it); the rest, the budget, bounds
 * the pages in use, measured exactly with `page_count - freelist_count` inside the transaction.
 * When an append pushes the pages in use over the budget, the oldest records of the lowest
 * priority go first, then the next priority, until the pages in use are a slack below the budget,
 * so the next appends reuse the freed pages without evicting again (eviction in chunks).
 * `housekeeping` then returns the free pages to the file system (`incremental_vacuum`) and
 * truncates the WAL, leaving the file under the cap.
 */
import type { Priority } from '../records.js';
import { PRIORITY_LEVELS } from './schema.js';
import type { Statements } from './statements.js';

/** Changes to the counters made by one transaction, applied to memory once it commits. */
export interface Tally {
  depth: number[];
  bytes: number[];
  evicted: number[];
}

export function newTally(): Tally {
  return { depth: [0, 0, 0, 0], bytes: [0, 0, 0, 0], evicted: [0, 0, 0, 0] };
}

export function tallySum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** Writes a tally to the persisted counters (inside the same transaction as the rows). */
export function persistTally(stmts: Statements, tally: Tally): void {
  for (const p of PRIORITY_LEVELS) {
    const d = tally.depth[p] ?? 0;
    const b = tally.bytes[p] ?? 0;
    const e = tally.evicted[p] ?? 0;
    if (d !== 0 || b !== 0 || e !== 0) stmts.addCounters.run(d, b, e, p);
  }
}

export interface CapPlan {
  capBytes: number;
  /** Room left for the WAL between checkpoints. */
  walReserveBytes: number;
  /** Bound on the database pages in use. */
  budgetBytes: number;
  /** How far below the budget an eviction goes. */
  slackBytes: number;
}

const KIB = 1024;
const MIB = 1024 * KIB;

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

/**
 * `diskBytes`: the size of the file system under the outbox, when known. A disk smaller than the
 * cap bounds the WAL's reserve too (an eighth of the disk at most), or the reserve alone could
 * not fit.
 */
export function planCap(capBytes: number, diskBytes?: number): CapPlan {
  const walReserveBytes = Math.round(clamp(Math.min(capBytes * 0.03, diskBytes === undefined ? Infinity : diskBytes / 8), 64 * KIB, 16 * MIB));
  const budgetBytes = Math.max(capBytes - walReserveBytes, Math.round(capBytes / 2));
  const slackBytes = Math.round(clamp(capBytes * 0.01, 16 * KIB, 4 * MIB));
  return { capBytes, walReserveBytes, budgetBytes, slackBytes };
}

/** Rows read per step when walking the oldest records. */
const CHUNK_ROWS = 512;

/**
 * Deletes the oldest records of the lowest priorities (not above `maxPriority`) until at least
 * `want` bytes of records are gone. Each step deletes a prefix of one table with one statement.
 * Returns the record bytes freed.
 */
export function evictOldest(stmts: Statements, want: number, maxPriority: Priority, tally: Tally): number {
  let freed = 0;
  for (const p of PRIORITY_LEVELS) {
    if (p > maxPriority || freed >= want) break;
    const table = stmts.tables[p]!;
    while (freed < want) {
      let lastId = -1;
      let n = 0;
      let b = 0;
      for (const [id, bytes] of table.oldest.iterate(CHUNK_ROWS)) {
        lastId = id;
        n++;
        b += bytes;
        if (freed + b >= want) break;
      }
      if (n === 0) break;
      table.deleteThrough.run(lastId);
      tally.depth[p]! -= n;
      tally.bytes[p]! -= b;
      tally.evicted[p]! += n;
      freed += b;
    }
  }
  return freed;
}

export interface Usage {
  /** Pages in use, in bytes, as this transaction sees them. */
  usedBytes(): number;
  /** Record bytes waiting, as this transaction sees them. */
  recordBytes(): number;
}

/**
 * Evicts until the pages in use are at most `budget` (down to `budget - slack` once it starts).
 * Pages in use shrink roughly in proportion to the record bytes deleted, so the amount to delete
 * is estimated from the current ratio and measured again; a few rounds at most.
 */
export function enforceBudget(stmts: Statements, usage: Usage, budget: number, slack: number, tally: Tally, maxPriority: Priority = 3): number {
  let used = usage.usedBytes();
  let freedTotal = 0;
  for (let round = 0; round < 16 && used > budget; round++) {
    const records = usage.recordBytes();
    if (records <= 0) break;
    // used/records overestimates the marginal ratio (fixed pages count too): errs on evicting less.
    const ratio = Math.max(1, used / records);
    const want = Math.ceil((used - (budget - slack)) / ratio);
    const freed = evictOldest(stmts, want, maxPriority, tally);
    if (freed === 0) break;
    freedTotal += freed;
    used = usage.usedBytes();
  }
  return freedTotal;
}

/**
 * Deletes the records of priority `p` observed before `cutoffMs`, walking the table in commit
 * order and stopping at the first record that is not that old. Records are committed in the order
 * they were observed, so this is every record past the limit; after the board's clock jumped back,
 * a record stamped before a younger one waits until the records committed before it are gone
 * (there is no index on `ts`: keeping one costs every insert and delete, and a shuffled `ts`
 * makes each delete touch scattered index pages). Returns how many were deleted.
 */
export function evictAged(stmts: Statements, p: Priority, cutoffMs: number, tally: Tally): number {
  const table = stmts.tables[p]!;
  let evicted = 0;
  for (;;) {
    let lastId: number | undefined;
    let n = 0;
    let b = 0;
    let reachedYounger = false;
    for (const [id, bytes, ts] of table.oldestWithTs.iterate(CHUNK_ROWS)) {
      if (!(ts < cutoffMs)) {
        reachedYounger = true;
        break;
      }
      lastId = id;
      n++;
      b += bytes;
    }
    if (lastId === undefined) return evicted;
    table.deleteThrough.run(lastId);
    tally.depth[p]! -= n;
    tally.bytes[p]! -= b;
    tally.evicted[p]! += n;
    evicted += n;
    if (reachedYounger || n < CHUNK_ROWS) return evicted;
  }
}
