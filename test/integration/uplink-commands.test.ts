// The uplink against a real Mosquitto: commands (MQTT 5 and 3.1.1), refused credentials, an
// unreachable broker, TLS with client certificates, a publish the broker's ACL refuses.
import { Encoder } from 'cbor-x';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isTcuError, type TcuError } from '../../core/errors.js';
import { Uplink, type UplinkOptions, type UplinkState } from '../../agent/uplink/index.js';
import { freePort, hasMosquitto, hasMosquittoPasswd, hasOpenssl, makeCertificates } from '../helpers/mosquitto.js';
import { records, resourcesPerTest, sleepMs, waitFor, type CloudClient } from '../unit/uplink/harness.js';

const VIN = 'WVWZZZ1JZXW000001';
const BASE = `tcu/${VIN}`;
const FAST = { initialMs: 30, maxMs: 240, jitter: 0, authInitialMs: 50, authMaxMs: 200 };
const have = hasMosquitto();
const cbor = (v: unknown): Buffer => new Encoder({ useRecords: false }).encode(v);

const { defer, broker, cloud, outbox } = resourcesPerTest();

function uplink(url: string, extra: Partial<UplinkOptions> = {}, config: Partial<UplinkOptions['config']> = {}) {
  const o = outbox(); // closed after the uplink stopped (undone last first)
  const u = new Uplink({ vin: VIN, outbox: o.outbox, random: () => 0.5, ...extra, config: { url, backoff: FAST, connectTimeoutMs: 2000, ...config } });
  const states: UplinkState[] = [];
  const errors: TcuError[] = [];
  u.on('state', (s) => states.push(s));
  u.on('error', (e) => errors.push(e));
  defer(() => u.stop(500));
  return { u, o: o.outbox, states, errors };
}

/** Sends a command and waits for the one response on `responseTopic`. */
async function command(c: CloudClient, name: string, payload: Buffer, responseTopic = `${BASE}/cmd-resp/${name}`, properties?: Record<string, unknown>) {
  const before = c.messages.filter((m) => m.topic === responseTopic).length;
  await c.publish(`${BASE}/cmd/${name}`, payload, { qos: 1, ...(properties ? { properties } : {}) });
  await waitFor(`a response on ${responseTopic}`, () => c.messages.filter((m) => m.topic === responseTopic).length > before, 5000);
  return c.messages.filter((m) => m.topic === responseTopic)[before]!;
}

