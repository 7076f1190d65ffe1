import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { GUEST_CONFIG, guestJobScript, guestTimeline, listGuestTests, readGuestEvents, testKey, type GuestResult, type GuestTestId } from './harness/guest-suite.js';
import { defaultCacheDir } from './harness/kernel.js';
import { VmUnavailableError } from './harness/unavailable.js';
import { consoleTail, prepareVm, runJob, type JobResult } from './harness/vm.js';

// The SocketCAN driver against a real Linux kernel: this machine's kernel may have no CAN at all,
// so a QEMU guest with Debian's kernel and vcan runs the guest suite (test/vm/guest/*.guest.ts)
// and each guest test becomes a test here, under the same name. See test/vm/README.md.

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const REQUIRED = process.env['TCU_REQUIRE_SYSTEM_TESTS'] === '1';
/** The guest is killed after this long: a hang becomes a failure, with the console's tail. */
const GUEST_LIMIT_MS = Number(process.env['TCU_VM_TIMEOUT_S'] || 480) * 1000;
/** Finding tools, downloading and unpacking the kernel on a cold cache, writing the initramfs. */
const PREPARE_LIMIT_MS = 10 * 60_000;

type Outcome =
  | { kind: 'unavailable'; reason: string }
  | {
      kind: 'ran';
      job: JobResult;
      outDir: string;
      results: Map<string, GuestResult>;
      started: Set<string>;
      fileErrors: Map<string, string[]>;
      end: { reason: string; unhandled: string[] } | undefined;
      timings: Record<string, number | undefined>;
    };

// Collected before anything boots, so that every guest test has its own test here.
const guestTests: GuestTestId[] = listGuestTests(REPO);
let outcome: Outcome | undefined;

async function bootAndRun(): Promise<Outcome> {
  const outDir = mkdtempSync(join(tmpdir(), 'tcu-vm-'));
  const started = performance.now();
  let image;
  try {
    image = await prepareVm({ cacheDir: defaultCacheDir(), workDir: outDir, kernelPackage: process.env['TCU_VM_KERNEL_PACKAGE'] || undefined, log: (l) => console.info(`vm: ${l}`) });
  } catch (err) {
    rmSync(outDir, { recursive: true, force: true });
    if (err instanceof VmUnavailableError) return { kind: 'unavailable', reason: err.message };
    throw err;
  }
  const preparedMs = performance.now() - started;
  const job = await runJob(image, { script: guestJobScript(REPO), outDir, keepPaths: [REPO, dirname(process.execPath)], timeoutMs: GUEST_LIMIT_MS, accel: process.env['TCU_VM_ACCEL'] || 'tcg' });
  const results = new Map<string, GuestResult>();
  const begun = new Set<string>();
  const fileErrors = new Map<string, string[]>();
  let end: { reason: string; unhandled: string[] } | undefined;
  for (const e of readGuestEvents(outDir)) {
    if (e.event === 'start') begun.add(testKey(e));
    else if (e.event === 'result') results.set(testKey(e), e);
    else if (e.event === 'file-error') fileErrors.set(e.file, e.errors);
    else end = e;
  }
  const t = guestTimeline(job.guest.console);
  const timings = {
    prepareS: round(preparedMs / 1000),
    bootS: t.rootMounted,
    suiteS: t.suiteStarted !== undefined && t.jobEnded !== undefined ? round(t.jobEnded - t.suiteStarted) : undefined,
    qemuWallS: round(job.guest.durationMs / 1000),
  };
  console.info(`vm: ${image.kernel.packageName}, modules ${image.modules.join(' ')}; timings ${JSON.stringify(timings)}; console log ${job.consoleLog}`);
  return { kind: 'ran', job, outDir, results, started: begun, fileErrors, end, timings };
}

const round = (x: number): number => Math.round(x * 10) / 10;

function ran(ctx: TestContext): Extract<Outcome, { kind: 'ran' }> {
  if (!outcome) throw new Error('the VM was never started (see the error of the beforeAll hook)');
  if (outcome.kind === 'unavailable') {
    if (REQUIRED) throw new Error(`the VM cannot run here: ${outcome.reason}; TCU_REQUIRE_SYSTEM_TESTS=1 requires it`);
    ctx.skip(`the VM cannot run here: ${outcome.reason}`);
  }
  return outcome as Extract<Outcome, { kind: 'ran' }>;
}

