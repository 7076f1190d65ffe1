/**
 * The agent's own update campaigns, end to end, with real peers: the bundled agent
 * (`dist/tcu-agent.mjs run`) with an `ota` section, as its service manager runs it (started again
 * whenever it exits with 75); a REAL Mosquitto as the cloud's broker and another as the board's
 * local HMI broker, with the emulator's HMI player giving consent; signed TUF repositories (built
 * with ota/repo, as `tcu-ota` does) served by the emulator's OTA repository server over HTTP; a
 * dir-slots folder with factory software in slot `a`; a candump log as the CAN bus.
 *
 * 1. An update installs into slot `b`, the agent exits 75, starts again from it, health-checks
 *    (broker reached, CAN frames arriving) and commits; the reports on `<prefix>/<vin>/ota` show the
 *    states in order with `succeeded` exactly once, the inventory before and after.
 * 2. The CAN bus stays silent after the restart: the health check fails, the update is rolled back
 *    (slot `a` again), and the same target is not tried again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decode, encode } from 'cbor-x';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../core/clock.js';
import { HmiPlayer } from '../../hw-emulator/hmi/index.js';
import { OtaRepoServer } from '../../hw-emulator/ota/index.js';
import { DirSlotsBackend } from '../../ota/install/index.js';
import { agentConfig, candumpBus, ENGINE_DBC } from '../helpers/agent-config.js';
import { Mosquitto, hasMosquitto } from '../helpers/mosquitto.js';
import { makeImage } from '../helpers/ota-install.js';
import { vehicleRepos, type VehicleRepos } from '../helpers/ota-repos.js';

const haveBroker = hasMosquitto();
const RESTART = 75;
const NAME = 'tcu/app-1.0.tar';
const BYTES = 'application image 1.0';

let cloud: Mosquitto;
let local: Mosquitto;
let subscriber: MqttClient;
const received: { topic: string; body: Record<string, unknown> }[] = [];
const responses: { topic: string; body: Record<string, unknown> }[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  if (!haveBroker) return;
  [cloud, local] = await Promise.all([Mosquitto.start(), Mosquitto.start()]);
  subscriber = await connectAsync(cloud.url, { clean: true, reconnectPeriod: 200 });
  subscriber.on('message', (topic, payload) => {
    if (topic.includes('/cmd-resp/')) responses.push({ topic, body: decode(payload) as Record<string, unknown> });
    else received.push({ topic, body: JSON.parse(payload.toString('utf8')) as Record<string, unknown> });
  });
  await subscriber.subscribeAsync(['tcu/+/ota', 'tcu/+/ota/inventory', 'tcu/+/cmd-resp/+'], { qos: 1 });
});

afterAll(async () => {
  await subscriber?.endAsync(true);
  await Promise.all([cloud?.dispose(), local?.dispose()]);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Scenario {
  vin: string;
  v: VehicleRepos;
  server: OtaRepoServer;
  hmi: HmiPlayer;
  config: string;
  slots: string;
  log: string[];
}

/** The CAN log: engine and wheel-speed frames (standing still), ten a second, replayed in a loop. */
function canLog(dir: string, frames: boolean): string {
  const lines: string[] = [];
  for (let i = 0; frames && i < 50; i++) {
    const t = (1_700_000_000 + i / 10).toFixed(6);
    lines.push(`(${t}) can0 100#401F5A0300000000`, `(${t}) can0 18FEF1FE#0000000000000000`);
  }
  const path = join(dir, frames ? 'drive.log' : 'silent.log');
  writeFileSync(path, lines.length === 0 ? '' : `${lines.join('\n')}\n`);
  return path;
}

