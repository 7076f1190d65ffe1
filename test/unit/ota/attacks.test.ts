import { afterEach, describe, expect, it, vi } from 'vitest';
import { TargetFile, type MetaFile } from '@tufjs/models';
import { buildSnapshot, buildTimestamp, metaFileFor, metadataBytes, signMetadata, type Signer } from '../../../ota/repo/index.js';
import { DAY, aliasSigner, expectRefused, expectValidUpdate, testKey, vehicle, type TestRepo, type Vehicle } from '../../helpers/ota-repos.js';

/**
 * TUF attacks on one repository at a time. Each ends refused with its code, with the trusted
 * folder byte for byte as it was, and an honest release afterwards is still accepted and resolves
 * to an update. Served as files here; tests over HTTP are in fetch.test.ts and rotation.test.ts.
 */

let v: Vehicle;
afterEach(async () => {
  vi.useRealTimers();
  await v?.close();
});

function timestampFor(repo: TestRepo, version: number, snapshot: { version: number; bytes?: Buffer }, signers: Signer[] = repo.keys.timestamp): Buffer {
  const md = buildTimestamp({ version, expires: new Date(repo.nowMs + DAY), snapshotMeta: metaFileFor(snapshot.version, snapshot.bytes) });
  signMetadata(md, signers);
  return metadataBytes(md);
}

function snapshotFor(repo: TestRepo, version: number, meta: Record<string, MetaFile>): Buffer {
  const md = buildSnapshot({ version, expires: new Date(repo.nowMs + 7 * DAY), meta });
  signMetadata(md, repo.keys.snapshot);
  return metadataBytes(md);
}

/** Writes targets bytes, a snapshot naming them and a timestamp naming that snapshot. */
function publishRawTargets(repo: TestRepo, targets: Buffer, targetsVersion: number, version: number): void {
  const snapshot = snapshotFor(repo, version, { 'targets.json': metaFileFor(targetsVersion, targets) });
  repo.put('targets.json', targets);
  repo.put('snapshot.json', snapshot);
  repo.put('timestamp.json', timestampFor(repo, version, { version, bytes: snapshot }));
}

describe('signatures', () => {
  it('a timestamp signed by a key the root does not list: OTA_SIGNATURE', async () => {
    v = await vehicle();
    const b = v.image.builder;
    b.signTargets(v.image.keys.targets);
    b.signSnapshot(v.image.keys.snapshot);
    b.signTimestamp([testKey(99)]);
    b.write(v.image.dir);
    await expectRefused(v, 'image', 'OTA_SIGNATURE');
    await expectValidUpdate(v, 10);
  });

  it('targets changed after signing (the signature no longer verifies): OTA_SIGNATURE', async () => {
    v = await vehicle();
    const b = v.image.builder;
    b.signTargets(v.image.keys.targets);
    const honest = b.targets.signed.targets['tcu/app-1.0.tar']!;
    b.putTarget(new TargetFile({ path: honest.path, length: honest.length, hashes: { sha256: 'ab'.repeat(32) }, unrecognizedFields: honest.unrecognizedFields }));
    b.publish(v.image.keys.snapshot, v.image.keys.timestamp);
    b.write(v.image.dir);
    const err = await expectRefused(v, 'image', 'OTA_SIGNATURE');
    expect(err.message).toMatch(/targets was signed by 0\/2 keys/);
    b.putTarget(honest);
    await expectValidUpdate(v, 10);
  });

  it('a snapshot with no signatures: OTA_SIGNATURE', async () => {
    v = await vehicle();
    const b = v.director.builder;
    b.signTargets(v.director.keys.targets);
    b.signSnapshot([]);
    b.signTimestamp(v.director.keys.timestamp);
    b.write(v.director.dir);
    await expectRefused(v, 'director', 'OTA_SIGNATURE');
    await expectValidUpdate(v, 10);
  });

  it('threshold not met: image targets signed by 1 of the 2 keys it needs: OTA_SIGNATURE', async () => {
    v = await vehicle();
    const b = v.image.builder;
    b.signTargets([v.image.keys.targets[0]!]);
    b.publish(v.image.keys.snapshot, v.image.keys.timestamp);
    b.write(v.image.dir);
    const err = await expectRefused(v, 'image', 'OTA_SIGNATURE');
    expect(err.message).toMatch(/1\/2/);
    await expectValidUpdate(v, 10);
  });

  it('the same key counted twice: one signature listed twice under its key id: OTA_SIGNATURE', async () => {
    v = await vehicle();
    const b = v.image.builder;
    b.signTargets([v.image.keys.targets[0]!]);
    const json = JSON.parse(metadataBytes(b.targets).toString()) as { signatures: unknown[] };
    json.signatures.push(json.signatures[0]);
    publishRawTargets(v.image, Buffer.from(JSON.stringify(json)), b.targets.signed.version, 5);
    const err = await expectRefused(v, 'image', 'OTA_SIGNATURE');
    expect(err.message).toMatch(/multiple signatures/);
    await expectValidUpdate(v, 10);
  });

  it('the same key counted twice: a root listing one targets key under two key ids (tuf-js counts ids; we count keys): OTA_SIGNATURE', async () => {
    v = await vehicle();
    const r = v.image;
    const k = r.keys.targets[0]!;
    const alias = 'f'.repeat(64);
    r.builder.rotateRoot({ roles: { targets: { keys: [k.publicKey(), { keyId: alias, publicHex: k.publicHex }], threshold: 2 } } }, r.keys.root);
    r.builder.signTargets([k, aliasSigner(k, alias)]);
    r.builder.publish(r.keys.snapshot, r.keys.timestamp);
    r.builder.write(r.dir);
    const err = await expectRefused(v, 'image', 'OTA_SIGNATURE');
    expect(err.message).toMatch(/targets\.json is not signed by a threshold of distinct targets keys/);
    // The repository fixes its root (a proper version 2) and publishes honestly.
    r.builder.rotateRoot({ version: 2, roles: { targets: { keys: r.keys.targets.map((x) => x.publicKey()), threshold: 2 } } }, r.keys.root);
    await expectValidUpdate(v, 10);
  });
});

