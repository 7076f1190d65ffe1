// The uplink draining a backlog: 200,000 records committed to the real SQLite outbox (as after an
// outage), then sent to a real Mosquitto over loopback, QoS 1, each publish's records deleted on
// its PUBACK. Records/s from the first CONNACK to the last record deleted. Baselines in the same
// run: the outbox alone (nextBatch + acknowledge in a loop, nothing sent: the floor of the cost),
// and the same payloads published by a bare mqtt.js client with the same window, no outbox.
// Two settings: the uplink's defaults (batchMaxRecords 2000, payloads up to 128 KiB) and
// batchMaxRecords 500 (the configuration file's default).
import { connectAsync } from 'mqtt';
import { DEFAULT_MAX_PAYLOAD_BYTES, PayloadBuilder, Uplink, planPayloads, type UplinkSettings } from '../agent/uplink/index.js';
import { Mosquitto, findMosquitto } from '../test/helpers/mosquitto.js';
import { openTestOutbox, records } from '../test/unit/uplink/harness.js';
import type { Emit } from './run.js';

/** 200,000 by default, to keep `npm run bench` short; TCU_BENCH_DRAIN_RECORDS=1000000 for the outage size. */
const BACKLOG = Number(process.env['TCU_BENCH_DRAIN_RECORDS'] ?? 200_000);
const VIN = 'WVWZZZ1JZXW000001';

interface Drain {
  recordsPerS: number;
  recordsPerPublish: number;
  bytesPerPublish: number;
  payloads: Buffer[];
}

async function drain(url: string, settings: Partial<UplinkSettings>, keepPayloads: boolean): Promise<Drain> {
  const o = openTestOutbox({ boot: 'bench-boot' });
  try {
    for (let i = 0; i < BACKLOG; i += 5000) o.outbox.append(records(Math.min(5000, BACKLOG - i), 'signals', 1_700_000_000_000 + i));
    const u = new Uplink({ vin: VIN, outbox: o.outbox, pollIntervalMs: 60_000, config: { url, ...settings } });
    let start = 0;
    let end = 0;
    const payloads: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      u.on('state', (s) => {
        if (s === 'connected' && start === 0) start = performance.now();
      });
      u.on('error', (e) => {
        if (e.code !== 'UPLINK_CONNECT') reject(e);
      });
      const watch = setInterval(() => {
        if (u.counters().acknowledged >= BACKLOG) {
          end = performance.now();
          clearInterval(watch);
          resolve();
        }
      }, 2);
      u.start();
    });
    const n = u.counters();
    await u.stop(1000);
    if (n.acknowledged !== BACKLOG) throw new Error(`drained ${n.acknowledged} of ${BACKLOG} records`);
    if (keepPayloads) payloads.push(...buildPayloads(settings));
    return { recordsPerS: BACKLOG / ((end - start) / 1000), recordsPerPublish: n.acknowledged / n.publishesAcknowledged, bytesPerPublish: n.bytesPublished / n.publishes, payloads };
  } finally {
    o.close();
  }
}

/** The payloads the uplink sent, rebuilt from a second outbox with the same records (not timed). */
function buildPayloads(settings: Partial<UplinkSettings>): Buffer[] {
  const o = openTestOutbox({ boot: 'bench-boot' });
  try {
    for (let i = 0; i < BACKLOG; i += 5000) o.outbox.append(records(Math.min(5000, BACKLOG - i), 'signals', 1_700_000_000_000 + i));
    const builder = new PayloadBuilder(VIN);
    const max = settings.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    const out: Buffer[] = [];
    for (;;) {
      const batch = o.outbox.nextBatch({ maxRecords: settings.batchMaxRecords ?? 2000, maxBytes: max });
      if (batch.length === 0) return out;
      for (const p of planPayloads(builder, batch, max).payloads) out.push(builder.build(p.boot, p.records));
      o.outbox.acknowledge(
        batch.map((r) => r.id),
        0,
      );
    }
  } finally {
    o.close();
  }
}

/** The outbox alone: nextBatch and acknowledge in a loop, nothing sent (the floor of the drain's cost). */
function outboxOnly(settings: Partial<UplinkSettings>): number {
  const o = openTestOutbox({ boot: 'bench-boot' });
  try {
    for (let i = 0; i < BACKLOG; i += 5000) o.outbox.append(records(Math.min(5000, BACKLOG - i), 'signals', 1_700_000_000_000 + i));
    const start = performance.now();
    let n = 0;
    for (;;) {
      const batch = o.outbox.nextBatch({ maxRecords: settings.batchMaxRecords ?? 2000, maxBytes: settings.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES });
      if (batch.length === 0) break;
      o.outbox.acknowledge(
        batch.map((r) => r.id),
        0,
      );
      n += batch.length;
    }
    if (n !== BACKLOG) throw new Error(`outbox gave ${n} of ${BACKLOG} records`);
    return BACKLOG / ((performance.now() - start) / 1000);
  } finally {
    o.close();
  }
}

/** The same payloads through a bare mqtt.js client, QoS 1, `window` unacknowledged at most. */
async function rawPublish(url: string, payloads: readonly Buffer[], recordsTotal: number, window: number): Promise<number> {
  const client = await connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0 });
  const start = performance.now();
  let next = 0;
  let inFlight = 0;
  await new Promise<void>((resolve, reject) => {
    const pump = (): void => {
      while (inFlight < window && next < payloads.length) {
        inFlight++;
        client.publish(`tcu/${VIN}/telemetry`, payloads[next++]!, { qos: 1 }, (err) => {
          inFlight--;
          if (err) reject(err);
          else if (next === payloads.length && inFlight === 0) resolve();
          else pump();
        });
      }
    };
    pump();
  });
  const rate = recordsTotal / ((performance.now() - start) / 1000);
  await client.endAsync();
  return rate;
}

export async function run(emit: Emit): Promise<void> {
  if (findMosquitto() === undefined) {
    console.error('uplink-drain: skipped, mosquitto is not installed (Debian package mosquitto)');
    return;
  }
  const broker = await Mosquitto.start();
  try {
    const configs: [string, Partial<UplinkSettings>][] = [
      ['default', {}],
      ['batch500', { batchMaxRecords: 500 }],
    ];
    let first: Drain | undefined;
    for (const [name, settings] of configs) {
      const d = await drain(broker.url, settings, first === undefined);
      first ??= d;
      const floor = outboxOnly(settings);
      emit(`uplink.drain.${name}.records_per_s`, d.recordsPerS, 'records/s');
      emit(`uplink.drain.${name}.records_per_publish`, d.recordsPerPublish, 'records');
      emit(`uplink.drain.${name}.bytes_per_publish`, d.bytesPerPublish, 'bytes');
      emit(`uplink.drain.${name}.outbox_only.records_per_s`, floor, 'records/s');
      emit(`uplink.drain.${name}.vs_outbox_only`, d.recordsPerS / floor, 'ratio');
    }
    const raw = await rawPublish(broker.url, first!.payloads, BACKLOG, 8);
    emit('uplink.drain.raw_mqtt_publish.records_per_s', raw, 'records/s');
  } finally {
    await broker.dispose();
  }
}
