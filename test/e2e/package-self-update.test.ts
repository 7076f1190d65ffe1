/**
 * The agent updates itself on a board, end to end, from the tarball `npm run package` makes: the
 * package unpacked into a temporary root; the service manager played as systemd runs the unit
 * (ExecStartPre: the packaged boot guard; ExecStart: `node --max-semi-space-size=2
 * <root>/opt/tcu-agent/slots/current/tcu-agent.mjs run`; Restart=always); a release of the agent's
 * own bundle published in signed TUF repositories (image and director) served over HTTP by the
 * emulator's OTA server; the packaged emulator as the CAN bus (socketcand); a real Mosquitto.
 *
 * The agent from slot a installs the new bundle into slot b and exits 75; started again through
 * `current`, the new bundle health-checks and commits; slot b is then good, and the boot guard has
 * nothing on trial.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtaRepoServer } from '../../hw-emulator/ota/index.js';
import { readSlotStates } from '../../ota/install/slot-manifest.js';
import { Mosquitto, hasMosquitto } from '../helpers/mosquitto.js';
import { vehicleRepos, type VehicleRepos } from '../helpers/ota-repos.js';
import { hasProgram } from '../helpers/system.js';

const VIN = 'WVWZZZ1KZPW000071';
const NAME = 'tcu-agent/0.2.0/tcu-agent.mjs';
const RESTART = 75;
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_PATH' && k !== 'NODE_OPTIONS'));
const have = process.platform === 'linux' && hasMosquitto() && hasProgram('tar');

describe.runIf(have)('a packaged agent updates its own bundle through dir-slots', () => {
  let work: string;
  let root: string;
  let slots: string;
  let broker: Mosquitto;
  let cloud: MqttClient;
  let repos: VehicleRepos;
  let server: OtaRepoServer;
  let emulator: ChildProcess;
  let config: string;
  const reports: Record<string, unknown>[] = [];
  const logs: string[] = [];
  const agents: ChildProcess[] = [];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'tcu-self-update-'));
    const made = spawnSync(process.execPath, ['scripts/package.mjs', '--out', join(work, 'out'), '--hardware-id', 'tcu-a'], { encoding: 'utf8', env });
    expect(made.status, made.stderr).toBe(0);
    mkdirSync(join(work, 'root'));
    root = realpathSync(join(work, 'root'));
    const tarball = made.stdout.split(':')[0]!.trim();
    execFileSync('tar', ['-xzf', tarball.startsWith('/') ? tarball : join(process.cwd(), tarball), '-C', root]);
    slots = join(root, 'opt/tcu-agent/slots');

    // The release: the shipped bundle with one more line, as a new version would differ.
    const release = `${readFileSync(join(slots, 'a/tcu-agent.mjs'), 'utf8')}\n// release 0.2.0\n`;
    repos = vehicleRepos();
    repos.image.builder.removeTarget('tcu/app-1.0.tar');
    repos.director.builder.removeTarget('tcu/app-1.0.tar');
    repos.image.addTarget(NAME, release, { hardwareIds: ['tcu-a'], version: '0.2.0', releaseCounter: 2 });
    repos.director.addTarget(NAME, release, { hardwareIds: ['tcu-a'] });
    repos.image.honestPublish(2);
    repos.director.honestPublish(2);
    server = new OtaRepoServer({ root: repos.base });
    const url = (await server.start()).url.replace(/\/+$/, '');

    broker = await Mosquitto.start();
    cloud = await connectAsync(broker.url, { clean: true, reconnectPeriod: 200 });
    cloud.on('message', (_topic, payload) => reports.push(JSON.parse(payload.toString('utf8')) as Record<string, unknown>));
    await cloud.subscribeAsync(`tcu/${VIN}/ota`, { qos: 1 });

    const dbc = join(process.cwd(), 'hw-emulator/dbc/vw_mqb.dbc');
    emulator = spawn(process.execPath, [join(root, 'opt/tcu-agent/tools/tcu-emulator.mjs'), '--dbc', dbc, '--socketcand', '127.0.0.1:0', '--seed', '7'], { cwd: root, env });
    const first = await createInterface({ input: emulator.stdout! })[Symbol.asyncIterator]().next();
    const port = (JSON.parse(first.value as string) as { socketcand: { port: number } }).socketcand.port;

    config = join(work, 'agent.json');
    writeFileSync(
      config,
      JSON.stringify({
        version: 1,
        vehicle: { vin: VIN, deviceId: 'self-update', hardwareId: 'tcu-a' },
        can: { buses: [{ name: 'pt', driver: 'socketcand', host: '127.0.0.1', port, bus: 'vcan0', dbc }] },
        collect: { periodic: [{ name: 'p', everyMs: 500, signals: ['ESP_21.ESP_v_Signal'] }] },
        outbox: { path: join(work, 'outbox.db') },
        uplink: { url: broker.url, backoff: { initialMs: 200, maxMs: 1000, jitter: 0 } },
        ota: {
          imageRepo: `${url}/image`,
          directorRepo: `${url}/director`,
          stateDir: repos.stateDir,
          backend: { type: 'dir-slots', dir: slots },
          checkCron: '*/2 * * * * *',
          hmi: { url: broker.url, topic: 'self-update/hmi' },
          healthTimeoutS: 20,
        },
        logging: { level: 'info' },
      }),
    );
  }, 90_000);

  afterAll(async () => {
    for (const a of agents) a.kill('SIGKILL');
    emulator?.kill('SIGTERM');
    await cloud?.endAsync(true);
    await broker?.dispose();
    await server?.stop();
    if (repos !== undefined) rmSync(repos.base, { recursive: true, force: true });
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  /** One start as the unit makes it: ExecStartPre, then ExecStart. */
  function start(): { guard: unknown; child: ChildProcess; exit: Promise<number | null> } {
    const guard = JSON.parse(execFileSync(process.execPath, [join(root, 'opt/tcu-agent/tcu-boot-guard.mjs'), '--slots', slots, '--max-starts', '3'], { encoding: 'utf8', env })) as unknown;
    const child = spawn(process.execPath, ['--max-semi-space-size=2', join(slots, 'current/tcu-agent.mjs'), 'run', '--config', config], { cwd: root, env });
    agents.push(child);
    let text = '';
    child.stdout!.on('data', (c: Buffer) => (text += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
    const exit = new Promise<number | null>((resolve) => child.on('close', (code) => (logs.push(text), resolve(code))));
    return { guard, child, exit };
  }

  async function until(check: () => boolean, ms: number, what: string): Promise<void> {
    const end = Date.now() + ms;
    while (!check()) {
      if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms\n${logs.join('\n---\n').slice(-5000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('installs the new bundle into slot b, restarts into it (exit 75), commits it, and the guard then has nothing on trial', async () => {
    const first = start();
    expect(first.guard).toEqual({ action: 'none', slot: 'a', starts: 0 });
    let code: number | null = null;
    void first.exit.then((c) => (code = c));
    await until(() => code !== null, 60_000, 'the first run exits to restart');
    expect(code).toBe(RESTART);
    expect([readlinkSync(join(slots, 'current')), readSlotStates(slots).b]).toEqual(['b', 'trying']);

    const second = start();
    expect(second.guard).toEqual({ action: 'counted', slot: 'b', starts: 1 });
    await until(() => reports.some((r) => r['state'] === 'succeeded'), 40_000, 'the commit is reported');
    second.child.kill('SIGTERM');
    expect(await second.exit).toBe(0);

    expect(readSlotStates(slots)).toEqual({ a: 'good', b: 'good' });
    expect(readFileSync(join(slots, 'current/tcu-agent.mjs'), 'utf8')).toMatch(/\/\/ release 0\.2\.0\n$/);
    const states = reports.filter((r) => r['event'] !== 'deferred').map((r) => r['state']);
    expect(states).toEqual(['downloading', 'downloaded', 'awaiting-consent', 'installing', 'rebooting', 'succeeded']);
    expect(reports.at(-1)).toMatchObject({ target: NAME, inventory: { ecus: [{ ecu: 'tcu', version: '0.2.0', source: 'update' }] } });
    // The next start, as after any power cycle: nothing on trial.
    const guard = JSON.parse(execFileSync(process.execPath, [join(root, 'opt/tcu-agent/tcu-boot-guard.mjs'), '--slots', slots], { encoding: 'utf8', env })) as unknown;
    expect(guard).toEqual({ action: 'none', slot: 'b', starts: 0 });
  }, 150_000);
});
