/**
 * The child process of the deterministic OTA crash test: one start of an agent that updates itself
 * with dir-slots, composed as the agent composes it (agent/runtime/ota.ts), stopping at a given
 * point to be killed with SIGKILL by the parent.
 *
 *   node --import tsx test/helpers/ota-install-crash-child.ts '<CrashChildOptions as JSON>'
 *
 * (the test bundles it with esbuild first, to start faster).
 *
 * Each start does what the service manager and the agent do: the boot guard (`ExecStartPre=`), the
 * factory software seeded into the inventory, `settle()` (a campaign that was rebooting: count the
 * boot, health check, commit or roll back), then carries the campaign on, or starts it when there
 * is none. The download is the real one (`downloadCampaignTarget`: HTTP with Range, resumable, from
 * the emulator's OTA server); the target requires consent, which the child asks the parent for on
 * its standard streams; the reboot is an exit with code 0 (the parent starts it again, as a service
 * manager would, from the slot `current` points at).
 *
 * Prints one line per event: `guard ACTION SLOT STARTS`, `booted SLOT`, `report SEQ STATE` (inside
 * the report hook, after the transition was committed), `progress BYTES` (the download's),
 * `consent?` (answered by a line `consent` on standard input), `hold POINT [INFO]` (parked until
 * killed), `reboot`, and at the end of a start `final STATE` or `waiting STATE`.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { systemClock } from '../../core/clock.js';
import { downloadCampaignTarget } from '../../agent/ota/download.js';
import { factorySoftware } from '../../agent/ota/policy.js';
import { CampaignRunner } from '../../ota/campaign/campaign.js';
import { isFinal } from '../../ota/campaign/states.js';
import { CampaignStore } from '../../ota/campaign/store.js';
import { guardBoot } from '../../ota/install/boot-guard.js';
import { DirSlotsBackend } from '../../ota/install/dir-slots.js';
import { decodeChildOptions, holdingBackend, parker, type CrashChildOptions } from './ota-install-points.js';

const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

async function main(o: CrashChildOptions): Promise<void> {
  const clock = systemClock();
  const slotsDir = join(o.dir, 'slots');
  mkdirSync(join(o.dir, 'downloads'), { recursive: true });
  const park = parker(say);
  const lines = createInterface({ input: process.stdin });

  const guard = await guardBoot({ dir: slotsDir, maxStarts: 3, clock });
  say(`guard ${guard.action} ${guard.slot} ${guard.starts}`);
  const store = CampaignStore.open({ path: join(o.dir, 'ota.db'), clock });
  const real = DirSlotsBackend.open({ dir: slotsDir, clock });
  const booted = await real.activeSlot();
  say(`booted ${booted}`);
  const backend = holdingBackend(real, { hold: o.hold, slotsDir, scratch: o.dir, park });
  const factory = factorySoftware(await backend.status(), 'tcu');
  if (factory !== undefined) store.inventory.seed(factory);

  const runner = new CampaignRunner({
    store,
    backend,
    clock,
    ecu: 'tcu',
    maxBootAttempts: 3,
    healthTimeoutMs: 10_000,
    hooks: {
      download: (target, signal) =>
        downloadCampaignTarget(target, {
          stateDir: o.dir,
          imageRepo: o.repo,
          clock,
          signal,
          limits: {},
          onProgress: (p) => say(`progress ${p.receivedBytes}`),
          stepPercent: 1,
          intervalMs: 100,
        }),
      async consent() {
        if (o.hold === 'consent') return park('consent');
        say('consent?');
        const [answer] = (await once(lines, 'line')) as [string];
        return answer === 'consent' ? 'given' : answer === 'refuse' ? 'refused' : 'pending';
      },
      async healthCheck() {
        if (o.hold === 'health') await park('health');
        return o.health === 'ok' ? { ok: true, checks: { agent: true } } : { ok: false, detail: 'broken on purpose', checks: { agent: false } };
      },
      reboot() {
        say('reboot');
        process.exit(0);
      },
      async onReport(state, details) {
        say(`report ${details.seq} ${state}`);
        if (o.hold === `report:${state}`) await park(o.hold);
      },
    },
  });

  let campaign = await runner.settle();
  if (campaign === null) campaign = await runner.start(o.target);
  else if (!isFinal(campaign.state)) campaign = await runner.run();
  say(campaign !== null && isFinal(campaign.state) ? `final ${campaign.state}` : `waiting ${campaign?.state ?? 'idle'}`);
  store.close();
  lines.close();
}

Promise.resolve()
  .then(() => main(decodeChildOptions(process.argv[2])))
  .then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
