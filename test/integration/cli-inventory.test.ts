import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OTA_STORE_FILE } from '../../agent/ota/apply.js';
import { CampaignStore } from '../../ota/campaign/index.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { runAgent } from '../helpers/cli.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tcu-inventory-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('tcu-agent inventory', () => {
  it('says there is nothing yet before any store exists', async () => {
    const r = await runAgent(['inventory', '--state-dir', dir]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/no software recorded yet/);
    const j = await runAgent(['inventory', '--state-dir', dir, '--json']);
    expect(JSON.parse(j.out)).toMatchObject({ format: 1, ecus: [] });
  });

  it('prints each ECU with version, hash, RXSWIN and where it came from, read-only while the store is open', async () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 21));
    const store = CampaignStore.open({ path: join(dir, OTA_STORE_FILE), clock });
    try {
      store.inventory.seed({ ecu: 'tcu', version: '1.0.0', releaseCounter: 1, rxswin: ['RX-TCU-0001'] });
      store.inventory.commitTarget(
        'gateway',
        { name: 'gw-2.1.0.bin', length: 1234, hashes: { sha256: 'ab'.repeat(32) }, custom: { hardwareIds: ['gw-rev-b'], version: '2.1.0', releaseCounter: 7, rxswin: ['RX-GW-0002'] } },
        'campaign-42',
      );
      const text = await runAgent(['inventory', '--state-dir', dir]);
      expect(text.code).toBe(0);
      expect(text.out).toMatch(/^gateway\n\s+version\s+2\.1\.0 \(release counter 7\)\n\s+hash\s+sha256:(ab){32}, 1234 bytes\n\s+RXSWIN\s+RX-GW-0002\n\s+source\s+update, campaign campaign-42, target gw-2\.1\.0\.bin/m);
      expect(text.out).toMatch(/^tcu\n\s+version\s+1\.0\.0 \(release counter 1\)\n\s+hash\s+unknown\n\s+RXSWIN\s+RX-TCU-0001\n\s+source\s+factory/m);
      const json = JSON.parse((await runAgent(['inventory', '--state-dir', dir, '--json'])).out) as { ecus: { ecu: string; version: string }[] };
      expect(json.ecus.map((e) => [e.ecu, e.version])).toEqual([
        ['gateway', '2.1.0'],
        ['tcu', '1.0.0'],
      ]);
    } finally {
      store.close();
    }
  });

  it('refuses usage without a state folder (exit 2)', async () => {
    const r = await runAgent(['inventory']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--state-dir/);
  });
});
