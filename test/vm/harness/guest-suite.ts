import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { GuestEvent } from '../guest/results-reporter.js';

/** The guest suite's vitest configuration, relative to the repository. */
export const GUEST_CONFIG = 'test/vm/vitest.guest.config.ts';
/** Where the guest's reporter writes, as the guest sees the results share. */
const GUEST_RESULTS = '/tmp/tcu-vm/results.jsonl';

export interface GuestTestId {
  /** Relative to the repository: `test/vm/guest/frames.guest.ts`. */
  file: string;
  /** vitest's full name: suite names and the test's, joined with " > ". */
  name: string;
}

export type GuestResult = Extract<GuestEvent, { event: 'result' }>;

function vitestEntry(repo: string): string {
  const entry = join(repo, 'node_modules', 'vitest', 'vitest.mjs');
  if (!existsSync(entry)) throw new Error(`${entry} is missing (npm ci)`);
  return entry;
}

/**
 * The guest tests, as `vitest list` collects them on the host (without running them), so the host
 * can declare one test per guest test before the guest boots.
 */
export function listGuestTests(repo: string): GuestTestId[] {
  const dir = mkdtempSync(join(tmpdir(), 'tcu-vm-list-'));
  try {
    const out = join(dir, 'list.json');
    // A vitest started from inside a vitest worker must not take the worker's settings for its own.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST')));
    try {
      execFileSync(process.execPath, [vitestEntry(repo), 'list', '--config', GUEST_CONFIG, `--json=${out}`], { cwd: repo, env, stdio: 'pipe', timeout: 120_000 });
    } catch (err) {
      const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
      throw new Error(`vitest list --config ${GUEST_CONFIG} failed: ${stderr.trim() || (err as Error).message}`, { cause: err });
    }
    const listed = JSON.parse(readFileSync(out, 'utf8')) as { name: string; file: string }[];
    return listed.map((t) => ({ file: relative(repo, t.file), name: t.name }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The job the guest runs: the guest suite with vitest, results to the writable share. */
export function guestJobScript(repo: string, node: string = process.execPath): string {
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    '# Written by test/vm/harness/guest-suite.ts; run by the VM\'s /init (test/vm/guest/init.sh).',
    `cd ${q(repo)} || exit 90`,
    `export TCU_VM_RESULTS=${GUEST_RESULTS}`,
    'echo "tcu-vm: guest suite starting at $(cut -d" " -f1 /proc/uptime) s"',
    // --configLoader runner: the default loader writes a bundled config into node_modules, read-only here.
    `exec ${q(node)} ${q(vitestEntry(repo))} run --config ${GUEST_CONFIG} --configLoader runner`,
    '',
  ].join('\n');
}

/** What the guest's reporter wrote, in order; a line cut short by a dying guest is ignored. */
export function readGuestEvents(outDir: string): GuestEvent[] {
  const file = join(outDir, 'results.jsonl');
  if (!existsSync(file)) return [];
  const events: GuestEvent[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    try {
      events.push(JSON.parse(line) as GuestEvent);
    } catch {
      // the last line, unfinished
    }
  }
  return events;
}

export const testKey = (t: GuestTestId): string => `${t.file} > ${t.name}`;

/** The console's own timeline of the boot (seconds since the guest's kernel started). */
export function guestTimeline(console: string): { modulesLoaded?: number; rootMounted?: number; suiteStarted?: number; jobEnded?: number } {
  const at = (what: RegExp): number | undefined => {
    const m = new RegExp(`tcu-vm: ${what.source}.* at ([0-9.]+) s`).exec(console);
    return m ? Number(m[1]) : undefined;
  };
  return { modulesLoaded: at(/modules loaded/), rootMounted: at(/host root mounted/), suiteStarted: at(/guest suite starting/), jobEnded: at(/job exited with status \d+/) };
}