describe('freeze attacks: expired metadata', () => {
  const past = (r: TestRepo) => new Date(r.nowMs - 3600_000);

  for (const role of ['timestamp', 'snapshot', 'targets'] as const) {
    it(`${role}.json expired by the system clock: OTA_EXPIRED`, async () => {
      v = await vehicle();
      const r = v.image;
      const expired = { expires: past(r) };
      r.builder.signTargets(r.keys.targets, role === 'targets' ? expired : {});
      r.builder.signSnapshot(r.keys.snapshot, role === 'snapshot' ? expired : {});
      r.builder.signTimestamp(r.keys.timestamp, role === 'timestamp' ? expired : {});
      r.builder.write(r.dir);
      const err = await expectRefused(v, 'image', 'OTA_EXPIRED');
      expect(err.message).toContain(`${role}.json is expired`);
      await expectValidUpdate(v, 10);
    });
  }

  it('root.json expired (a new root that is already expired): OTA_EXPIRED', async () => {
    v = await vehicle();
    const r = v.director;
    r.builder.rotateRoot({ expires: past(r) }, r.keys.root);
    r.builder.write(r.dir);
    const err = await expectRefused(v, 'director', 'OTA_EXPIRED');
    expect(err.message).toContain('root.json is expired');
    r.builder.rotateRoot({ version: 2, expires: r.expiries().root }, r.keys.root);
    await expectValidUpdate(v, 10);
  });

  for (const role of ['root', 'timestamp', 'snapshot', 'targets'] as const) {
    it(`${role}.json valid by the system clock but expired at the reference time: OTA_EXPIRED (our check after tuf-js)`, async () => {
      v = await vehicle();
      const r = v.image;
      const soon = { expires: new Date(r.nowMs + 3600_000) };
      if (role === 'root') r.builder.rotateRoot(soon, r.keys.root);
      r.builder.signTargets(r.keys.targets, role === 'targets' ? soon : {});
      r.builder.signSnapshot(r.keys.snapshot, role === 'snapshot' ? soon : {});
      r.builder.signTimestamp(r.keys.timestamp, role === 'timestamp' ? soon : {});
      r.builder.write(r.dir);
      const now = new Date(r.nowMs + 2 * 3600_000);
      const err = await expectRefused(v, 'image', 'OTA_EXPIRED', { now });
      expect(err.details['role']).toBe(role);
      if (role === 'root') r.builder.rotateRoot({ version: 2, expires: r.expiries().root }, r.keys.root);
      await expectValidUpdate(v, 10, { now });
    });
  }

  it('a repository that stops publishing (the same timestamp served after it expired): OTA_EXPIRED', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now());
    v = await vehicle();
    vi.setSystemTime(v.image.nowMs + 2 * DAY);
    const err = await expectRefused(v, 'image', 'OTA_EXPIRED');
    expect(err.message).toContain('timestamp.json is expired');
    // The repository publishes again (dated from the new now).
    const later = v.image.nowMs + 2 * DAY;
    const e = { targets: new Date(later + 90 * DAY), snapshot: new Date(later + 7 * DAY), timestamp: new Date(later + DAY) };
    for (const r of [v.image, v.director]) {
      r.builder.signTargets(r.keys.targets, { version: 10, expires: e.targets });
      r.builder.signSnapshot(r.keys.snapshot, { version: 10, expires: e.snapshot });
      r.builder.signTimestamp(r.keys.timestamp, { version: 10, expires: e.timestamp });
      r.builder.write(r.dir);
    }
    expect((await v.trusted.image.refresh()).versions.timestamp).toBe(10);
  });

  it('offline: the metadata already trusted expires while the vehicle has no network: OTA_EXPIRED', async () => {
    v = await vehicle();
    const later = new Date(v.image.nowMs + 2 * DAY);
    expect(v.trusted.image.loadTrusted().versions.timestamp).toBe(1);
    const err = (() => {
      try {
        v.trusted.image.loadTrusted({ now: later });
      } catch (e) {
        return e as { code: string; details: Record<string, unknown> };
      }
      throw new Error('accepted');
    })();
    expect(err.code).toBe('OTA_EXPIRED');
    expect(err.details['role']).toBe('timestamp');
    // Back online, a fresh release is accepted.
    await expectValidUpdate(v, 10);
  });
});

