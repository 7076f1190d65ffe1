import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { findProgram } from './command.js';
import type { KernelModule } from './modules.js';
import { VmUnavailableError } from './unavailable.js';

/** One entry of a cpio archive. */
type Entry =
  | { path: string; kind: 'dir'; mode?: number }
  | { path: string; kind: 'file'; data: Buffer; mode?: number }
  | { path: string; kind: 'char'; major: number; minor: number; mode?: number };

export interface InitramfsContents {
  /** A statically linked busybox (Debian package busybox-static). */
  busybox: string;
  /** The `/init` script. */
  init: string;
  /** Loaded by /init in this order, as `/modules/NN-name.ko`. */
  modules: readonly KernelModule[];
}

/**
 * Writes the initramfs: busybox, `/init`, the kernel modules and `/dev/console`. The archive is
 * written here (cpio "newc", uncompressed) rather than with the cpio program, so that the console
 * device node needs no root rights.
 */
export function writeInitramfs(out: string, contents: InitramfsContents): void {
  const entries: Entry[] = [
    ...['bin', 'dev', 'proc', 'sys', 'mnt', 'modules'].map((path) => ({ path, kind: 'dir' as const })),
    { path: 'dev/console', kind: 'char', major: 5, minor: 1, mode: 0o600 },
    { path: 'bin/busybox', kind: 'file', data: readFileSync(contents.busybox), mode: 0o755 },
    { path: 'init', kind: 'file', data: readFileSync(contents.init), mode: 0o755 },
    ...contents.modules.map((m, i) => ({ path: `modules/${String(i).padStart(2, '0')}-${m.name}.ko`, kind: 'file' as const, data: m.bytes })),
  ];
  const fd = openSync(out, 'w');
  try {
    entries.forEach((entry, i) => writeSync(fd, encode(entry, i + 1)));
    writeSync(fd, encode({ path: 'TRAILER!!!', kind: 'file', data: Buffer.alloc(0), mode: 0 }, 0));
  } finally {
    closeSync(fd);
  }
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFCHR = 0o020000;

function encode(entry: Entry, ino: number): Buffer {
  const data = entry.kind === 'file' ? entry.data : Buffer.alloc(0);
  const type = entry.kind === 'dir' ? S_IFDIR : entry.kind === 'char' ? S_IFCHR : S_IFREG;
  const mode = type | (entry.mode ?? (entry.kind === 'dir' ? 0o755 : 0o644));
  const name = Buffer.from(entry.path + '\0');
  const fields = [ino, mode, 0, 0, entry.kind === 'dir' ? 2 : 1, 0, data.length, 0, 0, entry.kind === 'char' ? entry.major : 0, entry.kind === 'char' ? entry.minor : 0, name.length, 0];
  const header = Buffer.from('070701' + fields.map((f) => f.toString(16).padStart(8, '0')).join(''), 'latin1');
  return Buffer.concat([header, name, pad(header.length + name.length), data, pad(data.length)]);
}

function pad(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}

/**
 * The busybox to put in the initramfs. It must be statically linked: the initramfs has no C
 * library. Debian's busybox-static installs one as /bin/busybox; the dynamic `busybox` package
 * installs one at the same path, which would not run.
 */
export function findStaticBusybox(): string {
  const path = findProgram('busybox') ?? findProgram('busybox', '/bin:/usr/bin:/sbin:/usr/sbin');
  if (!path) throw new VmUnavailableError('busybox is missing (Debian package busybox-static)');
  const elf = readFileSync(path);
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2) throw new VmUnavailableError(`${path} is not a 64-bit ELF executable`);
  if (isDynamicallyLinked(elf)) throw new VmUnavailableError(`${path} is linked dynamically; the VM needs a static one (Debian package busybox-static)`);
  return path;
}

/** Whether an ELF64 executable names a program interpreter (PT_INTERP): then it is dynamic. */
export function isDynamicallyLinked(elf: Buffer): boolean {
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) if (elf.readUInt32LE(phoff + i * phentsize) === 3) return true;
  return false;
}
