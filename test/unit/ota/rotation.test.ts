import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { attackGroup, expectAttackRefused, rootKeys as keys, roleOf as pub } from '../../helpers/ota-attacks.js';
import { expectRefused, expectValidUpdate, testKey, vehicle, type Vehicle } from '../../helpers/ota-repos.js';

/**
 * Root rotation (TUF 5.3): each N+1.root.json must carry a threshold of signatures of root N's root
 * keys and of its own, and be version N+1. Half of these run over a real HTTP server.
 */

let v: Vehicle;
afterEach(async () => {
  await v?.close();
});

function trustedRootVersion(dir: string): number {
  return (JSON.parse(readFileSync(join(dir, 'root.json'), 'utf8')) as { signed: { version: number } }).signed.version;
}

describe.each(['file', 'http'] as const)('root rotation (%s)', (transport) => {
  it('a valid chain 1 → 2 → 3 changing the root and timestamp keys is accepted and committed', async () => {
    v = await vehicle({ transport });
    const r = v.image;
    const root2 = keys(60);
    const root3 = keys(62);
    const ts3 = testKey(64);
    r.builder.rotateRoot({ roles: { root: pub(root2) } }, [...r.keys.root, ...root2]);
    r.builder.rotateRoot({ roles: { root: pub(root3), timestamp: { keys: [ts3.publicKey()], threshold: 1 } } }, [...root2, ...root3]);
    r.keys.root = root3;
    r.keys.timestamp = [ts3];
    const result = await expectValidUpdate(v, 5);
    expect(result.kind).toBe('update');
    expect(trustedRootVersion(v.trusted.image.dir)).toBe(3);
    expect(trustedRootVersion(join(v.trusted.image.dir, 'previous'))).toBe(1);
    if (v.server) expect(v.server.requests.filter((p) => p.startsWith('/image/') && p.endsWith('.root.json'))).toEqual(['/image/2.root.json', '/image/2.root.json', '/image/3.root.json', '/image/4.root.json']);
  });

  // The bad rotations (test/helpers/ota-attacks.ts), each followed by a proper one.
  for (const attack of attackGroup('root rotation')) {
    it(`${attack.title}: ${attack.code}`, async () => {
      v = await vehicle({ transport });
      await expectAttackRefused(v, attack);
    });
  }
});

describe('root rotation: other shapes', () => {
  it('a 2.root.json that is not JSON: OTA_METADATA', async () => {
    v = await vehicle();
    v.image.put('2.root.json', Buffer.from('{"signed": '));
    await expectRefused(v, 'image', 'OTA_METADATA');
    v.image.remove('2.root.json');
    await expectValidUpdate(v, 5);
  });

  it('a gap in the chain (3.root.json, no 2.root.json) is never reached: metadata signed by the new keys is refused with OTA_SIGNATURE', async () => {
    v = await vehicle();
    const r = v.image;
    const ts = testKey(70);
    r.builder.rotateRoot({ version: 3, roles: { timestamp: { keys: [ts.publicKey()], threshold: 1 } } }, r.keys.root);
    r.keys.timestamp = [ts];
    r.builder.signTimestamp(r.keys.timestamp, { version: 3 });
    r.builder.write(r.dir);
    r.remove('2.root.json');
    await expectRefused(v, 'image', 'OTA_SIGNATURE');
    expect(trustedRootVersion(v.trusted.image.dir)).toBe(1);
    // The repository publishes the missing link; the chain 1 → 2 → 3 is then walked.
    r.builder.rotateRoot({ version: 2 }, r.keys.root);
    await expectValidUpdate(v, 5);
    expect(trustedRootVersion(v.trusted.image.dir)).toBe(3);
  });
});
