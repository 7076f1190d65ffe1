// Every attack of issue 5 ("Tests: attacks and faults") through the one-shot command, as the
// acceptance checks run it: the real `tcu-agent ota apply` process (dist/: `npm run build` first)
// against signed repositories (ota/repo), served from folders or by the emulator's OTA server over
// HTTP with its fault modes, with factory software in slot a. Each attack ends with exit 3 and its
// code in the JSON line, the slots folder byte for byte as it was (nothing written to the inactive
// slot), and then an honest release installs (exit 0). The repository-side attacks are the
// catalogue of test/helpers/ota-attacks.ts (also run at the TUF level by test/unit/ota/); the ones
// that need the download, the installed software or the state folder are below it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ErrorCode } from '../../core/errors.js';
import { OtaRepoServer, type OtaFault } from '../../hw-emulator/ota/index.js';
import { ATTACK_GROUPS, BYTES, NAME, type Repair } from '../helpers/ota-attacks.js';
import { activeSlot, provisionFactory, runApply, type ApplyRun } from '../helpers/ota-apply.js';
import { DAY, folderDigest, vehicle, type Vehicle } from '../helpers/ota-repos.js';

interface Case {
  code: ErrorCode;
  /** Served by the emulator's OTA server with these faults (cleared before the honest release); else from folders. */
  faults?: OtaFault[];
  /** `--now` for the attack's run. */
  now?: (v: Vehicle) => Date;
  /** Plants the attack; `apply` runs the command (for a release installed first). */
  plant(v: Vehicle, apply: (extra?: string[]) => Promise<ApplyRun>): Repair | void | Promise<Repair | void>;
}

let v: Vehicle | undefined;
let server: OtaRepoServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
  await v?.close();
  v = undefined;
});

/**
 * A vehicle (both repositories refreshed once, factory software in slot a), the attack planted, the
 * refused run, then the repository's repair, an honest release at version 10, and its install.
 */
async function refusedThenInstalls(c: Case): Promise<ApplyRun> {
  const veh = (v = await vehicle());
  const slots = join(veh.base, 'slots');
  await provisionFactory(slots, veh.base);
  let repos = { image: veh.image.dir, director: veh.director.dir };
  if (c.faults) {
    server = new OtaRepoServer({ root: veh.base, faults: c.faults });
    const url = (await server.start()).url;
    repos = { image: `${url}image`, director: `${url}director` };
  }
  const apply = (extra: string[] = []): Promise<ApplyRun> => runApply({ stateDir: veh.stateDir, slots, ...repos }, extra);

  const repair = await c.plant(veh, apply);
  const before = folderDigest(slots);
  const active = activeSlot(slots);
  const refused = await apply(c.now ? ['--now', c.now(veh).toISOString()] : []);
  expect(refused, refused.stderr).toMatchObject({ code: 3, outcome: { result: 'rejected', code: c.code } });
  expect(folderDigest(slots)).toEqual(before);
  if (c.faults) expect(server!.counters().faultsApplied).toBeGreaterThan(0);

  repair?.();
  server?.setFaults([]);
  veh.image.honestPublish(10);
  veh.director.honestPublish(10);
  const honest = await apply();
  expect(honest, honest.stderr).toMatchObject({ code: 0, outcome: { result: 'installed', code: 'OK' } });
  const now = activeSlot(slots);
  expect(now).not.toBe(active);
  expect(folderDigest(join(slots, now!))).not.toEqual({});
  return honest;
}

describe('tcu-agent ota apply refuses each repository attack (exit 3), writes nothing to a slot, then installs an honest release', () => {
  for (const group of ATTACK_GROUPS) {
    describe(group.name, () => {
      for (const attack of group.attacks) {
        it(`${attack.title}: ${attack.code}`, async () => {
          const honest = await refusedThenInstalls({ code: attack.code, ...(attack.now ? { now: attack.now } : {}), plant: (veh) => attack.plant(veh) });
          expect(honest.outcome.target).toBe(NAME);
        }, 30_000);
      }
    });
  }
});

