import { appendFileSync } from 'node:fs';
import type { Reporter, TestCase, TestModule } from 'vitest/node';
import type { SerializedError } from 'vitest';

/** One line of the results file the host reads (test/vm/harness/guest-suite.ts). */
export type GuestEvent =
  | { event: 'start'; file: string; name: string }
  | { event: 'result'; file: string; name: string; state: 'passed' | 'failed' | 'skipped' | 'pending'; errors: string[]; note?: string; durationMs?: number; meta?: unknown }
  | { event: 'file-error'; file: string; errors: string[] }
  | { event: 'end'; reason: string; unhandled: string[] };

/**
 * Writes each test's start and result as a JSON line to $TCU_VM_RESULTS as it happens, so the host
 * knows which tests finished, and which one was running, even when the guest dies halfway. Without
 * TCU_VM_RESULTS (the host listing the guest tests) it writes nothing.
 */
export default class GuestResultsReporter implements Reporter {
  private readonly file = process.env['TCU_VM_RESULTS'];

  onTestCaseReady(test: TestCase): void {
    this.write({ event: 'start', file: test.module.relativeModuleId, name: test.fullName });
  }

  onTestCaseResult(test: TestCase): void {
    const result = test.result();
    this.write({
      event: 'result',
      file: test.module.relativeModuleId,
      name: test.fullName,
      state: result.state,
      errors: (result.errors ?? []).map(describe),
      note: result.state === 'skipped' ? result.note : undefined,
      durationMs: test.diagnostic()?.duration,
      meta: test.meta().guest,
    });
  }

  onTestModuleEnd(module: TestModule): void {
    const errors = module.errors();
    if (errors.length > 0) this.write({ event: 'file-error', file: module.relativeModuleId, errors: errors.map(describe) });
  }

  onTestRunEnd(_modules: ReadonlyArray<TestModule>, unhandled: ReadonlyArray<SerializedError>, reason: string): void {
    this.write({ event: 'end', reason, unhandled: unhandled.map(describe) });
  }

  private write(event: GuestEvent): void {
    if (this.file) appendFileSync(this.file, JSON.stringify(event) + '\n');
  }
}

function describe(err: { message?: string; stack?: string; diff?: string }): string {
  return [err.stack || err.message || String(err), err.diff].filter(Boolean).join('\n');
}
