// A full disk, on a real one: a tmpfs of a few MiB (mounted by the test; needs root) holds the
// outbox, with a byte cap far larger, so the file system fills before the cap does.
//
// - The outbox alone: fill it, then a high-priority append, an acknowledge, housekeeping, close.
// - The bundled agent (dist/tcu-agent.mjs) with bulk telemetry at priority low filling the disk
//   within seconds, a high-priority group and its own events still coming, no broker reachable;
//   then a real Mosquitto comes up where the agent was trying, and a second run drains the backlog.
//
// What used to go wrong here (found by this file): in WAL mode every write, the deletes of eviction
// and acknowledge included, needs room for WAL frames, and a checkpoint needs room to copy them into
// the main file; an outbox that let its pages fill the disk could then change nothing at all. The
// outbox now bounds its pages by what the disk can take too (agent/outbox/disk.ts), keeping room for
// the WAL, and reports OUTBOX_DISK_LOW. The unit tests' simulation (a page quota, `pageLimit`)
// limits the main file only and never showed it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../core/clock.js';
import { formatCandumpLine } from '../../drivers/can/candump/format.js';
import { compileDbc } from '../../drivers/can/dbc/codec.js';
import { loadDbcFile } from '../../drivers/can/dbc/parser.js';
import { makeFrame } from '../../drivers/can/frame.js';
import type { Outbox } from '../../agent/outbox/types.js';
import { candumpBus, writeAgentConfig, type AgentConfigSpec } from '../helpers/agent-config.js';
import { Mosquitto, freePort, hasMosquitto } from '../helpers/mosquitto.js';
import { canMountTmpfs, lastSeqs, mountTmpfs, storedRecords, type SmallDisk, type StoredRow } from '../helpers/outbox-fixture.js';
import { integrityCheck, open, prng, signalRecord, tempDir, type TempDir } from '../helpers/outbox-records.js';
import { CloudClient, waitFor } from '../unit/uplink/harness.js';

const canMount = canMountTmpfs();
const DBC = join(process.cwd(), 'hw-emulator/dbc/vw_mqb.dbc');
const VIN = 'WVWZZZ1KZPW000004';
const PRIORITY_NAMES = ['low', 'normal', 'high', 'critical'] as const;
type PriorityName = (typeof PRIORITY_NAMES)[number];
type Evicted = Record<PriorityName, number>;

/** A tmpfs of `size` for one describe block, and the outbox its test opens there: closed, then unmounted, after. */
function smallDiskOutbox(size: string): { disk?: SmallDisk; outbox?: Outbox } {
  const s: { disk?: SmallDisk; outbox?: Outbox } = {};
  beforeAll(() => {
    s.disk = mountTmpfs(size);
  });
  afterAll(() => {
    s.outbox?.close();
    s.disk?.unmount();
  });
  return s;
}

describe.runIf(canMount)('the outbox alone on a full 1 MiB tmpfs (cap 64 MiB)', () => {
  const s = smallDiskOutbox('1m');

  it('evicts low records for a high one, then acknowledges, keeps house and closes', () => {
    const path = s.disk!.path('o.db');
    const outbox = (s.outbox = open(path, systemClock(), { maxBytes: 64 * 1024 * 1024 }).outbox);
    let i = 0;
    let refused = 0;
    for (let k = 0; k < 400 && outbox.stats().evicted[0] === 0; k++) {
      try {
        outbox.append(Array.from({ length: 10 }, () => signalRecord(i++, { priority: 0 })));
      } catch (err) {
        expect(err).toMatchObject({ code: 'OUTBOX_FULL' });
        refused++;
      }
    }
    // A high-priority record is committed: low ones make room, and are counted; the disk, not the
    // cap, was the limit.
    expect(outbox.append([signalRecord(i++, { priority: 2 })])).toHaveLength(1);
    expect(outbox.stats().evicted[0], `${refused} low batches were refused, none evicted`).toBeGreaterThan(0);
    expect(outbox.stats().bytes).toBeLessThan(1024 * 1024);
    const batch = outbox.nextBatch({ maxRecords: 50, maxBytes: 1e9 });
    const depth = outbox.stats().depth;
    outbox.acknowledge(batch.map((r) => r.id), Date.now());
    expect(outbox.stats().depth).toBe(depth - batch.length);
    outbox.housekeeping(Date.now());
    s.outbox = undefined;
    outbox.close();
    expect(integrityCheck(path)).toBe('ok');
  });
});

