import { afterEach, describe, expect, it, vi } from 'vitest';
import { attackGroup, expectAttackRefused } from '../../helpers/ota-attacks.js';
import { DAY, expectRefused, expectValidUpdate, vehicle, type Vehicle } from '../../helpers/ota-repos.js';

/**
 * TUF attacks on one repository at a time (the catalogue of test/helpers/ota-attacks.ts, which
 * test/integration/ota-apply-attacks.test.ts runs through `tcu-agent ota apply` too). Each ends
 * refused with its code, with the trusted folder byte for byte as it was, and an honest release
 * afterwards is still accepted and resolves to an update. Served as files here; tests over HTTP are
 * in fetch.test.ts and rotation.test.ts; the director and image repository, target names and root
 * rotation in uptane.test.ts and rotation.test.ts.
 */

let v: Vehicle;
afterEach(async () => {
  vi.useRealTimers();
  await v?.close();
});

const TUF_GROUPS = ['signatures', 'freeze attacks: expired metadata', 'rollback attacks', 'mix-and-match: files from different releases'];

// attackGroup throws for a name the catalogue does not have: a renamed group fails here rather than running nothing.
for (const name of TUF_GROUPS) {
  const attacks = attackGroup(name);
  describe(name, () => {
    it('has attacks', () => expect(attacks.length).toBeGreaterThan(0));
    for (const attack of attacks) {
      it(`${attack.title}: ${attack.code}`, async () => {
        v = await vehicle();
        await expectAttackRefused(v, attack);
      });
    }
  });
}

describe('freeze attacks: without new metadata', () => {
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