function withConsole(o: Extract<Outcome, { kind: 'ran' }>, message: string): Error {
  return new Error(`${message}\n--- the guest's console, last lines (all of it: ${o.job.consoleLog}) ---\n${consoleTail(o.job.guest)}`);
}

/** Why a guest test (or, without `t`, the suite) has no result: the guest hung or died, the test process died, or a file did not load. */
function missing(o: Extract<Outcome, { kind: 'ran' }>, t?: GuestTestId): Error {
  const loadErrors = t && o.fileErrors.get(t.file);
  if (t && loadErrors) return withConsole(o, `the guest could not run ${t.file}:\n${loadErrors.join('\n')}`);
  const running = [...o.started].filter((k) => !o.results.has(k)).at(-1);
  const g = o.job.guest;
  let cause: string;
  if (g.timedOut) cause = `the guest was killed at the time limit (${GUEST_LIMIT_MS / 1000} s, TCU_VM_TIMEOUT_S)`;
  else if (o.job.status === undefined || g.exitCode !== 0) cause = `the guest stopped (qemu exit code ${g.exitCode}, signal ${g.signal}) without finishing the suite`;
  else if (o.end && o.end.unhandled.length > 0) cause = `the guest's test process died (${o.end.unhandled[0]!.split('\n').slice(0, 3).join(' ')})`;
  else if (!t) cause = `the guest suite (exit status ${o.job.status}) ended without its reporter's last word`;
  else cause = `the guest suite (exit status ${o.job.status}) reported no result for this test; is ${GUEST_CONFIG} including it?`;
  let where = running ? `, while running ${running}` : '';
  if (t && o.started.has(testKey(t))) where = ', while this test was running';
  else if (t && running) where = `, before this test started (while running ${running})`;
  return withConsole(o, cause + where);
}

describe('SocketCAN against a real kernel (QEMU guest)', () => {
  beforeAll(async () => {
    outcome = await bootAndRun();
    if (outcome.kind === 'unavailable') console.warn(`skipping the VM tests: ${outcome.reason}`);
  }, PREPARE_LIMIT_MS + GUEST_LIMIT_MS + 60_000);

  afterAll(() => {
    // Keep the console log and results of a run that went wrong (they are named in the failures),
    // or of any run with TCU_VM_KEEP=1.
    if (outcome?.kind !== 'ran' || process.env['TCU_VM_KEEP'] === '1') return;
    if (outcome.job.status === 0 && !outcome.job.guest.timedOut) rmSync(outcome.outDir, { recursive: true, force: true });
  });

  it('the guest boots, runs the whole guest suite and powers off', (ctx) => {
    const o = ran(ctx);
    ctx.task.meta.guest = o.timings;
    if (o.job.guest.timedOut || o.job.guest.exitCode !== 0 || o.end === undefined) throw missing(o);
    expect(o.end.unhandled, 'errors in the guest outside any test').toEqual([]);
    const declared = new Set(guestTests.map(testKey));
    const unlisted = [...o.results.keys()].filter((k) => !declared.has(k));
    expect(unlisted, 'guest results with no test here (the host listed the guest files differently)').toEqual([]);
  });

  const files = [...new Set(guestTests.map((t) => t.file))];
  for (const file of files) {
    const tests = guestTests.filter((t) => t.file === file);
    describe(file, () => {
      for (const t of tests) {
        it(t.name, async (ctx) => {
          const o = ran(ctx);
          const r = o.results.get(testKey(t));
          if (!r) throw missing(o, t);
          if (r.meta !== undefined) {
            ctx.task.meta.guest = r.meta as Record<string, unknown>;
            await ctx.annotate(JSON.stringify(r.meta));
          }
          if (r.state === 'skipped') ctx.skip(`skipped in the guest${r.note ? `: ${r.note}` : ''}`);
          if (r.state !== 'passed') throw new Error(`failed in the guest (${Math.round(r.durationMs ?? 0)} ms):\n${r.errors.join('\n\n')}`);
        });
      }
    });
  }
});
