import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { TcuError } from '../../core/errors.js';
import type { BusState } from '../../drivers/can/bus.js';
import { makeFrame, type CanFrame } from '../../drivers/can/frame.js';
import { SocketcandBus, backoffDelay, type SocketcandBusOptions } from '../../drivers/can/socketcand/client.js';
import { SocketcandServer, type SocketcandClientInfo } from '../../hw-emulator/socketcand-server.js';

const HOST = '127.0.0.1';
const FAST = { initialMs: 20, maxMs: 200, jitter: 0.2 };

/** Everything a test opens, closed after it whatever happens. */
const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanup.length > 0) await cleanup.pop()!();
});

async function waitFor(what: string, predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function startServer(buses = ['vcan0', 'vcan1'], port = 0, highWaterBytes?: number): Promise<{ server: SocketcandServer; port: number }> {
  const server = new SocketcandServer({ host: HOST, port, buses, highWaterBytes });
  const bound = await server.start();
  cleanup.push(() => server.stop());
  return { server, port: bound.port };
}

function client(port: number, options: Partial<SocketcandBusOptions> = {}) {
  const bus = new SocketcandBus({ host: HOST, port, bus: 'vcan0', reconnect: FAST, connectTimeoutMs: 1000, ...options });
  const frames: CanFrame[] = [];
  const errors: TcuError[] = [];
  const states: BusState[] = [];
  bus.subscribe((f) => frames.push(f));
  bus.on('error', (e) => errors.push(e));
  bus.on('state', (s) => states.push(s));
  cleanup.push(() => bus.close());
  return { bus, frames, errors, states };
}

/** A port nothing listens on. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, HOST, () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A hand-written TCP peer: `script` runs per connection, with the connection's 1-based number. */
async function rawServer(script: (socket: Socket, n: number) => void): Promise<{ port: number; server: Server; connections: () => number }> {
  let n = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    script(socket, ++n);
  });
  await new Promise<void>((r) => server.listen(0, HOST, () => r()));
  cleanup.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as AddressInfo).port, server, connections: () => n };
}

/** Replies as socketcand does to the handshake, then calls `then`. */
function handshake(socket: Socket, then: () => void): void {
  socket.write('< hi >');
  let text = '';
  socket.on('data', (d) => {
    text += d.toString('latin1');
    if (text.includes('< open vcan0 >') && !text.includes('#open')) {
      text += '#open';
      socket.write('< ok >');
    }
    if (text.includes('< rawmode >') && !text.includes('#raw')) {
      text += '#raw';
      socket.write('< ok >');
      then();
    }
  });
}

