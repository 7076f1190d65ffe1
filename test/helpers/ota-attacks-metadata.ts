import { TargetFile } from '@tufjs/models';
import { metadataBytes } from '../../ota/repo/index.js';
import { NAME, publishRawTargets, snapshotFor, timestampFor, type Attack } from './ota-attack-builders.js';
import { aliasSigner, testKey, type TestRepo } from './ota-repos.js';

/** The attacks on one repository's TUF metadata (signatures, expiry, rollback, mix-and-match): see ota-attacks.ts. */

export const signatures: Attack[] = [
  {
    title: 'a timestamp signed by a key the root does not list',
    at: 'image',
    code: 'OTA_SIGNATURE',
    plant: (v) => {
      const b = v.image.builder;
      b.signTargets(v.image.keys.targets);
      b.signSnapshot(v.image.keys.snapshot);
      b.signTimestamp([testKey(99)]);
      b.write(v.image.dir);
    },
  },
  {
    title: 'targets changed after signing (the signature no longer verifies)',
    at: 'image',
    code: 'OTA_SIGNATURE',
    message: /targets was signed by 0\/2 keys/,
    plant: (v) => {
      const b = v.image.builder;
      b.signTargets(v.image.keys.targets);
      const honest = b.targets.signed.targets[NAME]!;
      b.putTarget(new TargetFile({ path: honest.path, length: honest.length, hashes: { sha256: 'ab'.repeat(32) }, unrecognizedFields: honest.unrecognizedFields }));
      b.publish(v.image.keys.snapshot, v.image.keys.timestamp);
      b.write(v.image.dir);
      return () => void b.putTarget(honest);
    },
  },
  {
    title: 'a snapshot with no signatures',
    at: 'director',
    code: 'OTA_SIGNATURE',
    plant: (v) => {
      const b = v.director.builder;
      b.signTargets(v.director.keys.targets);
      b.signSnapshot([]);
      b.signTimestamp(v.director.keys.timestamp);
      b.write(v.director.dir);
    },
  },
  {
    title: 'threshold not met: image targets signed by 1 of the 2 keys it needs',
    at: 'image',
    code: 'OTA_SIGNATURE',
    message: /1\/2/,
    plant: (v) => {
      const b = v.image.builder;
      b.signTargets([v.image.keys.targets[0]!]);
      b.publish(v.image.keys.snapshot, v.image.keys.timestamp);
      b.write(v.image.dir);
    },
  },
  {
    title: 'the same key counted twice: one signature listed twice under its key id',
    at: 'image',
    code: 'OTA_SIGNATURE',
    message: /multiple signatures/,
    plant: (v) => {
      const b = v.image.builder;
      b.signTargets([v.image.keys.targets[0]!]);
      const json = JSON.parse(metadataBytes(b.targets).toString()) as { signatures: unknown[] };
      json.signatures.push(json.signatures[0]);
      publishRawTargets(v.image, Buffer.from(JSON.stringify(json)), b.targets.signed.version, 5);
    },
  },
  {
    title: 'the same key counted twice: a root listing one targets key under two key ids (tuf-js counts ids; we count keys)',
    at: 'image',
    code: 'OTA_SIGNATURE',
    message: /targets\.json is not signed by a threshold of distinct targets keys/,
    plant: (v) => {
      const r = v.image;
      const k = r.keys.targets[0]!;
      const alias = 'f'.repeat(64);
      r.builder.rotateRoot({ roles: { targets: { keys: [k.publicKey(), { keyId: alias, publicHex: k.publicHex }], threshold: 2 } } }, r.keys.root);
      r.builder.signTargets([k, aliasSigner(k, alias)]);
      r.builder.publish(r.keys.snapshot, r.keys.timestamp);
      r.builder.write(r.dir);
      // The repository fixes its root (a proper version 2).
      return () => r.builder.rotateRoot({ version: 2, roles: { targets: { keys: r.keys.targets.map((x) => x.publicKey()), threshold: 2 } } }, r.keys.root);
    },
  },
];

const past = (r: TestRepo): Date => new Date(r.nowMs - 3600_000);

