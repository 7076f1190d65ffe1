// The uplink against a real Mosquitto: delivery, outages, retained status and will, stop, the
// connectivity hook, oversize records. Commands, credentials, TLS: uplink-commands.test.ts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TcuError } from '../../core/errors.js';
import type { RecordInput, StoredRecord } from '../../agent/records.js';
import { Uplink, type UplinkOptions, type UplinkState } from '../../agent/uplink/index.js';
import { hasMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { FakeOutbox } from '../unit/uplink/fake-outbox.js';
import { records, resourcesPerTest, sleepMs, waitFor, type CloudClient, type TestOutbox } from '../unit/uplink/harness.js';

const VIN = 'WVWZZZ1JZXW000001';
const BASE = `tcu/${VIN}`;
const FAST = { initialMs: 30, maxMs: 300, jitter: 0.2, authInitialMs: 50, authMaxMs: 200 };
const have = hasMosquitto();

const resources = resourcesPerTest();
const { defer, broker, proxyTo, outbox } = resources;
const cloud = (url: string, topics = [`${BASE}/telemetry`, `${BASE}/events`]): Promise<CloudClient> => resources.cloud(url, topics);

function uplink(url: string, o: TestOutbox['outbox'], extra: Partial<UplinkOptions> = {}, config: Partial<UplinkOptions['config']> = {}) {
  const u = new Uplink({ vin: VIN, outbox: o, pollIntervalMs: 60_000, ...extra, config: { url, backoff: FAST, connectTimeoutMs: 2000, ...config } });
  const states: UplinkState[] = [];
  const errors: TcuError[] = [];
  u.on('state', (s) => states.push(s));
  u.on('error', (e) => errors.push(e));
  defer(() => u.stop(1000));
  return { u, states, errors };
}

const seqs = (c: CloudClient): number[] => c.records.map((r) => r.seq);

/** An outbox closed the moment stop() resolves, as the agent closes it: any later call throws, and is counted. */
class ClosingOutbox extends FakeOutbox {
  closed = false;
  touchedAfterClose = 0;
  override append(r: readonly RecordInput[]): StoredRecord[] {
    this.check();
    return super.append(r);
  }
  override nextBatch(options: Parameters<FakeOutbox['nextBatch']>[0]): StoredRecord[] {
    this.check();
    return super.nextBatch(options);
  }
  override acknowledge(ids: readonly number[], atMs: number): void {
    this.check();
    super.acknowledge(ids, atMs);
  }
  override stats(): ReturnType<FakeOutbox['stats']> {
    this.check();
    return super.stats();
  }
  private check(): void {
    if (!this.closed) return;
    this.touchedAfterClose++;
    throw new Error('the outbox is closed');
  }
}

/** A broker whose ACL refuses telemetry publishes (MQTT 5: PUBACK 0x87); status, events and commands pass. */
async function brokerRefusingTelemetry(): Promise<Mosquitto> {
  const dir = mkdtempSync(join(tmpdir(), 'tcu-acl-'));
  defer(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'acl'), ['status', 'events', 'cmd/#', 'cmd-resp/#'].map((t) => `topic readwrite ${BASE}/${t}`).join('\n') + '\ntopic read #\n');
  return broker({ extra: [`acl_file ${join(dir, 'acl')}`] });
}

