import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The suite that runs INSIDE the VM (test/vm/README.md); the host's test/vm/socketcan-vm.test.ts
// boots the guest and runs it with this file. Guest files end in .guest.ts so the host's own
// vitest run (test/**/*.test.ts) never picks them up.
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  // The host's root is mounted read-only in the guest; only /tmp is writable.
  cacheDir: join(tmpdir(), 'tcu-vm-vite'),
  test: {
    include: ['test/vm/guest/**/*.guest.ts'],
    // Processes, not worker threads: the socketcan addon delivers frames on the main thread's
    // libuv loop (uv_default_loop), which a worker thread does not run.
    pool: 'forks',
    // One file at a time, all in one process: the flood's accounting and the timings must not
    // share the CPUs, and each new process costs seconds of start-up under emulation.
    fileParallelism: false,
    isolate: false,
    // Everything is slow under emulation (TCG): a fork takes seconds to start.
    testTimeout: 90_000,
    hookTimeout: 90_000,
    reporters: ['verbose', './test/vm/guest/results-reporter.ts'],
  },
});
