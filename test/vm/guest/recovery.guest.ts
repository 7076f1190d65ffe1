import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { TcuError } from '../../../core/errors.js';
import type { Logger } from '../../../core/logger.js';
import { makeFrame } from '../../../drivers/can/frame.js';
import { SocketCanBus, diagnoseSocketCan, realSystemFiles } from '../../../drivers/can/socketcan.js';
import { addVcan, cansend, ip, removeLink, waitFor, watchBus, type WatchedBus } from './peers.js';

// The interface going away under an open bus, and the diagnosis when it is missing or down, on a
// kernel where the CAN modules are loaded (so what is left to diagnose is the interface).
const open: WatchedBus[] = [];
const made: string[] = [];

async function vcan(iface: string): Promise<void> {
  made.push(iface);
  await addVcan(iface);
}

async function openBus(iface: string, logger?: Logger): Promise<WatchedBus> {
  const watched = watchBus({ iface, logger });
  open.push(watched);
  await watched.bus.open();
  return watched;
}

afterEach(async () => {
  for (const w of open.splice(0)) await w.bus.close();
  for (const iface of made.splice(0)) await removeLink(iface);
});

/** Waits until a frame with this payload byte has arrived. */
async function receives(w: WatchedBus, iface: string, marker: number): Promise<void> {
  const text = `321#${marker.toString(16).padStart(2, '0')}`;
  await cansend(iface, text);
  await waitFor(`${text} on ${iface}`, () => w.frames.some((f) => f.id === 0x321 && f.data[0] === marker));
}

function recordingLogger(lines: string[]): Logger {
  const logger: Logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: (_obj, msg) => void lines.push(`warn: ${msg ?? ''}`),
    error: (_obj, msg) => void lines.push(`error: ${msg ?? ''}`),
    child: () => logger,
  };
  return logger;
}

describe('the interface goes away under an open bus', () => {
  it('down: the bus goes reconnecting, stays there while the link is down, and receives again once it is up', async () => {
    await vcan('vcanr');
    const w = await openBus('vcanr');
    await receives(w, 'vcanr', 1);

    await ip('link', 'set', 'vcanr', 'down');
    await waitFor('state reconnecting', () => w.bus.state === 'reconnecting');
    expect(w.errors[0]).toBeInstanceOf(TcuError);
    expect(w.errors[0]!.code).toBe('SOCKETCAN_UNAVAILABLE');
    expect(w.errors[0]!.message).toBe('bus vcanr: interface vcanr is down (ip link set up vcanr); reopening');
    const send = await w.bus.send(makeFrame({ id: 0x1, bus: 'vcanr' })).catch((e: unknown) => e);
    expect((send as TcuError).code).toBe('CAN_BUS_NOT_OPEN');
    // Several reopen periods (100, 200, 400 ms): the bus must not claim to be open while the link is down.
    await new Promise((r) => setTimeout(r, 1500));
    expect(w.bus.state).toBe('reconnecting');
    expect(w.states).toEqual(['opening', 'open', 'reconnecting']);

    await ip('link', 'set', 'vcanr', 'up');
    await waitFor('state open', () => w.bus.state === 'open', 5000);
    await receives(w, 'vcanr', 2);
    expect(w.states).toEqual(['opening', 'open', 'reconnecting', 'open']);
    expect(w.bus.counters().reconnects).toBe(1);
  });

  it('deleted and created again: the bus reconnects and recovers on the new interface', async () => {
    await vcan('vcanr');
    const w = await openBus('vcanr');
    await receives(w, 'vcanr', 1);

    await removeLink('vcanr');
    await waitFor('state reconnecting', () => w.bus.state === 'reconnecting');
    // The socket hears of the deletion (NETDEV_UNREGISTER) before /sys/class/net/vcanr is gone, so
    // the diagnosis made at that moment may still find the interface.
    expect(w.errors).toHaveLength(1);
    expect(w.errors[0]!.message).toMatch(
      /^bus vcanr: interface vcanr (does not exist \(create it: modprobe vcan && ip link add dev vcanr type vcan && ip link set up vcanr\)|stopped); reopening$/,
    );
    await new Promise((r) => setTimeout(r, 1000));
    expect(w.bus.state).toBe('reconnecting');

    await vcan('vcanr');
    await waitFor('state open', () => w.bus.state === 'open', 5000);
    await receives(w, 'vcanr', 2);
    expect(w.bus.counters().reconnects).toBe(1);
    // Sending works on the new interface too.
    await w.bus.send(makeFrame({ id: 0x55, data: Uint8Array.from([5]), bus: 'vcanr' }));
    expect(w.bus.counters().txFrames).toBe(1);
  });

  it('a down and up quicker than the first reopen is still noticed and recovered', async () => {
    await vcan('vcanq');
    const w = await openBus('vcanq');
    await ip('link', 'set', 'vcanq', 'down');
    await ip('link', 'set', 'vcanq', 'up');
    await waitFor('state reconnecting then open', () => w.states.includes('reconnecting') && w.bus.state === 'open', 5000);
    await receives(w, 'vcanq', 3);
  });
});

