import { afterEach, describe, expect, it } from 'vitest';
import { TcuError } from '../../../core/errors.js';
import { targetFileFor } from '../../../ota/repo/index.js';
import { parseTargetCustom } from '../../../ota/target-custom.js';
import { checkTargetName, targetNameProblem, type TrustedTarget } from '../../../ota/tuf/index.js';
import { resolveUpdate, type ResolveUpdateOptions } from '../../../ota/uptane.js';
import { NAME, attackGroup, directorHonest, directorNames, expectAttackRefused } from '../../helpers/ota-attacks.js';
import { expectValidUpdate, vehicle, type Vehicle } from '../../helpers/ota-repos.js';

/**
 * The two-repository check (director and image), first through real signed repositories and
 * refreshes, then on its own. Each refusal is followed by an honest release that resolves.
 */

let v: Vehicle | undefined;
afterEach(async () => {
  await v?.close();
  v = undefined;
});

async function resolved(veh: Vehicle, options: Partial<ResolveUpdateOptions> = {}) {
  const image = await veh.trusted.image.refresh();
  const director = await veh.trusted.director.refresh();
  return resolveUpdate({ director, image, hardwareId: 'tcu-a', ...options });
}

async function refusedWith(veh: Vehicle, code: string, options: Partial<ResolveUpdateOptions> = {}): Promise<TcuError> {
  const err = await resolved(veh, options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TcuError);
  expect((err as TcuError).code, (err as TcuError).message).toBe(code);
  return err as TcuError;
}

describe('director and image repository, end to end', () => {
  it('agreeing repositories: an update, with the image’s description and the director’s preconditions', async () => {
    v = await vehicle({ transport: 'http' });
    const r = await resolved(v);
    expect(r).toEqual({
      kind: 'update',
      target: {
        name: NAME,
        length: 'application image 1.0'.length,
        hashes: v.image.builder.targets.signed.targets[NAME]!.hashes,
        custom: { hardwareIds: ['tcu-a'], version: '1.0', releaseCounter: 1, rxswin: ['R156-X1'], preconditions: { minSocPercent: 40 } },
      },
    });
  });

  // Disagreement on hash, length or hardware id, a target for other hardware only, and target
  // names that escape their folder (test/helpers/ota-attacks.ts), each followed by an honest release.
  for (const attack of [...attackGroup('director and image repository'), ...attackGroup('path traversal in target names')]) {
    it(`${attack.title}: ${attack.code}`, async () => {
      v = await vehicle();
      await expectAttackRefused(v, attack);
    });
  }

  it('the image repository has no such target: OTA_REPO_DISAGREE', async () => {
    v = await vehicle();
    directorNames(v, 'tcu/app-9.9.tar', 'application image 1.0');
    await refusedWith(v, 'OTA_REPO_DISAGREE');
    directorHonest(v);
    await expectValidUpdate(v, 10);
  });

  it('the director states a release counter other than the image’s: OTA_REPO_DISAGREE', async () => {
    v = await vehicle();
    v.director.addTarget(NAME, 'application image 1.0', { hardwareIds: ['tcu-a'], releaseCounter: 7 });
    v.director.publish();
    await refusedWith(v, 'OTA_REPO_DISAGREE');
    directorHonest(v);
    await expectValidUpdate(v, 10);
  });

  it('wrong hardware id: the director names nothing for this vehicle: OTA_HARDWARE_ID (or up to date when told to ignore)', async () => {
    v = await vehicle();
    const err = await refusedWith(v, 'OTA_HARDWARE_ID', { hardwareId: 'tcu-z' });
    expect(err.details['hardwareId']).toBe('tcu-z');
    expect((await resolved(v, { hardwareId: 'tcu-z', foreignTargets: 'up-to-date' })).kind).toBe('up-to-date');
    await expectValidUpdate(v, 10);
  });

  it('a validly signed downgrade (release counter below the installed one): OTA_DOWNGRADE; the same image installed: up to date', async () => {
    v = await vehicle();
    const asked: string[] = [];
    const err = await refusedWith(v, 'OTA_DOWNGRADE', {
      installedReleaseCounter: (name) => {
        asked.push(name);
        return 2;
      },
    });
    expect(asked).toEqual([NAME]);
    expect(err.details).toMatchObject({ releaseCounter: 1, installed: 2 });
    expect((await resolved(v, { installed: { releaseCounter: 1 } })).kind).toBe('update');
    const sha256 = v.image.builder.targets.signed.targets[NAME]!.hashes['sha256']!;
    const same = await resolved(v, { installed: { releaseCounter: 1, hashes: { sha256 } } });
    expect(same.kind).toBe('up-to-date');
    expect(same.target?.name).toBe(NAME);
    // Release counter 3 is published: the update goes through.
    v.image.addTarget(NAME, 'application image 1.0', { hardwareIds: ['tcu-a'], version: '1.0', releaseCounter: 3 });
    v.image.publish();
    expect((await resolved(v, { installedReleaseCounter: () => 2 })).kind).toBe('update');
  });

  it('a director target whose custom is malformed: OTA_METADATA naming the field', async () => {
    v = await vehicle();
    v.director.builder.putTarget(targetFileFor(NAME, Buffer.from('application image 1.0'), { hardwareIds: ['tcu-a'], preconditions: { parked: 'yes' } }, false));
    v.director.publish();
    const err = await refusedWith(v, 'OTA_METADATA');
    expect(err.details['field']).toMatch(/preconditions\.parked$/);
    directorHonest(v);
    await expectValidUpdate(v, 10);
  });

  it('a director with no targets: up to date', async () => {
    v = await vehicle();
    v.director.builder.removeTarget(NAME);
    v.director.publish();
    expect(await resolved(v)).toEqual({ kind: 'up-to-date' });
  });
});

