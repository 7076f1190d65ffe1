/**
 * The child process of the outbox crash test: appends batches in a loop until it is killed.
 *
 *   node --import tsx test/helpers/outbox-writer.ts PATH BOOT_ID SYNCHRONOUS SEED
 *
 * Prints one line per step, each written only after the step returned (writes to a pipe are
 * synchronous on Linux, so a line the parent read was committed before it was written):
 *   open OUTCOME             the outbox opened (created, opened, ...)
 *   c SEQ                    a batch was committed; SEQ is its last seq
 *   acking BOOT SEQ,SEQ,...  about to acknowledge these (they may be gone from here on)
 *   h                        housekeeping returned (vacuum and checkpoint)
 */
import { systemClock } from '../../core/clock.js';
import { openOutbox } from '../../agent/outbox/index.js';
import type { Priority } from '../../agent/records.js';
import { prng, signalRecord } from './outbox-records.js';

const [path, bootId, synchronous, seedText] = process.argv.slice(2);
if (!path || !bootId || (synchronous !== 'NORMAL' && synchronous !== 'FULL' && synchronous !== 'OFF')) {
  process.stderr.write('usage: outbox-writer.ts PATH BOOT_ID NORMAL|FULL|OFF SEED\n');
  process.exit(2);
}
const random = prng(Number(seedText ?? 1));
const clock = systemClock();
const { outbox, report } = openOutbox({ path, bootId, maxBytes: 1024 * 1024 * 1024, synchronous, clock });
process.stdout.write(`open ${report.outcome}\n`);

let i = 0;
for (let step = 1; ; step++) {
  const n = 1 + Math.floor(random() * 120);
  const batch = Array.from({ length: n }, () => signalRecord(i++, { priority: Math.floor(random() * 4) as Priority, ts: clock.now() }));
  const stored = outbox.append(batch);
  process.stdout.write(`c ${stored[stored.length - 1]!.seq}\n`);
  if (step % 4 === 0) {
    const sent = outbox.nextBatch({ maxRecords: 1 + Math.floor(random() * 300), maxBytes: 256 * 1024 });
    if (sent.length > 0) {
      process.stdout.write(`acking ${sent[0]!.boot} ${sent.map((r) => r.seq).join(',')}\n`);
      outbox.acknowledge(sent.map((r) => r.id), clock.now());
    }
  }
  if (step % 25 === 0) {
    outbox.housekeeping(clock.now());
    process.stdout.write('h\n');
  }
}
