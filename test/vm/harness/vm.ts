import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeInitramfs, findStaticBusybox } from './initramfs.js';
import { ensureKernel, type Kernel } from './kernel.js';
import { resolveModules } from './modules.js';
import { findQemu, runGuest, type GuestRun } from './qemu.js';

/** Module folders the guest needs from the kernel package: CAN and vcan, virtio and 9p. */
export const MODULE_TREES = ['net/can', 'drivers/net/can', 'drivers/virtio', 'net/9p', 'fs/9p', 'fs/netfs', 'fs/fscache'] as const;
/** What /init loads, with their dependencies (resolved from the modules themselves). */
export const GUEST_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'can_raw', 'vcan'] as const;

const INIT_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', 'guest', 'init.sh');

/** Everything needed to boot: found or built once per test run. */
export interface VmImage {
  qemu: string;
  kernel: Kernel;
  initrd: string;
  /** Module names in load order, for the record. */
  modules: string[];
}

/**
 * Finds qemu and a static busybox, gets the kernel (cache or download) and writes the initramfs
 * into `workDir`. Throws VmUnavailableError naming what this machine lacks.
 */
export async function prepareVm(options: { cacheDir: string; workDir: string; kernelPackage?: string; log?: (line: string) => void }): Promise<VmImage> {
  const qemu = findQemu();
  const busybox = findStaticBusybox();
  const kernel = await ensureKernel({ cacheDir: options.cacheDir, packageName: options.kernelPackage, moduleTrees: MODULE_TREES, log: options.log });
  const modules = resolveModules(kernel.modulesDir, GUEST_MODULES);
  const initrd = join(options.workDir, 'initramfs.cpio');
  writeInitramfs(initrd, { busybox, init: INIT_SCRIPT, modules });
  return { qemu, kernel, initrd, modules: modules.map((m) => m.name) };
}

export interface JobOptions {
  /** A shell script run in the guest, chrooted into the host's root, as root. */
  script: string;
  /** Host folder the guest sees, writable, as /tmp/tcu-vm; job.sh and the console log go there. */
  outDir: string;
  /**
   * Host folders the job needs that may lie under /tmp or /run, which the guest covers with its own
   * tmpfs (the repository of a CI clone in /tmp, node): bound back into place in the guest.
   */
  keepPaths?: readonly string[];
  timeoutMs: number;
  memoryMb?: number;
  cpus?: number;
  accel?: string;
}

export interface JobResult {
  guest: GuestRun;
  /** The job's exit status, as /init recorded it; undefined when the guest never got that far. */
  status: number | undefined;
  consoleLog: string;
}

/** Boots the guest once to run `script` and powers it off. */
export async function runJob(image: VmImage, job: JobOptions): Promise<JobResult> {
  writeFileSync(join(job.outDir, 'job.sh'), job.script);
  writeFileSync(join(job.outDir, 'keep-paths'), (job.keepPaths ?? []).map((p) => `${p}\n`).join(''));
  const consoleLog = join(job.outDir, 'console.log');
  const guest = await runGuest(image.qemu, {
    kernel: image.kernel.vmlinuz,
    initrd: image.initrd,
    append: 'quiet',
    shares: [
      { tag: 'host', path: '/', readonly: true },
      { tag: 'out', path: job.outDir, readonly: false },
    ],
    memoryMb: job.memoryMb ?? 2048,
    cpus: job.cpus ?? 2,
    accel: job.accel ?? 'tcg',
    timeoutMs: job.timeoutMs,
    consoleLog,
  });
  const statusFile = join(job.outDir, 'exit-status');
  const status = existsSync(statusFile) ? Number.parseInt(readFileSync(statusFile, 'utf8').trim(), 10) : undefined;
  return { guest, status: Number.isInteger(status) ? status : undefined, consoleLog };
}

/** The last `lines` lines of the console, without terminal control sequences. */
export function consoleTail(run: GuestRun, lines = 40): string {
  // eslint-disable-next-line no-control-regex
  const text = run.console.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
