import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Finds a file of the project whether this code runs bundled (`dist/tcu-emulator.mjs`, one folder
 * below the root) or from source (`hw-emulator/cli/`, two folders below).
 */
export function projectFile(relative: string): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [resolve(here, '..', relative), resolve(here, '..', '..', relative)];
  return candidates.find((p) => existsSync(p)) ?? candidates[0]!;
}

/** The bundled agent program the demo starts as a separate process. */
export function agentProgram(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const sibling = resolve(here, 'tcu-agent.mjs');
  return existsSync(sibling) ? sibling : projectFile('dist/tcu-agent.mjs');
}

export const DEMO_DBC = 'hw-emulator/dbc/vw_mqb.dbc';
