/**
 * Crash safety of the outbox: a real child process appends, acknowledges and keeps house in a
 * loop and is killed with SIGKILL at random moments, 20 times, on the same file. After each kill
 * the file must be intact, every batch the child reported committed must be there (except records
 * it had started to acknowledge), seqs gapless within each boot, and the counters true.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openOutbox } from '../../agent/outbox/index.js';
import { systemClock } from '../../core/clock.js';
import { integrityCheck, prng, tempDir } from '../helpers/outbox-records.js';

const WRITER = join(dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'outbox-writer.ts');
const RUNS = 20;

interface RunResult {
  /** Highest seq the child reported committed (0 if none). */
  committed: number;
  /** seqs per boot it started to acknowledge. */
  acking: Map<string, Set<number>>;
  opened: string | undefined;
  stderr: string;
}

/** Runs the writer until it has committed at least one batch, then `delayMs` more, then SIGKILL. */
function runAndKill(path: string, bootId: string, synchronous: string, seed: number, delayMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, path, bootId, synchronous, String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const result: RunResult = { committed: 0, acking: new Map(), opened: undefined, stderr: '' };
    let buffered = '';
    let armed = false;
    const giveUp = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const [what, a, b] = line.split(' ');
        if (what === 'open') result.opened = a;
        if (what === 'c') result.committed = Number(a);
        if (what === 'acking' && a && b) {
          const set = result.acking.get(a) ?? new Set<number>();
          for (const s of b.split(',')) set.add(Number(s));
          result.acking.set(a, set);
        }
        if (what === 'c' && !armed) {
          armed = true;
          setTimeout(() => child.kill('SIGKILL'), delayMs);
        }
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (result.stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (_code, signal) => {
      clearTimeout(giveUp);
      if (signal !== 'SIGKILL' || result.committed === 0) reject(new Error(`writer ended without being killed mid-run (signal ${signal}): ${result.stderr}`));
      else resolve(result);
    });
  });
}

const tmp = tempDir('tcu-outbox-crash-');
afterAll(() => tmp.cleanup());

describe('outbox crash safety (SIGKILL)', () => {
  it('keeps every committed record, intact and gapless, through 20 kills', async () => {
    const path = tmp.path('crash.db');
    const random = prng(2024);
    const committed = new Map<string, number>();
    const acking = new Map<string, Set<number>>();
    for (let run = 0; run < RUNS; run++) {
      const bootId = `boot-${String(run).padStart(2, '0')}`;
      const r = await runAndKill(path, bootId, random() < 0.5 ? 'NORMAL' : 'FULL', run + 1, Math.floor(random() * 250));
      expect(r.opened).toBe(run === 0 ? 'created' : 'opened');
      committed.set(bootId, r.committed);
      for (const [boot, seqs] of r.acking) {
        const set = acking.get(boot) ?? new Set<number>();
        for (const s of seqs) set.add(s);
        acking.set(boot, set);
      }

      // The file as the killed process left it (a hot WAL included) must pass the FULL check.
      expect(integrityCheck(path)).toBe('ok');
      const db = new Database(path, { readonly: true });
      const rows = db
        .prepare<[], { boot: string; seq: number }>(
          [0, 1, 2, 3].map((p) => `SELECT b.boot, r.seq FROM records_${p} r JOIN boots b ON b.ref = r.boot_ref`).join(' UNION ALL '),
        )
        .all();
      const totals = [0, 1, 2, 3].map((p) => db.prepare<[], { n: number; b: number }>(`SELECT count(*) AS n, total(length(data)) AS b FROM records_${p}`).get()!);
      const counters = db.prepare<[], { depth: number; bytes: number }>('SELECT depth, bytes FROM counters ORDER BY priority').all();
      const lastSeq = db.prepare<[string], number>('SELECT last_seq FROM boots WHERE boot = ?').pluck().get(bootId);
      db.close();

      // The persisted counters match the rows (they are written in the same transactions).
      expect(counters).toEqual(totals.map((t) => ({ depth: t.n, bytes: t.b })));
      const present = new Map<string, Set<number>>();
      for (const row of rows) {
        const set = present.get(row.boot) ?? new Set<number>();
        set.add(row.seq);
        present.set(row.boot, set);
      }
      for (const [boot, reported] of committed) {
        const have = present.get(boot) ?? new Set<number>();
        const acked = acking.get(boot) ?? new Set<number>();
        const highest = Math.max(reported, ...have);
        // Nothing reported committed is missing, and no gaps: every seq up to the highest is
        // present unless an acknowledgement for it had started.
        const missing: number[] = [];
        for (let s = 1; s <= highest; s++) if (!have.has(s) && !acked.has(s)) missing.push(s);
        expect(missing, `boot ${boot}`).toEqual([]);
      }
      expect(lastSeq).toBeGreaterThanOrEqual(r.committed);

      // Mostly the next writer opens the file as the kill left it (hot WAL); now and then an
      // open in this process recovers it first, as the agent would, and checks its counters.
      if (run % 4 === 3) {
        const reopened = openOutbox({ path, bootId: 'checker', maxBytes: 1024 ** 3, clock: systemClock() });
        expect(reopened.report.outcome).toBe('opened');
        expect(reopened.outbox.stats().depth).toBe(rows.length);
        reopened.outbox.close();
      }
    }
  }, 60_000);
});
