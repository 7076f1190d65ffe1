// Runs every benchmark in bench/ (or those whose file name contains an argument) and prints one
// JSON line per figure: {"name", "value", "unit"}. Baselines are measured in the same run, so
// figures that matter are also reported as ratios, which survive a noisy shared machine.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export type Emit = (name: string, value: number, unit: string) => void;

const here = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('lib-'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();

const emit: Emit = (name, value, unit) => {
  console.log(JSON.stringify({ name, value: Number(value.toPrecision(6)), unit }));
};

for (const file of files) {
  const mod = (await import(pathToFileURL(join(here, file)).href)) as { run?: (emit: Emit) => Promise<void> };
  if (typeof mod.run !== 'function') continue;
  await mod.run(emit);
}