describe('diagnosis with the CAN modules loaded', () => {
  it('this kernel has CAN_RAW, so a missing interface is what is reported, with a hint for its kind', async () => {
    const files = realSystemFiles();
    expect(files.read('/proc/net/protocols')).toMatch(/^CAN_RAW\s/m);
    expect(diagnoseSocketCan('vcannone', files)).toEqual({
      fatal: 'interface vcannone does not exist (create it: modprobe vcan && ip link add dev vcannone type vcan && ip link set up vcannone)',
      warnings: [],
    });
    expect(diagnoseSocketCan('can7', files).fatal).toBe(
      'interface can7 does not exist (check the CAN controller\'s driver and device tree, and "ip link show" for the names that exist)',
    );
    const err = await new SocketCanBus({ iface: 'vcannone' }).open().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TcuError);
    expect((err as TcuError).code).toBe('SOCKETCAN_UNAVAILABLE');
    expect((err as TcuError).message).toBe(`cannot open vcannone: ${diagnoseSocketCan('vcannone', files).fatal}`);
  });

  it('an interface that is not CAN is refused with its link type', async () => {
    expect(diagnoseSocketCan('lo', realSystemFiles()).fatal).toBe('interface lo is not a CAN interface (link type 772, CAN is 280)');
    const err = await new SocketCanBus({ iface: 'lo' }).open().catch((e: unknown) => e);
    expect((err as TcuError).message).toBe('cannot open lo: interface lo is not a CAN interface (link type 772, CAN is 280)');
  });

  it('a down interface: open() succeeds with a warning, the bus waits in reconnecting and works once it is up', async () => {
    await vcan('vcand');
    await ip('link', 'set', 'vcand', 'down');
    expect(diagnoseSocketCan('vcand', realSystemFiles())).toEqual({ warnings: ['interface vcand is down (ip link set up vcand)'] });
    const logged: string[] = [];
    const w = await openBus('vcand', recordingLogger(logged));
    expect(logged).toEqual(['warn: interface vcand is down (ip link set up vcand)']);
    await waitFor('state reconnecting', () => w.bus.state === 'reconnecting');
    await new Promise((r) => setTimeout(r, 1000));
    expect(w.bus.state).toBe('reconnecting');
    await ip('link', 'set', 'vcand', 'up');
    await waitFor('state open', () => w.bus.state === 'open', 5000);
    await receives(w, 'vcand', 4);
  });
});

describe('stopped channels and the garbage collector', () => {
  // socketcan 4.0.7 closes the libuv handles inside a stopped channel with uv_close, and frees them
  // when the channel is collected, even before the event loop has finished closing them. When the
  // memory is reused first (a new channel started in the same turn of the loop), node aborts at the
  // end of that turn (uv__finish_close: Assertion `handle->flags & UV_HANDLE_CLOSING' failed);
  // otherwise the heap is silently corrupted. The driver keeps stopped channels referenced for a
  // second; without that, this test kills the guest's test process and the host reports it as the
  // test that was running.
  it('a bus closed, collected and reopened in one turn of the event loop leaves the process alive', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    await vcan('vcang');
    const w = await openBus('vcang');
    for (let i = 0; i < 20; i++) {
      // close() and open() of a bus whose addon is loaded complete in microtasks: no turn of the loop.
      await w.bus.close();
      gc();
      await w.bus.open();
      await new Promise((r) => setImmediate(r));
    }
    await receives(w, 'vcang', 5);
  });
});
