// Prints the one plain summary line CI reads: "N passed, N failed, N skipped".
// A failed step outside the test run (typecheck, lint) counts as one failure.
import { readFileSync } from 'node:fs';

const [file, stepStatus] = process.argv.slice(2);
let passed = 0;
let failed = 0;
let skipped = 0;
try {
  const r = JSON.parse(readFileSync(file, 'utf8'));
  passed = r.numPassedTests ?? 0;
  failed = (r.numFailedTests ?? 0) + (r.numRuntimeErrorTestSuites ?? 0);
  skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  if (!r.success && failed === 0) failed = 1;
} catch {
  failed = 1;
}
if (stepStatus === '1' && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