describe('resolveUpdate on its own', () => {
  const sha = (c: string) => c.repeat(64);
  const entry = (name: string, custom: unknown, hash = sha('a'), length = 10): TrustedTarget => ({ name, length, hashes: { sha256: hash }, custom });
  const repo = (...targets: TrustedTarget[]) => ({ targets: new Map(targets.map((t) => [t.name, t])) });
  const code = (fn: () => unknown): string => {
    try {
      fn();
    } catch (e) {
      return (e as TcuError).code;
    }
    return 'accepted';
  };

  it('two director entries for our hardware are ambiguous: OTA_METADATA', () => {
    const a = entry('a', { hardwareIds: ['hw'] });
    const b = entry('b', { hardwareIds: ['hw'] });
    expect(code(() => resolveUpdate({ director: repo(a, b), image: repo(a, b), hardwareId: 'hw' }))).toBe('OTA_METADATA');
  });

  it('an entry without hardwareIds, uppercase or missing sha256: OTA_METADATA', () => {
    const ok = entry('a', { hardwareIds: ['hw'] });
    expect(code(() => resolveUpdate({ director: repo(entry('a', {})), image: repo(ok), hardwareId: 'hw' }))).toBe('OTA_METADATA');
    expect(code(() => resolveUpdate({ director: repo(entry('a', { hardwareIds: ['hw'] }, sha('A'))), image: repo(ok), hardwareId: 'hw' }))).toBe('OTA_METADATA');
    const noSha: TrustedTarget = { name: 'a', length: 10, hashes: { sha512: 'b'.repeat(128) }, custom: { hardwareIds: ['hw'] } };
    expect(code(() => resolveUpdate({ director: repo(noSha), image: repo(ok), hardwareId: 'hw' }))).toBe('OTA_METADATA');
  });

  it('hashes compared for every algorithm both give; an extra algorithm on one side is fine', () => {
    const d: TrustedTarget = { name: 'a', length: 10, hashes: { sha256: sha('a') }, custom: { hardwareIds: ['hw'] } };
    const i: TrustedTarget = { name: 'a', length: 10, hashes: { sha256: sha('a'), sha512: 'c'.repeat(128) }, custom: { hardwareIds: ['hw'] } };
    const r = resolveUpdate({ director: repo(d), image: repo(i), hardwareId: 'hw' });
    expect(r.kind === 'update' && r.target.hashes).toEqual({ sha256: sha('a') });
    const d2: TrustedTarget = { ...d, hashes: { sha256: sha('a'), sha512: 'd'.repeat(128) } };
    expect(code(() => resolveUpdate({ director: repo(d2), image: repo(i), hardwareId: 'hw' }))).toBe('OTA_REPO_DISAGREE');
  });

  it('a target without a release counter counts as 0 against an installed one', () => {
    const t = entry('a', { hardwareIds: ['hw'] });
    expect(code(() => resolveUpdate({ director: repo(t), image: repo(t), hardwareId: 'hw', installedReleaseCounter: () => 1 }))).toBe('OTA_DOWNGRADE');
    expect(code(() => resolveUpdate({ director: repo(t), image: repo(t), hardwareId: 'hw', installedReleaseCounter: () => 0 }))).toBe('accepted');
  });
});

