import { decode } from 'cbor-x';
import { describe, expect, it } from 'vitest';
import { Counters } from '../../../core/counters.js';
import type { TcuError } from '../../../core/errors.js';
import { UPLINK_COUNTER_NAMES, resolveOptions, type UplinkSettings } from '../../../agent/uplink/options.js';
import { Sender, type PublishTarget } from '../../../agent/uplink/sender.js';
import { makeTopics } from '../../../agent/uplink/topics.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { FakeOutbox } from './fake-outbox.js';
import { records } from './harness.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const ticks = async (n = 5): Promise<void> => {
  for (let i = 0; i < n; i++) await tick();
};

interface Sent {
  topic: string;
  seqs: number[];
  done: (err?: Error) => void;
}

function setup(config: Partial<UplinkSettings> = {}) {
  const clock = new FakeClock();
  const outbox = new FakeOutbox();
  const o = resolveOptions({ vin: 'VIN1', outbox, clock, random: () => 0.5, config: { url: 'mqtt://broker', backoff: { initialMs: 100, maxMs: 1000, jitter: 0 }, ...config } });
  const counters = new Counters(UPLINK_COUNTER_NAMES);
  const errors: TcuError[] = [];
  const sender = new Sender(o, makeTopics('tcu', 'VIN1'), counters, (e) => errors.push(e));
  const sent: Sent[] = [];
  const target: PublishTarget = {
    publish: (topic, payload, done) => {
      const p = decode(payload) as { records: { seq: number }[] };
      sent.push({ topic, seqs: p.records.map((r) => r.seq), done });
    },
  };
  return { clock, outbox, sender, counters, errors, sent, target };
}

