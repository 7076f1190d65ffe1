import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Clock, TimerHandle } from '../../../core/clock.js';
import { TcuError } from '../../../core/errors.js';
import { makeFrame, type CanFrame } from '../../../drivers/can/frame.js';
import { SocketCanBus, diagnoseSocketCan, realSystemFiles, type SocketCanAddon, type SystemFiles } from '../../../drivers/can/socketcan.js';

const PROTOCOLS_NO_CAN = 'protocol  size sockets  memory press maxhdr  slab module\nTCP       2304      1     109   no     192   yes  kernel\n';
const PROTOCOLS_CAN = PROTOCOLS_NO_CAN + 'CAN_BCM    944      0      -1   NI       0   no   can_bcm\nCAN_RAW    960      0      -1   NI       0   yes  can_raw\n';

function files(table: Record<string, string | true>): SystemFiles {
  return {
    exists: (p) => p in table,
    read: (p) => {
      const v = table[p];
      return typeof v === 'string' ? v : undefined;
    },
  };
}

const VCAN0_UP = {
  '/proc/net/protocols': PROTOCOLS_CAN,
  '/sys/module/can': true,
  '/sys/module/can_raw': true,
  '/sys/class/net/vcan0': true,
  '/sys/class/net/vcan0/type': '280\n',
  '/sys/class/net/vcan0/flags': '0x1c1\n',
} as const;

