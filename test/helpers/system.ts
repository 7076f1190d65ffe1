import { execFileSync } from 'node:child_process';

/**
 * Tests that need a system program call this at collection time. Where the program is missing the
 * test is skipped with a message naming it; with TCU_REQUIRE_SYSTEM_TESTS=1 (CI) a missing
 * program fails the run instead.
 */
export function hasProgram(program: string, packageName = program): boolean {
  let found = true;
  try {
    execFileSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' });
  } catch {
    found = false;
  }
  if (!found) {
    const message = `system program "${program}" is missing (Debian package ${packageName})`;
    if (process.env['TCU_REQUIRE_SYSTEM_TESTS'] === '1') {
      throw new Error(`${message}, and TCU_REQUIRE_SYSTEM_TESTS=1 requires it`);
    }
    console.warn(`skipping: ${message}`);
  }
  return found;
}
