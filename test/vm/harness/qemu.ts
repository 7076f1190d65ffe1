import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { findProgram } from './command.js';
import { VmUnavailableError } from './unavailable.js';

/** A host folder the guest mounts over 9p (`mount -t 9p -o trans=virtio TAG /where`). */
export interface Share {
  tag: string;
  path: string;
  readonly: boolean;
}

export interface GuestOptions {
  kernel: string;
  initrd: string;
  /** Kernel command line; `console=ttyS0` and `panic=-1` are always added. */
  append?: string;
  shares: readonly Share[];
  memoryMb: number;
  cpus: number;
  /** `tcg` by default: KVM guests hung on the machines this was written on (nested virtualisation). */
  accel: string;
  /** The guest is killed after this long. */
  timeoutMs: number;
  /** Everything the guest writes on its serial console is also appended here. */
  consoleLog: string;
}

export interface GuestRun {
  /** qemu's exit status (0 after the guest powered off), or null when it was killed. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  durationMs: number;
  /** The end of the console output (at most the last 256 KiB). */
  console: string;
}

const CONSOLE_KEPT = 256 * 1024;

export function findQemu(): string {
  const qemu = findProgram('qemu-system-x86_64');
  if (!qemu) throw new VmUnavailableError('qemu-system-x86_64 is missing (Debian package qemu-system-x86)');
  return qemu;
}

export function qemuArgs(options: GuestOptions): string[] {
  const args = [
    '-accel', options.accel,
    '-m', String(options.memoryMb),
    '-smp', String(options.cpus),
    // No default devices (VGA, network card and its option ROM): only the serial console and 9p.
    '-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'stdio', '-no-reboot',
    '-kernel', options.kernel,
    '-initrd', options.initrd,
    '-append', `console=ttyS0 panic=-1 ${options.append ?? ''}`.trim(),
  ];
  for (const share of options.shares) {
    // multidevs=remap: the host folder spans several file systems; keep inode numbers unique.
    args.push('-virtfs', `local,path=${share.path},mount_tag=${share.tag},security_model=none,multidevs=remap${share.readonly ? ',readonly=on' : ''}`);
  }
  return args;
}

/**
 * Boots the guest and resolves when qemu exits: after the guest powers off, panics (`panic=-1`
 * with `-no-reboot` ends qemu) or is killed at the time limit. Never rejects for what the guest
 * does; rejects only when qemu cannot be started.
 */
export function runGuest(qemu: string, options: GuestOptions): Promise<GuestRun> {
  const started = performance.now();
  const child = spawn(qemu, qemuArgs(options), { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = createWriteStream(options.consoleLog, { flags: 'a' });
  let tail = '';
  const keep = (chunk: Buffer): void => {
    log.write(chunk);
    tail = (tail + chunk.toString('utf8')).slice(-CONSOLE_KEPT);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let timedOut = false;
  let killer: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGTERM');
    killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  }, options.timeoutMs);
  return new Promise((resolve, reject) => {
    child.on('error', (err) => {
      clearTimeout(timer);
      log.end();
      reject(new Error(`cannot start ${qemu}: ${err.message}`, { cause: err }));
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      if (killer) clearTimeout(killer);
      log.end(() => resolve({ exitCode, signal, timedOut, durationMs: performance.now() - started, console: tail }));
    });
  });
}
