import { Decoder, Encoder } from 'cbor-x';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TcuError } from '../../../core/errors.js';
import { CommandProcessor, type CommandHandler } from '../../../agent/uplink/commands.js';
import { makeTopics } from '../../../agent/uplink/topics.js';
import { FakeClock } from '../../helpers/fake-clock.js';

const encoder = new Encoder({ useRecords: false });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });
const topics = makeTopics('fleet/tcu', 'VIN1');
const cbor = (value: unknown): Buffer => encoder.encode(value);

function processor(extra: Record<string, CommandHandler> = {}, clock = new FakeClock(), maxBytes = 1024) {
  const errors: TcuError[] = [];
  let flushed = 0;
  const handlers = new Map<string, CommandHandler>([
    ['ping', () => ({ ts: clock.now() })],
    ['status', () => ({ status: { depth: 3 } })],
    ['flush', () => (flushed++, {})],
    ...Object.entries(extra),
  ]);
  const p = new CommandProcessor({ topics, handlers, clock, maxBytes, timeoutMs: 1000, onError: (e) => errors.push(e) });
  return { p, errors, clock, flushed: () => flushed };
}

async function call(p: CommandProcessor, name: string, payload: Uint8Array, props = {}) {
  const response = await p.handle(`fleet/tcu/VIN1/cmd/${name}`, payload, props);
  expect(response).toBeDefined();
  return { ...response!, decoded: decoder.decode(response!.payload) as Record<string, unknown> };
}