describe('diagnoseSocketCan', () => {
  it('says the kernel has no CAN support when neither protocol nor modules are there', () => {
    const d = diagnoseSocketCan('vcan0', files({ '/proc/net/protocols': PROTOCOLS_NO_CAN }), 'linux');
    expect(d.fatal).toMatch(/^the kernel has no CAN support: modules can and can_raw are not loaded \(modprobe can can_raw; for a virtual bus: modprobe vcan/);
  });

  it('names can_raw alone when can is loaded', () => {
    const d = diagnoseSocketCan('can0', files({ '/proc/net/protocols': PROTOCOLS_NO_CAN, '/sys/module/can': true }), 'linux');
    expect(d.fatal).toMatch(/module can_raw is not loaded \(modprobe can_raw/);
  });

  it('says the interface does not exist, with a hint that fits its kind', () => {
    const noIface = { ...VCAN0_UP } as Record<string, string | true>;
    delete noIface['/sys/class/net/vcan0'];
    expect(diagnoseSocketCan('vcan0', files(noIface), 'linux').fatal).toMatch(/^interface vcan0 does not exist \(create it: modprobe vcan && ip link add dev vcan0 type vcan/);
    expect(diagnoseSocketCan('can1', files(noIface), 'linux').fatal).toMatch(/^interface can1 does not exist \(check the CAN controller/);
    expect(diagnoseSocketCan('../x', files(noIface), 'linux').fatal).toMatch(/does not exist/);
  });

  it('accepts modules without /proc, spots non-CAN and down interfaces', () => {
    const noProc = { ...VCAN0_UP } as Record<string, string | true>;
    delete noProc['/proc/net/protocols'];
    expect(diagnoseSocketCan('vcan0', files(noProc), 'linux')).toEqual({ warnings: [] });
    expect(diagnoseSocketCan('vcan0', files({ ...VCAN0_UP, '/sys/class/net/vcan0/type': '1' }), 'linux').fatal).toMatch(/not a CAN interface \(link type 1/);
    const down = diagnoseSocketCan('vcan0', files({ ...VCAN0_UP, '/sys/class/net/vcan0/flags': '0x80' }), 'linux');
    expect(down.fatal).toBeUndefined();
    expect(down.warnings).toEqual(['interface vcan0 is down (ip link set up vcan0)']);
  });

  it('says SocketCAN is Linux only elsewhere', () => {
    expect(diagnoseSocketCan('can0', files({}), 'darwin').fatal).toMatch(/only on Linux, not on darwin/);
  });
});

/** The kernel offers SocketCAN (CAN_RAW registered, or the can module loaded). */
function kernelHasCan(): boolean {
  let protocols = '';
  try {
    protocols = readFileSync('/proc/net/protocols', 'utf8');
  } catch {
    // no /proc (not Linux, or a sandbox): fall back to the module check
  }
  return /^CAN_RAW\b/m.test(protocols) || existsSync('/sys/module/can');
}

// Only the negative case can be checked on an ordinary machine. The positive SocketCAN tests (a real
// kernel with vcan, frames both ways, filters, error frames, the interface lost and back, a flood,
// the emulator and the agent end to end) run inside a virtual machine: test/vm/ (README there).
describe('SocketCanBus on this machine', () => {
  it.runIf(!kernelHasCan())('open() rejects with SOCKETCAN_UNAVAILABLE and says what is missing', async () => {
    const diagnosis = diagnoseSocketCan('vcan0', realSystemFiles());
    expect(diagnosis.fatal).toBeDefined();
    const bus = new SocketCanBus({ iface: 'vcan0' });
    const caught: unknown = await bus.open().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(caught).toBeInstanceOf(TcuError);
    const err = caught as TcuError;
    expect(err.code).toBe('SOCKETCAN_UNAVAILABLE');
    expect(err.message).not.toMatch(/Error while creating channel/);
    expect(err.message).toBe(`cannot open vcan0: ${diagnosis.fatal}`);
    expect(bus.state).toBe('closed');
  });
});

/** A stand-in for the addon: records what the driver does with it. */
function fakeAddon(failCreate: () => boolean = () => false) {
  const sent: unknown[] = [];
  const filters: unknown[] = [];
  const channels: { listeners: Record<string, ((...a: unknown[]) => void)[]>; started: boolean; stopped: boolean }[] = [];
  const addon: SocketCanAddon = {
    createRawChannelWithOptions: () => {
      if (failCreate()) throw new Error('Error while creating channel');
      const ch = { listeners: {} as Record<string, ((...a: unknown[]) => void)[]>, started: false, stopped: false };
      channels.push(ch);
      return {
        addListener: (event, cb) => {
          (ch.listeners[event] ??= []).push(cb as (...a: unknown[]) => void);
        },
        start: () => {
          ch.started = true;
        },
        stop: () => {
          ch.stopped = true;
        },
        send: (m) => (sent.push(m), 16),
        sendFD: (m) => (sent.push(m), 72),
        setRxFilters: (f) => {
          filters.push(f);
        },
      };
    },
  };
  return { addon, sent, filters, channels };
}

function manualClock(): { clock: Clock; fire: () => void; pending: () => number } {
  const timers: (() => void)[] = [];
  return {
    clock: {
      now: () => 0,
      nowMicros: () => 42,
      monotonic: () => 0,
      setTimeout: (fn) => {
        timers.push(fn);
        return {} as TimerHandle;
      },
      clearTimeout: () => undefined,
    },
    fire: () => timers.shift()?.(),
    pending: () => timers.length,
  };
}

describe('SocketCanBus with an injected addon', () => {
  const ok = files(VCAN0_UP);

  it('replaces the addon message by the diagnosis', async () => {
    const { addon } = fakeAddon(() => true);
    const bus = new SocketCanBus({ iface: 'vcan0', loadAddon: async () => addon, files: files({ '/proc/net/protocols': PROTOCOLS_NO_CAN }) });
    await expect(bus.open()).rejects.toMatchObject({ code: 'SOCKETCAN_UNAVAILABLE', message: expect.stringMatching(/kernel has no CAN support/) });
  });

  it('delivers, sends, maps filters, and reopens after the interface stops', async () => {
    let failing = false;
    const { addon, sent, filters, channels } = fakeAddon(() => failing);
    const { clock, fire, pending } = manualClock();
    const bus = new SocketCanBus({
      iface: 'vcan0',
      name: 'body',
      loadAddon: async () => addon,
      files: ok,
      clock,
      kernelFilters: [{ id: 0x100, mask: 0x700 }, { id: 0x18db33f1, mask: 0x1fffffff, ext: true, invert: true }],
    });
    const frames: CanFrame[] = [];
    bus.subscribe((f) => frames.push(f));
    await bus.open();
    expect(channels[0]!.started).toBe(true);
    expect(filters).toEqual([
      [
        { id: 0x100, mask: 0x700, invert: false },
        { id: (0x18db33f1 | 0x80000000) >>> 0, mask: (0x1fffffff | 0x80000000) >>> 0, invert: true },
      ],
    ]);

    const emit = (m: unknown): void => channels.at(-1)!.listeners['onMessage']!.forEach((cb) => cb(m));
    emit({ id: 0x123, data: Buffer.from([1, 2]), ts_sec: 10, ts_usec: 5 });
    emit({ id: 0x1234567, ext: true, rtr: true, data: Buffer.alloc(3) });
    emit({ id: 0x55, data: Buffer.alloc(12) });
    emit({ id: 0x4, err: true, data: Buffer.alloc(8) });
    expect(frames.map((f) => [f.id, f.ext, f.rtr, f.fd, f.err, f.data.length, f.ts, f.bus])).toEqual([
      [0x123, false, false, false, false, 2, 10_000_005, 'body'],
      [0x1234567, true, true, false, false, 3, 42, 'body'],
      [0x55, false, false, true, false, 12, 42, 'body'],
      [0x4, false, false, false, true, 8, 42, 'body'],
    ]);
    expect(bus.counters().rxErrorFrames).toBe(1);

    await bus.send(makeFrame({ id: 0x7df, data: Uint8Array.of(2, 1, 0) }));
    await bus.send(makeFrame({ id: 0x10, fd: true, brs: true, data: new Uint8Array(16) }));
    await bus.send(makeFrame({ id: 0x11, rtr: true, data: new Uint8Array(4) }));
    expect(sent).toMatchObject([
      { id: 0x7df, ext: false, rtr: false, data: Buffer.from([2, 1, 0]) },
      { id: 0x10, ext: false, fd_brs: true },
      { id: 0x11, rtr: true, data: Buffer.alloc(4) },
    ]);
    await expect(bus.send(makeFrame({ id: 1, err: true }))).rejects.toMatchObject({ code: 'CAN_FRAME_INVALID' });

    // the interface goes away: reconnecting, retry until it is back
    const errors: TcuError[] = [];
    bus.on('error', (e) => errors.push(e));
    failing = true;
    channels[0]!.listeners['onStopped']!.forEach((cb) => cb());
    expect(bus.state).toBe('reconnecting');
    expect(errors[0]!.code).toBe('SOCKETCAN_UNAVAILABLE');
    await expect(bus.send(makeFrame({ id: 1 }))).rejects.toMatchObject({ code: 'CAN_BUS_NOT_OPEN' });
    fire();
    expect(bus.state).toBe('reconnecting');
    failing = false;
    fire();
    expect(bus.state).toBe('open');
    expect(bus.counters().reconnects).toBe(1);
    emit({ id: 0x321, data: Buffer.alloc(1) });
    expect(frames.at(-1)!.id).toBe(0x321);

    await bus.close();
    expect(channels.at(-1)!.stopped).toBe(true);
    expect(pending()).toBe(0);
  });

  it('reports a refused send', async () => {
    const { addon } = fakeAddon();
    const refusing: SocketCanAddon = {
      createRawChannelWithOptions: (i, o) => ({ ...addon.createRawChannelWithOptions(i, o), send: () => -1 }),
    };
    const bus = new SocketCanBus({ iface: 'vcan0', loadAddon: async () => refusing, files: ok });
    await bus.open();
    await expect(bus.send(makeFrame({ id: 1 }))).rejects.toMatchObject({ code: 'CAN_SEND_FAILED' });
    expect(bus.counters().txFailed).toBe(1);
    await bus.close();
  });
});
