import type { RepositoryBuilder, TufRole } from '../repo/index.js';
import { loadRepository, resignAndWrite, withRepositoryLock, type Versions } from './repo-io.js';
import { roleSigners, type KeyFile } from './signing.js';

/** The director's online keys, as files (`--key`, `--snapshot-key`, `--timestamp-key`). */
export interface DirectorKeys {
  targets: readonly KeyFile[];
  snapshot: readonly KeyFile[];
  timestamp: readonly KeyFile[];
}

export interface DirectorUpdate<T> {
  result: T;
  /** Undefined when `change` asked for no write. */
  versions?: Versions;
  /** A targets.json staged by `tcu-ota add` went live with this change. */
  staged: boolean;
}

/**
 * Changes the director under its lock: loads it (fresh from disk), checks the keys against its
 * root, applies `change`, and, unless `change` returned `{ write: false }`, re-signs targets,
 * snapshot and timestamp and writes them. Rollout commands and the automatic pause use this.
 */
export function updateDirector<T>(
  dir: string,
  keys: DirectorKeys,
  times: { expires: Record<TufRole, Date>; issued: Date },
  change: (repo: RepositoryBuilder) => { result: T; write: boolean },
): Promise<DirectorUpdate<T>> {
  return withRepositoryLock(dir, () => {
    const { repo, staged } = loadRepository(dir);
    const targets = roleSigners(repo, 'targets', keys.targets, '--key');
    const snapshot = roleSigners(repo, 'snapshot', keys.snapshot, '--snapshot-key');
    const timestamp = roleSigners(repo, 'timestamp', keys.timestamp, '--timestamp-key');
    const { result, write } = change(repo);
    if (!write) return { result, staged: false };
    return { result, versions: resignAndWrite(repo, dir, { targets, snapshot, timestamp, ...times }), staged };
  });
}