describe('SocketcandBus against the emulator server', () => {
  it('does the handshake and moves classic, FD, extended, remote and error frames both ways', async () => {
    const { server, port } = await startServer();
    const a = client(port, { name: 'bodyA' });
    const b = client(port);
    const c = client(port, { bus: 'vcan1' });
    await Promise.all([a.bus.open(), b.bus.open(), c.bus.open()]);
    expect([a.bus.state, b.bus.state, c.bus.state]).toEqual(['open', 'open', 'open']);
    await waitFor('three raw clients', () => server.clients().filter((x) => x.mode === 'raw').length === 3);

    const sent = [
      makeFrame({ id: 0x123, data: Uint8Array.of(0xde, 0xad, 0xbe, 0xef), ts: 1_436_509_052_249_713, bus: 'vcan0' }),
      makeFrame({ id: 0x18db33f1, ext: true, data: Uint8Array.of(2, 1, 0xd), ts: 1_000_001, bus: 'vcan0' }),
      makeFrame({ id: 0x7ff, fd: true, brs: true, esi: true, data: new Uint8Array(64).map((_, i) => i), ts: 2_000_000, bus: 'vcan0' }),
      makeFrame({ id: 0x10, rtr: true, data: new Uint8Array(3), ts: 3_000_000, bus: 'vcan0' }),
      makeFrame({ id: 0x4, err: true, ts: 4_000_000, bus: 'vcan0' }),
    ];
    for (const f of sent) expect(server.broadcast(f)).toBe(2);
    server.broadcast(makeFrame({ id: 0x321, data: Uint8Array.of(1), ts: 5_000_000, bus: 'vcan1' }));
    await waitFor('frames at both vcan0 clients', () => a.frames.length === 5 && b.frames.length === 5);
    await waitFor('the vcan1 frame', () => c.frames.length === 1);
    expect(b.frames).toEqual(sent);
    // error frames carry no data over socketcand
    expect(a.frames).toEqual(sent.map((f) => ({ ...f, bus: 'bodyA' })));
    expect(c.frames.map((f) => [f.id, f.bus])).toEqual([[0x321, 'vcan1']]);
    expect(a.bus.counters()).toMatchObject({ rxFrames: 5, rxErrorFrames: 1, rxMalformed: 0 });

    // client → server (and to the other client on the same bus, not back to the sender)
    const received: [CanFrame, SocketcandClientInfo][] = [];
    server.onClientFrame((f, who) => received.push([f, who]));
    const out = [
      makeFrame({ id: 0x7df, data: Uint8Array.of(2, 1, 0) }),
      makeFrame({ id: 0x1fffffff, ext: true, data: new Uint8Array(8).fill(0xff) }),
      makeFrame({ id: 0x100, fd: true, brs: true, data: new Uint8Array(12).fill(7) }),
      makeFrame({ id: 0x101, rtr: true, data: new Uint8Array(2) }),
    ];
    for (const f of out) await a.bus.send(f);
    await c.bus.send(makeFrame({ id: 0x555 }));
    await waitFor('frames at the server', () => received.length === 5);
    expect(received.slice(0, 4).map(([f, who]) => [f.id, f.ext, f.fd, f.brs, f.rtr, [...f.data], f.bus, who.bus])).toEqual(
      out.map((f) => [f.id, f.ext, f.fd, f.brs, f.rtr, [...f.data], 'vcan0', 'vcan0']),
    );
    expect(received[4]![0]).toMatchObject({ id: 0x555, bus: 'vcan1' });
    await waitFor('forwarded frames at the other vcan0 client', () => b.frames.length === 9);
    expect(b.frames.slice(5).map((f) => f.id)).toEqual([0x7df, 0x1fffffff, 0x100, 0x101]);
    expect(a.frames).toHaveLength(5);
    expect(a.bus.counters().txFrames).toBe(4);
    expect(server.counters()).toMatchObject({ framesReceived: 5, framesDropped: 0, badRequests: 0 });
  });

  it('reconnects by itself when the server dies and comes back on the same port', async () => {
    const first = await startServer(['vcan0']);
    const { bus, frames, errors, states } = client(first.port);
    await bus.open();
    await waitFor('raw client', () => first.server.clients().some((x) => x.mode === 'raw'));
    first.server.broadcast(makeFrame({ id: 1, bus: 'vcan0' }));
    await waitFor('first frame', () => frames.length === 1);

    await first.server.stop();
    await waitFor('reconnecting', () => bus.state === 'reconnecting');
    await expect(bus.send(makeFrame({ id: 2 }))).rejects.toMatchObject({ code: 'CAN_BUS_NOT_OPEN' });
    await new Promise((r) => setTimeout(r, 100)); // a few refused attempts

    const second = await startServer(['vcan0'], first.port);
    await waitFor('open again', () => bus.state === 'open');
    await waitFor('raw client on the new server', () => second.server.clients().some((x) => x.mode === 'raw'));
    second.server.broadcast(makeFrame({ id: 3, bus: 'vcan0' }));
    await waitFor('frame after reconnect', () => frames.length === 2);
    const got: CanFrame[] = [];
    second.server.onClientFrame((f) => got.push(f));
    await bus.send(makeFrame({ id: 4 }));
    await bus.send(makeFrame({ id: 5 }));
    await waitFor('frames at the new server', () => got.length === 2);
    expect(got.map((f) => f.id)).toEqual([4, 5]);

    expect(bus.counters().reconnects).toBe(1);
    expect(states).toEqual(['opening', 'open', 'reconnecting', 'open']);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((e) => e.code === 'SOCKETCAND_CONNECT')).toBe(true);
  });

  it('open() rejects with SOCKETCAND_CONNECT when the first attempt fails', async () => {
    const port = await freePort();
    const { bus } = client(port);
    await expect(bus.open()).rejects.toMatchObject({ code: 'SOCKETCAND_CONNECT' });
    expect(bus.state).toBe('closed');

    const { server, port: serverPort } = await startServer(['vcan0']);
    const wrongBus = client(serverPort, { bus: 'can9' });
    await expect(wrongBus.bus.open()).rejects.toMatchObject({ code: 'SOCKETCAND_CONNECT', message: expect.stringMatching(/refused "open can9".*unknown bus can9/) });
    expect(server.counters().badRequests).toBe(1);
  });

  it('open() times out with SOCKETCAND_CONNECT against a peer that never says hi', async () => {
    const silent = await rawServer(() => undefined);
    const { bus } = client(silent.port, { connectTimeoutMs: 150 });
    const started = performance.now();
    await expect(bus.open()).rejects.toMatchObject({ code: 'SOCKETCAND_CONNECT', message: expect.stringMatching(/within 150 ms/) });
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('with waitForServer, open() waits until the server appears', async () => {
    const port = await freePort();
    const { bus, errors } = client(port, { waitForServer: true });
    let opened = false;
    const opening = bus.open().then(() => (opened = true));
    await waitFor('a few failed attempts', () => errors.length >= 2);
    expect(opened).toBe(false);
    expect(bus.state).toBe('opening');
    await startServer(['vcan0'], port);
    await opening;
    expect(bus.state).toBe('open');
    expect(bus.counters().reconnects).toBe(0);
  });

  it('close() during the wait for a server rejects open() and stops retrying', async () => {
    const port = await freePort();
    const { bus, errors } = client(port, { waitForServer: true });
    const opening = bus.open();
    await waitFor('an attempt', () => errors.length >= 1);
    await bus.close();
    await expect(opening).rejects.toMatchObject({ code: 'SOCKETCAND_CONNECT' });
    const count = errors.length;
    await new Promise((r) => setTimeout(r, 100));
    expect(errors.length).toBe(count);
  });
});

describe('SocketcandBus against misbehaving peers', () => {
  it('counts garbage, survives a close mid-frame, and reconnects', async () => {
    const peer = await rawServer((socket, n) => {
      handshake(socket, () => {
        if (n === 1) {
          socket.write('< frame 123 1.000000 01 >garbage\x00\xff< frame ZZZ 1.0 >');
          socket.write('< frame 124 1.000000 02 >< bogus! >< frame 125 1.0');
          setTimeout(() => socket.end(), 20);
        } else {
          socket.write(' 00 >< frame 126 2.000000 03 >');
        }
      });
    });
    const { bus, frames, errors, states } = client(peer.port);
    await bus.open();
    await waitFor('frame after reconnect', () => frames.some((f) => f.id === 0x126));
    expect(frames.map((f) => f.id)).toEqual([0x123, 0x124, 0x126]);
    // garbage run, undecodable frame, unknown command, then the stray " 00 >" on the new session
    expect(bus.counters().rxMalformed).toBe(4);
    expect(bus.counters().reconnects).toBe(1);
    expect(errors.filter((e) => e.code === 'SOCKETCAND_PROTOCOL')).toHaveLength(4);
    expect(errors.filter((e) => e.code === 'SOCKETCAND_CONNECT').length).toBeGreaterThanOrEqual(1);
    expect(states).toEqual(['opening', 'open', 'reconnecting', 'open']);
    expect(peer.connections()).toBe(2);
  });

  it('delivers frames that arrive in the same TCP read as the rawmode < ok >', async () => {
    // Real socketcand streams right behind the ok; one write here makes one read at the client.
    const peer = await rawServer((socket) => {
      socket.write('< hi >');
      let text = '';
      socket.on('data', (d) => {
        text += d.toString('latin1');
        if (text.includes('< open vcan0 >') && !text.includes('#open')) {
          text += '#open';
          socket.write('< ok >');
        }
        if (text.includes('< rawmode >') && !text.includes('#raw')) {
          text += '#raw';
          socket.write('< ok >< frame 123 1.000000 11 >< frame 12345678 1.000001 2233 >');
        }
      });
    });
    const { bus, frames, states } = client(peer.port);
    await bus.open();
    await waitFor('both frames', () => frames.length === 2);
    expect(frames.map((f) => [f.id, f.ext, [...f.data]])).toEqual([
      [0x123, false, [0x11]],
      [0x12345678, true, [0x22, 0x33]],
    ]);
    expect(states).toEqual(['opening', 'open']);
    expect(bus.counters()).toMatchObject({ rxFrames: 2, rxMalformed: 0, reconnects: 0 });
  });

  it('survives a listener that throws: counted, reported, the other listeners and later frames still arrive', async () => {
    const peer = await rawServer((socket) => {
      handshake(socket, () => setTimeout(() => socket.write('< frame 001 1.000000 01 >< frame 002 1.000001 02 >'), 20));
    });
    const { bus, frames, errors } = client(peer.port);
    bus.subscribe((f) => {
      if (f.id === 1) throw new Error('consumer bug');
    });
    await bus.open();
    await waitFor('both frames', () => frames.length === 2);
    expect(frames.map((f) => f.id)).toEqual([1, 2]);
    expect(bus.state).toBe('open');
    expect(bus.counters()).toMatchObject({ rxFrames: 2, listenerErrors: 1 });
    expect(errors.map((e) => e.code)).toEqual(['CAN_LISTENER_FAILED']);
  });

  it('gives up a session that only sends garbage and keeps trying', async () => {
    const peer = await rawServer((socket, n) => {
      if (n === 1) {
        handshake(socket, () => {
          socket.write('< frame 001 1.000000 01 >');
          setTimeout(() => socket.end(), 20);
        });
        return;
      }
      // later connections: an endless stream of garbage elements instead of < hi >
      const timer = setInterval(() => socket.write('< nonsense! >'.repeat(50)), 5);
      socket.on('close', () => clearInterval(timer));
    });
    const { bus, frames, errors } = client(peer.port, { maxConsecutiveMalformed: 30, connectTimeoutMs: 200 });
    await bus.open();
    await waitFor('first frame', () => frames.length === 1);
    await waitFor('several attempts', () => peer.connections() >= 4);
    expect(bus.state).toBe('reconnecting');
    expect(bus.counters().rxMalformed).toBeGreaterThanOrEqual(30);
    expect(errors.some((e) => e.code === 'SOCKETCAND_PROTOCOL' && /malformed elements in a row/.test(e.message))).toBe(true);
  });
});

describe('SocketcandServer', () => {
  it('answers bad requests with < error > and keeps the connection', async () => {
    const { server, port } = await startServer(['vcan0']);
    const socket = connect(port, HOST);
    cleanup.push(() => socket.destroy());
    let text = '';
    socket.on('data', (d) => (text += d.toString('latin1')));
    socket.write('< send 123 1 01 >'); // before open
    socket.write('< open vcan0 >< subscribe 0 0 123 >junk< send 123 2 01 >< echo >< rawmode >');
    await waitFor('replies', () => text.includes('< echo >') && text.split('< ok >').length === 3);
    expect(text.startsWith('< hi >< error open a bus first >< ok >< error command subscribe is not supported by the emulator >')).toBe(true);
    expect(text.match(/< error /g)).toHaveLength(4);
    expect(server.counters().badRequests).toBe(4);
    expect(server.clients()[0]).toMatchObject({ bus: 'vcan0', mode: 'raw' });
  });

  it('drops frames for a client that does not read, and counts them', async () => {
    const { server, port } = await startServer(['vcan0'], 0, 16 * 1024);
    const socket = connect(port, HOST);
    cleanup.push(() => socket.destroy());
    let text = '';
    const onData = (d: Buffer): void => {
      text += d.toString('latin1');
    };
    socket.on('data', onData);
    socket.write('< open vcan0 >< rawmode >');
    await waitFor('raw mode', () => text.split('< ok >').length === 3);
    socket.off('data', onData);
    socket.pause();
    const frame = makeFrame({ id: 0x7ff, fd: true, data: new Uint8Array(64), ts: 1, bus: 'vcan0' });
    for (let i = 0; i < 50_000; i++) server.broadcast(frame);
    const info = server.clients()[0]!;
    expect(info.dropped).toBeGreaterThan(0);
    expect(server.counters().framesDropped).toBe(info.dropped);
    expect(server.counters().framesSent + server.counters().framesDropped).toBe(50_000);
  });
});

describe('backoffDelay', () => {
  it('doubles up to the maximum, spread by the jitter', () => {
    const mid = (): number => 0.5;
    expect([0, 1, 2, 3, 10, 100].map((n) => backoffDelay(n, { initialMs: 100, maxMs: 1000, jitter: 0.5 }, mid))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoffDelay(0, { initialMs: 100, jitter: 0.5 }, () => 0)).toBe(50);
    expect(backoffDelay(0, { initialMs: 100, jitter: 0.5 }, () => 0.999999)).toBe(150);
  });
});
