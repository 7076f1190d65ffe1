import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

/** A kernel module to load, in an order where each comes after what it depends on. */
export interface KernelModule {
  name: string;
  /** The module's bytes, decompressed when the package ships `.ko.xz` or `.ko.zst`. */
  bytes: Buffer;
}

/** Module names as the kernel spells them: `can-raw.ko` is module `can_raw`. */
export function moduleName(fileOrName: string): string {
  return fileOrName.replace(/\.ko(\.xz|\.zst|\.gz)?$/, '').replace(/-/g, '_');
}

/**
 * The modules `wanted` need, dependencies first, read from each module's `.modinfo` (`depends=`):
 * the package carries no modules.dep (depmod runs at install). Modules built into the kernel
 * (`modules.builtin`) are left out. Throws naming a module that is neither a file nor built in.
 */
export function resolveModules(modulesDir: string, wanted: readonly string[]): KernelModule[] {
  const files = new Map<string, string>();
  for (const file of walk(join(modulesDir, 'kernel'))) files.set(moduleName(file.slice(file.lastIndexOf('/') + 1)), file);
  const builtin = new Set(
    readFileSync(join(modulesDir, 'modules.builtin'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => moduleName(line.slice(line.lastIndexOf('/') + 1))),
  );
  const ordered: KernelModule[] = [];
  const done = new Set<string>();
  const visit = (name: string, chain: readonly string[]): void => {
    if (done.has(name) || builtin.has(name)) return;
    if (chain.includes(name)) throw new Error(`kernel modules depend on each other in a cycle: ${[...chain, name].join(' -> ')}`);
    const file = files.get(name);
    if (!file) {
      const via = chain.length > 0 ? ` (needed by ${chain.join(' -> ')})` : '';
      throw new Error(`kernel module ${name}${via} is not in ${relative(process.cwd(), modulesDir) || modulesDir}/kernel`);
    }
    const bytes = readModule(file);
    for (const dep of modinfo(bytes, file).depends) visit(dep, [...chain, name]);
    done.add(name);
    ordered.push({ name, bytes });
  };
  for (const name of wanted) visit(moduleName(name), []);
  return ordered;
}

function* walk(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (/\.ko(\.xz|\.zst)?$/.test(entry.name)) yield path;
  }
}

function readModule(file: string): Buffer {
  if (file.endsWith('.ko')) return readFileSync(file);
  // Newer Debian kernels compress their modules; busybox insmod wants them plain.
  const [program, args] = file.endsWith('.xz') ? ['xz', ['-dc', file]] : ['zstd', ['-dc', file]];
  try {
    return execFileSync(program, args as string[], { maxBuffer: 256 << 20 });
  } catch (err) {
    throw new Error(`cannot decompress ${file} with ${program} (Debian package ${program === 'xz' ? 'xz-utils' : 'zstd'}): ${(err as Error).message}`);
  }
}

/** The `name=` and `depends=` entries of an ELF64 module's `.modinfo` section. */
export function modinfo(elf: Buffer, file = 'module'): { name: string | undefined; depends: string[] } {
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) throw new Error(`${file} is not a little-endian ELF64 module`);
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a);
  const shnum = elf.readUInt16LE(0x3c);
  const shstrndx = elf.readUInt16LE(0x3e);
  const section = (i: number): { name: number; offset: number; size: number } => {
    const at = shoff + i * shentsize;
    return { name: elf.readUInt32LE(at), offset: Number(elf.readBigUInt64LE(at + 0x18)), size: Number(elf.readBigUInt64LE(at + 0x20)) };
  };
  const names = section(shstrndx);
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    const nameEnd = elf.indexOf(0, names.offset + s.name);
    if (elf.toString('latin1', names.offset + s.name, nameEnd) !== '.modinfo') continue;
    const entries = elf.toString('latin1', s.offset, s.offset + s.size).split('\0');
    const value = (key: string): string | undefined => entries.find((e) => e.startsWith(`${key}=`))?.slice(key.length + 1);
    return { name: value('name'), depends: (value('depends') ?? '').split(',').filter(Boolean).map(moduleName) };
  }
  throw new Error(`${file} has no .modinfo section`);
}
