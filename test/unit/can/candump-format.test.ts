import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TcuError } from '../../../core/errors.js';
import { formatCandumpFrame, formatCandumpLine, parseCandumpFrame, parseCandumpLine } from '../../../drivers/can/candump/format.js';
import { MAX_EXT_ID, makeFrame } from '../../../drivers/can/frame.js';
import { canFrameArb } from '../../helpers/arbitraries.js';

const TS = 1436509052249713;

function bytes(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

function expectSyntax(line: string, reason?: RegExp): TcuError {
  let caught: unknown;
  try {
    parseCandumpLine(line);
  } catch (err) {
    caught = err;
  }
  expect(caught, `no error for ${JSON.stringify(line)}`).toBeInstanceOf(TcuError);
  const err = caught as TcuError;
  expect(err.code).toBe('CANDUMP_SYNTAX');
  if (reason) expect(err.message).toMatch(reason);
  return err;
}

describe('parseCandumpLine', () => {
  it('parses a classic 11-bit frame', () => {
    expect(parseCandumpLine('(1436509052.249713) can0 123#DEADBEEF')).toEqual(
      makeFrame({ id: 0x123, ext: false, data: bytes('deadbeef'), ts: TS, bus: 'can0' }),
    );
  });

  it('parses a 29-bit frame, lower-case hex, empty data', () => {
    expect(parseCandumpLine('(1436509052.249713) vcan1 1abcdef0#c0ffee')).toEqual(
      makeFrame({ id: 0x1abcdef0, ext: true, data: bytes('c0ffee'), ts: TS, bus: 'vcan1' }),
    );
    expect(parseCandumpLine('(1436509052.249713) can0 00000001#')).toEqual(makeFrame({ id: 1, ext: true, ts: TS }));
    expect(parseCandumpLine('(1436509052.249713) can0 7FF#')).toEqual(makeFrame({ id: 0x7ff, ts: TS }));
  });

  it('parses remote frames with and without a length', () => {
    const r = parseCandumpLine('(1436509052.249713) can0 123#R');
    expect(r).toMatchObject({ id: 0x123, rtr: true, fd: false });
    expect(r.data.length).toBe(0);
    const r5 = parseCandumpLine('(1436509052.249713) can0 12345678#r5');
    expect(r5).toMatchObject({ id: 0x12345678, ext: true, rtr: true });
    expect(r5.data).toEqual(new Uint8Array(5));
    expect(parseCandumpLine('(1.000000) can0 123#R8_C').data.length).toBe(8);
  });

  it('parses CAN FD frames with their flags', () => {
    const data = bytes('00112233445566778899aabb');
    expect(parseCandumpLine('(1436509052.249713) can0 123##100112233445566778899AABB')).toEqual(
      makeFrame({ id: 0x123, fd: true, brs: true, data, ts: TS }),
    );
    expect(parseCandumpLine('(1436509052.249713) can0 123##2')).toMatchObject({ fd: true, brs: false, esi: true });
    expect(parseCandumpLine('(1436509052.249713) can0 123##0')).toMatchObject({ fd: true, brs: false, esi: false });
    // newer can-utils print the FDF bit (4) as well
    expect(parseCandumpLine('(1436509052.249713) can0 1FFFFFFF##7AA')).toMatchObject({ id: MAX_EXT_ID, ext: true, fd: true, brs: true, esi: true });
    expect(parseCandumpLine(`(1.0) can0 123##1${'AB'.repeat(64)}`).data.length).toBe(64);
  });

  it('parses error frames', () => {
    const f = parseCandumpLine('(1436509052.249713) can0 20000004#0004000000000000');
    expect(f).toMatchObject({ id: 4, err: true, ext: false, rtr: false, fd: false });
    expect(f.data).toEqual(bytes('0004000000000000'));
    expect(parseCandumpLine('(1.0) can0 20000800#').id).toBe(0x800);
  });

  it('accepts dots between bytes, a raw DLC, padding, direction flags and CRLF', () => {
    expect(parseCandumpLine('(1436509052.249713) can0 123#11.22.33').data).toEqual(bytes('112233'));
    expect(parseCandumpLine('(1436509052.249713) can0 123#.11.22.').data).toEqual(bytes('1122'));
    expect(parseCandumpLine('(1436509052.249713) can0 123##1.11.22.33.44').data).toEqual(bytes('11223344'));
    expect(parseCandumpLine('(1436509052.249713) can0 123#1122334455667788_F').data).toEqual(bytes('1122334455667788'));
    expect(parseCandumpLine('(1436509052.249713)  can0 123#11 R').bus).toBe('can0');
    expect(parseCandumpLine('(1436509052.249713) can0 123#11 T\r\n').data).toEqual(bytes('11'));
    expect(parseCandumpLine('(0000000001.000001) can0 123#').ts).toBe(1_000_001);
    expect(parseCandumpLine('(1.5) can0 123#').ts).toBe(1_500_000);
    expect(parseCandumpLine('(1.1234567) can0 123#').ts).toBe(1_123_456);
  });

  it('rejects malformed lines with CANDUMP_SYNTAX and a precise reason', () => {
    expectSyntax('', /empty/);
    expectSyntax('   ', /empty/);
    expectSyntax('can0 123#00', /"\("/);
    expectSyntax('() can0 123#00', /seconds/);
    expectSyntax('(123) can0 123#00', /"\."/);
    expectSyntax('(123.) can0 123#00', /after "\."/);
    expectSyntax('(123.4 can0 123#00', /"\)"/);
    expectSyntax('(123.4)can0 123#00', /interface/);
    expectSyntax('(123.4) can0', /frame/);
    expectSyntax('(123.4) can0 ', /frame/);
    expectSyntax('(123.4) can0 #00', /hex CAN id/);
    expectSyntax('(123.4) can0 12#00', /3 or 8 hex digits, not 2/);
    expectSyntax('(123.4) can0 1234#00', /not 4/);
    expectSyntax('(123.4) can0 12345#00', /CAN XL/);
    expectSyntax('(123.4) can0 123456789#00', /not 9/);
    expectSyntax('(123.4) can0 123:00', /"#"/);
    expectSyntax('(123.4) can0 800#00', /7FF/);
    expectSyntax('(123.4) can0 40000000#00', /flag bits/);
    expectSyntax('(123.4) can0 80000123#00', /flag bits/);
    expectSyntax('(123.4) can0 123#0', /odd/);
    expectSyntax('(123.4) can0 123#0G', /"G"/);
    expectSyntax('(123.4) can0 123#..00', /"\."/);
    expectSyntax('(123.4) can0 123#001122334455667788', /at most 8/);
    expectSyntax('(123.4) can0 123#R9', /0\.\.8/);
    expectSyntax('(123.4) can0 123#R12', /after the remote/);
    expectSyntax('(123.4) can0 123#RX', /0\.\.8/);
    expectSyntax('(123.4) can0 123#R8_3', /9\.\.F/);
    expectSyntax('(123.4) can0 123#11_9', /"_"/);
    expectSyntax('(123.4) can0 123#1122334455667788_', /9\.\.F/);
    expectSyntax('(123.4) can0 123#1122334455667788_9A', /after the raw DLC/);
    expectSyntax('(123.4) can0 123##', /flags/);
    expectSyntax('(123.4) can0 123##X00', /flags/);
    expectSyntax('(123.4) can0 123##0112233445566778899', /9 bytes is not a valid CAN FD length/);
    expectSyntax(`(123.4) can0 123##0${'00'.repeat(65)}`, /at most 64/);
    expectSyntax('(123.4) can0 123#00 extra', /after the frame/);
    expectSyntax('(123.4) can0 123#00 R T', /after the frame/);
    expectSyntax('(99999999999999.0) can0 123#00', /too large/);
  });

  it('keeps messages short for huge garbage lines', () => {
    const err = expectSyntax(`(1.0) can0 123#${'Z'.repeat(100_000)}`);
    expect(err.message.length).toBeLessThan(300);
  });

  it('never throws anything but CANDUMP_SYNTAX on random input', () => {
    const alphabet = fc.constantFrom(...'()0123456789abcdefABCDEFRr#._ \tTxyz\r\n:'.split(''));
    const nearValid = fc
      .tuple(fc.string({ unit: alphabet, maxLength: 40 }), fc.integer({ min: 0, max: 40 }))
      .map(([s, cut]) => {
        const base = '(1436509052.249713) can0 123##1DEADBEEF';
        return base.slice(0, cut) + s;
      });
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.string({ unit: alphabet, maxLength: 80 }), nearValid), (line) => {
        try {
          const f = parseCandumpLine(line);
          // Whatever parses must be a frame that could exist and formats again.
          expect(formatCandumpLine(f).length).toBeGreaterThan(0);
        } catch (err) {
          if (!(err instanceof TcuError) || err.code !== 'CANDUMP_SYNTAX') throw err;
        }
      }),
      { numRuns: 5000 },
    );
  });
});

