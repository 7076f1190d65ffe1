// OTA metadata refresh on the vehicle: both repositories (image and director) refreshed with
// tuf-js through TrustedRepository (work copy, verification, atomic commit into the trusted
// folder), from local folders. Median of 20 refreshes when nothing changed (timestamp only) and
// when every role changed (a new release signed and published); target under 100 ms (issue 5).
import { rmSync } from 'node:fs';
import { TrustedRepository } from '../ota/tuf/index.js';
import { vehicleRepos } from '../test/helpers/ota-repos.js';
import type { Emit } from './run.js';

const RUNS = 20;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

export async function run(emit: Emit): Promise<void> {
  const v = vehicleRepos();
  try {
    const repos = [new TrustedRepository({ name: 'image', stateDir: v.stateDir, source: v.image.dir }), new TrustedRepository({ name: 'director', stateDir: v.stateDir, source: v.director.dir })];
    const refreshBoth = async (): Promise<number> => {
      const t0 = performance.now();
      for (const r of repos) await r.refresh();
      return performance.now() - t0;
    };
    await refreshBoth();
    const unchanged: number[] = [];
    for (let i = 0; i < RUNS; i++) unchanged.push(await refreshBoth());
    const changed: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const version = i + 2;
      v.image.addTarget(`tcu/app-${version}.tar`, `application image ${version}`, { hardwareIds: ['tcu-a'], version: String(version), releaseCounter: version });
      v.director.addTarget(`tcu/app-${version}.tar`, `application image ${version}`, { hardwareIds: ['tcu-a'] });
      v.image.honestPublish(version);
      v.director.honestPublish(version);
      changed.push(await refreshBoth());
    }
    emit('ota.metadata_refresh.both_repos.unchanged.median', median(unchanged), 'ms');
    emit('ota.metadata_refresh.both_repos.all_roles_changed.median', median(changed), 'ms');
  } finally {
    rmSync(v.base, { recursive: true, force: true });
  }
}
