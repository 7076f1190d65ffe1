import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OTA_STORE_FILE } from '../../agent/ota/apply.js';
import { CampaignStore } from '../../ota/campaign/index.js';
import { ENGINE_DBC, agentConfig } from '../helpers/agent-config.js';
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
    const both = await runAgent(['inventory', '--state-dir', dir, '--config', join(dir, 'agent.json')]);
    expect(both.code).toBe(2);
  });

  it('--config reads the agent configuration: ota.stateDir, else <the outbox folder>/ota', async () => {
    const seeded = (stateDir: string, version: string): void => {
      mkdirSync(stateDir, { recursive: true });
      const store = CampaignStore.open({ path: join(stateDir, OTA_STORE_FILE), clock: new FakeClock() });
      store.inventory.seed({ ecu: 'tcu', version, releaseCounter: 3 });
      store.close();
    };
    const base = agentConfig({ buses: [{ name: 'pt', driver: 'candump', path: 'x.log', dbc: ENGINE_DBC }], outbox: 'data/outbox.db', uplink: 'mqtt://127.0.0.1:1883' });
    // No ota section: the folder the agent would use, next to its outbox (relative to the file).
    writeFileSync(join(dir, 'plain.json'), JSON.stringify(base));
    seeded(join(dir, 'data', 'ota'), '3.0-default');
    const plain = await runAgent(['inventory', '--config', join(dir, 'plain.json'), '--json']);
    expect(plain.code, plain.err).toBe(0);
    expect(JSON.parse(plain.out)).toMatchObject({ ecus: [{ ecu: 'tcu', version: '3.0-default', releaseCounter: 3 }] });
    // ota.stateDir names another folder.
    const ota = { imageRepo: 'https://ota.example.com/image', directorRepo: 'https://ota.example.com/director', stateDir: 'var/ota', backend: { type: 'dir-slots', dir: 'slots' } };
    writeFileSync(join(dir, 'ota.json'), JSON.stringify({ ...base, ota }));
    seeded(join(dir, 'var', 'ota'), '3.0-configured');
    const configured = await runAgent(['inventory', '--config', join(dir, 'ota.json')]);
    expect(configured.code, configured.err).toBe(0);
    expect(configured.out).toMatch(/^tcu\n\s+version\s+3\.0-configured \(release counter 3\)/);
    // An outbox in memory and no ota.stateDir: no folder to read.
    writeFileSync(join(dir, 'memory.json'), JSON.stringify({ ...base, outbox: { path: ':memory:' } }));
    expect(await runAgent(['inventory', '--config', join(dir, 'memory.json')])).toMatchObject({ code: 2, err: expect.stringMatching(/in memory/) });
    // A configuration that does not load: its own error, not a usage error.
    writeFileSync(join(dir, 'broken.json'), '{');
    expect((await runAgent(['inventory', '--config', join(dir, 'broken.json')])).code).not.toBe(0);
    expect((await runAgent(['inventory', '--help'])).out).toMatch(/--config FILE\s+the agent's configuration instead: its ota\.stateDir, by default <the outbox's\s+folder>\/ota/);
  });
});