describe.skipIf(!have)('uplink against mosquitto', () => {
  it('delivers every committed record, split into payloads within the limit, and empties the outbox', async () => {
    const b = await broker();
    const o = outbox();
    const c = await cloud(b.url);
    o.outbox.append([...records(3000), ...records(20, 'event'), ...records(5, 'status')]);
    const { u, states } = uplink(b.url, o.outbox, {}, { maxPayloadBytes: 16_384, batchMaxRecords: 500 });
    u.start();
    await waitFor('all records', () => c.records.length >= 3025);
    await waitFor('outbox empty', () => o.outbox.stats().depth === 0);
    expect(new Set(c.records.map((r) => r.boot))).toEqual(new Set(['boot-1']));
    expect([...seqs(c)].sort((x, y) => x - y)).toEqual(Array.from({ length: 3025 }, (_, i) => i + 1));
    expect(c.records.filter((r) => r.topic.endsWith('/events')).map((r) => r.kind).sort()).toEqual([...Array(20).fill('event'), ...Array(5).fill('status')].sort());
    expect(c.records.filter((r) => r.topic.endsWith('/telemetry')).every((r) => r.kind === 'signals')).toBe(true);
    expect(Math.max(...c.payloadSizes)).toBeLessThanOrEqual(16_384);
    const n = u.counters();
    expect(n).toMatchObject({ acknowledged: 3025, published: 3025, connects: 1, reconnects: 0, requeued: 0 });
    expect(n.publishes).toBeGreaterThan(3000 / 200);
    expect(states).toEqual(['connecting', 'connected']);

    // Later commits go out on notify(), without waiting for the poll interval.
    o.outbox.append(records(10, 'signals'));
    u.notify();
    await waitFor('records after notify', () => c.records.length === 3035, 3000);
  });

  it('keeps records in the outbox until their PUBACK, with at most inflightWindow publishes unacknowledged', async () => {
    const b = await broker();
    const p = await proxyTo(b);
    const o = outbox();
    const c = await cloud(b.url);
    const { u } = uplink(p.url, o.outbox, {}, { inflightWindow: 3, batchMaxRecords: 10 });
    u.start();
    await waitFor('connected', () => u.state === 'connected');
    p.holdReplies(); // the broker gets our publishes; its PUBACKs never reach us
    o.outbox.append(records(200));
    u.notify();
    await waitFor('the window full', () => c.records.length === 30);
    await sleepMs(200);
    expect(u.counters()).toMatchObject({ inFlightPublishes: 3, inFlightRecords: 30, acknowledged: 0 });
    expect(o.outbox.stats().depth).toBe(200); // received by the cloud, but not acknowledged to us
    p.dropAll(); // the connection dies with 30 records in flight
    await waitFor('reconnected and drained', () => o.outbox.stats().depth === 0);
    expect(u.counters().requeued).toBe(30);
    const got = seqs(c);
    expect(new Set(got).size).toBe(200);
    // Duplicates only for what was in flight at the cut (the first 30).
    const dup = got.filter((s, i) => got.indexOf(s) !== i);
    expect(dup.length).toBeLessThanOrEqual(30);
    expect(dup.every((s) => s <= 30)).toBe(true);
  });

  it('survives a broker outage during steady traffic: every seq arrives, duplicates only from publishes in flight', async () => {
    const b = await broker();
    const p = await proxyTo(b); // the uplink goes through the proxy, so the cloud can resubscribe before it returns
    const o = outbox();
    const c = await cloud(b.url);
    const { u, errors } = uplink(p.url, o.outbox, {}, { batchMaxRecords: 50 });
    u.start();
    let committed = 0;
    const traffic = setInterval(() => {
      committed += o.outbox.append(records(10)).length;
      u.notify();
    }, 5);
    defer(() => clearInterval(traffic));
    await waitFor('steady traffic', () => c.records.length > 300);
    p.block();
    await b.stop();
    const atOutage = u.counters();
    await sleepMs(1000);
    expect(u.state).not.toBe('connected');
    await b.restart();
    await waitFor('the cloud subscribed again', () => c.ready);
    p.unblock();
    await sleepMs(300);
    clearInterval(traffic);
    await waitFor('drained after the outage', () => o.outbox.stats().depth === 0 && u.counters().inFlightRecords === 0, 15_000);
    await waitFor('every seq received', () => new Set(seqs(c)).size === committed, 5000);
    const n = u.counters();
    expect(n.reconnects).toBeGreaterThanOrEqual(1);
    expect(n.connectFailures).toBeGreaterThanOrEqual(1);
    expect(errors.some((e) => e.code === 'UPLINK_CONNECT')).toBe(true);
    const got = seqs(c);
    const duplicates = got.length - new Set(got).size;
    expect(duplicates).toBeLessThanOrEqual(n.requeued);
    expect(n.requeued).toBeLessThanOrEqual(atOutage.inFlightRecords + 8 * 50);
    expect([...new Set(got)].sort((x, y) => x - y)).toEqual(Array.from({ length: committed }, (_, i) => i + 1));
  });

  it('publishes a retained online status on connect, a will when the connection dies, and offline on stop', async () => {
    const b = await broker();
    const p = await proxyTo(b);
    const o = outbox();
    const c = await cloud(b.url, [`${BASE}/status`]);
    const { u } = uplink(p.url, o.outbox);
    u.publishStatus({ odometerKm: 1234 }); // before the connection: sent on connect
    u.start();
    await waitFor('online status', () => c.on(`${BASE}/status`).length === 1);
    expect(c.on(`${BASE}/status`)[0]).toMatchObject({ v: 1, vin: VIN, online: true, odometerKm: 1234 });
    expect(c.messages[0]!.packet.retain).toBe(false); // live delivery; a late subscriber gets it retained:
    const late = await cloud(b.url, [`${BASE}/status`]);
    await waitFor('retained status', () => late.messages.length === 1);
    expect(late.messages[0]!.packet.retain).toBe(true);

    u.publishStatus({ odometerKm: 1240 });
    await waitFor('heartbeat status', () => c.on(`${BASE}/status`).length === 2);
    expect(c.on(`${BASE}/status`)[1]).toMatchObject({ online: true, odometerKm: 1240 });

    p.dropAll(); // the socket dies without DISCONNECT: the broker publishes the will
    await waitFor('the will', () => c.on(`${BASE}/status`).some((s) => (s as { online: boolean }).online === false));
    expect(c.on(`${BASE}/status`)[2]).toEqual({ v: 1, vin: VIN, online: false, ts: expect.any(Number) });
    await waitFor('online again after reconnecting', () => c.on(`${BASE}/status`).length === 4);
    expect(c.on(`${BASE}/status`)[3]).toMatchObject({ online: true, odometerKm: 1240 });

    expect(await u.stop(2000)).toEqual({ drained: true, unacknowledged: 0 });
    await waitFor('offline on stop', () => c.on(`${BASE}/status`).length === 5);
    expect(c.on(`${BASE}/status`)[4]).toMatchObject({ online: false, reason: 'stopped' });
    await sleepMs(200);
    expect(c.on(`${BASE}/status`).length).toBe(5); // a clean DISCONNECT: no will after it
    const after = await cloud(b.url, [`${BASE}/status`]);
    await waitFor('retained offline', () => after.messages.length === 1);
    expect(after.on(`${BASE}/status`)[0]).toMatchObject({ online: false, reason: 'stopped' });
  });

  it('stop() waits for in-flight PUBACKs up to its timeout and leaves unacknowledged records in the outbox', async () => {
    const b = await broker();
    const p = await proxyTo(b);
    const o = outbox();
    const { u, states } = uplink(p.url, o.outbox, {}, { batchMaxRecords: 5, inflightWindow: 2 });
    u.start();
    await waitFor('connected', () => u.state === 'connected');
    p.holdReplies();
    o.outbox.append(records(50));
    u.notify();
    await waitFor('in flight', () => u.counters().inFlightRecords === 10);
    const started = performance.now();
    expect(await u.stop(300)).toEqual({ drained: false, unacknowledged: 10 });
    expect(performance.now() - started).toBeLessThan(3000);
    expect(o.outbox.stats().depth).toBe(50);
    expect(states.at(-1)).toBe('stopped');
    u.notify();
    u.flush();
    await sleepMs(100);
    expect(u.counters().publishes).toBe(2);
  });

  for (const why of ['refused by the ACL', 'never acknowledged'] as const) {
    it(`stop(timeoutMs, { sendFirstMs }) with records ${why} returns within about sendFirstMs + timeoutMs and leaves the outbox alone after`, async () => {
      const sendFirstMs = 300;
      const timeoutMs = 300;
      const b = why === 'refused by the ACL' ? await brokerRefusingTelemetry() : await broker();
      const p = await proxyTo(b);
      const o = new ClosingOutbox();
      const { u, errors } = uplink(p.url, o, {}, { batchMaxRecords: 5, inflightWindow: 2 });
      u.start();
      await waitFor('connected', () => u.state === 'connected');
      if (why === 'never acknowledged') p.holdReplies();
      o.append(records(50));
      u.notify();
      if (why === 'refused by the ACL') await waitFor('refusals', () => u.counters().publishFailures >= 1, 5000);
      else await waitFor('in flight', () => u.counters().inFlightRecords === 10);
      const started = performance.now();
      const result = await u.stop(timeoutMs, { sendFirstMs });
      o.closed = true;
      const elapsed = performance.now() - started;
      const errorsAtStop = errors.length;
      expect(elapsed).toBeGreaterThanOrEqual(sendFirstMs - 5); // it did try to send first
      expect(elapsed).toBeLessThan(sendFirstMs + timeoutMs + 500);
      if (why === 'never acknowledged') expect(result).toEqual({ drained: false, unacknowledged: 10 });
      expect(u.state).toBe('stopped');
      u.notify();
      u.flush();
      await sleepMs(200);
      expect(o.touchedAfterClose).toBe(0);
      expect(errors.length).toBe(errorsAtStop);
      o.closed = false;
      expect(o.stats().depth).toBe(50);
    });
  }

  it('stop(…, { sendFirstMs }) while roaming does not wait for records the policy holds back', async () => {
    const b = await broker();
    const o = outbox();
    const { u } = uplink(b.url, o.outbox, {}, {});
    u.setMinPriority(2);
    u.start();
    await waitFor('connected', () => u.state === 'connected');
    o.outbox.append(records(20)); // normal priority: waits for the home network
    o.outbox.append(records(3, 'event')); // high: goes now
    u.notify();
    await waitFor('the events acknowledged', () => u.counters().acknowledged === 3);
    const started = performance.now();
    await u.stop(1000, { sendFirstMs: 3000 });
    expect(performance.now() - started).toBeLessThan(1500);
    expect(o.outbox.stats().depth).toBe(20);
  });

  it('publishStatus resolves true on the PUBACK, false while offline or when the connection ends first', async () => {
    const b = await broker();
    const p = await proxyTo(b);
    const o = outbox();
    const c = await cloud(b.url, [`${BASE}/status`]);
    const { u } = uplink(p.url, o.outbox);
    expect(await u.publishStatus({ n: 1 })).toBe(false); // only kept: sent on connect
    u.start();
    await waitFor('connected', () => u.state === 'connected');
    await waitFor('online status', () => c.on(`${BASE}/status`).length === 1);
    expect(c.on(`${BASE}/status`)[0]).toMatchObject({ online: true, n: 1 });
    expect(await u.publishStatus({ n: 2 })).toBe(true);
    p.holdReplies();
    let settled: boolean | undefined;
    const unacked = u.publishStatus({ n: 3 }).then((ok) => (settled = ok));
    await waitFor('the broker has it', () => c.on(`${BASE}/status`).length === 3);
    await sleepMs(100);
    expect(settled).toBeUndefined(); // no PUBACK yet
    p.dropAll();
    expect(await unacked).toBe(false);
    await waitFor('connected again', () => u.state === 'connected' && u.counters().connects === 2);
    expect(await u.publishStatus({ n: 4 })).toBe(true);
    await u.stop(1000);
    expect(await u.publishStatus({ n: 5 })).toBe(false);
  });

  it('setAllowed(false) disconnects and stops attempts while records buffer; true reconnects and drains', async () => {
    const b = await broker();
    const o = outbox();
    const c = await cloud(b.url);
    const { u, states } = uplink(b.url, o.outbox);
    u.start();
    await waitFor('connected', () => u.state === 'connected');
    u.setAllowed(false);
    expect(u.state).toBe('disconnected');
    o.outbox.append(records(100));
    u.notify();
    await sleepMs(500);
    expect(u.counters().connects).toBe(1);
    expect(c.records.length).toBe(0);
    expect(o.outbox.stats().depth).toBe(100);
    u.setAllowed(true);
    await waitFor('drained', () => o.outbox.stats().depth === 0);
    expect(c.records.length).toBe(100);
    expect(states).toEqual(['connecting', 'connected', 'disconnected', 'connecting', 'connected']);
  });

  it('reports, counts and deletes a record too large for any payload; the rest flows', async () => {
    const b = await broker();
    const o = new FakeOutbox();
    const c = await cloud(b.url);
    o.append(records(5));
    const big = new Uint8Array(300_000).fill(0x40);
    big[0] = 0x5a; // a byte string head of 4-byte length; content does not matter here
    const put: Omit<StoredRecord, 'id'> = { boot: 'boot-1', seq: 99, kind: 'signals', ts: 1, priority: 3, data: big, bytes: big.length };
    o.put(put);
    o.append(records(5));
    const { u, errors } = uplink(b.url, o);
    u.start();
    await waitFor('drained', () => o.stats().depth === 0);
    await waitFor('received', () => c.records.length === 10);
    expect(u.counters()).toMatchObject({ oversizeDropped: 1, acknowledged: 10 });
    const oversize = errors.filter((e) => e.code === 'UPLINK_OVERSIZE');
    expect(oversize.length).toBe(1);
    expect(oversize[0]!.details).toMatchObject({ boot: 'boot-1', seq: 99, bytes: 300_000 });
  });

  it('reports an outbox failure and carries on when the outbox recovers', async () => {
    const b = await broker();
    const o = new FakeOutbox();
    const c = await cloud(b.url);
    o.failNextBatch = true;
    const { u, errors } = uplink(b.url, o);
    u.start();
    await waitFor('an outbox error', () => errors.some((e) => e.code === 'OUTBOX_IO'));
    o.failNextBatch = false;
    o.append(records(3));
    u.notify();
    await waitFor('received', () => c.records.length === 3);
  });
});