describe('rollback attacks', () => {
  it('timestamp.json: an older version replayed: OTA_ROLLBACK', async () => {
    v = await vehicle();
    const old = v.image.file('timestamp.json');
    v.image.honestPublish(2);
    await v.trusted.image.refresh();
    v.image.put('timestamp.json', old);
    const err = await expectRefused(v, 'image', 'OTA_ROLLBACK');
    expect(err.message).toMatch(/timestamp version 1 is less than current version 2/);
    await expectValidUpdate(v, 10);
  });

  it('snapshot.json: a new timestamp naming the old snapshot: OTA_ROLLBACK', async () => {
    v = await vehicle();
    const old = v.image.file('snapshot.json');
    v.image.honestPublish(2);
    await v.trusted.image.refresh();
    v.image.put('snapshot.json', old);
    v.image.put('timestamp.json', timestampFor(v.image, 3, { version: 1, bytes: old }));
    const err = await expectRefused(v, 'image', 'OTA_ROLLBACK');
    expect(err.message).toMatch(/snapshot version 1 is less than current version 2/);
    await expectValidUpdate(v, 10);
  });

  it('targets.json: a new snapshot naming the old targets: OTA_ROLLBACK', async () => {
    v = await vehicle();
    const old = v.director.file('targets.json');
    v.director.honestPublish(2);
    await v.trusted.director.refresh();
    publishRawTargets(v.director, old, 1, 3);
    const err = await expectRefused(v, 'director', 'OTA_ROLLBACK');
    expect(err.message).toMatch(/version 1 of targets.json is less than current version 2/);
    await expectValidUpdate(v, 10);
  });

  it('a snapshot that drops targets.json: OTA_ROLLBACK', async () => {
    v = await vehicle();
    const snapshot = snapshotFor(v.image, 3, {});
    v.image.put('snapshot.json', snapshot);
    v.image.put('timestamp.json', timestampFor(v.image, 3, { version: 3, bytes: snapshot }));
    const err = await expectRefused(v, 'image', 'OTA_ROLLBACK');
    expect(err.message).toMatch(/Missing file targets.json in new snapshot/);
    await expectValidUpdate(v, 10);
  });
});

describe('mix-and-match: files from different releases', () => {
  it('a new timestamp served with the previous snapshot (hash given): OTA_ROLLBACK', async () => {
    v = await vehicle();
    const old = v.image.file('snapshot.json');
    v.image.honestPublish(2);
    v.image.put('snapshot.json', old);
    const err = await expectRefused(v, 'image', 'OTA_ROLLBACK');
    expect(err.message).toMatch(/Expected (length|hash)/);
    await expectValidUpdate(v, 10);
  });

  it('a timestamp naming snapshot version 3 (no hash) served with snapshot version 2: OTA_ROLLBACK', async () => {
    v = await vehicle();
    v.image.honestPublish(2);
    await v.trusted.image.refresh();
    v.image.put('timestamp.json', timestampFor(v.image, 3, { version: 3 }));
    const err = await expectRefused(v, 'image', 'OTA_ROLLBACK');
    expect(err.message).toMatch(/Snapshot version doesn't match timestamp/);
    await expectValidUpdate(v, 10);
  });

  it('a new snapshot served with the previous targets: OTA_ROLLBACK', async () => {
    v = await vehicle();
    const old = v.director.file('targets.json');
    v.director.honestPublish(2);
    v.director.put('targets.json', old);
    const err = await expectRefused(v, 'director', 'OTA_ROLLBACK');
    expect(err.message).toMatch(/Expected (length|hash)/);
    await expectValidUpdate(v, 10);
  });
});