describe.runIf(canMount)('the outbox on a 1 MiB tmpfs that another writer fills', () => {
  const s = smallDiskOutbox('1m');

  it('never evicts records more important than the ones arriving to make room the disk lacks', () => {
    const path = s.disk!.path('o.db');
    const outbox = (s.outbox = open(path, systemClock(), { maxBytes: 64 * 1024 * 1024 }).outbox);
    let i = 0;
    outbox.append(Array.from({ length: 100 }, () => signalRecord(i++, { priority: 2 })));
    // Something else takes every byte left on the disk.
    const filler = s.disk!.path('filler.bin');
    try {
      writeFileSync(filler, Buffer.alloc(s.disk!.freeBytes()));
    } catch {
      // ENOSPC near the end: the disk is full, which is the point
    }
    for (let k = 0; k < 20; k++) {
      try {
        outbox.append([signalRecord(i++, { priority: 0 })]);
      } catch (err) {
        expect(err).toMatchObject({ code: 'OUTBOX_FULL' }); // refused and counted, never a crash
      }
    }
    expect(outbox.stats().evicted[2]).toBe(0);
    expect(outbox.nextBatch({ maxRecords: 1000, maxBytes: 1e9 }).filter((r) => r.priority === 2)).toHaveLength(100);
    rmSync(filler);
    expect(integrityCheck(path)).toBe('ok');
  });
});

interface LogLine {
  time: number;
  level: number;
  msg: string;
  code?: string;
  [key: string]: unknown;
}

