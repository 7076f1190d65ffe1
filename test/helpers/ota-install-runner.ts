/**
 * The child process of the OTA install crash test: one start of an agent that updates itself with
 * dir-slots, killed with SIGKILL at random moments by the parent.
 *
 *   node --import tsx test/helpers/ota-install-runner.ts DIR [--finish]
 *
 * (the test bundles it with esbuild first, to start faster).
 *
 * DIR holds `slots/` (provisioned by the parent with release 1), `ota.db` and `downloads/`. Each
 * start resumes the campaign (settling a reboot: health check, commit or roll back), then, unless
 * --finish, starts the next campaign (release counter + 1) and runs it to its reboot, which ends
 * the process with exit code 0 (the service manager would start it again). Releases whose counter
 * is 3 modulo 4 fail their health check, so rollbacks happen too.
 *
 * Prints one line per event, written after the event: `ready`, `report SEQ STATE`, `reboot`,
 * `final STATE` (with --finish, when the campaign has ended).
 */
import { mkdirSync, renameSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { systemClock } from '../../core/clock.js';
import { CampaignRunner } from '../../ota/campaign/campaign.js';
import { isFinal } from '../../ota/campaign/states.js';
import { CampaignStore } from '../../ota/campaign/store.js';
import { DirSlotsBackend } from '../../ota/install/dir-slots.js';
import { IMAGE_BYTES, releaseTarget, seededBytes } from './ota-install.js';

const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

async function main(dir: string, finish: boolean): Promise<void> {
  const clock = systemClock();
  const downloads = join(dir, 'downloads');
  mkdirSync(downloads, { recursive: true });
  const store = CampaignStore.open({ path: join(dir, 'ota.db'), clock });
  store.inventory.seed({ ecu: 'tcu', version: '1.0.0', releaseCounter: 1 });
  const backend = DirSlotsBackend.open({ dir: join(dir, 'slots'), clock });
  const runner = new CampaignRunner({
    store,
    backend,
    clock,
    ecu: 'tcu',
    maxBootAttempts: 3,
    healthTimeoutMs: 5000,
    hooks: {
      // The "download": the image written in chunks, as a downloader would, then renamed into place.
      async download(target) {
        const bytes = seededBytes(target.custom.releaseCounter ?? 0, IMAGE_BYTES);
        const path = join(downloads, `${target.custom.releaseCounter}.img`);
        const file = await open(`${path}.part`, 'w');
        for (let off = 0; off < bytes.length; off += 256 * 1024) {
          await file.write(bytes, off, Math.min(256 * 1024, bytes.length - off));
          await new Promise((r) => setImmediate(r));
        }
        await file.sync();
        await file.close();
        renameSync(`${path}.part`, path);
        return path;
      },
      async healthCheck() {
        await new Promise((r) => setTimeout(r, 20));
        const booted = await backend.activeSlot();
        const counter = Number(((await backend.status()).slots.find((s) => s.name === booted)?.version ?? '0').split('.')[0]);
        return counter % 4 === 3 ? { ok: false, detail: `release ${counter} is broken on purpose` } : { ok: true };
      },
      reboot() {
        say('reboot');
        process.exit(0);
      },
      onReport(state, details) {
        say(`report ${details.seq} ${state}`);
      },
    },
  });
  say('ready');
  const resumed = await runner.resume();
  if (finish) {
    if (resumed && isFinal(resumed.state)) say(`final ${resumed.state}`);
    store.close();
    return;
  }
  const last = resumed?.target.custom.releaseCounter ?? store.inventory.get('tcu')?.releaseCounter ?? 1;
  await runner.start(releaseTarget(last + 1));
  store.close();
}

const [dir, flag] = process.argv.slice(2);
if (!dir) {
  process.stderr.write('usage: ota-install-runner.ts DIR [--finish]\n');
  process.exit(2);
}
main(dir, flag === '--finish').catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
