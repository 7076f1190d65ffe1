import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { findProgram, runCommand } from './command.js';
import { VmUnavailableError } from './unavailable.js';

/** A Debian kernel unpacked in the cache: the image and the module trees the VM needs. */
export interface Kernel {
  /** The Debian package it came from, e.g. `linux-image-6.1.0-56-amd64`. */
  packageName: string;
  /** `uname -r` of the kernel, e.g. `6.1.0-56-amd64`. */
  release: string;
  vmlinuz: string;
  /** `.../modules/<release>`: `kernel/<tree>/...ko` and `modules.builtin`. */
  modulesDir: string;
}

export interface KernelOptions {
  cacheDir: string;
  /** The kernel image package; default: the one the metapackage `linux-image-amd64` depends on. */
  packageName?: string;
  /** Folders under `kernel/` to keep (`net/can`, `fs/9p`, ...); the rest of the 400 MB is dropped. */
  moduleTrees: readonly string[];
  log?: (line: string) => void;
}

const METAPACKAGE = 'linux-image-amd64';
const MARKER = 'kernel.json';

/** `$TCU_VM_CACHE`, else `~/.cache/tcu-agent/vm`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['TCU_VM_CACHE'] || join(env['HOME'] || homedir(), '.cache', 'tcu-agent', 'vm');
}

/**
 * The kernel for the VM: from the cache when it holds the package asked for, else downloaded with
 * `apt-get download` and unpacked with `dpkg -x` (nothing is installed). When apt cannot say which
 * package is current or cannot download it, a kernel cached earlier is used; with none, this
 * throws VmUnavailableError saying what failed.
 */
export async function ensureKernel(options: KernelOptions): Promise<Kernel> {
  const log = options.log ?? (() => undefined);
  mkdirSync(options.cacheDir, { recursive: true });
  let packageName = options.packageName;
  let problem = '';
  if (packageName === undefined) {
    try {
      packageName = await currentKernelPackage();
    } catch (err) {
      problem = (err as Error).message;
    }
  }
  if (packageName !== undefined) {
    const cached = readCached(join(options.cacheDir, packageName), options.moduleTrees);
    if (cached) return cached;
    try {
      return await downloadKernel(packageName, options, log);
    } catch (err) {
      if (err instanceof VmUnavailableError) problem = err.message;
      else throw err;
    }
  }
  const fallback = newestCached(options.cacheDir, options.moduleTrees);
  if (fallback) {
    log(`${problem}; using the cached ${fallback.packageName}`);
    return fallback;
  }
  throw new VmUnavailableError(`no Linux kernel for the VM: ${problem} (and none is cached in ${options.cacheDir})`);
}

/** The package `linux-image-amd64` depends on, as apt-cache knows it. */
async function currentKernelPackage(): Promise<string> {
  if (!findProgram('apt-cache')) throw new VmUnavailableError('apt-cache is missing (the kernel comes from Debian packages)');
  let stdout: string;
  try {
    ({ stdout } = await runCommand('apt-cache', ['depends', METAPACKAGE], { timeoutMs: 60_000 }));
  } catch (err) {
    throw new VmUnavailableError(`cannot ask apt which kernel is current: ${(err as Error).message}`);
  }
  const match = /^\s*Depends:\s*(linux-image-\S+)/m.exec(stdout);
  if (!match) throw new VmUnavailableError(`apt-cache depends ${METAPACKAGE} names no kernel image (run apt-get update?)`);
  return match[1]!;
}

