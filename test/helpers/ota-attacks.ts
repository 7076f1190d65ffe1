import { TargetFile } from '@tufjs/models';
import { expect } from 'vitest';
import type { RefreshOptions } from '../../ota/tuf/index.js';
import { resolveUpdate } from '../../ota/uptane.js';
import { BYTES, EVIL_TARGET_NAMES, NAME, directorHonest, directorNames, plantTargetName, properRotation, roleOf, rootKeys, type Attack, type AttackGroup } from './ota-attack-builders.js';
import { freeze, mixAndMatch, rollback, signatures } from './ota-attacks-metadata.js';
import { expectRefused, expectValidUpdate, rejection, type Vehicle } from './ota-repos.js';

export * from './ota-attack-builders.js';

/**
 * The attacks of issue 5 ("Tests: attacks and faults") that a repository can plant, each as data:
 * how to plant it into the served repositories of a `vehicle()` (and the trusted state it needs
 * first), the refusal it must end in, and how the repository repairs itself before its next honest
 * release. The unit tests (attacks, rotation, uptane) run them against `TrustedRepository` and
 * `resolveUpdate`; test/integration/ota-apply-attacks.test.ts runs the same ones through the real
 * `tcu-agent ota apply` process. The vehicle is `vehicleRepos()`'s: target NAME for hardware tcu-a.
 * Here: root rotation, director and image, target names; the TUF metadata groups are in
 * ota-attacks-metadata.ts, the types and builders in ota-attack-builders.ts.
 */

// ---- the catalogue ----------------------------------------------------------------------------

const rotation: Attack[] = [
  {
    title: 'a new root without the old root keys’ signatures',
    at: 'image',
    code: 'OTA_ROOT_ROTATION',
    message: /root was signed by 0\/2 keys/,
    plant: (v) => {
      const r = v.image;
      const root2 = rootKeys(60);
      r.builder.rotateRoot({ roles: { root: roleOf(root2) } }, root2);
      r.builder.write(r.dir);
      return () => properRotation(r, root2);
    },
  },
  {
    title: 'a new root without its own keys’ signatures',
    at: 'director',
    code: 'OTA_ROOT_ROTATION',
    plant: (v) => {
      const r = v.director;
      const root2 = rootKeys(60);
      r.builder.rotateRoot({ roles: { root: roleOf(root2) } }, r.keys.root);
      r.builder.write(r.dir);
      return () => properRotation(r, root2);
    },
  },
  {
    title: 'a new root with 1 of the 2 old signatures it needs',
    at: 'image',
    code: 'OTA_ROOT_ROTATION',
    message: /1\/2/,
    plant: (v) => {
      const r = v.image;
      const root2 = rootKeys(60);
      r.builder.rotateRoot({ roles: { root: roleOf(root2) } }, [r.keys.root[0]!, ...root2]);
      r.builder.write(r.dir);
      return () => properRotation(r, root2);
    },
  },
  {
    title: 'a skipped version (2.root.json holds version 3)',
    at: 'image',
    code: 'OTA_ROOT_ROTATION',
    message: /Expected version 2, got 3/,
    plant: (v) => {
      const r = v.image;
      r.builder.rotateRoot({ version: 3 }, r.keys.root);
      r.builder.write(r.dir);
      r.put('2.root.json', r.file('3.root.json'));
      return () => r.builder.rotateRoot({ version: 2 }, r.keys.root);
    },
  },
  {
    title: 'an old root served as the next one (2.root.json holds version 1: a root rollback)',
    at: 'director',
    code: 'OTA_ROOT_ROTATION',
    plant: (v) => {
      const r = v.director;
      r.put('2.root.json', r.file('1.root.json'));
      return () => r.remove('2.root.json');
    },
  },
];

const directorAndImage: Attack[] = [
  {
    title: 'director and image disagree on the hash (same length)',
    at: 'resolve',
    code: 'OTA_REPO_DISAGREE',
    message: /sha256 hash/,
    plant: (v) => {
      directorNames(v, NAME, 'application image 1.X');
      return () => directorHonest(v);
    },
  },
  {
    title: 'director and image disagree on the length',
    at: 'resolve',
    code: 'OTA_REPO_DISAGREE',
    message: /length/,
    plant: (v) => {
      const honest = v.image.builder.targets.signed.targets[NAME]!;
      v.director.builder.putTarget(new TargetFile({ path: NAME, length: honest.length + 1, hashes: honest.hashes, unrecognizedFields: { custom: { hardwareIds: ['tcu-a'] } } }));
      v.director.publish();
      return () => directorHonest(v);
    },
  },
  {
    title: 'the image repository does not list our hardware id for the target',
    at: 'resolve',
    code: 'OTA_REPO_DISAGREE',
    message: /hardware id/,
    plant: (v) => {
      v.image.addTarget(NAME, BYTES, { hardwareIds: ['tcu-b'], version: '1.0', releaseCounter: 1 });
      v.image.publish();
      return () => void v.image.addTarget(NAME, BYTES, { hardwareIds: ['tcu-a', 'tcu-b'], version: '1.0', releaseCounter: 1 });
    },
  },
  {
    title: 'wrong hardware id: the director names the target for other hardware only',
    at: 'resolve',
    code: 'OTA_HARDWARE_ID',
    plant: (v) => {
      directorNames(v, NAME, BYTES, { hardwareIds: ['tcu-b'] });
      return () => directorHonest(v);
    },
  },
];

const targetNames: Attack[] = EVIL_TARGET_NAMES.map((evil) => ({
  title: `a target name that escapes its folder (${JSON.stringify(evil)})`,
  at: 'resolve',
  code: 'OTA_TARGET_NAME',
  plant: (v) => plantTargetName(v, evil),
}));

export const ATTACK_GROUPS: readonly AttackGroup[] = [
  { name: 'signatures', attacks: signatures },
  { name: 'freeze attacks: expired metadata', attacks: freeze },
  { name: 'rollback attacks', attacks: rollback },
  { name: 'mix-and-match: files from different releases', attacks: mixAndMatch },
  { name: 'root rotation', attacks: rotation },
  { name: 'director and image repository', attacks: directorAndImage },
  { name: 'path traversal in target names', attacks: targetNames },
];

export function attackGroup(name: string): Attack[] {
  const group = ATTACK_GROUPS.find((g) => g.name === name);
  if (!group) throw new Error(`no attack group ${name}`);
  return group.attacks;
}

// ---- running one at the TUF / resolve level ---------------------------------------------------

/**
 * Plants `attack` on `v`: the refresh (or the resolution) is refused with its code, message and
 * details, a refused refresh leaving the trusted folder byte for byte as it was; then the
 * repository repairs itself and an honest release at version 10 resolves to an update.
 */
export async function expectAttackRefused(v: Vehicle, attack: Attack): Promise<void> {
  const repair = await attack.plant(v);
  const options: RefreshOptions | undefined = attack.now ? { now: attack.now(v) } : undefined;
  const err =
    attack.at === 'resolve'
      ? await rejection(
          (async () => {
            const image = await v.trusted.image.refresh(options);
            const director = await v.trusted.director.refresh(options);
            return resolveUpdate({ director, image, hardwareId: 'tcu-a' });
          })(),
        )
      : await expectRefused(v, attack.at, attack.code, options);
  expect(err.code, err.message).toBe(attack.code);
  if (attack.message) expect(err.message).toMatch(attack.message);
  if (attack.details) expect(err.details).toMatchObject(attack.details);
  repair?.();
  await expectValidUpdate(v, 10, options);
}
