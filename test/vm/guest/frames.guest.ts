import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TcuError } from '../../../core/errors.js';
import { makeFrame, type CanFrame } from '../../../drivers/can/frame.js';
import { Candump, addVcan, cansend, hex, linkStats, removeLink, waitFor, watchBus, type WatchedBus } from './peers.js';

// Frames both ways between the SocketCAN driver and can-utils on a vcan interface with the CAN FD
// MTU. cansend and candump are the independent peers; the interface's counters in /sys say what
// the kernel carried.
const IFACE = 'vcanf';
const open: WatchedBus[] = [];

async function openBus(options: Partial<Parameters<typeof watchBus>[0]> = {}): Promise<WatchedBus> {
  const watched = watchBus({ iface: IFACE, ...options });
  open.push(watched);
  await watched.bus.open();
  return watched;
}

beforeAll(() => addVcan(IFACE));
afterEach(async () => {
  for (const w of open.splice(0)) await w.bus.close();
});
afterAll(() => removeLink(IFACE));

/** The fields a peer can see, for comparing frames with toEqual. */
function wire(f: CanFrame): { id: string; ext: boolean; rtr: boolean; fd: boolean; len: number; data: string } {
  return { id: f.id.toString(16), ext: f.ext, rtr: f.rtr, fd: f.fd, len: f.data.length, data: f.rtr ? '' : hex(f.data) };
}

const BYTES_64 = Array.from({ length: 64 }, (_, i) => (i * 7 + 1) & 0xff);

describe('receiving from cansend', () => {
  it('classic frames with standard and extended ids, empty frames and remote requests, kernel-timestamped', async () => {
    const w = await openBus();
    const before = linkStats(IFACE);
    const startedUs = Date.now() * 1000;
    for (const text of ['123#DEADBEEF', '12345678#0102', '7FF#', '000#0011223344556677', '123#R', '1ABCDEF0#R']) await cansend(IFACE, text);
    await waitFor('6 frames', () => w.frames.length >= 6);
    expect(w.frames.map(wire)).toEqual([
      { id: '123', ext: false, rtr: false, fd: false, len: 4, data: 'DEADBEEF' },
      { id: '12345678', ext: true, rtr: false, fd: false, len: 2, data: '0102' },
      { id: '7ff', ext: false, rtr: false, fd: false, len: 0, data: '' },
      { id: '0', ext: false, rtr: false, fd: false, len: 8, data: '0011223344556677' },
      { id: '123', ext: false, rtr: true, fd: false, len: 0, data: '' },
      { id: '1abcdef0', ext: true, rtr: true, fd: false, len: 0, data: '' },
    ]);
    // SIOCGSTAMP: the kernel's receive times, in order, between the first send and now.
    const ts = w.frames.map((f) => f.ts);
    expect(ts).toEqual([...ts].sort((a, b) => a - b));
    expect(ts[0]).toBeGreaterThanOrEqual(startedUs - 1000);
    expect(ts.at(-1)).toBeLessThanOrEqual(Date.now() * 1000 + 1000);
    expect(w.frames.every((f) => f.bus === IFACE && !f.err)).toBe(true);
    expect(linkStats(IFACE).rxPackets - before.rxPackets).toBe(6);
    expect(w.bus.counters()).toMatchObject({ rxFrames: 6, rxErrorFrames: 0, rxFiltered: 0 });
  });

  it('a remote request keeps its length code (123#R4 arrives as rtr with 4 zero bytes)', async () => {
    const w = await openBus();
    await cansend(IFACE, '123#R4');
    const [frame] = await waitFor('the remote frame', () => w.frames.length >= 1 && w.frames);
    expect(wire(frame!)).toEqual({ id: '123', ext: false, rtr: true, fd: false, len: 4, data: '' });
  });

  it('CAN FD frames up to 64 bytes; the addon reports neither BRS nor an FD frame of 8 bytes or fewer as FD', async () => {
    const w = await openBus();
    await cansend(IFACE, `123##1${hex(Uint8Array.from(BYTES_64))}`);
    await cansend(IFACE, '1ABCDEF0##0112233445566778899AABBCC');
    await cansend(IFACE, '321##11122334455667788');
    await waitFor('3 FD frames', () => w.frames.length >= 3);
    expect(w.frames.map(wire)).toEqual([
      { id: '123', ext: false, rtr: false, fd: true, len: 64, data: hex(Uint8Array.from(BYTES_64)) },
      { id: '1abcdef0', ext: true, rtr: false, fd: true, len: 12, data: '112233445566778899AABBCC' },
      // The documented limit of socketcan 4.0.7 (drivers/can/socketcan.ts): FD of 8 bytes looks classic.
      { id: '321', ext: false, rtr: false, fd: false, len: 8, data: '1122334455667788' },
    ]);
    expect(w.frames.every((f) => !f.brs && !f.esi)).toBe(true);
  });
});

