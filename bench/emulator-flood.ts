// The emulator's flood mode: frames generated per second in-process, and frames per second the
// agent's socketcand client receives from the emulator's server over loopback TCP.
import { systemClock } from '../core/clock.js';
import { compileDbc } from '../drivers/can/dbc/codec.js';
import { loadDbcFile } from '../drivers/can/dbc/parser.js';
import { SocketcandBus } from '../drivers/can/socketcand/client.js';
import { SocketcandServer } from '../hw-emulator/socketcand-server.js';
import { TrafficGenerator } from '../hw-emulator/traffic/index.js';
import { SeededRng, VehicleModel } from '../hw-emulator/vehicle/index.js';
import type { Emit } from './run.js';

const DBC = 'hw-emulator/dbc/vw_mqb.dbc';

function generator(): TrafficGenerator {
  const clock = systemClock();
  return new TrafficGenerator({ codec: compileDbc(loadDbcFile(DBC)), model: new VehicleModel({ seed: 1 }), rng: new SeededRng(1), clock, bus: 'vcan0' });
}

export async function run(emit: Emit): Promise<void> {
  const gen = generator();
  for (let i = 0; i < 100_000; i++) gen.nextFrameFlood();
  const n = 500_000;
  let start = performance.now();
  for (let i = 0; i < n; i++) gen.nextFrameFlood();
  emit('emulator.flood.vw_mqb', n / ((performance.now() - start) / 1000), 'frames/s');

  const server = new SocketcandServer({ port: 0, buses: ['vcan0'], highWaterBytes: 4 << 20 });
  const { port } = await server.start();
  const client = new SocketcandBus({ host: '127.0.0.1', port, bus: 'vcan0' });
  let received = 0;
  client.subscribe(() => received++);
  await client.open();
  const frames = Array.from({ length: 1000 }, () => gen.nextFrameFlood());
  const total = 300_000;
  start = performance.now();
  let sent = 0;
  while (sent < total) {
    for (const f of frames) server.broadcast(f);
    sent += frames.length;
    // Let the socket drain before the server's per-client high-water mark would drop frames.
    while (sent - received > 20_000) await new Promise((r) => setImmediate(r));
  }
  while (received + server.counters().framesDropped < total) await new Promise((r) => setImmediate(r));
  emit('socketcand.loopback.receive', received / ((performance.now() - start) / 1000), 'frames/s');
  emit('socketcand.loopback.dropped', server.counters().framesDropped, 'frames');
  await client.close();
  await server.stop();
}
