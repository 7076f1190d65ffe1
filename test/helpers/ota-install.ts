/** Images, targets and folder hashes for the install and campaign tests. */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mulberry32 } from '../../core/random.js';
import type { TargetCustom, VerifiedTarget } from '../../ota/types.js';

/** `n` bytes from a seeded PRNG. */
export function seededBytes(seed: number, n: number): Buffer {
  const random = mulberry32(seed);
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(random() * 256);
  return b;
}

export function targetFor(name: string, bytes: Uint8Array, custom: Partial<TargetCustom> = {}): VerifiedTarget {
  return {
    name,
    length: bytes.length,
    hashes: { sha256: createHash('sha256').update(bytes).digest('hex') },
    custom: { hardwareIds: ['tcu-hw-1'], ...custom },
  };
}

/** Writes an image file into `dir` and returns it with its target. */
export function makeImage(dir: string, name: string, bytes: Uint8Array, custom: Partial<TargetCustom> = {}): { path: string; target: VerifiedTarget } {
  const path = join(dir, name.replaceAll('/', '_'));
  writeFileSync(path, bytes);
  return { path, target: targetFor(name, bytes, custom) };
}

/** SHA-256 over a folder tree: names, file contents, symlink targets (sorted, so stable). */
export function hashTree(dir: string): string {
  const hash = createHash('sha256');
  const walk = (rel: string): void => {
    const full = join(dir, rel);
    const st = lstatSync(full);
    if (st.isSymbolicLink()) hash.update(`L ${rel} -> ${readlinkSync(full)}\n`);
    else if (st.isDirectory()) {
      hash.update(`D ${rel}\n`);
      for (const name of readdirSync(full).sort()) walk(rel === '' ? name : `${rel}/${name}`);
    } else hash.update(`F ${rel} ${st.size} ${st.mtimeMs}\n`).update(readFileSync(full));
  };
  walk('');
  return hash.digest('hex');
}

/** The crash test's image size. */
export const IMAGE_BYTES = 2 * 1024 * 1024;

/** The crash test's release `counter` (its bytes are seededBytes(counter, IMAGE_BYTES)). */
export function releaseTarget(counter: number): VerifiedTarget {
  return targetFor(`tcu/agent-${counter}.mjs`, seededBytes(counter, IMAGE_BYTES), { version: `${counter}.0.0`, releaseCounter: counter, rxswin: [`R156-${counter}`] });
}