export const freeze: Attack[] = [
  ...(['timestamp', 'snapshot', 'targets'] as const).map(
    (role): Attack => ({
      title: `${role}.json expired by the system clock`,
      at: 'image',
      code: 'OTA_EXPIRED',
      message: new RegExp(`${role}\\.json is expired`),
      plant: (v) => {
        const r = v.image;
        const expired = { expires: past(r) };
        r.builder.signTargets(r.keys.targets, role === 'targets' ? expired : {});
        r.builder.signSnapshot(r.keys.snapshot, role === 'snapshot' ? expired : {});
        r.builder.signTimestamp(r.keys.timestamp, role === 'timestamp' ? expired : {});
        r.builder.write(r.dir);
      },
    }),
  ),
  {
    title: 'root.json expired (a new root that is already expired)',
    at: 'director',
    code: 'OTA_EXPIRED',
    message: /root\.json is expired/,
    plant: (v) => {
      const r = v.director;
      r.builder.rotateRoot({ expires: past(r) }, r.keys.root);
      r.builder.write(r.dir);
      return () => r.builder.rotateRoot({ version: 2, expires: r.expiries().root }, r.keys.root);
    },
  },
  ...(['root', 'timestamp', 'snapshot', 'targets'] as const).map(
    (role): Attack => ({
      title: `${role}.json valid by the system clock but expired at the reference time (our check after tuf-js)`,
      at: 'image',
      code: 'OTA_EXPIRED',
      details: { role },
      now: (v) => new Date(v.image.nowMs + 2 * 3600_000),
      plant: (v) => {
        const r = v.image;
        const soon = { expires: new Date(r.nowMs + 3600_000) };
        if (role === 'root') r.builder.rotateRoot(soon, r.keys.root);
        r.builder.signTargets(r.keys.targets, role === 'targets' ? soon : {});
        r.builder.signSnapshot(r.keys.snapshot, role === 'snapshot' ? soon : {});
        r.builder.signTimestamp(r.keys.timestamp, role === 'timestamp' ? soon : {});
        r.builder.write(r.dir);
        if (role === 'root') return () => r.builder.rotateRoot({ version: 2, expires: r.expiries().root }, r.keys.root);
      },
    }),
  ),
];

export const rollback: Attack[] = [
  {
    title: 'timestamp.json: an older version replayed',
    at: 'image',
    code: 'OTA_ROLLBACK',
    message: /timestamp version 1 is less than current version 2/,
    plant: async (v) => {
      const old = v.image.file('timestamp.json');
      v.image.honestPublish(2);
      await v.trusted.image.refresh();
      v.image.put('timestamp.json', old);
    },
  },
  {
    title: 'snapshot.json: a new timestamp naming the old snapshot',
    at: 'image',
    code: 'OTA_ROLLBACK',
    message: /snapshot version 1 is less than current version 2/,
    plant: async (v) => {
      const old = v.image.file('snapshot.json');
      v.image.honestPublish(2);
      await v.trusted.image.refresh();
      v.image.put('snapshot.json', old);
      v.image.put('timestamp.json', timestampFor(v.image, 3, { version: 1, bytes: old }));
    },
  },
  {
    title: 'targets.json: a new snapshot naming the old targets',
    at: 'director',
    code: 'OTA_ROLLBACK',
    message: /version 1 of targets.json is less than current version 2/,
    plant: async (v) => {
      const old = v.director.file('targets.json');
      v.director.honestPublish(2);
      await v.trusted.director.refresh();
      publishRawTargets(v.director, old, 1, 3);
    },
  },
  {
    title: 'a snapshot that drops targets.json',
    at: 'image',
    code: 'OTA_ROLLBACK',
    message: /Missing file targets.json in new snapshot/,
    plant: (v) => {
      const snapshot = snapshotFor(v.image, 3, {});
      v.image.put('snapshot.json', snapshot);
      v.image.put('timestamp.json', timestampFor(v.image, 3, { version: 3, bytes: snapshot }));
    },
  },
];

export const mixAndMatch: Attack[] = [
  {
    title: 'a new timestamp served with the previous snapshot (hash given)',
    at: 'image',
    code: 'OTA_ROLLBACK',
    message: /Expected (length|hash)/,
    plant: (v) => {
      const old = v.image.file('snapshot.json');
      v.image.honestPublish(2);
      v.image.put('snapshot.json', old);
    },
  },
  {
    title: 'a timestamp naming snapshot version 3 (no hash) served with snapshot version 2',
    at: 'image',
    code: 'OTA_ROLLBACK',
    message: /Snapshot version doesn't match timestamp/,
    plant: async (v) => {
      v.image.honestPublish(2);
      await v.trusted.image.refresh();
      v.image.put('timestamp.json', timestampFor(v.image, 3, { version: 3 }));
    },
  },
  {
    title: 'a new snapshot served with the previous targets',
    at: 'director',
    code: 'OTA_ROLLBACK',
    message: /Expected (length|hash)/,
    plant: (v) => {
      const old = v.director.file('targets.json');
      v.director.honestPublish(2);
      v.director.put('targets.json', old);
    },
  },
];