describe.skipIf(!have)('uplink commands against mosquitto', () => {
  it('answers ping, status, flush, unknown and malformed commands over MQTT 5, honouring response topic and correlation data', async () => {
    const b = await broker();
    const c = await cloud(b.url, [`${BASE}/cmd-resp/#`, 'cloud/replies/#']);
    const { u } = uplink(b.url, { statusProvider: () => ({ speedKmh: 42 }), maxCommandBytes: 512 });
    u.start();
    await waitFor('connected', () => u.state === 'connected');
    await sleepMs(100); // the SUBACK of cmd/+

    const ping = await command(c, 'ping', cbor({ id: 'a1' }));
    expect(ping.body).toEqual({ v: 1, ok: true, cmd: 'ping', id: 'a1', ts: expect.any(Number) });

    const corr = Buffer.from('corr-77');
    const replied = await command(c, 'ping', cbor({}), 'cloud/replies/r1', { responseTopic: 'cloud/replies/r1', correlationData: corr });
    expect(replied.packet.properties?.correlationData).toEqual(corr);
    expect(replied.body).toMatchObject({ ok: true, cmd: 'ping' });
    const plain = await command(c, 'ping', cbor({}), `${BASE}/cmd-resp/ping`, { correlationData: Buffer.from('c2') });
    expect(plain.packet.properties?.correlationData).toEqual(Buffer.from('c2'));

    expect((await command(c, 'status', cbor({ id: 2 }))).body).toEqual({ v: 1, ok: true, cmd: 'status', id: 2, status: { speedKmh: 42 } });
    expect((await command(c, 'flush', Buffer.alloc(0))).body).toEqual({ v: 1, ok: true, cmd: 'flush' });
    expect((await command(c, 'reboot', cbor({ id: 'x' }))).body).toMatchObject({ ok: false, id: 'x', error: { code: 'UPLINK_COMMAND_UNKNOWN' } });
    expect((await command(c, 'ping', Buffer.from('{"id":"j"}'))).body).toMatchObject({ ok: false, error: { code: 'UPLINK_COMMAND_MALFORMED' } });
    expect((await command(c, 'ping', cbor({ pad: 'x'.repeat(1000) }))).body).toMatchObject({ ok: false, error: { code: 'UPLINK_COMMAND_OVERSIZE' } });
    expect((await command(c, 'ping', Buffer.from([0xff, 0x00, 0x9f]))).body).toMatchObject({ ok: false, error: { code: 'UPLINK_COMMAND_MALFORMED' } });
    expect(u.counters().commandErrors).toEqual({ UPLINK_COMMAND_UNKNOWN: 1, UPLINK_COMMAND_MALFORMED: 2, UPLINK_COMMAND_OVERSIZE: 1 });
    expect(u.counters().commands).toBe(9);
    expect(u.state).toBe('connected');
  });

  it('under MQTT 5 advertises a maximum packet size: the broker drops a far larger command unsent; the rest are answered', async () => {
    const b = await broker();
    const c = await cloud(b.url, [`${BASE}/cmd-resp/#`]);
    const { u, errors } = uplink(b.url, { maxCommandBytes: 2048 });
    u.start();
    await waitFor('connected', () => u.state === 'connected');
    await sleepMs(100); // the SUBACK of cmd/+
    await c.publish(`${BASE}/cmd/ping`, cbor({ id: 'huge', pad: 'x'.repeat(2_000_000) }));
    await sleepMs(300);
    expect(c.messages.filter((m) => m.topic.startsWith(`${BASE}/cmd-resp/`))).toEqual([]);
    expect(u.counters()).toMatchObject({ commands: 0, connects: 1, disconnects: 0 });
    expect(u.state).toBe('connected');
    expect((await command(c, 'ping', cbor({ id: 'after' }))).body).toMatchObject({ ok: true, id: 'after' });
    // Over maxCommandBytes but within the packet limit: read, and answered.
    expect((await command(c, 'ping', cbor({ id: 'big', pad: 'x'.repeat(3000) }))).body).toMatchObject({ ok: false, error: { code: 'UPLINK_COMMAND_OVERSIZE' } });
    expect(errors.map((e) => e.code)).toEqual(['UPLINK_COMMAND_OVERSIZE']);
  });

  it('runs handlers from the registry passed in', async () => {
    const b = await broker();
    const c = await cloud(b.url, [`${BASE}/cmd-resp/#`]);
    const { u } = uplink(b.url, { commands: { diag: async (req) => ({ echoed: req.args }), ping: () => ({ custom: true }) } });
    u.start();
    await waitFor('connected', () => u.state === 'connected');
    await sleepMs(100);
    expect((await command(c, 'diag', cbor({ args: { ecu: 7 } }))).body).toMatchObject({ ok: true, echoed: { ecu: 7 } });
    expect((await command(c, 'ping', cbor({}))).body).toMatchObject({ ok: true, custom: true });
  });

  it('works over MQTT 3.1.1: data flows, commands echo the request id', async () => {
    const b = await broker();
    const c = await cloud(b.url, [`${BASE}/cmd-resp/#`, `${BASE}/telemetry`], { protocolVersion: 4 });
    const { u, o } = uplink(b.url, {}, { protocolVersion: 4 });
    o.append(records(50));
    u.start();
    await waitFor('records', () => c.records.length === 50);
    await waitFor('outbox empty', () => o.stats().depth === 0);
    expect((await command(c, 'ping', cbor({ id: 'v311' }))).body).toMatchObject({ ok: true, id: 'v311' });
    expect((await command(c, 'nope', cbor({ id: 9 }))).body).toMatchObject({ ok: false, id: 9, error: { code: 'UPLINK_COMMAND_UNKNOWN' } });
    // No packet size limit in 3.1.1: a large command is read whole, then refused.
    expect((await command(c, 'ping', cbor({ pad: 'x'.repeat(200_000) }))).body).toMatchObject({ ok: false, error: { code: 'UPLINK_COMMAND_OVERSIZE' } });
    expect((await command(c, 'ping', cbor({ id: 'still' }))).body).toMatchObject({ ok: true, id: 'still' });
  });

  it.skipIf(!have || !hasMosquittoPasswd())('counts refused credentials as UPLINK_AUTH and retries on the longer back-off, for MQTT 5 and 3.1.1', async () => {
    const b = await broker({ users: { car: 'right' } });
    for (const protocolVersion of [5, 4] as const) {
      const { u, states, errors } = uplink(b.url, {}, { username: 'car', password: 'wrong', protocolVersion });
      u.start();
      await waitFor('four refusals', () => u.counters().authFailures >= 4, 5000);
      expect(errors.every((e) => e.code === 'UPLINK_AUTH')).toBe(true);
      expect(errors.slice(0, 4).map((e) => e.details['delayMs'])).toEqual([50, 100, 200, 200]);
      expect(u.counters().connectFailures).toBe(0);
      expect(states).not.toContain('connected');
      await u.stop(100);
    }
    const { u } = uplink(b.url, {}, { username: 'car', password: 'right' });
    u.start();
    await waitFor('connected with the right password', () => u.state === 'connected');
  });

  it('backs off exponentially while the broker is unreachable, then connects when it appears', async () => {
    const port = await freePort();
    const { u, o, errors, states } = uplink(`mqtt://127.0.0.1:${port}`);
    o.append(records(20));
    u.start();
    await waitFor('five failed attempts', () => u.counters().connectFailures >= 5, 5000);
    expect(errors.every((e) => e.code === 'UPLINK_CONNECT')).toBe(true);
    expect(errors.slice(0, 5).map((e) => e.details['delayMs'])).toEqual([30, 60, 120, 240, 240]);
    expect(errors[0]!.details['errno']).toBe('ECONNREFUSED');
    expect(states.slice(0, 4)).toEqual(['connecting', 'disconnected', 'connecting', 'disconnected']);
    const b = await broker({ port });
    const c = await cloud(b.url, [`${BASE}/telemetry`]);
    await waitFor('connected once the broker is up', () => u.state === 'connected', 5000);
    await waitFor('drained', () => o.stats().depth === 0);
    await waitFor('received', () => c.records.length === 20);
    expect(u.counters()).toMatchObject({ connects: 1, reconnects: 0 });
  });

  it('keeps records in the outbox while the broker refuses publishes (MQTT 5 PUBACK reason), pausing between tries', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcu-acl-'));
    defer(() => rmSync(dir, { recursive: true, force: true }));
    // Anonymous clients may use status, events and commands, but not telemetry.
    writeFileSync(join(dir, 'acl'), ['status', 'events', 'cmd/#', 'cmd-resp/#'].map((t) => `topic readwrite ${BASE}/${t}`).join('\n') + '\ntopic read #\n');
    const b = await broker({ extra: [`acl_file ${join(dir, 'acl')}`] });
    const c = await cloud(b.url, [`${BASE}/telemetry`, `${BASE}/events`]);
    const { u, o, errors } = uplink(b.url);
    o.append([...records(5, 'event'), ...records(10)]);
    u.start();
    await waitFor('events delivered', () => c.records.length === 5);
    await waitFor('refusals', () => u.counters().publishFailures >= 2, 5000);
    expect(errors.filter((e) => e.code === 'UPLINK_PUBLISH').length).toBeGreaterThanOrEqual(2);
    expect(errors.find((e) => e.code === 'UPLINK_PUBLISH')!.details['reasonCode']).toBe(0x87);
    expect(o.stats().depth).toBe(10);
    expect(c.records.every((r) => r.kind === 'event')).toBe(true);
    const tries = u.counters().publishes;
    await sleepMs(300);
    expect(u.counters().publishes - tries).toBeLessThanOrEqual(3); // paused (back-off up to 240 ms), not a hot loop
  });

  it.skipIf(!have || !hasOpenssl())('connects over TLS with a client certificate; refuses to start without its files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcu-tls-'));
    defer(() => rmSync(dir, { recursive: true, force: true }));
    const certs = makeCertificates(dir);
    const b = await broker({ tls: { caFile: certs.caFile, certFile: certs.serverCertFile, keyFile: certs.serverKeyFile, requireCertificate: true } });
    const url = `mqtts://127.0.0.1:${b.port}`;
    const c = await cloud(url, [`${BASE}/telemetry`], { ca: readFileSync(certs.caFile), cert: readFileSync(certs.clientCertFile), key: readFileSync(certs.clientKeyFile) });
    const { u, o } = uplink(url, {}, { tls: { ca: certs.caFile, cert: certs.clientCertFile, key: certs.clientKeyFile, rejectUnauthorized: true } });
    o.append(records(10));
    u.start();
    await waitFor('received over TLS', () => c.records.length === 10);

    const noCert = uplink(url, {}, { tls: { ca: certs.caFile } });
    noCert.u.start();
    await waitFor('refused without a client certificate', () => noCert.u.counters().connectFailures >= 1, 5000);
    expect(noCert.errors[0]!.code).toBe('UPLINK_CONNECT');
    expect(noCert.u.state).not.toBe('connected');

    const missing = uplink(url, {}, { tls: { ca: join(dir, 'nope.pem') } });
    let thrown: unknown;
    try {
      missing.u.start();
    } catch (err) {
      thrown = err;
    }
    expect(isTcuError(thrown, 'FILE_READ')).toBe(true);
  });
});
