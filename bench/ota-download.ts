// OTA download: the streaming SHA-256 of a 100 MB image read from disk (what a resume and an
// install check cost; target ≥ 500 MB/s), against node:crypto hashing the same bytes already in
// memory, as a ratio; a 100 MB download from the emulator's repository server over loopback,
// against a plain HTTP GET that throws the bytes away, as a ratio; and a resume after a drop at
// 50 %: the bytes fetched again, as a percentage of those already held (target < 1 %).
// Files go under os.tmpdir() and are removed. MB = 10^6 bytes.
import { createHash, randomFillSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../core/clock.js';
import { OtaRepoServer, parseFault } from '../hw-emulator/ota/index.js';
import { downloadTarget, sha256File } from '../ota/download/index.js';

type Emit = (name: string, value: number, unit: string) => void;

const SIZE = 100 * 1000 * 1000;
const MB = 1e6;
const ROUNDS = 3;

async function best(rounds: number, fn: () => Promise<void> | void): Promise<number> {
  let fastest = Infinity;
  for (let i = 0; i < rounds; i++) {
    const start = performance.now();
    await fn();
    fastest = Math.min(fastest, performance.now() - start);
  }
  return fastest / 1000;
}

/** A GET that reads and discards the body: the loopback ceiling for the same server. */
function rawGet(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () => resolve(n));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

export async function run(emit: Emit): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tcu-bench-ota-'));
  const clock = systemClock();
  mkdirSync(join(dir, 'repo/targets'), { recursive: true });
  const server = new OtaRepoServer({ root: join(dir, 'repo'), clock });
  try {
    const data = randomFillSync(Buffer.allocUnsafe(SIZE));
    const image = join(dir, 'repo/targets/image.bin');
    writeFileSync(image, data);
    const sha256 = createHash('sha256').update(data).digest('hex');

    const streamed = await best(ROUNDS, async () => {
      if ((await sha256File(image)).sha256 !== sha256) throw new Error('streaming hash differs');
    });
    const inMemory = await best(ROUNDS, () => void createHash('sha256').update(data).digest('hex'));
    emit('ota.sha256.stream_from_disk', SIZE / MB / streamed, 'MB/s');
    emit('ota.sha256.in_memory_baseline', SIZE / MB / inMemory, 'MB/s');
    emit('ota.sha256.stream_vs_in_memory', inMemory / streamed, 'ratio');

    const { url } = await server.start('127.0.0.1', 0);
    const target = `${url}targets/image.bin`;
    const dest = join(dir, 'out.bin');
    const download = (extra = {}) => downloadTarget({ url: target, dest, length: SIZE, sha256, clock, backoff: { initialMs: 10 }, ...extra });
    const fetched = await best(ROUNDS, async () => {
      rmSync(dest, { force: true });
      await download();
    });
    const raw = await best(ROUNDS, async () => {
      if ((await rawGet(target)) !== SIZE) throw new Error('short raw GET');
    });
    emit('ota.download.loopback', SIZE / MB / fetched, 'MB/s');
    emit('ota.download.raw_get_baseline', SIZE / MB / raw, 'MB/s');
    emit('ota.download.vs_raw_get', raw / fetched, 'ratio');

    rmSync(dest, { force: true });
    server.setFaults([parseFault('drop-mid-file:50%')]);
    const before = server.counters().bytesSent;
    const failed = await download({ maxRetries: 0 }).then(
      () => false,
      () => true,
    );
    if (!failed) throw new Error('the drop did not happen');
    const result = await download();
    const held = result.resumedFromBytes;
    emit('ota.resume.refetched_of_held', ((server.counters().bytesSent - before - SIZE) / held) * 100, '%');
    emit('ota.resume.held_at_drop', (held / SIZE) * 100, '%');
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