describe('sending to candump', () => {
  it('classic, extended, remote and CAN FD frames arrive as sent, and the kernel counts each', async () => {
    const w = await openBus();
    const dump = await Candump.start(IFACE);
    const before = linkStats(IFACE);
    const sent = [
      makeFrame({ id: 0x123, data: Uint8Array.from([0xde, 0xad, 0xbe, 0xef]) }),
      makeFrame({ id: 0x1fffffff, ext: true, data: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]) }),
      makeFrame({ id: 0x7ff }),
      makeFrame({ id: 0x10, ext: true, data: Uint8Array.from([0xaa]) }),
      makeFrame({ id: 0x456, rtr: true, data: new Uint8Array(3) }),
      makeFrame({ id: 0x18daf110, ext: true, rtr: true }),
      makeFrame({ id: 0x200, fd: true, brs: true, data: Uint8Array.from(BYTES_64) }),
      makeFrame({ id: 0x1abcdef0, ext: true, fd: true, data: Uint8Array.from([9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0xff, 0xee]) }),
      makeFrame({ id: 0x201, fd: true, brs: true, data: Uint8Array.from([1, 2]) }),
    ];
    for (const frame of sent) await w.bus.send({ ...frame, bus: IFACE });
    const got = await dump.waitFrames(sent.length);
    await dump.stop();
    expect(got.map(wire)).toEqual(sent.map(wire));
    // candump sees the bit-rate switch flag as the driver was asked to set it (ESI cannot be sent).
    expect(got.map((f) => f.brs)).toEqual(sent.map((f) => f.brs));
    expect(linkStats(IFACE).txPackets - before.txPackets).toBe(sent.length);
    // The sending socket does not receive its own frames (CAN_RAW_RECV_OWN_MSGS is off).
    expect(w.frames).toEqual([]);
    expect(w.bus.counters()).toMatchObject({ txFrames: sent.length, txFailed: 0 });
  });
});

describe('kernel filters', () => {
  it('frames outside the filters are dropped by the kernel and never reach the process', async () => {
    const w = await openBus({
      kernelFilters: [
        { id: 0x100, mask: 0x700, ext: false },
        { id: 0x18da00f1, mask: 0x1fffffff, ext: true },
      ],
    });
    const before = linkStats(IFACE);
    const texts = ['123#01', '223#02', '00000123#03', '18DA00F1#04', '18DA01F1#05', '1FF#06', '100#07'];
    for (const text of texts) await cansend(IFACE, text);
    // Frames on one interface are delivered in order: once the last one is here, the others had their turn.
    await waitFor('the last frame', () => w.frames.some((f) => f.id === 0x100));
    expect(w.frames.map(wire).map((f) => `${f.id}${f.ext ? 'x' : ''}#${f.data}`)).toEqual(['123#01', '18da00f1x#04', '1ff#06', '100#07']);
    expect(linkStats(IFACE).rxPackets - before.rxPackets).toBe(texts.length);
    expect(w.bus.counters()).toMatchObject({ rxFrames: 4, rxFiltered: 0 });
  });

  it('an inverted filter passes everything but its match', async () => {
    const w = await openBus({ kernelFilters: [{ id: 0x123, mask: 0x7ff, ext: false, invert: true }] });
    for (const text of ['123#01', '124#02', '12345678#03', '123#04', '7FF#05']) await cansend(IFACE, text);
    await waitFor('the last frame', () => w.frames.some((f) => f.id === 0x7ff));
    expect(w.frames.map((f) => hex(f.data))).toEqual(['02', '03', '05']);
  });
});

describe('error frames', () => {
  // vcan has no CAN controller, so nothing on it detects bus errors. The kernel does let a process
  // send a frame with CAN_ERR_FLAG on vcan (cansend writes 8 hex digits with 0x20000000 set), and
  // it reaches sockets whose error mask takes that class: what a controller's driver would deliver.
  it('arrive with their error class and data, past the data-frame filters, and are counted', async () => {
    const w = await openBus({ kernelFilters: [{ id: 0x7ff, mask: 0x7ff, ext: false }] });
    // CAN_ERR_CRTL with CAN_ERR_CRTL_RX_WARNING; CAN_ERR_BUSOFF; CAN_ERR_RESTARTED.
    for (const text of ['20000004#0004000000000000', '20000040#0000000000000000', '20000100#0000000000000000', '7FF#AA']) await cansend(IFACE, text);
    await waitFor('4 frames', () => w.frames.length >= 4);
    expect(w.frames.map((f) => ({ err: f.err, id: f.id, data: hex(f.data) }))).toEqual([
      { err: true, id: 0x004, data: '0004000000000000' },
      { err: true, id: 0x040, data: '0000000000000000' },
      { err: true, id: 0x100, data: '0000000000000000' },
      { err: false, id: 0x7ff, data: 'AA' },
    ]);
    expect(w.bus.counters()).toMatchObject({ rxFrames: 4, rxErrorFrames: 3 });
  });

  it('the driver refuses to send one, and nothing reaches the interface', async () => {
    const w = await openBus();
    const before = linkStats(IFACE);
    const err = await w.bus.send(makeFrame({ id: 0x004, err: true, data: new Uint8Array(8), bus: IFACE })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TcuError);
    expect((err as TcuError).code).toBe('CAN_FRAME_INVALID');
    expect(linkStats(IFACE).txPackets).toBe(before.txPackets);
    expect(w.bus.counters()).toMatchObject({ txFrames: 0, txFailed: 1 });
  });
});