async function downloadKernel(packageName: string, options: KernelOptions, log: (line: string) => void): Promise<Kernel> {
  for (const program of ['apt-get', 'dpkg']) {
    if (!findProgram(program)) throw new VmUnavailableError(`${program} is missing (needed to fetch and unpack ${packageName})`);
  }
  const staging = join(options.cacheDir, `.staging-${process.pid}-${Date.now()}`);
  mkdirSync(staging, { recursive: true });
  try {
    log(`downloading ${packageName} into ${options.cacheDir}`);
    try {
      await runCommand('apt-get', ['download', packageName], { cwd: staging, timeoutMs: 600_000 });
    } catch (err) {
      throw new VmUnavailableError(`cannot download ${packageName}: ${(err as Error).message}`);
    }
    const deb = readdirSync(staging).find((f) => f.endsWith('.deb'));
    if (!deb) throw new VmUnavailableError(`apt-get download ${packageName} left no .deb file`);
    const unpacked = join(staging, 'root');
    await runCommand('dpkg', ['-x', join(staging, deb), unpacked], { timeoutMs: 600_000 });
    const kept = join(staging, 'kept');
    const kernel = keepWhatTheVmNeeds(packageName, unpacked, kept, options.moduleTrees);
    const target = join(options.cacheDir, packageName);
    rmSync(target, { recursive: true, force: true });
    try {
      renameSync(kept, target);
    } catch (err) {
      // Another test run unpacked the same kernel at the same time: use its copy.
      const theirs = readCached(target, options.moduleTrees);
      if (theirs) return theirs;
      throw err;
    }
    log(`cached ${packageName} (${kernel.release})`);
    return readCached(target, options.moduleTrees)!;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** Moves the image and the listed module trees from the unpacked package into `kept`. */
function keepWhatTheVmNeeds(packageName: string, unpacked: string, kept: string, trees: readonly string[]): Kernel {
  const image = readdirSync(join(unpacked, 'boot')).find((f) => f.startsWith('vmlinuz-'));
  if (!image) throw new Error(`${packageName} has no boot/vmlinuz-*`);
  const release = image.slice('vmlinuz-'.length);
  // Debian moved /lib to /usr/lib (trixie and later); accept both.
  const source = [join(unpacked, 'lib', 'modules', release), join(unpacked, 'usr', 'lib', 'modules', release)].find((d) => existsSync(d));
  if (!source) throw new Error(`${packageName} has no lib/modules/${release}`);
  const modulesDir = join(kept, 'modules', release);
  mkdirSync(join(kept, 'boot'), { recursive: true });
  renameSync(join(unpacked, 'boot', image), join(kept, 'boot', image));
  for (const tree of trees) {
    const from = join(source, 'kernel', tree);
    // A tree a newer kernel no longer has (fscache went into netfs in 6.8): resolveModules names
    // any module that is then missing.
    if (!existsSync(from)) continue;
    mkdirSync(join(modulesDir, 'kernel', tree, '..'), { recursive: true });
    renameSync(from, join(modulesDir, 'kernel', tree));
  }
  const builtin = join(source, 'modules.builtin');
  writeFileSync(join(modulesDir, 'modules.builtin'), existsSync(builtin) ? readFileSync(builtin) : '');
  const kernel: Kernel = { packageName, release, vmlinuz: join('boot', image), modulesDir: join('modules', release) };
  writeFileSync(join(kept, MARKER), JSON.stringify({ ...kernel, moduleTrees: trees }, null, 2) + '\n');
  return kernel;
}

/** The kernel in `dir` if it was unpacked completely with the same module trees. */
function readCached(dir: string, trees: readonly string[]): Kernel | undefined {
  let marker: Kernel & { moduleTrees?: string[] };
  try {
    marker = JSON.parse(readFileSync(join(dir, MARKER), 'utf8')) as typeof marker;
  } catch {
    return undefined;
  }
  if (JSON.stringify(marker.moduleTrees) !== JSON.stringify(trees)) return undefined;
  const kernel = { packageName: marker.packageName, release: marker.release, vmlinuz: join(dir, marker.vmlinuz), modulesDir: join(dir, marker.modulesDir) };
  return existsSync(kernel.vmlinuz) && existsSync(kernel.modulesDir) ? kernel : undefined;
}

function newestCached(cacheDir: string, trees: readonly string[]): Kernel | undefined {
  const candidates = readdirSync(cacheDir)
    .filter((name) => name.startsWith('linux-image-'))
    .map((name) => ({ kernel: readCached(join(cacheDir, name), trees), mtime: statSync(join(cacheDir, name)).mtimeMs }))
    .filter((c): c is { kernel: Kernel; mtime: number } => c.kernel !== undefined)
    .sort((a, b) => b.mtime - a.mtime);
  return candidates[0]?.kernel;
}
