import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BusConfigInput } from '../../config/index.js';
import { ENGINE_DBC, ENGINE_LOG, candumpBus, writeAgentConfig } from '../helpers/agent-config.js';
import { runAgent } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'tcu-cli-run-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = runAgent;

describe('tcu-agent run and status: configuration errors', () => {
  it('refuses a bad configuration at start with one line per problem and exit code 2', async () => {
    const path = writeAgentConfig(join(dir, 'bad.json'), {
      vin: 'NOT-A-VIN',
      deviceId: 'x',
      // a misspelt property, on purpose
      buses: [{ name: 'pt', driver: 'socketcan', ifface: 'can0', dbc: 'x.dbc' } as unknown as BusConfigInput],
      outbox: 'o.db',
      uplink: { url: 'mqtt://127.0.0.1:1883', keepaliveSeconds: 1 },
    });
    const r = await run(['run', '--config', path]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/CONFIG_INVALID/);
    expect(r.err).toMatch(/\/vehicle\/vin: /);
    expect(r.err).toMatch(/\/can\/buses\/0: unknown property "ifface"/);
    expect(r.err).toMatch(/\/uplink\/keepaliveSeconds: must be >= 5/);
  });

  it('refuses a configuration naming a signal its DBC does not have', async () => {
    const path = writeAgentConfig(join(dir, 'signal.json'), {
      deviceId: 'x',
      buses: [candumpBus({ path: ENGINE_LOG, dbc: ENGINE_DBC })],
      collect: { periodic: [{ name: 'p', everyMs: 100, signals: ['Engine.NoSuchSignal'] }] },
      outbox: join(dir, 'signal.db'),
      uplink: 'mqtt://127.0.0.1:1',
    });
    const r = await run(['run', '--config', path]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/\/collect\/periodic\/0\/signals\/0: signal Engine.NoSuchSignal is not in the DBC/);
  });

  it('status says plainly when there is no outbox yet', async () => {
    const path = writeAgentConfig(join(dir, 'fresh.json'), {
      deviceId: 'x',
      buses: [{ name: 'pt', driver: 'socketcan', iface: 'can0', dbc: 'x.dbc' }],
      outbox: join(dir, 'none.db'),
      uplink: 'mqtt://127.0.0.1:1883',
    });
    const r = await run(['status', '--config', path]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/there is no outbox at .*none\.db yet/);
  });
});
