import { spawn } from 'node:child_process';
import { existsSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { systemClock } from '../../core/clock.js';
import { DirSlotsBackend } from '../../ota/install/index.js';
import { makeImage } from './ota-install.js';

/**
 * `tcu-agent ota apply` as a real process (the bundled dist/tcu-agent.mjs: `npm run build` first),
 * for test/integration/ota-apply*.test.ts.
 */

export interface ApplyOutcome {
  result: string;
  code: string;
  target: string | null;
  detail: string;
}

export interface ApplyRun {
  /** The exit code. */
  code: number | null;
  /** The one JSON line on standard output. */
  outcome: ApplyOutcome;
  stderr: string;
}

export interface ApplyTarget {
  stateDir: string;
  slots: string;
  /** Where each repository is served: a folder or a URL. */
  image: string;
  director: string;
}

/**
 * Runs `tcu-agent ota apply` for hardware tcu-a (asynchronously: an OTA server may answer from this
 * process) and checks that it printed exactly one line.
 */
export async function runApply(t: ApplyTarget, extra: string[] = []): Promise<ApplyRun> {
  const args = ['dist/tcu-agent.mjs', 'ota', 'apply', '--image-repo', t.image, '--director-repo', t.director, '--state-dir', t.stateDir, '--hardware-id', 'tcu-a', '--slots', t.slots, '--vin', 'WVWZZZ1KZPW000001', ...extra];
  const child = spawn(process.execPath, args);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const lines = stdout.trim().split('\n');
  expect(lines, stderr).toHaveLength(1);
  return { code, outcome: JSON.parse(lines[0]!) as ApplyOutcome, stderr };
}

/** The slot `current` points at, or null. */
export function activeSlot(slots: string): string | null {
  return existsSync(join(slots, 'current')) ? readlinkSync(join(slots, 'current')) : null;
}

/** The board as it left the factory: `tcu/app-0.9.tar` confirmed in slot a of `slots`. */
export async function provisionFactory(slots: string, scratch: string): Promise<void> {
  const factory = makeImage(scratch, 'tcu/app-0.9.tar', Buffer.from('application image 0.9'), { hardwareIds: ['tcu-a'], version: '0.9' });
  await DirSlotsBackend.provision({ dir: slots, clock: systemClock() }, factory.path, factory.target);
}
