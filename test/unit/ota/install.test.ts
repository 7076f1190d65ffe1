/**
 * The install backends against real peers: dir-slots on real folders (the running slot hashed
 * before and after to prove it is never written), rauc through a fake `rauc` script on PATH (a real
 * process that keeps the bootloader's state in a file), and command through a real shell script.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isTcuError } from '../../../core/errors.js';
import {
  childProcessRunner,
  CommandBackend,
  DirSlotsBackend,
  parseCommandStatus,
  parseRaucStatus,
  RaucBackend,
  readCurrent,
  readSlotStates,
  verifySlot,
} from '../../../ota/install/index.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { hashTree, makeImage, seededBytes } from '../../helpers/ota-install.js';
import { canMountTmpfs, mountTmpfs } from '../../helpers/outbox-fixture.js';
import { tempDir, type TempDir } from '../../helpers/outbox-records.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'ota-install');

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return isTcuError(err) ? err.code : `not a TcuError: ${String(err)}`;
  }
  return 'resolved';
}

let tmp: TempDir;
let clock: FakeClock;
beforeEach(() => {
  tmp = tempDir('tcu-ota-install-');
  clock = new FakeClock();
});
afterEach(() => tmp.cleanup());

describe('dir-slots', () => {
  const v1 = () => makeImage(tmp.dir, 'tcu/agent-1.0.0.mjs', seededBytes(1, 300_000), { version: '1.0.0', releaseCounter: 1, rxswin: ['R10-1'] });
  const v2 = () => makeImage(tmp.dir, 'tcu/agent-2.0.0.mjs', seededBytes(2, 2_500_000), { version: '2.0.0', releaseCounter: 2, rxswin: ['R10-2'] });
  const slots = () => tmp.path('slots');
  const open = () => DirSlotsBackend.open({ dir: slots(), clock });
  /** 1.0.0 provisioned and running in slot a, 2.0.0 installed into b (and activated for the next start when asked). */
  const v2Installed = async (activate: boolean): Promise<{ backend: DirSlotsBackend; second: ReturnType<typeof v2> }> => {
    const first = v1();
    await DirSlotsBackend.provision({ dir: slots(), clock }, first.path, first.target);
    const second = v2();
    const backend = open();
    await backend.install(second.path, second.target);
    if (activate) await backend.activate();
    return { backend, second };
  };

  it('provisions slot a, installs into b without touching a, activates, commits after the restart', async () => {
    const first = v1();
    const m1 = await DirSlotsBackend.provision({ dir: slots(), clock }, first.path, first.target);
    expect(m1).toMatchObject({ target: 'tcu/agent-1.0.0.mjs', file: 'agent-1.0.0.mjs', version: '1.0.0', releaseCounter: 1, rxswin: ['R10-1'] });
    expect(readCurrent(slots())).toBe('a');
    expect(readSlotStates(slots()).a).toBe('good');

    const backend = open();
    expect(await backend.activeSlot()).toBe('a');
    const activeBefore = hashTree(join(slots(), 'a'));
    const second = v2();
    expect(await backend.install(second.path, second.target)).toEqual({ slot: 'b' });
    expect(hashTree(join(slots(), 'a'))).toBe(activeBefore);
    expect(readCurrent(slots())).toBe('a');
    const m2 = await verifySlot(slots(), 'b');
    expect(m2).toMatchObject({ version: '2.0.0', sha256: second.target.hashes['sha256'], length: 2_500_000 });
    expect(readFileSync(join(slots(), 'b', 'agent-2.0.0.mjs')).equals(readFileSync(second.path))).toBe(true);

    await backend.activate();
    expect(readCurrent(slots())).toBe('b');
    expect(readSlotStates(slots())).toEqual({ a: 'good', b: 'trying' });
    expect(hashTree(join(slots(), 'a'))).toBe(activeBefore);
    const status = await backend.status();
    expect(status).toMatchObject({ booted: 'a', primary: 'b' });
    expect(status.slots.map((s) => [s.name, s.bootState, s.version])).toEqual([['a', 'good', '1.0.0'], ['b', 'trying', '2.0.0']]);

    // The restart: a new process opens the folder and runs b.
    const restarted = open();
    expect(await restarted.activeSlot()).toBe('b');
    await restarted.markGood();
    expect(readSlotStates(slots())).toEqual({ a: 'good', b: 'good' });
    expect(readdirSync(slots()).sort()).toEqual(['a', 'b', 'current', 'slots.json']);
  });

  it('rolls back after the restart: current goes back to the previous complete slot', async () => {
    await v2Installed(true);
    const trying = open();
    expect(await trying.activeSlot()).toBe('b');
    await trying.rollback();
    expect(readCurrent(slots())).toBe('a');
    expect(readSlotStates(slots())).toEqual({ a: 'good', b: 'bad' });
    expect(await open().activeSlot()).toBe('a');
    expect((await verifySlot(slots(), 'a')).version).toBe('1.0.0');
  });

  it('rolls back before the restart: current points at the running slot again', async () => {
    const { backend } = await v2Installed(true);
    await backend.rollback();
    expect(readCurrent(slots())).toBe('a');
    expect(readSlotStates(slots())).toEqual({ a: 'good', b: 'bad' });
    // A committed slot (nothing on trial) is not rolled back.
    await open().rollback();
    expect(readCurrent(slots())).toBe('a');
  });

  it('refuses to install over a slot already activated for the next start', async () => {
    const { backend, second } = await v2Installed(true);
    const before = hashTree(join(slots(), 'b'));
    expect(await code(backend.install(second.path, second.target))).toBe('OTA_INSTALL');
    expect(hashTree(join(slots(), 'b'))).toBe(before);
  });

  it('an image that does not match its target, an unsafe name or a cancel leaves both slots as they were', async () => {
    const { backend, second } = await v2Installed(false);
    const before = hashTree(slots());

    const wrong = { ...second.target, hashes: { sha256: 'ab'.repeat(32) } };
    expect(await code(backend.install(second.path, wrong))).toBe('OTA_TARGET_MISMATCH');
    expect(await code(backend.install(second.path, { ...second.target, length: 5 }))).toBe('OTA_TARGET_MISMATCH');
    expect(await code(backend.install(second.path, { ...second.target, name: 'x/..' }))).toBe('OTA_TARGET_NAME');
    expect(await code(backend.install(second.path, { ...second.target, name: '.slot.json' }))).toBe('OTA_TARGET_NAME');
    expect(await code(backend.install(second.path, { ...second.target, hashes: {} }))).toBe('OTA_METADATA');
    const controller = new AbortController();
    controller.abort();
    expect(await code(backend.install(second.path, second.target, { signal: controller.signal }))).toBe('OTA_CANCELLED');
    expect(await code(backend.install(tmp.path('missing.img'), second.target))).toBe('OTA_INSTALL');
    expect(hashTree(slots())).toBe(before);
  });

  it('activate refuses an incomplete slot; open removes what an interrupted install left', async () => {
    const { backend } = await v2Installed(false);
    writeFileSync(join(slots(), 'b', 'agent-2.0.0.mjs'), 'truncated');
    expect(await code(backend.activate())).toBe('OTA_INSTALL');
    expect(readCurrent(slots())).toBe('a');

    mkdirSync(join(slots(), '.tmp-b'));
    writeFileSync(join(slots(), '.tmp-b', 'half'), 'x');
    mkdirSync(join(slots(), '.old-b'));
    open();
    expect(existsSync(join(slots(), '.tmp-b'))).toBe(false);
    expect(existsSync(join(slots(), '.old-b'))).toBe(false);
  });

  it('an empty folder: the first install goes to a; a rollback before the start removes current again', async () => {
    const backend = open();
    expect(await backend.activeSlot()).toBeNull();
    const first = v1();
    expect(await backend.install(first.path, first.target)).toEqual({ slot: 'a' });
    await backend.activate();
    expect(readCurrent(slots())).toBe('a');
    await backend.rollback();
    expect(readCurrent(slots())).toBeNull();
    expect(await code(backend.markGood())).toBe('OTA_INSTALL');
  });

  it('a current link that points elsewhere is OTA_INSTALL, not a crash', async () => {
    mkdirSync(slots());
    const { symlinkSync } = await import('node:fs');
    symlinkSync('/etc', join(slots(), 'current'));
    expect(() => open()).toThrow(expect.objectContaining({ code: 'OTA_INSTALL' }));
  });

  describe.runIf(canMountTmpfs())('on a full disk (a 1 MiB tmpfs)', () => {
    it('fails with OTA_DISK_FULL and leaves the running slot and no leftovers', async () => {
      const disk = mountTmpfs('1m');
      try {
        const dir = disk.path('slots');
        const first = makeImage(tmp.dir, 'agent-1.mjs', seededBytes(3, 100_000), { version: '1' });
        await DirSlotsBackend.provision({ dir, clock }, first.path, first.target);
        const before = hashTree(join(dir, 'a'));
        const big = makeImage(tmp.dir, 'agent-2.mjs', seededBytes(4, 2_000_000), { version: '2' });
        const backend = DirSlotsBackend.open({ dir, clock });
        expect(await code(backend.install(big.path, big.target))).toBe('OTA_DISK_FULL');
        expect(hashTree(join(dir, 'a'))).toBe(before);
        expect(readdirSync(dir).sort()).toEqual(['a', 'current', 'slots.json']);
        // A smaller image still fits afterwards.
        const small = makeImage(tmp.dir, 'agent-3.mjs', seededBytes(5, 200_000), { version: '3' });
        expect(await backend.install(small.path, small.target)).toEqual({ slot: 'b' });
      } finally {
        disk.unmount();
      }
    });
  });
});

