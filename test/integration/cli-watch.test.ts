import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { tcuAgent } from '../../agent/cli/main.js';
import { SocketcandServer } from '../../hw-emulator/socketcand-server.js';
import { makeFrame } from '../../drivers/can/frame.js';

const DBC = 'test/fixtures/dbc-small/engine.dbc';

function io(stop?: AbortSignal) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const text = { out: '', err: '' };
  stdout.on('data', (c: Buffer) => (text.out += c.toString()));
  stderr.on('data', (c: Buffer) => (text.err += c.toString()));
  const stdin = new PassThrough();
  stdin.end();
  return { io: { stdin, stdout, stderr, stop, isTTY: false }, text };
}

describe('tcu-agent watch', () => {
  it('stops on the stop signal even while the server cannot be reached', async () => {
    const stop = new AbortController();
    const { io: streams, text } = io(stop.signal);
    const started = Date.now();
    const running = tcuAgent(['watch', '--dbc', DBC, '--socketcand', '127.0.0.1:1'], streams);
    setTimeout(() => stop.abort(), 300);
    expect(await running).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(text.err).toMatch(/SOCKETCAND_CONNECT/);
  });

  it('ends after --duration with exit code 1 when the bus never opened', async () => {
    const { io: streams, text } = io();
    expect(await tcuAgent(['watch', '--dbc', DBC, '--socketcand', '127.0.0.1:1', '--duration', '0.5'], streams)).toBe(1);
    expect(text.err).toMatch(/never opened/);
  });

  it('shows the signals it receives as JSON lines, then a summary', async () => {
    const server = new SocketcandServer({ port: 0, buses: ['vcan0'] });
    const { port } = await server.start();
    const feed = setInterval(() => server.broadcast(makeFrame({ id: 0x100, data: Uint8Array.of(0x40, 0x1f, 0x5a, 3, 0, 0, 0, 0), bus: 'vcan0', ts: Date.now() * 1000 })), 20);
    try {
      const { io: streams, text } = io();
      const code = await tcuAgent(['watch', '--dbc', DBC, '--socketcand', `127.0.0.1:${port}`, '--duration', '1.5', '--signals', 'Engine.EngineSpeed,Engine.Gear', '--choices'], streams);
      expect(code).toBe(0);
      const last = JSON.parse(text.out.trim().split('\n').at(-1)!) as { frames: number; decoded: number; signals: Record<string, unknown> };
      expect(last.frames).toBeGreaterThan(10);
      expect(last.decoded).toBe(last.frames);
      expect(last.signals).toEqual({ 'Engine.EngineSpeed': 2000, 'Engine.Gear': 'D' });
      expect(text.err).toMatch(/watch: \d+ frames, \d+ decoded, 0 unknown ids/);
    } finally {
      clearInterval(feed);
      await server.stop();
    }
  });

  it('refuses a negative replay speed as a usage error', async () => {
    const { io: streams } = io();
    expect(await tcuAgent(['watch', '--dbc', DBC, '--log', 'test/fixtures/logs/engine.log', '--speed=-1'], streams)).toBe(2);
  });

  it('replays a log and ends with it', async () => {
    const { io: streams, text } = io();
    expect(await tcuAgent(['watch', '--dbc', DBC, '--log', 'test/fixtures/logs/engine.log', '--speed', '0', '--signals', 'Wheels.WheelSpeed'], streams)).toBe(0);
    expect(JSON.parse(text.out.trim().split('\n').at(-1)!)).toMatchObject({ frames: 5, decoded: 3, unknownIds: 2, signals: { 'Wheels.WheelSpeed': 100 } });
  });
});
