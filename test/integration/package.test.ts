/**
 * `npm run package` (scripts/package.mjs) as a board gets it: the tarball made for this machine,
 * unpacked with the real tar into a temporary root outside the repository (so Node can resolve
 * nothing from the source tree), and the agent started from there against the packaged emulator's
 * socketcand server and a real Mosquitto. Also: the dir-slots layout is one the agent's own backend
 * accepts, every addon loads from the package, the licence file covers every package shipped, no
 * build leftovers, the systemd unit, and the refusal to package another machine's addons.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { decode } from 'cbor-x';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../core/clock.js';
import { DirSlotsBackend } from '../../ota/install/dir-slots.js';
import { readCurrent, verifySlot } from '../../ota/install/slot-manifest.js';
import { Mosquitto, hasMosquitto } from '../helpers/mosquitto.js';
import { hasProgram } from '../helpers/system.js';

const REPO = process.cwd();
const VERSION = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
const HOST = process.platform === 'linux' ? ({ x64: 'linux-x64', arm64: 'linux-arm64', arm: 'linux-armv7' } as Record<string, string>)[process.arch] : undefined;
const OTHER = HOST === 'linux-arm64' ? 'linux-x64' : 'linux-arm64';
const VIN = 'WVWZZZ1KZPW000061';
const UNIT = 'lib/systemd/system/tcu-agent.service';
const AGENT = 'opt/tcu-agent/slots/current/tcu-agent.mjs';
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_PATH' && k !== 'NODE_OPTIONS'));

if (HOST === undefined) console.warn(`skipping: packaging needs Linux on x64, arm64 or arm, not ${process.platform}-${process.arch}`);
const haveTar = HOST !== undefined && hasProgram('tar');

const packageScript = (args: string[]) => spawnSync(process.execPath, ['scripts/package.mjs', ...args], { cwd: REPO, encoding: 'utf8', env });
const nodeIn = (root: string, args: string[]) => spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', env });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The `*.node` files a process has mapped, from /proc/<pid>/maps. */
function mappedAddons(pid: number | 'self', maps?: string): string[] {
  const text = maps ?? readFileSync(`/proc/${pid}/maps`, 'utf8');
  return [...new Set(text.split('\n').map((l) => l.trim().split(/\s+/)[5] ?? '').filter((p) => p.endsWith('.node')))].sort();
}

