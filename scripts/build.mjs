// Bundles each command-line program into one ES module in dist/, native addons left external.
import { build } from 'esbuild';
import { chmod } from 'node:fs/promises';

/** Native addons (and the packages that load them) stay outside the bundle and ship beside it. */
export const NATIVE_EXTERNALS = ['socketcan', 'better-sqlite3', 'serialport', '@serialport/*', 'cbor-extract'];

const programs = [
  { entry: 'agent/cli/tcu-agent.ts', out: 'dist/tcu-agent.mjs' },
  { entry: 'hw-emulator/cli/tcu-emulator.ts', out: 'dist/tcu-emulator.mjs' },
  { entry: 'ota/cli/tcu-ota.ts', out: 'dist/tcu-ota.mjs' },
  // Outside the OTA slots on a board (ExecStartPre=): never replaced by the update it guards.
  { entry: 'agent/cli/tcu-boot-guard.ts', out: 'dist/tcu-boot-guard.mjs' },
];

for (const p of programs) {
  await build({
    entryPoints: [p.entry],
    outfile: p.out,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    sourcemap: true,
    external: NATIVE_EXTERNALS,
    logLevel: 'warning',
    banner: {
      // Bundled CommonJS dependencies call require(); give them one.
      js: "#!/usr/bin/env node\nimport { createRequire as __tcuCreateRequire } from 'node:module';\nconst require = __tcuCreateRequire(import.meta.url);",
    },
  });
  await chmod(p.out, 0o755);
}
