/**
 * What each install backend tells of a slot's software (docs/OTA.md, "Install backends"): the
 * agent and `ota apply` record the booted slot's as the factory software, its release counter the
 * floor of the downgrade check. dir-slots: the whole manifest; command: what the script prints
 * (a release counter that cannot be read is refused, never ignored); and which booted slot counts
 * as factory software (`factorySoftware`).
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { factorySoftware } from '../../../agent/ota/policy.js';
import { DirSlotsBackend, parseCommandStatus, type BackendStatus } from '../../../ota/install/index.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { makeImage, seededBytes } from '../../helpers/ota-install.js';
import { tempDir, type TempDir } from '../../helpers/outbox-records.js';

let tmp: TempDir;
beforeEach(() => {
  tmp = tempDir('tcu-ota-install-status-');
});
afterEach(() => tmp.cleanup());

describe('slot information', () => {
  it('dir-slots gives everything its manifest holds', async () => {
    const clock = new FakeClock();
    const img = makeImage(tmp.dir, 'tcu/agent-1.0.0.mjs', seededBytes(1, 30_000), { version: '1.0.0', releaseCounter: 3, rxswin: ['R10-1'] });
    await DirSlotsBackend.provision({ dir: join(tmp.dir, 'slots'), clock }, img.path, img.target);
    const status = await DirSlotsBackend.open({ dir: join(tmp.dir, 'slots'), clock }).status();
    expect(status.slots).toEqual([
      { name: 'a', bootState: 'good', version: '1.0.0', sha256: img.target.hashes['sha256'], releaseCounter: 3, rxswin: ['R10-1'], hardwareIds: ['tcu-hw-1'], target: 'tcu/agent-1.0.0.mjs', length: 30_000 },
      { name: 'b', bootState: 'unknown' },
    ]);
    expect(factorySoftware(status, 'tcu')).toEqual({ ecu: 'tcu', version: '1.0.0', hash: img.target.hashes['sha256'], length: 30_000, releaseCounter: 3, rxswin: ['R10-1'], hardwareIds: ['tcu-hw-1'], target: 'tcu/agent-1.0.0.mjs' });
  });

  it('command: the script may print the release counter, RXSWINs and hardware ids of each slot', () => {
    const text = '{"booted": "a", "primary": "a", "slots": [{"name": "a", "bootState": "good", "version": "1.0", "sha256": "ab", "releaseCounter": 3, "rxswin": ["R156-1"], "hardwareIds": ["gw-1"]}, {"name": "b"}]}';
    expect(parseCommandStatus(text).slots).toEqual([
      { name: 'a', bootState: 'good', version: '1.0', sha256: 'ab', releaseCounter: 3, rxswin: ['R156-1'], hardwareIds: ['gw-1'] },
      { name: 'b', bootState: 'unknown', version: undefined, sha256: undefined },
    ]);
    const slot = (extra: string) => `{"booted": "a", "slots": [{"name": "a", ${extra}}]}`;
    for (const bad of ['"releaseCounter": "3"', '"releaseCounter": -1', '"releaseCounter": 1.5', '"rxswin": "R1"', '"hardwareIds": [1]']) {
      expect(() => parseCommandStatus(slot(bad)), bad).toThrow(expect.objectContaining({ code: 'OTA_INSTALL' }));
    }
    expect(parseCommandStatus(slot('"releaseCounter": null')).slots[0]).not.toHaveProperty('releaseCounter');
  });

  it('factory software: the booted slot, unless it is on trial or abandoned, and only when something is known of it', () => {
    const status = (bootState: 'good' | 'trying' | 'bad' | 'unknown', extra: object = { version: '2.0', releaseCounter: 5 }): BackendStatus => ({
      booted: 'A',
      primary: 'A',
      slots: [
        { name: 'A', bootState, ...extra },
        { name: 'B', bootState: 'good', version: '9.9', releaseCounter: 99 },
      ],
    });
    expect(factorySoftware(status('good'), 'tcu')).toEqual({ ecu: 'tcu', version: '2.0', releaseCounter: 5 });
    expect(factorySoftware(status('unknown'), 'tcu')).toMatchObject({ releaseCounter: 5 });
    expect(factorySoftware(status('trying'), 'tcu')).toBeUndefined();
    expect(factorySoftware(status('bad'), 'tcu')).toBeUndefined();
    expect(factorySoftware(status('good', {}), 'tcu')).toBeUndefined();
    expect(factorySoftware(status('good', { releaseCounter: 0 }), 'tcu')).toEqual({ ecu: 'tcu', version: null, releaseCounter: 0 });
    expect(factorySoftware({ booted: null, primary: null, slots: [] }, 'tcu')).toBeUndefined();
  });
});