describe('rauc (a fake rauc on PATH)', () => {
  let statePath: string;
  let logPath: string;
  let backend: RaucBackend;
  const calls = (): string[][] => readFileSync(logPath, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as string[]);
  const marks = (): string[] => calls().filter((c) => c[0] !== 'status' || c[1]?.startsWith('mark')).map((c) => c.join(' '));
  const state = () => JSON.parse(readFileSync(statePath, 'utf8')) as { booted: string; primary: string; fail: string | null; slots: Record<string, { bootname: string; boot_status: string; version: string }> };
  /** The bootloader: boots the primary slot unless it is bad. */
  const reboot = () => {
    const s = state();
    const primary = s.slots[s.primary]!;
    const slot = primary.boot_status === 'bad' ? Object.values(s.slots).find((x) => x !== primary)! : primary;
    writeFileSync(statePath, JSON.stringify({ ...s, booted: slot.bootname }));
  };
  const setFail = (fail: string | null) => writeFileSync(statePath, JSON.stringify({ ...state(), fail }));

  beforeEach(() => {
    const bin = tmp.path('bin');
    mkdirSync(bin);
    copyFileSync(join(FIXTURES, 'fake-rauc.mjs'), join(bin, 'rauc'));
    chmodSync(join(bin, 'rauc'), 0o755);
    statePath = tmp.path('rauc-state.json');
    logPath = tmp.path('rauc-log');
    writeFileSync(logPath, '');
    writeFileSync(
      statePath,
      JSON.stringify({
        booted: 'A',
        primary: 'rootfs.0',
        fail: null,
        slots: { 'rootfs.0': { bootname: 'A', boot_status: 'good', version: '1.0.0' }, 'rootfs.1': { bootname: 'B', boot_status: 'good', version: '0.9.0' } },
      }),
    );
    const env = { ...process.env, PATH: `${bin}:${dirname(process.execPath)}:${process.env['PATH'] ?? ''}`, FAKE_RAUC_STATE: statePath, FAKE_RAUC_LOG: logPath };
    backend = new RaucBackend({ runner: childProcessRunner({ env, clock }) });
  });

  const bundle = () => makeImage(tmp.dir, 'tcu-rootfs-2.0.0.raucb', Buffer.from('rauc bundle version=2.0.0\n'), { version: '2.0.0' });

  it('reads the status: booted by bootname, primary by slot name, bootable slots only', async () => {
    const s = await backend.status();
    expect(s).toEqual({
      booted: 'rootfs.0',
      primary: 'rootfs.0',
      slots: [
        // rauc knows no release counter nor RXSWIN; its compatible string is the hardware id.
        { name: 'rootfs.0', bootState: 'good', version: '1.0.0', sha256: undefined, hardwareIds: ['tcu-test'] },
        { name: 'rootfs.1', bootState: 'good', version: '0.9.0', sha256: undefined, hardwareIds: ['tcu-test'] },
      ],
    });
    expect(calls()).toEqual([['status', '--detailed', '--output-format=json']]);
  });

  it('install, activate, reboot, mark-good', async () => {
    const b = bundle();
    expect(await backend.install(b.path, b.target)).toEqual({ slot: 'rootfs.1' });
    expect(calls()).toContainEqual(['install', b.path]);
    await backend.activate();
    reboot();
    expect(await backend.activeSlot()).toBe('rootfs.1');
    await backend.markGood();
    expect(marks()).toEqual([`install ${b.path}`, 'status mark-active other', 'status mark-good booted']);
    expect((await backend.status()).slots.find((s) => s.name === 'rootfs.1')).toMatchObject({ bootState: 'good', version: '2.0.0' });
  });

  it('rolls back after the reboot (mark-bad booted, mark-active other) and before it (mark-active booted, mark-bad other)', async () => {
    const b = bundle();
    await backend.install(b.path, b.target);
    await backend.activate();
    reboot();
    await backend.rollback();
    expect(marks().slice(-2)).toEqual(['status mark-bad booted', 'status mark-active other']);
    reboot();
    expect(await backend.status()).toMatchObject({ booted: 'rootfs.0', primary: 'rootfs.0' });

    await backend.install(b.path, b.target);
    await backend.activate();
    await backend.rollback();
    expect(marks().slice(-2)).toEqual(['status mark-active booted', 'status mark-bad other']);
    expect(await backend.status()).toMatchObject({ booted: 'rootfs.0', primary: 'rootfs.0' });
  });

  it('maps failures to codes: install error, no space, a mark refused, no rauc at all', async () => {
    const b = bundle();
    setFail('install');
    expect(await code(backend.install(b.path, b.target))).toBe('OTA_INSTALL');
    await expect(backend.install(b.path, b.target)).rejects.toThrow('signature verification failed');
    setFail('nospace');
    expect(await code(backend.install(b.path, b.target))).toBe('OTA_DISK_FULL');
    setFail('mark');
    expect(await code(backend.markGood())).toBe('OTA_INSTALL');
    expect(state().primary).toBe('rootfs.0');
    const missing = new RaucBackend({ runner: childProcessRunner({ clock }), command: tmp.path('no-such-rauc') });
    expect(await code(missing.status())).toBe('OTA_INSTALL');
  });

  it('refuses rauc output it does not understand', () => {
    for (const text of ['', 'not json', '{}', '{"slots": [1]}', '{"slots": [{"rootfs.0": 3}]}']) {
      expect(() => parseRaucStatus(text), text).toThrow(expect.objectContaining({ code: 'OTA_INSTALL' }));
    }
  });
});

