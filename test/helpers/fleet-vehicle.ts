/**
 * A vehicle as the fleet-side tests see it: its own state folder and slots, updated by the bundled
 * `tcu-agent ota apply` (a real process), with the campaign reports it logged.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';

const AGENT = join(process.cwd(), 'dist', 'tcu-agent.mjs');

export interface FleetVehicle {
  vin: string;
  /** Holds `state/` and `slots/`. */
  dir: string;
}

export interface Applied {
  status: number | null;
  outcome: { result: string; code: string; target: string | null; detail: string };
  stderr: string;
}

/** A vehicle in `dir` trusting the `root.json` of each repository folder (as the integrator puts them). */
export function fleetVehicle(dir: string, vin: string, repos: { image: string; director: string }): FleetVehicle {
  for (const [name, repo] of Object.entries(repos)) {
    mkdirSync(join(dir, 'state', name), { recursive: true });
    copyFileSync(join(repo, 'root.json'), join(dir, 'state', name, 'root.json'));
  }
  return { vin, dir };
}

/** One `ota apply` of the vehicle against the repositories (folders or URLs); its one JSON line. */
export function applyAs(v: FleetVehicle, repos: { image: string; director: string }, extra: readonly string[] = []): Applied {
  const args = [AGENT, 'ota', 'apply', '--image-repo', repos.image, '--director-repo', repos.director, '--state-dir', join(v.dir, 'state'), '--hardware-id', 'tcu-a', '--slots', join(v.dir, 'slots'), '--vin', v.vin, ...extra];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
  const lines = r.stdout.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  return { status: r.status, outcome: JSON.parse(lines[0]!) as Applied['outcome'], stderr: r.stderr };
}

export const activeSlot = (v: FleetVehicle): string | null => (existsSync(join(v.dir, 'slots', 'current')) ? readlinkSync(join(v.dir, 'slots', 'current')) : null);

/** The campaign reports a vehicle logged (its CampaignRunner's onReport), as the agent publishes them on <prefix>/<vin>/ota. */
export function reportsOf(a: Applied, vin: string): Record<string, unknown>[] {
  return a.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l['msg'] === 'campaign')
    .map(({ level: _l, time: _t, pid: _p, hostname: _h, name: _n, msg: _m, ...report }) => ({ ...report, vin }));
}
