import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { buildRoot, buildSnapshot, buildTargets, buildTimestamp, metaFileFor, metadataBytes, signMetadata, targetFileFor, type Ed25519PrivateKey, type TufRole } from '../../ota/repo/index.js';
import { DAY } from './ota-repos.js';

/**
 * A TUF repository laid out as another tool (python-tuf, tuf-js's own tests, go-tuf) publishes it
 * with `consistent_snapshot: true` (TUF 5.4 to 5.7): `N.root.json`, `timestamp.json`,
 * `N.snapshot.json`, `N.targets.json`, and every target under `targets/<dir>/<hash>.<file>` for each
 * of its hashes. There is no plain `snapshot.json`, `targets.json` or `targets/<name>`: a client
 * that does not follow consistent snapshots finds nothing.
 */
export interface ConsistentTarget {
  name: string;
  bytes: Uint8Array | string;
  custom: unknown;
}

export function publishConsistent(dir: string, options: { keys: Record<TufRole, Ed25519PrivateKey[]>; thresholds: Record<TufRole, number>; targets: ConsistentTarget[]; version: number; nowMs?: number }): void {
  const now = options.nowMs ?? Date.now();
  const { keys, thresholds, version } = options;
  const spec = (role: TufRole) => ({ keys: keys[role].map((k) => k.publicKey()), threshold: thresholds[role] });
  const root = buildRoot({ expires: new Date(now + 365 * DAY), roles: { root: spec('root'), targets: spec('targets'), snapshot: spec('snapshot'), timestamp: spec('timestamp') }, consistentSnapshot: true });
  signMetadata(root, keys.root);

  const entries = options.targets.map((t) => ({ file: targetFileFor(t.name, Buffer.from(t.bytes), t.custom), bytes: Buffer.from(t.bytes) }));
  const targets = buildTargets({ version, expires: new Date(now + 90 * DAY), targets: Object.fromEntries(entries.map((e) => [e.file.path, e.file])) });
  signMetadata(targets, keys.targets);
  const targetsBytes = metadataBytes(targets);
  const snapshot = buildSnapshot({ version, expires: new Date(now + 7 * DAY), meta: { 'targets.json': metaFileFor(version, targetsBytes) } });
  signMetadata(snapshot, keys.snapshot);
  const snapshotBytes = metadataBytes(snapshot);
  const timestamp = buildTimestamp({ version, expires: new Date(now + DAY), snapshotMeta: metaFileFor(version, snapshotBytes) });
  signMetadata(timestamp, keys.timestamp);

  const put = (path: string, bytes: Uint8Array): void => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), bytes);
  };
  put('1.root.json', metadataBytes(root));
  put('root.json', metadataBytes(root));
  put(`${version}.targets.json`, targetsBytes);
  put(`${version}.snapshot.json`, snapshotBytes);
  put('timestamp.json', metadataBytes(timestamp));
  for (const { file, bytes } of entries) {
    const { dir: folder, base } = posix.parse(file.path);
    for (const hash of Object.values(file.hashes)) put(posix.join('targets', folder, `${hash}.${base}`), bytes);
  }
}