describe('target names', () => {
  it('accepts ordinary relative paths', () => {
    for (const ok of ['app.tar', 'tcu/app-1.0.tar', 'ecu_1/fw+v2@build~3.bin', 'a b/c.d']) expect(targetNameProblem(ok)).toBeUndefined();
  });

  it('refuses everything that could leave the folder, with OTA_TARGET_NAME', () => {
    const bad = ['', '/abs', 'C:/x', 'c:x', 'a/../b', '..', '.', 'a/./b', 'a//b', 'a/', 'a\\b', 'a\u0000b', 'a\nb', 'a%2fb', 'x'.repeat(1025), `${'y'.repeat(256)}/z`];
    for (const name of bad) {
      expect(targetNameProblem(name), JSON.stringify(name)).toBeDefined();
      expect(() => checkTargetName(name)).toThrow(expect.objectContaining({ code: 'OTA_TARGET_NAME' }) as Error);
    }
    expect(targetNameProblem(42)).toBe('not a string');
  });
});

describe('parseTargetCustom', () => {
  const full = {
    hardwareIds: ['tcu-a', 'tcu-b'],
    version: '2.1.0',
    releaseCounter: 12,
    rxswin: ['R156-A', 'R10-B'],
    userInfo: { purpose: 'security fix', changes: 'TLS update', durationSeconds: 600, unavailableFunctions: ['remote unlock'] },
    preconditions: { minSocPercent: 30, parked: true, ignitionOff: true, consentRequired: true, workshopOnly: false },
    network: { cellularAllowed: true, roamingAllowed: false, maxBytes: 50_000_000, window: '22:00-05:30' },
    rollout: { campaign: 'C-2024-07', stages: [1, 10, 50, 100] },
  };

  it('reads every field and ignores unknown ones', () => {
    expect(parseTargetCustom({ ...full, vendorSpecific: { x: 1 }, userInfo: { ...full.userInfo, colour: 'red' } })).toEqual(full);
    expect(parseTargetCustom({ hardwareIds: ['x'] })).toEqual({ hardwareIds: ['x'] });
  });

  const wrong: [string, unknown][] = [
    ['custom', null],
    ['custom', [1]],
    ['custom.hardwareIds', { ...full, hardwareIds: undefined }],
    ['custom.hardwareIds', { ...full, hardwareIds: [] }],
    ['custom.hardwareIds[1]', { ...full, hardwareIds: ['a', 3] }],
    ['custom.version', { ...full, version: 2 }],
    ['custom.releaseCounter', { ...full, releaseCounter: -1 }],
    ['custom.releaseCounter', { ...full, releaseCounter: 1.5 }],
    ['custom.rxswin', { ...full, rxswin: 'R156' }],
    ['custom.userInfo', { ...full, userInfo: 'text' }],
    ['custom.userInfo.durationSeconds', { ...full, userInfo: { durationSeconds: '10' } }],
    ['custom.userInfo.unavailableFunctions[0]', { ...full, userInfo: { unavailableFunctions: [null] } }],
    ['custom.preconditions.minSocPercent', { ...full, preconditions: { minSocPercent: 101 } }],
    ['custom.preconditions.parked', { ...full, preconditions: { parked: 'true' } }],
    ['custom.network.maxBytes', { ...full, network: { maxBytes: -5 } }],
    ['custom.network.window', { ...full, network: { window: '25:00-01:00' } }],
    ['custom.network.roamingAllowed', { ...full, network: { roamingAllowed: 1 } }],
    ['custom.rollout.stages', { ...full, rollout: { stages: [] } }],
    ['custom.rollout.stages[1]', { ...full, rollout: { stages: [10, 5] } }],
    ['custom.rollout.stages[0]', { ...full, rollout: { stages: [0] } }],
    ['custom.rollout.campaign', { ...full, rollout: { campaign: 5 } }],
  ];
  for (const [field, value] of wrong) {
    it(`refuses a wrong ${field} with OTA_METADATA naming it`, () => {
      let err: unknown;
      try {
        parseTargetCustom(value);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(TcuError);
      expect((err as TcuError).code).toBe('OTA_METADATA');
      expect((err as TcuError).details['field']).toBe(field);
    });
  }
});