describe('formatCandumpLine', () => {
  it('prints frames as candump does', () => {
    expect(formatCandumpLine(makeFrame({ id: 0x123, data: bytes('deadbeef'), ts: TS }))).toBe('(1436509052.249713) can0 123#DEADBEEF');
    expect(formatCandumpLine(makeFrame({ id: 0xab, ext: true, ts: 1_000_001, bus: 'vcan0' }))).toBe('(0000000001.000001) vcan0 000000AB#');
    expect(formatCandumpLine(makeFrame({ id: 0x1, rtr: true, data: new Uint8Array(3), ts: 0 }))).toBe('(0000000000.000000) can0 001#R3');
    expect(formatCandumpFrame(makeFrame({ id: 0x1, rtr: true }))).toBe('001#R');
    expect(formatCandumpFrame(makeFrame({ id: 0x7ff, fd: true, brs: true, esi: true, data: bytes('0102') }))).toBe('7FF##30102');
    expect(formatCandumpFrame(makeFrame({ id: 0x7ff, fd: true }))).toBe('7FF##0');
    expect(formatCandumpFrame(makeFrame({ id: 4, err: true, data: bytes('0004000000000000') }))).toBe('20000004#0004000000000000');
  });

  it('rounds fractional microseconds and refuses what the format cannot hold', () => {
    expect(formatCandumpLine(makeFrame({ id: 1, ts: 1_999_999.6 }))).toBe('(0000000002.000000) can0 001#');
    for (const bad of [
      makeFrame({ id: 1, ts: -1 }),
      makeFrame({ id: 1, ts: Number.NaN }),
      makeFrame({ id: 1, bus: 'can 0' }),
      makeFrame({ id: 1, bus: '' }),
      makeFrame({ id: 0x800, ext: false }),
      makeFrame({ id: 1, data: new Uint8Array(9) }),
      makeFrame({ id: 1, fd: true, data: new Uint8Array(9) }),
    ]) {
      expect(() => formatCandumpLine(bad)).toThrow(expect.objectContaining({ code: 'CAN_FRAME_INVALID' }));
    }
  });

  it('parseCandumpFrame reads the frame part alone', () => {
    expect(parseCandumpFrame('123#11.22', 'vcan0', 5)).toEqual(makeFrame({ id: 0x123, data: bytes('1122'), ts: 5, bus: 'vcan0' }));
  });
});

/** Any frame candump can represent exactly. */
const frameArb = canFrameArb({ kinds: ['classic', 'remote', 'fd', 'error'], bus: fc.stringMatching(/^[a-z][a-z0-9_.-]{0,14}$/) });

describe('candump round trip', () => {
  it('parse(format(frame)) equals frame', () => {
    fc.assert(
      fc.property(frameArb, (frame) => {
        expect(parseCandumpLine(formatCandumpLine(frame))).toEqual(frame);
      }),
      { numRuns: 3000 },
    );
  });

  it('format(parse(line)) is canonical: lower case and dots normalise away', () => {
    fc.assert(
      fc.property(frameArb, fc.boolean(), (frame, dots) => {
        const line = formatCandumpLine(frame);
        const hashAt = line.lastIndexOf('#');
        let variant = line.toLowerCase(); // bus names here are lower case already
        if (dots && !frame.rtr) {
          const head = variant.slice(0, hashAt + (frame.fd ? 2 : 1));
          const body = variant.slice(head.length);
          variant = head + (body.match(/../g) ?? []).join('.');
        }
        expect(formatCandumpLine(parseCandumpLine(variant))).toBe(line);
      }),
      { numRuns: 2000 },
    );
  });
});
