/**
 * The audit log (UN R156: a record of every update step): append-only and hash-chained, in the OTA
 * state store. Each row stores `hash = sha256(prev_hash || canonical JSON of {seq, at, campaign,
 * event, details})` (hex; prev_hash of the first row is 64 zeros), and a one-row `audit_head` holds
 * the last seq and hash, written in the same transaction. `verify()` walks the chain: an altered row
 * breaks its hash, a deleted row breaks the seq run and the next link, an inserted row breaks a link
 * or the head. Someone able to rewrite the whole file can recompute the chain; reporting the head
 * hash to the cloud with every campaign report (it does: `ReportDetails.auditHead`) anchors it.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import { inTransaction, type OtaDatabase } from './db.js';

export const GENESIS_HASH = '0'.repeat(64);

/** JSON with object keys sorted and no white space (undefined members left out), for hashing. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const o = value as Record<string, unknown>;
  const members = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`);
  return `{${members.join(',')}}`;
}

export interface AuditEntry {
  seq: number;
  /** Milliseconds since the epoch, from the injected clock. */
  at: number;
  campaign: string | null;
  event: string;
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export type AuditVerification =
  | { ok: true; rows: number; head: string }
  | { ok: false; rows: number; seq: number | null; reason: string };

interface Row {
  seq: number;
  at: number;
  campaign: string | null;
  event: string;
  details: string;
  prev_hash: string;
  hash: string;
}

function chainHash(prevHash: string, content: { seq: number; at: number; campaign: string | null; event: string; details: unknown }): string {
  return createHash('sha256').update(prevHash).update(canonicalJson(content)).digest('hex');
}

function parseDetails(text: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

export class AuditLog {
  constructor(
    private readonly db: OtaDatabase,
    private readonly clock: Clock,
  ) {}

  /** Appends one step; inside a caller's transaction it joins it. */
  append(event: string, details: Record<string, unknown> = {}, campaign: string | null = null): AuditEntry {
    return inTransaction(this.db, () => {
      const head = this.head();
      const seq = head.seq + 1;
      const at = this.clock.now();
      const text = canonicalJson(details);
      const parsed = JSON.parse(text) as Record<string, unknown>;
      const hash = chainHash(head.hash, { seq, at, campaign, event, details: parsed });
      this.db
        .prepare('INSERT INTO audit (seq, at, campaign, event, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(seq, at, campaign, event, text, head.hash, hash);
      this.db.prepare('INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash').run(seq, hash);
      return { seq, at, campaign, event, details: parsed, prevHash: head.hash, hash };
    });
  }

  /** The last seq and hash (0 and the genesis hash when empty). */
  head(): { seq: number; hash: string } {
    const row = this.db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM audit_head WHERE id = 1').get();
    return row ?? { seq: 0, hash: GENESIS_HASH };
  }

  /** Entries in order, optionally of one campaign and from a seq on. */
  entries(options: { campaign?: string; fromSeq?: number } = {}): AuditEntry[] {
    const rows = this.db
      .prepare<[number], Row>('SELECT seq, at, campaign, event, details, prev_hash, hash FROM audit WHERE seq >= ? ORDER BY seq')
      .all(options.fromSeq ?? 0);
    return rows
      .filter((r) => options.campaign === undefined || r.campaign === options.campaign)
      .map((r) => ({ seq: r.seq, at: r.at, campaign: r.campaign, event: r.event, details: parseDetails(r.details) ?? {}, prevHash: r.prev_hash, hash: r.hash }));
  }

  /** Walks the whole chain and the head. */
  verify(): AuditVerification {
    const rows = this.db.prepare<[], Row>('SELECT seq, at, campaign, event, details, prev_hash, hash FROM audit ORDER BY seq').all();
    let prev = GENESIS_HASH;
    let expected = 1;
    for (const r of rows) {
      const fail = (reason: string): AuditVerification => ({ ok: false, rows: rows.length, seq: r.seq, reason });
      if (r.seq !== expected) return fail(r.seq > expected ? `row ${expected} is missing` : `row ${r.seq} is out of sequence`);
      if (r.prev_hash !== prev) return fail(`row ${r.seq} does not link to the row before it`);
      const details = parseDetails(r.details);
      if (details === null) return fail(`row ${r.seq} has details that are not a JSON object`);
      if (chainHash(prev, { seq: r.seq, at: r.at, campaign: r.campaign, event: r.event, details }) !== r.hash) return fail(`row ${r.seq} was altered (its hash does not match)`);
      prev = r.hash;
      expected++;
    }
    const head = this.head();
    if (head.seq !== rows.length || head.hash !== prev) {
      return { ok: false, rows: rows.length, seq: null, reason: `the head (row ${head.seq}) does not match the last row (${rows.length}): rows removed at the end or added past it` };
    }
    return { ok: true, rows: rows.length, head: prev };
  }
}
