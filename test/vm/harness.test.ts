import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hasProgram } from '../helpers/system.js';
import { findProgram } from './harness/command.js';
import { isDynamicallyLinked, writeInitramfs } from './harness/initramfs.js';
import { moduleName } from './harness/modules.js';

// The VM harness's own pieces that need no VM, checked against independent tools: GNU cpio reads
// the initramfs we write, ldd judges which programs are static.
const dir = mkdtempSync(join(tmpdir(), 'tcu-vm-harness-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.runIf(hasProgram('cpio'))('the initramfs writer', () => {
  it('writes a newc archive that cpio lists and extracts: folders, files with their modes, the console device', () => {
    const busybox = join(dir, 'busybox');
    const init = join(dir, 'init');
    writeFileSync(busybox, Buffer.from('not really busybox, 37 bytes long...'));
    writeFileSync(init, '#!/bin/busybox sh\necho hi\n');
    const modules = [
      { name: 'virtio_ring', bytes: Buffer.alloc(1001, 1) },
      { name: 'can_raw', bytes: Buffer.alloc(3, 2) },
    ];
    const archive = join(dir, 'initramfs.cpio');
    writeInitramfs(archive, { busybox, init, modules });

    const listing = execFileSync('cpio', ['-itv', '--quiet', '-F', archive], { encoding: 'utf8' }).trim().split('\n');
    const entries = listing.map((line) => {
      const f = line.split(/\s+/);
      return { mode: f[0], size: f[4], name: f.at(-1) };
    });
    expect(entries.map((e) => e.name)).toEqual(['bin', 'dev', 'proc', 'sys', 'mnt', 'modules', 'dev/console', 'bin/busybox', 'init', 'modules/00-virtio_ring.ko', 'modules/01-can_raw.ko']);
    expect(entries.find((e) => e.name === 'dev/console')).toMatchObject({ mode: 'crw-------', size: '5,' });
    expect(entries.find((e) => e.name === 'init')?.mode).toBe('-rwxr-xr-x');
    expect(entries.find((e) => e.name === 'bin')?.mode).toBe('drwxr-xr-x');

    const out = join(dir, 'out');
    execFileSync('cpio', ['-id', '--quiet', '-F', archive, '-D', out, 'init', 'bin/busybox', 'modules/*'], { stdio: 'ignore' });
    expect(readFileSync(join(out, 'init'), 'utf8')).toBe(readFileSync(init, 'utf8'));
    expect(readFileSync(join(out, 'bin/busybox'))).toEqual(readFileSync(busybox));
    expect(readFileSync(join(out, 'modules/00-virtio_ring.ko'))).toEqual(modules[0]!.bytes);
    expect(readFileSync(join(out, 'modules/01-can_raw.ko'))).toEqual(modules[1]!.bytes);
  });
});

describe('static and dynamic executables', () => {
  it('tells them apart as ldd does', () => {
    const candidates = ['sh', 'busybox', 'node', 'cansend']
      .map((p) => findProgram(p))
      .filter((p): p is string => p !== undefined && readFileSync(p).readUInt32BE(0) === 0x7f454c46);
    expect(candidates.length).toBeGreaterThan(0);
    for (const path of candidates) {
      let lddSaysStatic: boolean;
      try {
        lddSaysStatic = /not a dynamic executable|statically linked/.test(execFileSync('ldd', [path], { encoding: 'utf8', stdio: 'pipe' }));
      } catch (err) {
        lddSaysStatic = /not a dynamic executable/.test(String((err as { stderr?: Buffer }).stderr ?? ''));
      }
      expect(isDynamicallyLinked(readFileSync(path)), path).toBe(!lddSaysStatic);
    }
  });
});

describe('module names', () => {
  it('are spelt as the kernel spells them', () => {
    expect(['can-raw.ko', 'can-dev.ko.xz', '9pnet_virtio.ko.zst', 'vcan'].map(moduleName)).toEqual(['can_raw', 'can_dev', '9pnet_virtio', 'vcan']);
  });
});