describe('commands', () => {
  it('answers ping, status and flush', async () => {
    const { p, clock, flushed } = processor();
    const ping = await call(p, 'ping', cbor({ id: 'r1' }));
    expect(ping.topic).toBe('fleet/tcu/VIN1/cmd-resp/ping');
    expect(ping.decoded).toEqual({ v: 1, ok: true, cmd: 'ping', id: 'r1', ts: clock.now() });
    expect((await call(p, 'status', cbor({}))).decoded).toEqual({ v: 1, ok: true, cmd: 'status', status: { depth: 3 } });
    expect((await call(p, 'flush', new Uint8Array(0))).decoded).toEqual({ v: 1, ok: true, cmd: 'flush' });
    expect(flushed()).toBe(1);
    expect(p.errorCounts()).toEqual({});
  });

  it('passes id and args to the handler and echoes an integer id', async () => {
    const seen: unknown[] = [];
    const { p } = processor({ echo: (req) => (seen.push(req), { got: req.args }) });
    const r = await call(p, 'echo', cbor({ id: 42, args: { a: [1, 2] }, future: 'ignored' }));
    expect(seen).toEqual([{ name: 'echo', id: 42, args: { a: [1, 2] } }]);
    expect(r.decoded).toEqual({ v: 1, ok: true, cmd: 'echo', id: 42, got: { a: [1, 2] } });
  });

  it('honours an MQTT 5 response topic and echoes correlation data', async () => {
    const { p } = processor();
    const correlationData = Buffer.from([1, 2, 3]);
    const r = await call(p, 'ping', cbor({}), { responseTopic: 'cloud/replies/7', correlationData });
    expect(r.topic).toBe('cloud/replies/7');
    expect(r.correlationData).toEqual(correlationData);
    const wild = await call(p, 'ping', cbor({}), { responseTopic: 'cloud/+/x' });
    expect(wild.topic).toBe('fleet/tcu/VIN1/cmd-resp/ping');
  });

  const refusals: [string, string, Uint8Array, string][] = [
    ['unknown name', 'reboot', cbor({ id: 'x' }), 'UPLINK_COMMAND_UNKNOWN'],
    ['a name outside the alphabet', 'p i n g', cbor({}), 'UPLINK_COMMAND_UNKNOWN'],
    ['JSON', 'ping', Buffer.from('{"id":"x"}'), 'UPLINK_COMMAND_MALFORMED'],
    ['not CBOR at all', 'ping', Buffer.from([0xff, 0xff, 0x1c]), 'UPLINK_COMMAND_MALFORMED'],
    ['trailing bytes', 'ping', Buffer.concat([cbor({}), Buffer.from([1])]), 'UPLINK_COMMAND_MALFORMED'],
    ['an array', 'ping', cbor([1, 2]), 'UPLINK_COMMAND_MALFORMED'],
    ['a number', 'ping', cbor(5), 'UPLINK_COMMAND_MALFORMED'],
    ['a byte string', 'ping', Buffer.from([0x42, 0x01, 0x02]), 'UPLINK_COMMAND_MALFORMED'],
    ['a truncated map', 'ping', Buffer.from([0xa2, 0x62, 0x69, 0x64]), 'UPLINK_COMMAND_MALFORMED'],
    ['id of the wrong type', 'ping', cbor({ id: [1] }), 'UPLINK_COMMAND_MALFORMED'],
    ['a fractional id', 'ping', cbor({ id: 1.5 }), 'UPLINK_COMMAND_MALFORMED'],
    ['args not a map', 'ping', cbor({ args: 'x' }), 'UPLINK_COMMAND_MALFORMED'],
    ['oversize', 'ping', cbor({ pad: 'x'.repeat(2000) }), 'UPLINK_COMMAND_OVERSIZE'],
  ];

  it.each(refusals)('refuses %s with an error response and a count', async (_what, name, payload, code) => {
    const { p, errors } = processor();
    const r = await call(p, name, payload);
    expect(r.decoded).toMatchObject({ v: 1, ok: false, cmd: name, error: { code } });
    expect(typeof (r.decoded['error'] as { message: unknown }).message).toBe('string');
    expect(p.errorCounts()).toEqual({ [code]: 1 });
    expect(errors.map((e) => e.code)).toEqual([code]);
  });

  it('echoes the id of a refused request where it could be read', async () => {
    const { p } = processor();
    expect((await call(p, 'nope', cbor({ id: 'q9' }))).decoded).toMatchObject({ ok: false, id: 'q9' });
    expect((await call(p, 'ping', cbor({ id: 'q8', args: 3 }))).decoded).toMatchObject({ ok: false, id: 'q8' });
  });

  it('answers a failing handler with its error code, or UPLINK_COMMAND_FAILED', async () => {
    const { p } = processor({
      typed: () => {
        throw new TcuError('CONFIG_INVALID', '/x: bad');
      },
      plain: async () => Promise.reject(new Error('boom')),
      weird: () => ({ f: () => 1 }) as unknown as Record<string, unknown>,
    });
    expect((await call(p, 'typed', cbor({}))).decoded).toMatchObject({ ok: false, error: { code: 'CONFIG_INVALID', message: '/x: bad' } });
    expect((await call(p, 'plain', cbor({}))).decoded).toMatchObject({ ok: false, error: { code: 'UPLINK_COMMAND_FAILED' } });
    const weird = await call(p, 'weird', cbor({}));
    expect(typeof weird.decoded['ok']).toBe('boolean');
    expect(p.errorCounts()['CONFIG_INVALID']).toBe(1);
  });

  it('answers UPLINK_COMMAND_TIMEOUT when a handler never answers', async () => {
    const clock = new FakeClock();
    const { p } = processor({ hang: () => new Promise<never>(() => undefined) }, clock);
    const pending = p.handle('fleet/tcu/VIN1/cmd/hang', cbor({ id: 1 }));
    await new Promise((r) => setImmediate(r));
    clock.advance(1000);
    const r = await pending;
    expect(decoder.decode(r!.payload)).toMatchObject({ ok: false, id: 1, error: { code: 'UPLINK_COMMAND_TIMEOUT' } });
  });

  it('ignores topics outside cmd/', async () => {
    const { p } = processor();
    expect(await p.handle('fleet/tcu/VIN1/status', cbor({}))).toBeUndefined();
  });

  it('property: random bytes as a command payload never throw and always get an answer', async () => {
    const { p } = processor({}, new FakeClock(), 4096);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('ping', 'status', 'flush', 'x'), fc.uint8Array({ maxLength: 600 }), async (name, bytes) => {
        const response = await p.handle(`fleet/tcu/VIN1/cmd/${name}`, bytes);
        const body = decoder.decode(response!.payload) as { ok: unknown };
        expect(typeof body.ok).toBe('boolean');
      }),
      { numRuns: 2000 },
    );
  });

  it('property: any CBOR value as a payload never throws and always gets an answer', async () => {
    const { p } = processor({}, new FakeClock(), 1 << 20);
    await fc.assert(
      fc.asyncProperty(fc.anything({ withBigInt: true, withDate: true, withTypedArray: true, withMap: true, withSet: true, withNullPrototype: true }), async (value) => {
        let bytes: Buffer;
        try {
          bytes = cbor(value);
        } catch {
          return;
        }
        const response = await p.handle('fleet/tcu/VIN1/cmd/ping', bytes);
        const body = decoder.decode(response!.payload) as { ok: unknown };
        expect(typeof body.ok).toBe('boolean');
      }),
      { numRuns: 1000 },
    );
  });
});