async function scenario(n: number, options: { canFrames: boolean; healthTimeoutS: number }): Promise<Scenario> {
  const vin = `WVWZZZ1KZPW0000${String(10 + n)}`;
  const v = vehicleRepos();
  dirs.push(v.base);
  // The release as the fleet publishes it: user information in the image repository, the director
  // asking for consent and a parked car, in a rollout campaign.
  v.image.builder.removeTarget(NAME);
  v.image.addTarget(NAME, BYTES, {
    hardwareIds: ['tcu-a'],
    version: '1.0',
    releaseCounter: 1,
    rxswin: ['R156-X1'],
    userInfo: { purpose: 'security fix', changes: 'a newer TLS library', durationSeconds: 60, unavailableFunctions: ['remote unlock'] },
  });
  v.director.builder.removeTarget(NAME);
  v.director.addTarget(NAME, BYTES, { hardwareIds: ['tcu-a'], preconditions: { consentRequired: true, parked: options.canFrames }, rollout: { campaign: 'spring' } });
  v.image.honestPublish(2);
  v.director.honestPublish(2);
  const server = new OtaRepoServer({ root: v.base });
  const url = (await server.start()).url.replace(/\/+$/, '');

  // The board as it left the factory: version 0.9 confirmed in slot a.
  const slots = join(v.base, 'slots');
  const factory = makeImage(v.base, 'tcu/app-0.9.tar', Buffer.from('application image 0.9'), { hardwareIds: ['tcu-a'], version: '0.9' });
  await DirSlotsBackend.provision({ dir: slots, clock: systemClock() }, factory.path, factory.target);

  const hmi = new HmiPlayer({ url: local.url, topic: `car${n}/hmi`, answer: 'consent', delayMs: 200, clock: systemClock() });
  await hmi.start();

  const input = agentConfig({
    vin,
    deviceId: `ota-${n}`,
    buses: [candumpBus({ path: canLog(v.base, options.canFrames), dbc: ENGINE_DBC, loop: options.canFrames })],
    outbox: { path: join(v.base, 'outbox.db'), commitIntervalMs: 50 },
    uplink: { url: cloud.url, backoff: { initialMs: 200, maxMs: 1000, jitter: 0 } },
    jobs: { heartbeat: '*/5 * * * * *' },
    logging: { level: 'info' },
  });
  const config = join(v.base, 'agent.json');
  writeFileSync(
    config,
    JSON.stringify({
      ...input,
      vehicle: { ...input.vehicle, hardwareId: 'tcu-a' },
      ota: {
        imageRepo: `${url}/image`,
        directorRepo: `${url}/director`,
        stateDir: v.stateDir,
        backend: { type: 'dir-slots', dir: slots },
        checkCron: '*/2 * * * * *',
        hmi: { url: local.url, topic: `car${n}/hmi`, consentTimeoutS: 20 },
        signals: { speedKmh: 'Wheels.WheelSpeed' },
        healthTimeoutS: options.healthTimeoutS,
      },
    }),
  );
  return { vin, v, server, hmi, config, slots, log: [] };
}

/** One run of the bundled agent, as systemd starts it; resolves with its exit code. */
function runAgent(s: Scenario): { child: ChildProcess; exit: Promise<number | null> } {
  const child = spawn(process.execPath, ['dist/tcu-agent.mjs', 'run', '--config', s.config]);
  let text = '';
  const keep = (c: Buffer): void => {
    text += c.toString();
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exit = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      s.log.push(text);
      resolve(code);
    }),
  );
  return { child, exit };
}