describe.runIf(haveTar)('npm run package: the tarball for a board', () => {
  let work: string;
  let root: string;
  let tarball: string;
  let entries: { mode: string; owner: string; path: string; link?: string }[];

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'tcu-package-test-'));
    const t0 = performance.now();
    const made = packageScript(['--out', join(work, 'out'), '--release-counter', '3', '--rxswin', 'R156-TCU-1']);
    expect(made.status, made.stderr).toBe(0);
    // Every bare import of the bundles is shipped: none is left for Node to look up outside the package.
    expect(made.stdout).not.toMatch(/left out/);
    expect(performance.now() - t0).toBeLessThan(30_000); // seconds (about 2 on an idle machine), not minutes
    tarball = join(work, 'out', `tcu-agent-${VERSION}-${HOST}.tar.gz`);
    mkdirSync(join(work, 'root'));
    root = realpathSync(join(work, 'root'));
    execFileSync('tar', ['-xzf', tarball, '-C', root]);
    entries = execFileSync('tar', ['-tzvf', tarball], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((line) => {
        const f = line.split(/\s+/);
        const [path, , link] = f.slice(5);
        return { mode: f[0]!, owner: f[1]!, path: path!.replace(/\/$/, ''), ...(link === undefined ? {} : { link }) };
      });
  }, 60_000);

  afterAll(() => {
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('holds the board tree: the slot, the addons, the wrapper, the configuration, the unit, the licences', () => {
    expect(root.startsWith(REPO)).toBe(false);
    const paths = new Set(entries.map((e) => e.path));
    for (const p of ['opt/tcu-agent/slots/a/tcu-agent.mjs', 'opt/tcu-agent/slots/a/.slot.json', 'opt/tcu-agent/slots/slots.json', 'opt/tcu-agent/tools/tcu-emulator.mjs', 'usr/bin/tcu-agent', 'etc/tcu-agent/config.json', UNIT, 'usr/lib/sysusers.d/tcu-agent.conf', 'usr/lib/tmpfiles.d/tcu-agent.conf', 'usr/share/doc/tcu-agent/LICENSE', 'usr/share/doc/tcu-agent/THIRD-PARTY-LICENSES']) {
      expect(paths, p).toContain(p);
    }
    expect(entries.find((e) => e.path === 'opt/tcu-agent/slots/current')).toMatchObject({ mode: expect.stringMatching(/^l/), link: 'a' });
    expect(readlinkSync(join(root, 'opt/tcu-agent/slots/current'))).toBe('a');
    expect(entries.find((e) => e.path === 'usr/bin/tcu-agent')!.mode).toBe('-rwxr-xr-x');
    expect(readFileSync(join(root, 'usr/bin/tcu-agent'), 'utf8')).toContain(`--max-semi-space-size=2 /${AGENT} "$@"`);
    expect(new Set(entries.map((e) => e.owner))).toEqual(new Set(['0/0']));
    // No entries for shared directories: unpacking at / must not replace /lib (a symlink on merged-/usr systems).
    for (const shared of ['lib', 'lib/systemd', 'usr', 'usr/bin', 'usr/lib', 'usr/share', 'usr/share/doc', 'etc', 'opt']) expect(paths, shared).not.toContain(shared);
    for (const m of ['better-sqlite3', 'socketcan', 'cbor-extract', 'serialport', '@serialport/stream', '@serialport/bindings-cpp', 'bindings', 'xml2js']) {
      expect(existsSync(join(root, 'opt/tcu-agent/node_modules', m, 'package.json')), m).toBe(true);
    }
  });

  it('carries nothing of the addons\' build trees or build-only packages', () => {
    const modules = entries.filter((e) => e.path.startsWith('opt/tcu-agent/node_modules/') && !e.mode.startsWith('d')).map((e) => e.path);
    expect(modules.length).toBeGreaterThan(20);
    const nativeDirs = modules.filter((p) => p.endsWith('.node')).map((p) => p.replace(/\/(build|prebuilds)\/.*$/, ''));
    const leftovers = modules.filter(
      (p) =>
        /\.(o|a|c|cc|cpp|h|hpp|gyp|gypi|mk|ts|map|tar|gz|py|sh)$|\/(Makefile|binding\.gyp|config\.gypi)$|\/(obj|obj\.target|\.deps|deps|test|tests)\//.test(p) ||
        /\/node_modules\/(node-gyp|nan|node-addon-api|prebuild-install)\//.test(p) ||
        /\/test[^/]*\.node$/.test(p) ||
        nativeDirs.some((d) => p.startsWith(`${d}/src/`)),
    );
    expect(leftovers).toEqual([]);
    // Only this machine's addons: prebuilds of other platforms are left out.
    expect(modules.filter((p) => /\/prebuilds\//.test(p) && !p.includes(`/prebuilds/${HOST === 'linux-armv7' ? 'linux-arm' : HOST}/`))).toEqual([]);
  });

  it('has slot a in the format the agent\'s dir-slots backend accepts, booted and good, and an update goes to slot b', async () => {
    const slots = join(root, 'opt/tcu-agent/slots');
    const bundle = readFileSync(join(slots, 'a/tcu-agent.mjs'));
    const sha256 = createHash('sha256').update(bundle).digest('hex');
    const manifest = await verifySlot(slots, 'a');
    // The release counter the build was given: the floor below which the agent refuses any update.
    expect(manifest).toMatchObject({ file: 'tcu-agent.mjs', version: VERSION, sha256, length: bundle.length, hardwareIds: ['tcu-generic'], releaseCounter: 3, rxswin: ['R156-TCU-1'] });
    const copy = join(work, 'slots-copy');
    cpSync(slots, copy, { recursive: true, verbatimSymlinks: true });
    const backend = DirSlotsBackend.open({ dir: copy, clock: systemClock() });
    const status = await backend.status();
    expect(status).toMatchObject({ booted: 'a', primary: 'a' });
    expect(status.slots).toMatchObject([
      { name: 'a', bootState: 'good', version: VERSION, sha256 },
      { name: 'b', bootState: 'unknown' },
    ]);
    const image = join(work, 'next.mjs');
    writeFileSync(image, bundle);
    const target = { name: 'tcu-agent/9.9.9/tcu-agent.mjs', length: bundle.length, hashes: { sha256 }, custom: { hardwareIds: ['tcu-generic'], version: '9.9.9' } };
    expect(await backend.install(image, target)).toEqual({ slot: 'b' });
    await backend.activate();
    expect(readCurrent(copy)).toBe('b');
    // The packaged boot guard, as ExecStartPre runs it: the shipped slot is not on trial; the copy's b is.
    const guard = (slotsDir: string): unknown => JSON.parse(execFileSync(process.execPath, [join(root, 'opt/tcu-agent/tcu-boot-guard.mjs'), '--slots', slotsDir], { encoding: 'utf8' }));
    expect(guard(slots)).toEqual({ action: 'none', slot: 'a', starts: 0 });
    expect(guard(copy)).toEqual({ action: 'counted', slot: 'b', starts: 1 });
  });

  it('names every package inside the bundles and every shipped native package in THIRD-PARTY-LICENSES, each with its text', () => {
    const text = readFileSync(join(root, 'usr/share/doc/tcu-agent/THIRD-PARTY-LICENSES'), 'utf8');
    expect(readFileSync(join(root, 'usr/share/doc/tcu-agent/LICENSE'), 'utf8')).toBe(readFileSync('LICENSE', 'utf8'));
    const expected = new Set<string>();
    // esbuild marks each module in a bundle with a comment naming its file.
    for (const bundle of ['opt/tcu-agent/slots/a/tcu-agent.mjs', 'opt/tcu-agent/tools/tcu-emulator.mjs']) {
      for (const m of readFileSync(join(root, bundle), 'utf8').matchAll(/^\/\/ (node_modules\/(?:.*\/node_modules\/)?(?:@[^/]+\/)?[^/]+)\//gm)) {
        const pkg = JSON.parse(readFileSync(join(REPO, m[1]!, 'package.json'), 'utf8')) as { name: string; version: string };
        expected.add(`${pkg.name} ${pkg.version}`);
      }
    }
    const packagesIn = (dir: string): string[] =>
      readdirSync(dir).flatMap((n) => (n.startsWith('@') ? packagesIn(join(dir, n)) : [join(dir, n), ...(existsSync(join(dir, n, 'node_modules')) ? packagesIn(join(dir, n, 'node_modules')) : [])]));
    for (const dir of packagesIn(join(root, 'opt/tcu-agent/node_modules'))) {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name: string; version: string };
      expected.add(`${pkg.name} ${pkg.version}`);
    }
    expect(expected.size).toBeGreaterThan(60);
    // After the summary: a rule, "name version" and its header, a rule, the licence text; for each package.
    const parts = text.split(/^={80}$/m).slice(1);
    const sections = new Map<string, string>();
    for (let i = 0; i + 1 < parts.length; i += 2) sections.set(parts[i]!.trim().split('\n')[0]!, parts[i + 1]!);
    for (const name of expected) {
      expect(text, name).toContain(`  ${name} (`);
      expect(sections.get(name)?.trim().length ?? 0, `licence text of ${name}`).toBeGreaterThan(150);
    }
  });

  it('installs the unit from packaging/, with the lines the board needs, and systemd-analyze accepts it', () => {
    const unit = readFileSync(join(root, UNIT), 'utf8');
    expect(unit).toBe(readFileSync('packaging/systemd/tcu-agent.service', 'utf8'));
    const lines = unit.split('\n').filter((l) => /^[A-Za-z]+=/.test(l));
    for (const line of [
      `ExecStart=/usr/bin/node --max-semi-space-size=2 /${AGENT} run --config /etc/tcu-agent/config.json`,
      'ExecStartPre=-/usr/bin/node /opt/tcu-agent/tcu-boot-guard.mjs --slots /opt/tcu-agent/slots --max-starts 3',
      'Restart=always', 'Type=notify', 'NotifyAccess=all', 'WatchdogSec=30', 'User=tcu-agent', 'Group=tcu-agent', 'SupplementaryGroups=dialout',
      'CapabilityBoundingSet=', 'AmbientCapabilities=', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes',
      'StateDirectory=tcu-agent', 'ReadWritePaths=/opt/tcu-agent/slots', 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_CAN AF_NETLINK',
    ]) {
      expect(lines, line).toContain(line);
    }
    for (const key of ['RestartSec', 'StartLimitIntervalSec', 'StartLimitBurst']) expect(lines.some((l) => l.startsWith(`${key}=`)), key).toBe(true);
    // Settings that would break the serial port or V8 are absent.
    for (const key of ['PrivateDevices', 'DevicePolicy', 'DeviceAllow', 'ProtectClock', 'MemoryDenyWriteExecute', 'PrivateUsers', 'DynamicUser']) expect(lines.some((l) => l.startsWith(`${key}=`)), key).toBe(false);
    // What the unit names is in the tarball.
    expect(existsSync(join(root, AGENT))).toBe(true);
    expect(existsSync(join(root, 'opt/tcu-agent/tcu-boot-guard.mjs'))).toBe(true);
    expect(existsSync(join(root, 'etc/tcu-agent/config.json'))).toBe(true);
    if (spawnSync('sh', ['-c', 'command -v systemd-analyze']).status !== 0) {
      console.warn('systemd-analyze is not installed: the unit was checked line by line only');
      return;
    }
    const dir = mkdtempSync(join(work, 'unit-'));
    // verify checks that ExecStart's program exists: use this machine's node where /usr/bin/node is not one.
    writeFileSync(join(dir, 'tcu-agent.service'), existsSync('/usr/bin/node') ? unit : unit.replaceAll('=/usr/bin/node ', `=${process.execPath} `).replaceAll('=-/usr/bin/node ', `=-${process.execPath} `));
    const verify = spawnSync('systemd-analyze', ['verify', '--man=no', join(dir, 'tcu-agent.service')], { encoding: 'utf8' });
    expect({ status: verify.status, output: verify.stdout + verify.stderr }).toEqual({ status: 0, output: '' });
  });

  it('validates the packaged default configuration with the packaged agent, and refuses a broken one', () => {
    const config = join(root, 'etc/tcu-agent/config.json');
    const ok = nodeIn(root, [join(root, AGENT), 'status', '--config', config]);
    // Valid: the agent gets past the configuration and looks for the outbox, which does not exist yet.
    expect(ok.stderr).toMatch(/FILE_READ: there is no outbox at \/var\/lib\/tcu-agent\/outbox\.db/);
    expect(ok.stderr).not.toMatch(/CONFIG_INVALID/);
    const broken = join(work, 'broken.json');
    writeFileSync(broken, readFileSync(config, 'utf8').replace('"driver": "socketcan"', '"driver": "socketcann"'));
    const bad = nodeIn(root, [join(root, AGENT), 'status', '--config', broken]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/CONFIG_INVALID.*\n.*\/can\/buses\/0/);
  });

  it('loads every native addon from the package, nothing from the source tree', () => {
    const probe = join(root, 'opt/tcu-agent/probe.mjs');
    writeFileSync(
      probe,
      [
        "import { createRequire } from 'node:module';",
        "import { readFileSync } from 'node:fs';",
        'const require = createRequire(import.meta.url);',
        "const db = new (require('better-sqlite3'))(':memory:');",
        "const out = { sqlite: db.prepare('SELECT 1 AS one').get().one, socketcan: typeof require('socketcan').createRawChannelWithOptions,",
        "  cbor: typeof require('cbor-extract').extractStrings, binding: typeof require('@serialport/bindings-cpp').autoDetect().open,",
        "  stream: typeof require('@serialport/stream').SerialPortStream, serialport: typeof (await import('serialport')).SerialPort };",
        "process.stdout.write(JSON.stringify({ out, maps: readFileSync('/proc/self/maps', 'utf8') }));",
      ].join('\n'),
    );
    const run = nodeIn(root, [probe]);
    expect(run.status, run.stderr).toBe(0);
    const { out, maps } = JSON.parse(run.stdout) as { out: Record<string, unknown>; maps: string };
    expect(out).toEqual({ sqlite: 1, socketcan: 'function', cbor: 'function', binding: 'function', stream: 'function', serialport: 'function' });
    const addons = mappedAddons('self', maps);
    expect(addons.map((p) => p.split('/').pop())).toEqual(expect.arrayContaining(['better_sqlite3.node', 'can.node', expect.stringMatching(/bindings-cpp.*\.node$/), expect.stringMatching(/^node\.(napi|abi\d+)\./)]));
    expect(addons.filter((p) => !p.startsWith(`${root}/opt/tcu-agent/node_modules/`))).toEqual([]);
    expect(maps).not.toContain(REPO);
  });

  it(`refuses to package ${OTHER} without --natives-from, and this machine's addons as ${OTHER}'s`, () => {
    const refused = packageScript(['--target', OTHER, '--out', join(work, 'other')]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(new RegExp(`refusing to package for ${OTHER}.*--natives-from`));
    const wrong = packageScript(['--target', OTHER, '--natives-from', join(REPO, 'node_modules'), '--out', join(work, 'other')]);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(/is not a .* addon .*built for another target/);
    expect(existsSync(join(work, 'other', `tcu-agent-${VERSION}-${OTHER}.tar.gz`))).toBe(false);
  });

  describe.runIf(hasMosquitto())('started from the unpacked root', () => {
    const children: ChildProcess[] = [];
    let broker: Mosquitto;
    let cloud: MqttClient;
    afterAll(async () => {
      for (const c of children) c.kill('SIGKILL');
      await cloud?.endAsync(true);
      await broker?.dispose();
    });

    it('sends records to a real broker, with every addon it maps loaded from the package', async () => {
      broker = await Mosquitto.start();
      const records: { kind: string; body: Record<string, unknown> }[] = [];
      cloud = await connectAsync(broker.url, { clientId: 'cloud' });
      await cloud.subscribeAsync(`tcu/${VIN}/#`, { qos: 1 });
      cloud.on('message', (_topic, payload) => {
        for (const r of (decode(payload) as { records?: Record<string, unknown>[] }).records ?? []) records.push({ kind: String(r['kind']), body: r });
      });
      mkdirSync(join(root, 'etc/tcu-agent/dbc'), { recursive: true });
      const dbc = join(root, 'etc/tcu-agent/dbc/vw_mqb.dbc');
      cpSync('hw-emulator/dbc/vw_mqb.dbc', dbc);
      const emulator = spawn(process.execPath, [join(root, 'opt/tcu-agent/tools/tcu-emulator.mjs'), '--dbc', dbc, '--socketcand', '127.0.0.1:0', '--seed', '6'], { cwd: root, env });
      children.push(emulator);
      const first = await createInterface({ input: emulator.stdout! })[Symbol.asyncIterator]().next();
      const port = (JSON.parse(first.value as string) as { socketcand: { port: number } }).socketcand.port;
      const config = join(root, 'etc/tcu-agent/test.json');
      writeFileSync(
        config,
        JSON.stringify({
          version: 1,
          vehicle: { vin: VIN, deviceId: 'packaged' },
          can: { buses: [{ name: 'pt', driver: 'socketcand', host: '127.0.0.1', port, bus: 'vcan0', dbc }] },
          collect: { periodic: [{ name: 'fast', everyMs: 50, signals: ['ESP_21.ESP_v_Signal', 'Motor_12.MO_Drehzahl_01'] }] },
          outbox: { path: join(root, 'var/lib/tcu-agent/outbox.db'), commitIntervalMs: 50 },
          uplink: { url: broker.url, backoff: { initialMs: 100, maxMs: 500 } },
          logging: { level: 'warn' },
        }),
      );
      mkdirSync(join(root, 'var/lib/tcu-agent'), { recursive: true });
      const agent = spawn(process.execPath, ['--max-semi-space-size=2', join(root, AGENT), 'run', '--config', config], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(agent);
      let stderr = '';
      agent.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      agent.stdout!.resume();
      const end = Date.now() + 20_000;
      while (records.filter((r) => r.kind === 'signals').length < 10) {
        if (Date.now() > end || agent.exitCode !== null) throw new Error(`no telemetry from the packaged agent (exit ${agent.exitCode}): ${stderr}`);
        await sleep(50);
      }
      expect(records.some((r) => r.body['name'] === 'agent-start')).toBe(true);
      expect(records.some((r) => r.kind === 'signals' && 'ESP_21.ESP_v_Signal' in (r.body['values'] as object))).toBe(true);
      const maps = readFileSync(`/proc/${agent.pid}/maps`, 'utf8');
      const addons = mappedAddons(agent.pid!, maps);
      expect(addons.some((p) => p.endsWith('/better_sqlite3.node'))).toBe(true);
      expect(addons.filter((p) => !p.startsWith(`${root}/opt/tcu-agent/node_modules/`))).toEqual([]);
      expect(maps).not.toContain(REPO);
      agent.kill('SIGTERM');
      expect(await new Promise((resolve) => (agent.exitCode !== null ? resolve(agent.exitCode) : agent.once('exit', resolve)))).toBe(0);
    }, 40_000);
  });
});
