import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TcuError } from '../../../core/errors.js';
import { makeFrame } from '../../../drivers/can/frame.js';
import { canFrameArb } from '../../helpers/arbitraries.js';
import {
  SocketcandParser,
  decodeElement,
  encodeError,
  encodeFrame,
  encodeOpen,
  encodeSend,
  type SocketcandMessage,
} from '../../../drivers/can/socketcand/protocol.js';

function bytes(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

function collect(options: { maxElement?: number; bus?: string } = {}): {
  parser: SocketcandParser;
  messages: SocketcandMessage[];
  errors: TcuError[];
} {
  const messages: SocketcandMessage[] = [];
  const errors: TcuError[] = [];
  const parser = new SocketcandParser({ bus: options.bus ?? 'vcan0', maxElement: options.maxElement, onMessage: (m) => messages.push(m), onError: (e) => errors.push(e) });
  return { parser, messages, errors };
}

describe('decodeElement', () => {
  it('decodes the handshake', () => {
    expect(decodeElement('< hi >', 'x')).toEqual({ kind: 'hi' });
    expect(decodeElement('<ok>', 'x')).toEqual({ kind: 'ok' });
    expect(decodeElement(' rawmode ', 'x')).toEqual({ kind: 'rawmode' });
    expect(decodeElement('< open vcan0 >', 'x')).toEqual({ kind: 'open', bus: 'vcan0' });
    expect(decodeElement('< echo >', 'x')).toEqual({ kind: 'echo' });
  });

  it('decodes frames as socketcand sends them', () => {
    expect(decodeElement('< frame 123 1436509052.249713 11223344 >', 'can0')).toEqual({
      kind: 'frame',
      frame: makeFrame({ id: 0x123, data: bytes('11223344'), ts: 1436509052249713, bus: 'can0' }),
    });
    // separate bytes (older documentation), empty data (two spaces), extended id
    expect(decodeElement('< frame 123 23.424242 11 22 33 44 >', 'b')).toMatchObject({ frame: { data: bytes('11223344'), ts: 23_424_242 } });
    expect(decodeElement('< frame 123 23.424242  >', 'b')).toMatchObject({ frame: { data: new Uint8Array(0) } });
    expect(decodeElement('< frame 1AAAAAAA 1.000000 01 >', 'b')).toMatchObject({ frame: { id: 0x1aaaaaaa, ext: true } });
    expect(decodeElement('< frame 0000007B 1.000000 >', 'b')).toMatchObject({ frame: { id: 0x7b, ext: true } });
    expect(decodeElement('< fdframe 123 05 1.000001 00112233445566778899AABB >', 'b')).toMatchObject({
      frame: { fd: true, brs: true, esi: false, ts: 1_000_001, data: bytes('00112233445566778899aabb') },
    });
    expect(decodeElement('< rtr 123 1.5 4 >', 'b')).toMatchObject({ frame: { rtr: true, data: new Uint8Array(4), ts: 1_500_000 } });
    expect(decodeElement('< error 004 1.000000 >', 'b')).toMatchObject({ frame: { err: true, id: 4 } });
    expect(decodeElement('< error unknown command >', 'b')).toEqual({ kind: 'error', text: 'unknown command' });
  });

  it('decodes send requests', () => {
    expect(decodeElement('< send 123 4 11 22 33 44 >', 'vcan0', 7)).toEqual({
      kind: 'send',
      frame: makeFrame({ id: 0x123, data: bytes('11223344'), ts: 7, bus: 'vcan0' }),
    });
    expect(decodeElement('< send 1AAAAAAA 2 1 F1 >', 'b')).toMatchObject({ frame: { id: 0x1aaaaaaa, ext: true, data: bytes('01f1') } });
    expect(decodeElement('< send 123 0 >', 'b')).toMatchObject({ frame: { data: new Uint8Array(0) } });
    expect(decodeElement('< sendrtr 123 3 >', 'b')).toMatchObject({ frame: { rtr: true, data: new Uint8Array(3) } });
    expect(decodeElement(`< fdsend 123 1 12 ${'AA '.repeat(12)}>`, 'b')).toMatchObject({ frame: { fd: true, brs: true, data: new Uint8Array(12).fill(0xaa) } });
    expect(decodeElement('< subscribe 0 0 123 >', 'b')).toEqual({ kind: 'other', command: 'subscribe', args: ['0', '0', '123'] });
  });

  it('rejects malformed elements with SOCKETCAND_PROTOCOL', () => {
    for (const bad of [
      '<>',
      '< hi there >',
      '< open >',
      '< open a_very_long_bus_name_x >',
      '< frame >',
      '< frame XYZ 1.0 00 >',
      '< frame 123 1 00 >',
      '< frame 123 1.0 0G >',
      '< frame 123 1.0 001 >',
      '< frame 800 1.0 00 > extra',
      '< frame 123456789 1.0 >',
      '< frame 123 1.0 001122334455667788 >',
      '< fdframe 123 01 1.0 001122334455667788 >',
      '< rtr 123 1.0 9 >',
      '< send 123 >',
      '< send 800 0 >',
      '< send 123 2 11 >',
      '< send 123 9 1 2 3 4 5 6 7 8 9 >',
      '< send 123 1 123 >',
      '< fdsend 123 1 9 1 2 3 4 5 6 7 8 9 >',
      '< sendrtr 123 >',
      '< FRAME 123 1.0 >',
      '< 1234 >',
    ]) {
      let caught: unknown;
      try {
        decodeElement(bad, 'b');
      } catch (err) {
        caught = err;
      }
      expect(caught, bad).toBeInstanceOf(TcuError);
      expect((caught as TcuError).code, bad).toBe('SOCKETCAND_PROTOCOL');
    }
  });
});

describe('encoders', () => {
  it('encode frames and send requests in socketcand syntax', () => {
    expect(encodeFrame(makeFrame({ id: 0x123, data: bytes('11223344'), ts: 1436509052249713 }))).toBe('< frame 123 1436509052.249713 11223344 >');
    expect(encodeFrame(makeFrame({ id: 0x123, ts: 5 }))).toBe('< frame 123 0.000005 >');
    expect(encodeFrame(makeFrame({ id: 1, ext: true, fd: true, esi: true, data: new Uint8Array(0), ts: 1 }))).toBe('< fdframe 00000001 02 0.000001 >');
    expect(encodeFrame(makeFrame({ id: 4, err: true, ts: 1_000_000 }))).toBe('< error 004 1.000000 >');
    expect(encodeFrame(makeFrame({ id: 0x12, rtr: true, data: new Uint8Array(2), ts: 0 }))).toBe('< rtr 012 0.000000 2 >');
    expect(encodeSend(makeFrame({ id: 0x123, data: bytes('11223344') }))).toBe('< send 123 4 11 22 33 44 >');
    expect(encodeSend(makeFrame({ id: 0x123, rtr: true, data: new Uint8Array(1) }))).toBe('< sendrtr 123 1 >');
    expect(encodeSend(makeFrame({ id: 0x1aaaaaaa, fd: true, brs: true, data: bytes('0102') }))).toBe('< fdsend 1AAAAAAA 1 2 01 02 >');
    expect(() => encodeSend(makeFrame({ id: 4, err: true }))).toThrow(expect.objectContaining({ code: 'CAN_FRAME_INVALID' }));
    expect(() => encodeFrame(makeFrame({ id: 0x800, ext: false }))).toThrow(expect.objectContaining({ code: 'CAN_FRAME_INVALID' }));
    expect(encodeOpen('vcan0')).toBe('< open vcan0 >');
    expect(() => encodeOpen('a b')).toThrow(TcuError);
    expect(encodeError('bad <thing>\n here')).toBe('< error bad thing here >');
  });
});

const frameArb = canFrameArb();

describe('round trips', () => {
  it('decode(encodeFrame(f)) and decode(encodeSend(f)) give f back', () => {
    fc.assert(
      fc.property(frameArb, (frame) => {
        expect(decodeElement(encodeFrame(frame), 'vcan0')).toEqual({ kind: 'frame', frame });
        expect(decodeElement(encodeSend(frame), 'vcan0', frame.ts)).toEqual({ kind: 'send', frame });
      }),
      { numRuns: 2000 },
    );
  });
});

describe('SocketcandParser', () => {
  const stream = '< hi >< ok >\n< frame 123 1.000000 0102 >  < fdframe 1FFFFFFF 01 2.000000 000102030405060708090A0B >< error 004 3.000000 >< echo >';

  it('parses a stream delivered in one chunk', () => {
    const { parser, messages, errors } = collect();
    parser.push(stream);
    expect(errors).toEqual([]);
    expect(messages.map((m) => m.kind)).toEqual(['hi', 'ok', 'frame', 'frame', 'frame', 'echo']);
  });

  it('gives the same messages when split at every position, as strings or Buffers', () => {
    const { parser: whole, messages: expected } = collect();
    whole.push(stream);
    for (let cut = 0; cut <= stream.length; cut++) {
      for (const asBuffer of [false, true]) {
        const { parser, messages, errors } = collect();
        const a = stream.slice(0, cut);
        const b = stream.slice(cut);
        parser.push(asBuffer ? Buffer.from(a) : a);
        parser.push(asBuffer ? Buffer.from(b) : b);
        expect(errors, `cut at ${cut}`).toEqual([]);
        expect(messages, `cut at ${cut}`).toEqual(expected);
      }
    }
  });

  it('gives the same messages for any split into many chunks (fast-check)', () => {
    const { parser: whole, messages: expected } = collect();
    whole.push(stream);
    fc.assert(
      fc.property(fc.array(fc.nat({ max: stream.length }), { maxLength: 20 }), (cuts) => {
        const points = [...new Set(cuts)].sort((x, y) => x - y);
        const { parser, messages, errors } = collect();
        let last = 0;
        for (const p of [...points, stream.length]) {
          parser.push(stream.slice(last, p));
          last = p;
        }
        expect(errors).toEqual([]);
        expect(messages).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('reports garbage between elements once per run and resynchronises', () => {
    const { parser, messages, errors } = collect();
    parser.push('junk junk\x00\xff< hi >more junk< ok ');
    parser.push('>< frame 123 1.0 01 >');
    expect(messages.map((m) => m.kind)).toEqual(['hi', 'ok', 'frame']);
    expect(errors).toHaveLength(2);
    expect(errors.every((e) => e.code === 'SOCKETCAND_PROTOCOL')).toBe(true);
  });

  it('reports an element cut short by a new "<" and keeps the new one', () => {
    const { parser, messages, errors } = collect();
    parser.push('< frame 123 1.0 01');
    parser.push('< ok >');
    expect(messages).toEqual([{ kind: 'ok' }]);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/not closed/);
  });

  it('reports elements that do not decode and carries on', () => {
    const { parser, messages, errors } = collect();
    parser.push('< frame XYZ >< ok >< send 123 2 11 >< hi >');
    expect(messages).toEqual([{ kind: 'ok' }, { kind: 'hi' }]);
    expect(errors).toHaveLength(2);
  });

  it('drops oversize elements without holding them, across chunks, and recovers', () => {
    const { parser, messages, errors } = collect({ maxElement: 64 });
    parser.push('< frame 123 1.0 ');
    for (let i = 0; i < 1000; i++) parser.push('00'.repeat(50));
    parser.push(' >< ok >');
    expect(messages).toEqual([{ kind: 'ok' }]);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/longer than 64/);
    // whatever is held is bounded
    expect(JSON.stringify(parser).length).toBeLessThan(500);
  });

  it('never throws, holds bounded state, and recovers after any garbage (fast-check)', () => {
    const noise = fc.string({ unit: fc.constantFrom(...'<> frameok123.0AB\n\x00'.split('')), maxLength: 300 });
    fc.assert(
      fc.property(noise, fc.string({ unit: 'binary', maxLength: 200 }), (a, b) => {
        const { parser, messages, errors } = collect({ maxElement: 100 });
        parser.push(a);
        parser.push(Buffer.from(b, 'utf8'));
        expect(errors.every((e) => e instanceof TcuError && e.code === 'SOCKETCAND_PROTOCOL')).toBe(true);
        expect(JSON.stringify(parser).length).toBeLessThan(400);
        // after garbage, a '<' resynchronises: a complete element is always understood
        messages.length = 0;
        parser.push('< ok >< ok >');
        expect(messages.at(-1)).toEqual({ kind: 'ok' });
      }),
      { numRuns: 1000 },
    );
  });
});