async function within<T>(p: Promise<T>, ms: number, what: string, s: Scenario): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms\n${s.log.join('\n---\n').slice(-6000)}`)), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const reports = (vin: string): Record<string, unknown>[] => received.filter((m) => m.topic === `tcu/${vin}/ota`).map((m) => m.body);
const inventories = (vin: string): Record<string, unknown>[] => received.filter((m) => m.topic === `tcu/${vin}/ota/inventory`).map((m) => m.body);
const current = (s: Scenario): string | null => (existsSync(join(s.slots, 'current')) ? readlinkSync(join(s.slots, 'current')) : null);

async function until(check: () => boolean, ms: number, what: string, s: Scenario): Promise<void> {
  await within(
    (async () => {
      while (!check()) await new Promise((r) => setTimeout(r, 50));
    })(),
    ms,
    what,
    s,
  );
}

async function close(s: Scenario): Promise<void> {
  await s.hmi.stop();
  await s.server.stop();
}

describe.runIf(haveBroker)('the agent runs an update campaign on its own', () => {
  it('downloads, asks consent, installs, restarts (exit 75), health-checks and commits; reports every state, success once, the inventory before and after', async () => {
    const s = await scenario(1, { canFrames: true, healthTimeoutS: 20 });
    try {
      const first = runAgent(s);
      expect(await within(first.exit, 45_000, 'the first run exits to restart', s)).toBe(RESTART);
      expect(current(s)).toBe('b');
      expect(s.hmi.requests).toEqual([
        expect.objectContaining({ v: 1, target: NAME, version: '1.0', userInfo: { purpose: 'security fix', changes: 'a newer TLS library', durationSeconds: 60, unavailableFunctions: ['remote unlock'] } }),
      ]);

      // The service manager starts it again, from the new slot.
      const second = runAgent(s);
      await until(() => reports(s.vin).some((r) => r['state'] === 'succeeded'), 30_000, 'the commit is reported', s);
      await until(() => inventories(s.vin).some((i) => (i['ecus'] as { version: string }[])[0]?.version === '1.0'), 10_000, 'the inventory after the update', s);
      // The cloud asks for a check now: the update is installed.
      await subscriber.publishAsync(`tcu/${s.vin}/cmd/ota-check`, encode({ id: 7 }), { qos: 1 });
      await until(() => responses.some((r) => r.topic === `tcu/${s.vin}/cmd-resp/ota-check`), 10_000, 'the ota-check response', s);
      expect(responses.find((r) => r.topic === `tcu/${s.vin}/cmd-resp/ota-check`)?.body).toMatchObject({ v: 1, ok: true, id: 7, check: { result: 'up-to-date', code: 'UP_TO_DATE', target: NAME } });
      second.child.kill('SIGTERM');
      expect(await within(second.exit, 15_000, 'the second run stops', s)).toBe(0);

      const all = reports(s.vin);
      const states = all.filter((r) => r['event'] !== 'deferred').map((r) => r['state']);
      expect(states, JSON.stringify(all, null, 1)).toEqual(['downloading', 'downloaded', 'awaiting-consent', 'installing', 'rebooting', 'succeeded']);
      expect(all.filter((r) => r['state'] === 'succeeded')).toHaveLength(1);
      const seqs = all.map((r) => r['seq'] as number);
      expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b)); // in order, no copies
      expect(all[0]).toMatchObject({ v: 1, vin: s.vin, target: NAME, version: '1.0', releaseCounter: 1, rollout: { campaign: 'spring' }, inventory: { ecus: [{ ecu: 'tcu', version: '0.9', source: 'factory' }] } });
      expect(all.at(-1)).toMatchObject({ state: 'succeeded', code: null, inventory: { ecus: [{ ecu: 'tcu', version: '1.0', source: 'update', releaseCounter: 1, rxswin: ['R156-X1'] }] } });

      const inv = inventories(s.vin);
      expect(inv[0]).toMatchObject({ v: 1, vin: s.vin, format: 1, ecus: [{ version: '0.9', source: 'factory' }] });
      expect(inv.at(-1)).toMatchObject({ ecus: [{ version: '1.0', source: 'update' }] });
      // The user was told before and after.
      expect(s.hmi.notices.map((n) => n['state'])).toEqual(expect.arrayContaining(['awaiting-consent', 'installing', 'succeeded']));
      expect(current(s)).toBe('b');
    } finally {
      await close(s);
    }
  }, 120_000);

  it('a failed health check after the restart (no CAN frames) rolls back to slot a, and the target is not tried again', async () => {
    const s = await scenario(2, { canFrames: false, healthTimeoutS: 3 });
    try {
      expect(await within(runAgent(s).exit, 45_000, 'the first run exits to restart', s)).toBe(RESTART);
      expect(current(s)).toBe('b');
      // From the new slot: the health check fails, the previous slot comes back, restart again.
      expect(await within(runAgent(s).exit, 30_000, 'the second run rolls back and restarts', s)).toBe(RESTART);
      expect(current(s)).toBe('a');

      const third = runAgent(s);
      await until(() => inventories(s.vin).length >= 2 && reports(s.vin).some((r) => r['state'] === 'rolled-back'), 15_000, 'the rollback is reported', s);
      // Two more checks (every 2 s) without a new campaign.
      await new Promise((r) => setTimeout(r, 4500));
      third.child.kill('SIGTERM');
      expect(await within(third.exit, 15_000, 'the third run stops', s)).toBe(0);
      expect(s.log.at(-1)).toMatch(/"result":"blocked"/);

      const all = reports(s.vin);
      const states = all.filter((r) => r['event'] !== 'deferred').map((r) => r['state']);
      expect(states, JSON.stringify(all, null, 1)).toEqual(['downloading', 'downloaded', 'awaiting-consent', 'installing', 'rebooting', 'rolled-back']);
      expect(all.at(-1)).toMatchObject({ state: 'rolled-back', code: 'OTA_HEALTH', detail: expect.stringMatching(/no CAN frames on pt/), inventory: { ecus: [{ version: '0.9', source: 'factory' }] } });
      expect(inventories(s.vin).at(-1)).toMatchObject({ ecus: [{ version: '0.9', source: 'factory' }] });
      expect(current(s)).toBe('a');
    } finally {
      await close(s);
    }
  }, 120_000);
});
