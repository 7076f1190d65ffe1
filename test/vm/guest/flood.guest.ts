import { spawn, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { allFrameReceivers, addVcan, cansend, linkStats, removeLink, waitFor, watchBus, type WatchedBus } from './peers.js';

// cangen floods the interface with frames whose 8 data bytes are a sequence number (-D i: a
// little-endian counter from 0). Every frame the kernel carried must be accounted for:
//
//   cangen wrote N                     = the interface's tx_packets (vcan counts each send)
//   N                                  = rx_packets (vcan loops each frame back to the stack)
//   N - rx_dropped (backlog overflow)  = what the kernel handed our socket ("matches" in
//                                        /proc/net/can/rcvlist_all, counted before queueing)
//   matches = delivered + socket-queue drops (the receive buffer was full; the kernel counts them
//             in the socket's sk_drops, which reaches user space only as SO_RXQ_OVFL ancillary
//             data, and the socketcan addon does not ask for it)
//
// and the sequence numbers the driver delivered must be distinct, in order, within 0..N-1, with
// exactly N - delivered of them missing: so the drop count from the kernel's counters is checked
// against the payloads themselves. Counting starts only once sentinel frames sent behind the flood
// have come through (drain), so no frame is still waiting in the queue.
const IFACE = 'vcanx';
const ID = 0x5a5;

let w: WatchedBus;
beforeAll(async () => {
  await addVcan(IFACE);
  w = watchBus({ iface: IFACE });
  await w.bus.open();
});
afterAll(async () => {
  await w.bus.close();
  await removeLink(IFACE);
});

interface Snapshot {
  tx: number;
  rx: number;
  rxDropped: number;
  matches: number;
  delivered: number;
  frames: number;
}

function snapshot(): Snapshot {
  const receivers = allFrameReceivers(IFACE);
  // The driver's socket must be the only one taking all frames of the interface, or "matches" is not ours.
  expect(receivers).toHaveLength(1);
  const s = linkStats(IFACE);
  return { tx: s.txPackets, rx: s.rxPackets, rxDropped: s.rxDropped, matches: receivers[0]!.matches, delivered: w.bus.counters().rxFrames, frames: w.frames.length };
}

const SENTINEL = 0x7ff;

/**
 * Sends sentinel frames (id 7FF, payload 1, 2, ...) behind the flood until one arrives. Frames of
 * one interface reach a socket in order, so when a sentinel is delivered every flood frame before
 * it has been delivered or dropped: nothing is still queued. A sentinel may itself be dropped when
 * it meets a full queue; that is why there may be several. Resolves with how many were sent.
 */
async function drain(): Promise<number> {
  for (let k = 1; ; k++) {
    await cansend(IFACE, `${SENTINEL.toString(16).toUpperCase()}#${k.toString(16).padStart(2, '0')}`);
    try {
      await waitFor(`sentinel ${k}`, () => w.frames.some((f) => f.id === SENTINEL && f.data[0] === k), 5_000);
      return k;
    } catch (err) {
      if (k >= 20) throw err;
    }
  }
}

const cangenArgs = (n: number): string[] => [IFACE, '-g', '0', '-n', String(n), '-I', ID.toString(16), '-L', '8', '-D', 'i', '-p', '100'];

/** Checks the accounting above for a flood of `n` frames followed by `sentinels` sentinels. */
function account(ctx: TestContext, n: number, sentinels: number, before: Snapshot, elapsedMs: number): { delivered: number; socketDrops: number } {
  const after = snapshot();
  const frames = w.frames.slice(before.frames);
  const flood = frames.filter((f) => f.id === ID);
  expect(flood.length + frames.filter((f) => f.id === SENTINEL).length, 'only flood frames and sentinels').toBe(frames.length);
  const seqs = flood.map((f) => Number(Buffer.from(f.data).readBigUInt64LE(0)));
  const sent = n + sentinels;
  const delivered = after.delivered - before.delivered;
  const matches = after.matches - before.matches;
  const backlogDrops = after.rxDropped - before.rxDropped;
  const socketDrops = matches - delivered;
  expect(after.tx - before.tx, 'tx_packets: frames cangen and cansend wrote').toBe(sent);
  expect(after.rx - before.rx, 'rx_packets: frames vcan looped back').toBe(sent);
  expect(matches + backlogDrops, 'frames handed to the socket plus backlog drops').toBe(sent);
  expect(frames, 'frames the driver delivered = its rxFrames counter').toHaveLength(delivered);
  const distinctInOrder = seqs.every((s, i) => s < n && (i === 0 || s > seqs[i - 1]!));
  expect(distinctInOrder, 'sequence numbers distinct, increasing, below N').toBe(true);
  const missing = n - seqs.length + (sentinels - (frames.length - flood.length));
  expect(missing, 'frames missing (sequence gaps, lost sentinels) = socket-queue drops + backlog drops').toBe(socketDrops + backlogDrops);
  expect(socketDrops).toBeGreaterThanOrEqual(0);
  const figures = { sent: n, delivered: seqs.length, socketDrops, backlogDrops, sentinels, elapsedMs: Math.round(elapsedMs), framesPerSecond: Math.round((n * 1000) / elapsedMs) };
  ctx.task.meta.guest = { ...ctx.task.meta.guest, flood: figures };
  console.log(`flood: ${JSON.stringify(figures)}`);
  return { delivered: seqs.length, socketDrops };
}

describe('a cangen flood', () => {
  it('every frame the kernel carried is delivered or accounted for as a drop', async (ctx) => {
    const n = 20_000;
    const before = snapshot();
    const started = performance.now();
    const cangen = spawn('cangen', cangenArgs(n), { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    cangen.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => cangen.on('close', resolve));
    expect(code, stderr).toBe(0);
    const elapsed = performance.now() - started;
    const { delivered } = account(ctx, n, await drain(), before, elapsed);
    // The socket's queue was empty when the flood began: its first frames are never the ones dropped.
    expect(delivered).toBeGreaterThan(0);
    expect(Number(Buffer.from(w.frames[before.frames]!.data).readBigUInt64LE(0))).toBe(0);
  });

  it('with the process stalled the socket queue overflows; the drops are accounted and reception goes on', async (ctx) => {
    const n = 5_000;
    const before = snapshot();
    const started = performance.now();
    // spawnSync blocks the event loop for the whole flood: the addon's reader thread waits for
    // JavaScript, and the kernel queues frames for the socket until its receive buffer is full.
    const result = spawnSync('cangen', cangenArgs(n), { encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    const elapsed = performance.now() - started;
    const { socketDrops } = account(ctx, n, await drain(), before, elapsed);
    expect(socketDrops, 'a 5000-frame burst does not fit the default receive buffer').toBeGreaterThan(0);
    // Reception goes on after the overflow: the sentinel that ended drain() came through it.
    expect(w.bus.state).toBe('open');
  });
});