describe('Sender', () => {
  it('keeps at most inflightWindow publishes unacknowledged and deletes records only on PUBACK', async () => {
    const { outbox, sender, sent, target, counters } = setup({ inflightWindow: 3, batchMaxRecords: 10 });
    outbox.append(records(100));
    sender.attach(target);
    await ticks();
    expect(sent.map((s) => s.seqs.length)).toEqual([10, 10, 10]);
    expect(sender.inFlight()).toEqual({ publishes: 3, records: 30 });
    expect(outbox.stats().depth).toBe(100);
    const acked = new Set<Sent>();
    const ack = (s: Sent): void => {
      acked.add(s);
      s.done();
    };
    ack(sent[1]!);
    await ticks();
    expect(outbox.stats().depth).toBe(90);
    expect(outbox.acknowledgedIds).toEqual(sent[1]!.seqs); // ids and seqs coincide in the fake
    expect(sent.length).toBe(4); // one slot freed, one publish more
    while (sent.some((s) => !acked.has(s))) {
      for (const s of sent) if (!acked.has(s)) ack(s);
      await ticks();
      expect(sender.inFlight().publishes).toBeLessThanOrEqual(3);
    }
    expect(outbox.stats().depth).toBe(0);
    expect(new Set(sent.flatMap((s) => s.seqs)).size).toBe(100);
    expect(counters.get('acknowledged')).toBe(100);
  });

  it("keeps the window below the broker's receive maximum", async () => {
    const { outbox, sender, sent, target } = setup({ inflightWindow: 8, batchMaxRecords: 1 });
    outbox.append(records(20));
    sender.attach(target, 4);
    await ticks();
    expect(sent.length).toBe(2);
  });

  it('forgets what was in flight on detach: the records go again on the next connection', async () => {
    const { outbox, sender, sent, target, counters } = setup({ inflightWindow: 2, batchMaxRecords: 5 });
    outbox.append(records(20));
    sender.attach(target);
    await ticks();
    expect(sender.detach()).toBe(10);
    expect(counters.get('requeued')).toBe(10);
    sent[0]!.done(new Error('Connection closed')); // the dead client's callbacks change nothing
    sender.attach(target);
    await ticks();
    expect(sent.slice(2).map((s) => s.seqs)).toEqual([
      [1, 2, 3, 4, 5],
      [6, 7, 8, 9, 10],
    ]);
    sent[1]!.done(); // a late PUBACK of the old connection: the broker has them, delete
    await ticks();
    expect(outbox.stats().depth).toBe(15);
    expect(sender.inFlight().publishes).toBe(2);
  });

  it('pauses with back-off after a refused publish and keeps its records', async () => {
    const { outbox, sender, sent, target, errors, clock, counters } = setup({ inflightWindow: 1, batchMaxRecords: 5 });
    outbox.append(records(5));
    sender.attach(target);
    await ticks();
    sent[0]!.done(Object.assign(new Error('Publish error: Not authorized'), { code: 0x87 }));
    await ticks();
    expect(errors.map((e) => [e.code, e.details['reasonCode'], e.details['delayMs']])).toEqual([['UPLINK_PUBLISH', 0x87, 100]]);
    expect(sent.length).toBe(1);
    expect(outbox.stats().depth).toBe(5);
    sender.notify();
    await ticks();
    expect(sent.length).toBe(1); // still paused
    clock.advance(100);
    await ticks();
    expect(sent.length).toBe(2);
    sent[1]!.done(new Error('again'));
    await ticks();
    expect(errors[1]!.details['delayMs']).toBe(200);
    expect(counters.get('publishFailures')).toBe(2);
  });

  it('drops a record too large for any payload with a report, and sends the rest', async () => {
    const { outbox, sender, sent, target, errors, counters } = setup({ maxPayloadBytes: 1024 });
    outbox.append(records(2));
    outbox.put({ boot: 'boot-1', seq: 3, kind: 'event', ts: 0, priority: 3, data: new Uint8Array(2000).fill(0x41), bytes: 2000 });
    sender.attach(target);
    await ticks();
    expect(errors.map((e) => e.code)).toEqual(['UPLINK_OVERSIZE']);
    expect(counters.get('oversizeDropped')).toBe(1);
    expect(sent.flatMap((s) => s.seqs)).toEqual([1, 2]);
  });

  it('routes kinds to topics and waits for notify or the poll timer when the outbox is empty', async () => {
    const { outbox, sender, sent, target, clock } = setup({});
    sender.attach(target);
    await ticks();
    expect(sent).toEqual([]);
    outbox.append([...records(1, 'event'), ...records(1)]);
    await ticks();
    expect(sent).toEqual([]);
    clock.advance(5000); // the poll
    await ticks();
    expect(sent.map((s) => s.topic).sort()).toEqual(['tcu/VIN1/events', 'tcu/VIN1/telemetry']);
    for (const s of sent) s.done();
    await ticks();
    outbox.append(records(1));
    sender.notify();
    await ticks();
    expect(sent.length).toBe(3);
  });

  it('reports an outbox failure and tries again at the poll', async () => {
    const { outbox, sender, sent, target, errors, clock } = setup({});
    outbox.append(records(1));
    outbox.failNextBatch = true;
    sender.attach(target);
    await ticks();
    expect(errors.map((e) => e.code)).toEqual(['OUTBOX_IO']);
    outbox.failNextBatch = false;
    clock.advance(5000);
    await ticks();
    expect(sent.length).toBe(1);
  });

  it('pauses on its back-off when acknowledged records cannot be deleted, instead of re-sending them in a loop', async () => {
    const { outbox, sender, sent, target, errors, clock } = setup({ inflightWindow: 1, batchMaxRecords: 5 });
    outbox.append(records(5));
    outbox.failAcknowledge = true;
    sender.attach(target);
    await ticks();
    sent[0]!.done();
    await ticks(10);
    expect(errors.map((e) => e.code)).toEqual(['OUTBOX_IO']);
    expect(sent).toHaveLength(1); // not again at once
    clock.advance(99);
    await ticks();
    expect(sent).toHaveLength(1);
    outbox.failAcknowledge = false;
    clock.advance(1); // the back-off's first step (100 ms): the records go again (duplicates)
    await ticks();
    expect(sent).toHaveLength(2);
    expect(sent[1]!.seqs).toEqual(sent[0]!.seqs);
    sent[1]!.done();
    await ticks();
    expect(outbox.stats().depth).toBe(0);
  });

  it('whenIdle resolves once the PUBACKs are in; drain() takes no new batches', async () => {
    const { outbox, sender, sent, target } = setup({ inflightWindow: 2, batchMaxRecords: 1 });
    outbox.append(records(5));
    sender.attach(target);
    await ticks();
    sender.drain();
    let idle = false;
    void sender.whenIdle().then(() => (idle = true));
    sent[0]!.done();
    await ticks();
    expect(idle).toBe(false);
    sent[1]!.done();
    await ticks();
    expect(idle).toBe(true);
    expect(sent.length).toBe(2);
    expect(outbox.stats().depth).toBe(3);
  });
});
