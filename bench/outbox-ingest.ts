// Outbox throughput: records/s committed in append batches of 1000 signal records (~20 values
// each) at synchronous NORMAL and FULL; the in-run baseline, one transaction per record, as a
// ratio; the drain rate (nextBatch + acknowledge, with a window of batches in flight) over a
// 200,000-record backlog; and how long nextBatch takes over a 1,000,000-record backlog.
// Files go under os.tmpdir() and are removed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openOutbox, type Outbox, type Synchronous } from '../agent/outbox/index.js';
import type { Priority, RecordInput } from '../agent/records.js';
import { systemClock } from '../core/clock.js';
import { prng } from './lib-traffic.js';

type Emit = (name: string, value: number, unit: string) => void;

const BATCH = 1000;
const MEASURE_MS = 2000;
const BACKLOG = 200_000;
const BIG_BACKLOG = 1_000_000;

function records(count: number, values: number, seed: number): RecordInput[] {
  const random = prng(seed);
  return Array.from({ length: count }, (_, i) => {
    const body: Record<string, unknown> = {};
    for (let k = 0; k < values; k++) body[`Msg${k % 5}.Signal${k}`] = k % 3 === 0 ? Math.floor(random() * 256) : Math.round(random() * 10_000) / 10;
    const x = random();
    const priority: Priority = x < 0.4 ? 0 : x < 0.7 ? 1 : x < 0.9 ? 2 : 3;
    return { kind: 'signals', ts: 1_700_000_000_000 + i * 10, priority, body };
  });
}

function withOutbox<T>(dir: string, name: string, synchronous: Synchronous, fn: (outbox: Outbox) => T): T {
  const { outbox } = openOutbox({ path: join(dir, name), bootId: name, maxBytes: 4 * 1024 ** 3, synchronous, clock: systemClock() });
  try {
    return fn(outbox);
  } finally {
    outbox.close();
  }
}

/** Appends `perAppend` records at a time for MEASURE_MS; records committed per second. */
function ingestRate(outbox: Outbox, pool: readonly RecordInput[], perAppend: number): number {
  let committed = 0;
  let at = 0;
  const start = performance.now();
  let now = start;
  while (now - start < MEASURE_MS) {
    if (at + perAppend > pool.length) at = 0;
    committed += outbox.append(pool.slice(at, at + perAppend)).length;
    at += perAppend;
    now = performance.now();
  }
  return (committed * 1000) / (now - start);
}

function fill(outbox: Outbox, total: number, pool: readonly RecordInput[]): void {
  for (let n = 0; n < total; n += BATCH) outbox.append(pool.slice(n % pool.length, (n % pool.length) + BATCH));
}

/** Drains like the uplink: up to `window` batches in flight, the oldest acknowledged first. */
function drainRate(outbox: Outbox): number {
  const inFlight = new Set<number>();
  const batches: number[][] = [];
  let drained = 0;
  const start = performance.now();
  for (;;) {
    const batch = outbox.nextBatch({ maxRecords: 500, maxBytes: 256 * 1024, exclude: inFlight });
    if (batch.length > 0) {
      const ids = batch.map((r) => r.id);
      for (const id of ids) inFlight.add(id);
      batches.push(ids);
    }
    if (batches.length >= 4 || (batch.length === 0 && batches.length > 0)) {
      const acked = batches.shift()!;
      outbox.acknowledge(acked, Date.now());
      for (const id of acked) inFlight.delete(id);
      drained += acked.length;
    } else if (batch.length === 0) {
      break;
    }
  }
  return (drained * 1000) / (performance.now() - start);
}

export async function run(emit: Emit): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tcu-bench-outbox-'));
  try {
    const pool = records(20 * BATCH, 20, 1);
    const normal = withOutbox(dir, 'normal.db', 'NORMAL', (o) => ingestRate(o, pool, BATCH));
    const full = withOutbox(dir, 'full.db', 'FULL', (o) => ingestRate(o, pool, BATCH));
    const perRecord = withOutbox(dir, 'per-record.db', 'NORMAL', (o) => ingestRate(o, pool, 1));
    emit('outbox.ingest.batch1000.normal', normal, 'records/s');
    emit('outbox.ingest.batch1000.full', full, 'records/s');
    emit('outbox.ingest.per_record.normal', perRecord, 'records/s');
    emit('outbox.ingest.batched_vs_per_record', normal / perRecord, 'ratio');

    const drain = withOutbox(dir, 'drain.db', 'NORMAL', (o) => {
      fill(o, BACKLOG, pool);
      return drainRate(o);
    });
    emit('outbox.drain.200k_backlog', drain, 'records/s');

    // A million small records (5 values): nextBatch must not slow down with the backlog.
    const small = records(20 * BATCH, 5, 2);
    const medianMs = (times: number[]): number => times.sort((a, b) => a - b)[times.length >> 1]!;
    const [idle, busy] = withOutbox(dir, 'big.db', 'OFF', (o) => {
      fill(o, BIG_BACKLOG, small);
      const inFlight = new Set<number>();
      const alone: number[] = [];
      const behind: number[] = [];
      for (let k = 0; k < 20; k++) {
        const t0 = performance.now();
        o.nextBatch({ maxRecords: 500, maxBytes: 256 * 1024 });
        alone.push(performance.now() - t0);
      }
      for (let k = 0; k < 20; k++) {
        for (const r of o.nextBatch({ maxRecords: 500, maxBytes: 256 * 1024, exclude: inFlight })) inFlight.add(r.id);
      }
      for (let k = 0; k < 20; k++) {
        const t0 = performance.now();
        const batch = o.nextBatch({ maxRecords: 500, maxBytes: 256 * 1024, exclude: inFlight });
        behind.push(performance.now() - t0);
        for (const r of batch) inFlight.add(r.id);
      }
      return [medianMs(alone), medianMs(behind)];
    });
    emit('outbox.next_batch.1m_backlog', idle!, 'ms');
    emit('outbox.next_batch.1m_backlog.15k_in_flight', busy!, 'ms');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