const TARGET = join('targets', ...NAME.split('/'));
/** Replaces the image repository's copy of the target file (the metadata unchanged). */
const serveFile = (veh: Vehicle, bytes: string): Repair => {
  veh.image.put(TARGET, Buffer.from(bytes));
  return () => veh.image.put(TARGET, Buffer.from(BYTES));
};
const SAME_LENGTH = BYTES.replace('1.0', '6.6');

describe('tcu-agent ota apply refuses what the download, the installed software or the state folder reveals', () => {
  const cases: [string, Case][] = [
    ['target hash mismatch: the file differs from its metadata, same length (folder)', { code: 'OTA_TARGET_MISMATCH', plant: (veh) => serveFile(veh, SAME_LENGTH) }],
    ['target hash mismatch: bytes tampered in transit (HTTP, tamper)', { code: 'OTA_TARGET_MISMATCH', faults: [{ kind: 'tamper' }], plant: () => undefined }],
    ['target length mismatch: the file is shorter than declared (folder)', { code: 'OTA_TARGET_MISMATCH', plant: (veh) => serveFile(veh, BYTES.slice(0, 10)) }],
    ['target length mismatch: served shorter than declared (HTTP, short)', { code: 'OTA_TARGET_MISMATCH', faults: [{ kind: 'short' }], plant: () => undefined }],
    ['target length mismatch: the file is longer than declared (folder)', { code: 'OTA_ENDLESS_DATA', plant: (veh) => serveFile(veh, `${BYTES} and more`) }],
    ['endless data: the server keeps sending past the end (HTTP, endless)', { code: 'OTA_ENDLESS_DATA', faults: [{ kind: 'endless', path: `image/${TARGET}` }], plant: () => undefined }],
    [
      'stale metadata: a mirror replays the previous timestamp (HTTP, stale-metadata)',
      {
        code: 'OTA_ROLLBACK',
        faults: [{ kind: 'stale-metadata' }],
        plant: async (veh) => {
          const old = veh.image.file('timestamp.json');
          veh.image.honestPublish(2);
          await veh.trusted.image.refresh();
          mkdirSync(join(veh.base, 'stale', 'image'), { recursive: true });
          writeFileSync(join(veh.base, 'stale', 'image', 'timestamp.json'), old);
        },
      },
    ],
    [
      'freeze: the repository serves the same metadata after it expired (--now two days on)',
      { code: 'OTA_EXPIRED', now: (veh) => new Date(veh.image.nowMs + 2 * DAY), plant: () => undefined },
    ],
    [
      'a clock set back: --now behind the trusted time kept in trusted-time.json',
      {
        code: 'OTA_CLOCK',
        now: () => new Date(Date.now() - 2 * DAY),
        plant: (veh) => writeFileSync(join(veh.stateDir, 'trusted-time.json'), JSON.stringify({ version: 1, utcMs: Date.now(), source: 'gnss' })),
      },
    ],
    [
      'a validly signed downgrade: release counter 3 after 5 was installed',
      {
        code: 'OTA_DOWNGRADE',
        plant: async (veh, apply) => {
          release(veh, 2, 5);
          expect((await apply()).outcome).toMatchObject({ result: 'installed', target: 'tcu/app-5.0.tar' });
          release(veh, 3, 3);
          return () => release(veh, 4, 6);
        },
      },
    ],
  ];
  it.each(cases)('%s', async (_title, c) => {
    await refusedThenInstalls(c);
  }, 30_000);
});

/** Release `counter` under its own name and bytes, signed at `version` by both repositories (the director names only it). */
function release(veh: Vehicle, version: number, counter: number): void {
  const name = `tcu/app-${counter}.0.tar`;
  const bytes = `application image ${counter}.0`;
  veh.image.addTarget(name, bytes, { hardwareIds: ['tcu-a'], version: `${counter}.0`, releaseCounter: counter });
  for (const old of veh.director.builder.targetNames()) veh.director.builder.removeTarget(old);
  veh.director.addTarget(name, bytes, { hardwareIds: ['tcu-a'] });
  veh.image.honestPublish(version);
  veh.director.honestPublish(version);
}
