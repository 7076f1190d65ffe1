// Bundles each command-line program into one ES module in dist/, native addons left external.
// Imported by scripts/package.mjs for the same options; builds only when run itself.
import { build } from 'esbuild';
import { chmod } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** Native addons (and the packages that load them) stay outside the bundle and ship beside it. */
export const NATIVE_EXTERNALS = ['socketcan', 'better-sqlite3', 'serialport', '@serialport/*', 'cbor-extract'];

/** Bundled CommonJS dependencies call require(); give them one. */
export const BANNER = "#!/usr/bin/env node\nimport { createRequire as __tcuCreateRequire } from 'node:module';\nconst require = __tcuCreateRequire(import.meta.url);";

export const PROGRAMS = [
  { entry: 'agent/cli/tcu-agent.ts', out: 'dist/tcu-agent.mjs' },
  { entry: 'hw-emulator/cli/tcu-emulator.ts', out: 'dist/tcu-emulator.mjs' },
  { entry: 'ota/cli/tcu-ota.ts', out: 'dist/tcu-ota.mjs' },
  // Outside the OTA slots on a board (ExecStartPre=): never replaced by the update it guards.
  { entry: 'agent/cli/tcu-boot-guard.ts', out: 'dist/tcu-boot-guard.mjs' },
];

/** The esbuild options every program is bundled with. */
export const BUNDLE_OPTIONS = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  external: NATIVE_EXTERNALS,
  logLevel: 'warning',
  banner: { js: BANNER },
  // ws (under mqtt.js) would require() these optional native helpers, found nowhere in the package:
  // Node would look for them in folders outside it, the agent's writable home among them.
  define: { 'process.env.WS_NO_BUFFER_UTIL': '"1"', 'process.env.WS_NO_UTF_8_VALIDATE': '"1"' },
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const p of PROGRAMS) {
    await build({ ...BUNDLE_OPTIONS, entryPoints: [p.entry], outfile: p.out, sourcemap: true });
    await chmod(p.out, 0o755);
  }
}