/** The bundled agent as a child process, its JSON log lines kept as they come (the pipe never fills). */
class AgentProcess {
  readonly lines: LogLine[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;

  constructor(configPath: string) {
    this.child = spawn(process.execPath, ['dist/tcu-agent.mjs', 'run', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      try {
        this.lines.push(JSON.parse(line) as LogLine);
      } catch {
        this.lines.push({ time: Date.now(), level: 0, msg: line });
      }
    });
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  find(predicate: (l: LogLine) => boolean): LogLine | undefined {
    return this.lines.find(predicate);
  }

  async line(what: string, predicate: (l: LogLine) => boolean, timeoutMs: number): Promise<LogLine> {
    await waitFor(what, () => this.find(predicate) !== undefined || !this.alive, timeoutMs);
    const found = this.find(predicate);
    if (found === undefined) throw new Error(`the agent exited (${this.child.exitCode ?? this.child.signalCode}) before logging ${what}: ${this.stderr}`);
    return found;
  }

  terminate(): Promise<number | null> {
    this.child.kill('SIGTERM');
    return this.exited;
  }

  kill(): void {
    if (this.alive) this.child.kill('SIGKILL');
  }
}

interface StatusJson {
  depth: number;
  delivered: number;
  evicted: Evicted;
}

/** `tcu-agent status --json` of the bundled program (reads the outbox read-only; fine while the agent runs). */
function status(configPath: string): StatusJson {
  const r = spawnSync(process.execPath, ['dist/tcu-agent.mjs', 'status', '--config', configPath, '--json'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tcu-agent status exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as StatusJson;
}

const totalEvicted = (e: Evicted): number => PRIORITY_NAMES.reduce((n, p) => n + e[p], 0);

/** A candump log of every message of the DBC every 100 ms for one second, random payloads: looped, a busy powertrain bus. */
function writeTrafficLog(path: string): void {
  const codec = compileDbc(loadDbcFile(DBC));
  const random = prng(11);
  const lines: string[] = [];
  for (let cycle = 0; cycle < 10; cycle++) {
    codec.messages.forEach((m, k) => {
      const data = Uint8Array.from({ length: m.message.length }, () => Math.floor(random() * 256));
      const ts = 1_700_000_000_000_000 + cycle * 100_000 + k * 500;
      lines.push(formatCandumpLine(makeFrame({ id: m.message.id, ext: m.message.extended, fd: m.message.fd, data, ts, bus: 'can0' })));
    });
  }
  writeFileSync(path, lines.join('\n') + '\n');
}

/** Signals always present (not multiplexed), as "Message.Signal". */
function plainSignals(): string[] {
  const codec = compileDbc(loadDbcFile(DBC));
  return codec.messages.flatMap((m) => m.message.signals.filter((s) => s.multiplexerSignal === undefined && !s.isMultiplexer).map((s) => `${m.message.name}.${s.name}`));
}

interface FirstRun {
  agent: AgentProcess;
  /** When the agent first reported the full disk. */
  fullAt: number;
  stoppedAt: number;
  exitCode: number | null;
  /** `tcu-agent status` while it ran on the full disk, and after it stopped. */
  running: StatusJson;
  stopped: StatusJson;
  /** The records it left in the outbox, and its last seq. */
  rows: StoredRow[];
  committed: Map<string, number>;
}

describe.runIf(canMount && hasMosquitto())('the agent on a full 3 MiB tmpfs (cap 16 MiB), then draining to a broker', () => {
  let disk: SmallDisk | undefined;
  let work: TempDir | undefined;
  let broker: Mosquitto | undefined;
  let cloud: CloudClient | undefined;
  const agents: AgentProcess[] = [];
  let port: number;
  let configPath: string;
  let outboxPath: string;

  /**
   * What the first run left: observed in the first test, judged in the others (which fail when
   * the first did not complete).
   */
  let first: FirstRun | undefined;

  const spec = (bulk: boolean): AgentConfigSpec => {
    const signals = plainSignals();
    return {
      vin: VIN,
      deviceId: 'full-disk',
      buses: [candumpBus({ path: work!.path('traffic.log'), dbc: DBC, loop: true })],
      collect: {
        periodic: [
          // About 1 MB/s of low-priority records: the 3 MiB disk is full within a few seconds.
          ...(bulk ? [0, 1, 2, 3].map((g) => ({ name: `bulk${g}`, everyMs: 20, priority: 'low' as const, signals: signals.slice(g * 150, (g + 1) * 150) })) : []),
          { name: 'vital', everyMs: 250, priority: 'high' as const, signals: signals.slice(0, 3) },
        ],
      },
      outbox: { path: outboxPath, maxBytes: 16 * 1024 * 1024, commitIntervalMs: 100 },
      uplink: { url: `mqtt://127.0.0.1:${port}`, backoff: { initialMs: 100, maxMs: 500 } },
      jobs: { heartbeat: '* * * * * *', housekeeping: '*/2 * * * * *' },
    };
  };

  beforeAll(async () => {
    work = tempDir('tcu-full-disk-');
    writeTrafficLog(work.path('traffic.log'));
    disk = mountTmpfs('3m');
    outboxPath = disk.path('outbox.db');
    port = await freePort(); // nothing listens here until the broker comes up
    configPath = writeAgentConfig(work.path('agent.json'), spec(true));
  });

  afterAll(async () => {
    for (const a of agents) a.kill();
    await Promise.all(agents.map((a) => a.exited));
    await cloud?.end();
    await broker?.dispose();
    disk?.unmount();
    work?.cleanup();
  });

  it('keeps running through the full disk and says so in its log', async () => {
    const agent = new AgentProcess(configPath);
    agents.push(agent);
    await agent.line('"agent started"', (l) => l.msg === 'agent started', 10_000);
    // OUTBOX_FULL (a refused batch, or the "disk is full: evicted to make room" warning).
    const full = await agent.line('the disk-full report', (l) => l.code === 'OUTBOX_FULL' || (l.level >= 40 && /disk/i.test(l.msg)), 20_000);
    expect(disk!.freeBytes()).toBeLessThan(1024 * 1024); // the disk, not the 16 MiB cap, was the limit
    // A few more seconds of a full disk, through two housekeeping runs (vacuum, checkpoint).
    await new Promise((r) => setTimeout(r, 5000));
    expect(agent.alive, agent.stderr).toBe(true);
    const running = status(configPath);
    const stoppedAt = Date.now();
    const exitCode = await agent.terminate();
    first = { agent, fullAt: full.time, stoppedAt, exitCode, running, stopped: status(configPath), rows: storedRecords(outboxPath), committed: lastSeqs(outboxPath) };
  }, 40_000);

  it('leaves a sound outbox file after the SIGTERM (integrity_check)', () => {
    expect(integrityCheck(outboxPath)).toBe('ok');
    expect(first?.stopped.depth).toBe(first?.rows.length);
  });

  it('keeps committing its newest high-priority records, evicting low ones, counted in status', () => {
    const run = first!;
    expect(first, 'the first run did not complete').toBeDefined();
    expect(run.running.evicted.low).toBeGreaterThan(0);
    expect(run.stopped.evicted).toMatchObject({ normal: 0, high: 0, critical: 0 });
    // The high-priority group went on at 4 a second, up to the stop.
    const vital = run.rows.filter((r) => r.priority === 2 && r.kind === 'signals' && r.ts > run.fullAt).map((r) => r.ts);
    expect(vital.length).toBeGreaterThanOrEqual(15);
    expect(Math.max(...vital)).toBeGreaterThan(run.stoppedAt - 1500);
    for (let i = 1; i < vital.length; i++) expect(vital[i]! - vital[i - 1]!).toBeLessThan(1000);
    // The agent's own events made it too: the full disk reported as an event, and the stop.
    const events = run.rows.filter((r) => r.kind === 'event').map((r) => r.body['name']);
    expect(events).toEqual(expect.arrayContaining(['agent-start', 'error', 'agent-stop']));
  });

  it('stops cleanly on SIGTERM on the full disk (exit 0, nothing dropped at stop)', () => {
    const run = first!;
    expect(first, 'the first run did not complete').toBeDefined();
    expect(run.exitCode, run.agent.stderr).toBe(0);
    expect(run.agent.stderr).toBe('');
    expect(run.agent.find((l) => l.msg === 'agent stopped')).toMatchObject({ droppedAtStop: 0 });
  });

  it('drains the backlog once a broker is up: every (boot, seq) arrived, waits, or was evicted as status counts', async () => {
    const run = first!;
    expect(first, 'the first run did not complete').toBeDefined();
    const boot1 = run.rows.find((r) => r.body['name'] === 'agent-start')!.boot;
    broker = await Mosquitto.start({ port });
    cloud = await CloudClient.connect(broker.url, [`tcu/${VIN}/telemetry`, `tcu/${VIN}/events`]);
    // The second run samples only the high-priority group: a drain racing a disk that keeps
    // filling may evict a record while its publish is in flight (it then arrives AND is counted
    // as evicted), which would blur the exact accounting below.
    writeAgentConfig(configPath, spec(false));
    const second = new AgentProcess(configPath);
    agents.push(second);
    await second.line('"agent started"', (l) => l.msg === 'agent started', 10_000);
    const received = (): Map<string, Set<number>> => {
      const byBoot = new Map<string, Set<number>>();
      for (const r of cloud!.records) {
        if (!byBoot.has(r.boot)) byBoot.set(r.boot, new Set());
        byBoot.get(r.boot)!.add(r.seq);
      }
      return byBoot;
    };
    await waitFor(
      'the first run’s backlog to drain (each record arrived or was evicted)',
      () => {
        const stuck = second.find((l) => l.code === 'OUTBOX_IO');
        if (stuck !== undefined) throw new Error(`the agent cannot change its outbox: ${stuck.msg}`);
        return (received().get(boot1)?.size ?? 0) + totalEvicted(status(configPath).evicted) >= run.committed.get(boot1)!;
      },
      20_000,
    );
    expect(await second.terminate(), second.stderr).toBe(0);
    const stopped = (m: { body: unknown }): boolean => {
      const body = m.body as { boot?: string; records?: { name?: string }[] };
      return body.boot !== boot1 && (body.records ?? []).some((r) => r.name === 'agent-stop');
    };
    await waitFor('the second run’s stop event', () => cloud!.messages.some(stopped), 5000);

    // Every (boot, seq) committed arrived, is still waiting, or was evicted.
    const final = status(configPath);
    const seqs = new Map([...run.committed, ...lastSeqs(outboxPath)]);
    const left = storedRecords(outboxPath);
    const got = received();
    const missing = new Map<string, number[]>();
    for (const [boot, last] of seqs) {
      const have = new Set([...(got.get(boot) ?? []), ...left.filter((r) => r.boot === boot).map((r) => r.seq)]);
      missing.set(boot, Array.from({ length: last }, (_, k) => k + 1).filter((s) => !have.has(s)));
    }
    const lost = [...missing.values()].reduce((n, m) => n + m.length, 0);
    expect(lost).toBeGreaterThan(0);
    expect(final.evicted).toEqual({ low: lost, normal: 0, high: 0, critical: 0 });
    // Gapless per boot but for evictions, and only the first run had low records to evict.
    for (const [boot, m] of missing) if (boot !== boot1) expect(m, `boot ${boot}`).toEqual([]);
    // Per priority: received + evicted + waiting = committed (a record's priority is its collector's).
    const receivedBy: Evicted = { low: 0, normal: 0, high: 0, critical: 0 };
    const unique = new Set<string>();
    for (const m of cloud.messages) {
      const body = m.body as { boot?: string; records?: { seq: number; kind: string; collector?: string }[] };
      for (const r of body.records ?? []) {
        const key = `${body.boot}:${r.seq}`;
        if (unique.has(key)) continue;
        unique.add(key);
        receivedBy[r.kind === 'signals' && String(r.collector).startsWith('bulk') ? 'low' : 'high']++;
      }
    }
    const committed = [...seqs.values()].reduce((a, b) => a + b, 0);
    const waiting = left.filter((r) => !got.get(r.boot)?.has(r.seq)).length;
    expect(receivedBy.low + receivedBy.high + final.evicted.low + waiting).toBe(committed);
    expect(final.depth).toBe(left.length);
    expect(final.delivered).toBe(unique.size - (left.length - waiting));
    expect(integrityCheck(outboxPath)).toBe('ok');
  }, 40_000);
});
