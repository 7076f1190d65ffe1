import { describe, expect, it } from 'vitest';
import { Counters } from '../../../core/counters.js';
import type { TcuError } from '../../../core/errors.js';
import { clientOptions, maxInboundPacketBytes } from '../../../agent/uplink/connection.js';
import { UPLINK_COUNTER_NAMES, resolveOptions } from '../../../agent/uplink/options.js';
import { StatusPublisher, type StatusTarget } from '../../../agent/uplink/status.js';
import { createWireDecoder } from '../../../agent/uplink/wire.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { FakeOutbox } from './fake-outbox.js';

interface Published {
  topic: string;
  body: Record<string, unknown>;
  retain: boolean | undefined;
  done: (err?: Error) => void;
}

const decoder = createWireDecoder();
const decode = (b: Buffer): unknown => decoder.decode(b);

function target(): StatusTarget & { sent: Published[] } {
  const sent: Published[] = [];
  return {
    sent,
    publish: (topic, payload, options, done) => {
      sent.push({ topic, body: decode(payload) as Record<string, unknown>, retain: options.retain, done });
    },
  };
}

function setup() {
  const counters = new Counters(UPLINK_COUNTER_NAMES);
  const errors: TcuError[] = [];
  const status = new StatusPublisher('tcu/VIN1/status', 'VIN1', new FakeClock(1_700_000_000_000), counters, (e) => errors.push(e));
  return { status, counters, errors };
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('StatusPublisher', () => {
  it('resolves true on the PUBACK of that publish, false on a refusal', async () => {
    const { status, counters } = setup();
    const t = target();
    const first = status.update({ odometerKm: 1 }, t);
    const second = status.update({ odometerKm: 2 }, t);
    expect(t.sent.map((s) => s.body)).toEqual([
      { odometerKm: 1, v: 1, vin: 'VIN1', online: true, ts: 1_700_000_000_000 },
      { odometerKm: 2, v: 1, vin: 'VIN1', online: true, ts: 1_700_000_000_000 },
    ]);
    expect(t.sent.every((s) => s.topic === 'tcu/VIN1/status' && s.retain === true)).toBe(true);
    t.sent[1]!.done(new Error('not authorised'));
    t.sent[0]!.done();
    expect(await first).toBe(true);
    expect(await second).toBe(false);
    expect(counters.get('statusPublished')).toBe(2);
  });

  it('resolves false at once without a connection, and sends the kept status online on the next connect', async () => {
    const { status } = setup();
    expect(await status.update({ odometerKm: 7 }, undefined)).toBe(false);
    const t = target();
    status.online(t);
    expect(t.sent[0]!.body).toMatchObject({ odometerKm: 7, online: true });
  });

  it('resolves false when the connection is released before the PUBACK; a late callback changes nothing', async () => {
    const { status } = setup();
    const a = target();
    const b = target();
    let result: boolean | undefined;
    void status.update({ n: 1 }, a).then((ok) => (result = ok));
    const onB = status.update({ n: 2 }, b);
    await flush();
    expect(result).toBeUndefined();
    status.release(a);
    await flush();
    expect(result).toBe(false);
    a.sent[0]!.done(); // too late: already settled
    b.sent[0]!.done();
    expect(await onB).toBe(true);
    expect(result).toBe(false);
  });

  it('resolves false and reports UPLINK_PUBLISH when the client throws', async () => {
    const { status, errors, counters } = setup();
    const broken: StatusTarget = {
      publish: () => {
        throw new Error('client disconnecting');
      },
    };
    expect(await status.update({}, broken)).toBe(false);
    expect(errors.map((e) => e.code)).toEqual(['UPLINK_PUBLISH']);
    expect(counters.get('statusPublished')).toBe(0);
  });

  it('writes the will and the offline status of a stop', async () => {
    const { status } = setup();
    expect(decode(status.will().payload)).toEqual({ v: 1, vin: 'VIN1', online: false, ts: 1_700_000_000_000 });
    const t = target();
    const acked = status.offline(t, { reason: 'stopped' });
    expect(t.sent[0]!.body).toEqual({ reason: 'stopped', v: 1, vin: 'VIN1', online: false, ts: 1_700_000_000_000 });
    t.sent[0]!.done();
    expect(await acked).toBe(true);
  });
});

describe('clientOptions: maximum packet size', () => {
  const resolve = (protocolVersion: 4 | 5, maxCommandBytes?: number) =>
    resolveOptions({ vin: 'WVWZZZ1JZXW000001', outbox: new FakeOutbox(), config: { url: 'mqtt://broker', protocolVersion }, ...(maxCommandBytes === undefined ? {} : { maxCommandBytes }) });
  const will = { topic: 't', payload: Buffer.alloc(1) };

  it('under MQTT 5 covers the largest command (payload, topic, properties) and not much more', () => {
    const o = resolve(5);
    const max = clientOptions(o, undefined, will).properties?.maximumPacketSize;
    expect(max).toBe(maxInboundPacketBytes(o));
    const topic = Buffer.byteLength(`tcu/WVWZZZ1JZXW000001/cmd/${'n'.repeat(64)}`);
    expect(max).toBeGreaterThanOrEqual(16_384 + 5 + 2 + topic + 2 + 4 + 1024);
    expect(max).toBeLessThan(16_384 + 8192);
    expect(maxInboundPacketBytes(resolve(5, 100_000))).toBeGreaterThan(100_000);
    expect(maxInboundPacketBytes(resolve(5, 10))).toBeGreaterThan(1024); // a small limit still leaves room to answer OVERSIZE
  });

  it('is not sent under MQTT 3.1.1, which has no such limit', () => {
    expect(clientOptions(resolve(4), undefined, will).properties).toBeUndefined();
  });
});