describe('command (an integrator script)', () => {
  let dir: string;
  let backend: CommandBackend;
  const read = (name: string) => readFileSync(join(dir, name), 'utf8').trim();
  const make = (env: Record<string, string> = {}, timeoutMs?: number) =>
    new CommandBackend({ script: join(FIXTURES, 'integrator.sh'), runner: childProcessRunner({ clock }), env: { SLOTS_DIR: dir, ...env }, timeoutMs });
  const reboot = () => writeFileSync(join(dir, 'booted'), read('primary'));

  beforeEach(() => {
    dir = tmp.path('integrator');
    mkdirSync(dir);
    for (const [name, text] of Object.entries({ booted: 'a', primary: 'a', 'a.state': 'good', 'b.state': 'unknown', 'a.version': '1.0.0', 'a.img': 'old image', log: '' })) {
      writeFileSync(join(dir, name), `${text}\n`);
    }
    backend = make();
  });

  const image = () => makeImage(tmp.dir, 'ecu/gateway-2.1.bin', seededBytes(9, 50_000), { version: '2.1', releaseCounter: 7, rxswin: ['R10-A', 'R156-B'], hardwareIds: ['gw-1', 'gw-2'] });

  it('install with the documented environment, activate, reboot, mark-good', async () => {
    const img = image();
    expect(await backend.install(img.path, img.target)).toEqual({ slot: 'b' });
    expect(readFileSync(join(dir, 'b.img')).equals(readFileSync(img.path))).toBe(true);
    expect(read('a.img')).toBe('old image');
    expect(read('log')).toContain('install action=install target=ecu/gateway-2.1.bin version=2.1');
    await backend.activate();
    expect(await backend.status()).toMatchObject({ booted: 'a', primary: 'b', slots: [{ name: 'a', bootState: 'good' }, { name: 'b', bootState: 'trying', version: '2.1' }] });
    reboot();
    expect(await backend.activeSlot()).toBe('b');
    await backend.markGood();
    expect(read('b.state')).toBe('good');
  });

  it('passes every TCU_OTA_* variable to install', async () => {
    const img = image();
    const envDump = tmp.path('env.sh');
    writeFileSync(envDump, `#!/bin/sh\nenv | grep '^TCU_OTA_' | sort > "${tmp.path('env.txt')}"\n`);
    chmodSync(envDump, 0o755);
    await new CommandBackend({ script: envDump, runner: childProcessRunner({ clock }) }).install(img.path, img.target);
    expect(readFileSync(tmp.path('env.txt'), 'utf8').trim().split('\n')).toEqual([
      'TCU_OTA_ACTION=install',
      'TCU_OTA_HARDWARE_IDS=gw-1,gw-2',
      `TCU_OTA_IMAGE=${img.path}`,
      `TCU_OTA_LENGTH=50000`,
      'TCU_OTA_RELEASE_COUNTER=7',
      'TCU_OTA_RXSWIN=R10-A,R156-B',
      `TCU_OTA_SHA256=${img.target.hashes['sha256']}`,
      'TCU_OTA_TARGET=ecu/gateway-2.1.bin',
      'TCU_OTA_VERSION=2.1',
    ]);
  });

  it("does not hand the service manager's variables to the script (it could notify as the agent)", async () => {
    const dump = tmp.path('env-all.sh');
    writeFileSync(dump, `#!/bin/sh\nenv > "${tmp.path('env-all.txt')}"\n`);
    chmodSync(dump, 0o755);
    const env = { PATH: process.env['PATH'], NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '1', KEPT: 'yes' };
    await childProcessRunner({ clock, env }).run(dump, []);
    const seen = readFileSync(tmp.path('env-all.txt'), 'utf8');
    expect(seen).toMatch(/^KEPT=yes$/m);
    expect(seen).not.toMatch(/^(NOTIFY_SOCKET|WATCHDOG_USEC|WATCHDOG_PID)=/m);
  });

  it('rolls back before and after the reboot (mark-bad)', async () => {
    const img = image();
    await backend.install(img.path, img.target);
    await backend.activate();
    await backend.rollback();
    expect(await backend.status()).toMatchObject({ booted: 'a', primary: 'a', slots: [{ bootState: 'good' }, { bootState: 'bad' }] });
    await backend.install(img.path, img.target);
    await backend.activate();
    reboot();
    await backend.rollback();
    expect(await backend.status()).toMatchObject({ booted: 'b', primary: 'a', slots: [{ bootState: 'good' }, { bootState: 'bad' }] });
  });

  it('exit codes: 1 is OTA_INSTALL with the script error, 3 is OTA_DISK_FULL, a hang is killed', async () => {
    const img = image();
    const failing = make({ INTEGRATOR_FAIL: 'install' });
    await expect(failing.install(img.path, img.target)).rejects.toMatchObject({ code: 'OTA_INSTALL', message: expect.stringContaining('install failed on purpose') });
    expect(await code(make({ INTEGRATOR_FAIL: 'nospace' }).install(img.path, img.target))).toBe('OTA_DISK_FULL');
    expect(await code(backend.install(img.path, { ...img.target, hashes: { sha256: '00'.repeat(32) } }))).toBe('OTA_INSTALL');
    expect(await code(make({ INTEGRATOR_FAIL: 'activate' }).activate())).toBe('OTA_INSTALL');
    expect(read('primary')).toBe('a');
    const hang = tmp.path('hang.sh');
    writeFileSync(hang, '#!/bin/sh\nexec sleep 30\n');
    chmodSync(hang, 0o755);
    const slow = new CommandBackend({ script: hang, runner: childProcessRunner(), timeoutMs: 300 });
    await expect(slow.markGood()).rejects.toMatchObject({ code: 'OTA_INSTALL', message: expect.stringContaining('SIGKILL') });
  });

  it('refuses a status it does not understand', () => {
    expect(parseCommandStatus('{"booted": null, "primary": "b"}')).toEqual({ booted: null, primary: 'b', slots: [] });
    for (const text of ['', '[]x', '"a"', '{"booted": 3}', '{"slots": {}}', '{"slots": [{}]}']) {
      expect(() => parseCommandStatus(text), text).toThrow(expect.objectContaining({ code: 'OTA_INSTALL' }));
    }
  });
});
