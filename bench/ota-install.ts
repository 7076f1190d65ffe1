// Installing a verified 100 MB image with the dir-slots backend (the agent's own bundle): copy into
// the inactive slot while hashing (the image is checked against its metadata as it is copied),
// fsync, rename into place, then the slot verified again from disk (what the health check does
// after the restart). Baseline in the same run: the same bytes copied with fs.copyFileSync.
import { randomBytes, createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../core/clock.js';
import { DirSlotsBackend, verifySlot, type DirSlot } from '../ota/install/index.js';
import type { VerifiedTarget } from '../ota/types.js';
import type { Emit } from './run.js';

const MB = 1024 * 1024;
const SIZE = 100 * MB;

export async function run(emit: Emit): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tcu-bench-install-'));
  try {
    const image = join(dir, 'app-2.0.bin');
    const bytes = randomBytes(SIZE);
    writeFileSync(image, bytes);
    const target: VerifiedTarget = { name: 'tcu/app-2.0.bin', length: SIZE, hashes: { sha256: createHash('sha256').update(bytes).digest('hex') }, custom: { hardwareIds: ['tcu-a'], version: '2.0', releaseCounter: 2 } };
    let t0 = performance.now();
    copyFileSync(image, join(dir, 'baseline.bin'));
    const baselineMs = performance.now() - t0;
    const backend = DirSlotsBackend.open({ dir: join(dir, 'slots'), clock: systemClock() });
    t0 = performance.now();
    const result = await backend.install(image, target);
    const installMs = performance.now() - t0;
    t0 = performance.now();
    await verifySlot(join(dir, 'slots'), result.slot as DirSlot);
    const verifyMs = performance.now() - t0;
    emit('ota.install.dir_slots.100mb', SIZE / MB / (installMs / 1000), 'MB/s');
    emit('ota.install.verify_slot.100mb', SIZE / MB / (verifyMs / 1000), 'MB/s');
    emit('ota.install.copy_baseline.100mb', SIZE / MB / (baselineMs / 1000), 'MB/s');
    emit('ota.install.vs_copy_baseline', baselineMs / installMs, 'ratio');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
