import { describe, expect, it } from 'vitest';
import type { DbcCodec, DbcDatabase, MessageCodec } from '../../../drivers/can/dbc/model.js';
import { validateFrame } from '../../../drivers/can/frame.js';
import { parseMapping } from '../../../hw-emulator/mappings/format.js';
import { resolveMapping } from '../../../hw-emulator/mappings/resolve.js';
import { TrafficGenerator } from '../../../hw-emulator/traffic/generator.js';
import { generatedRawRange } from '../../../hw-emulator/traffic/signals.js';
import { VehicleModel } from '../../../hw-emulator/vehicle/model.js';
import { SeededRng } from '../../../hw-emulator/vehicle/random.js';
import { database, message, signal, tinyDb } from './dbc-builders.js';
import { ManualClock } from './fake-clock.js';

/**
 * The generator's own logic (values, counters, multiplexing, scheduling) seen before encoding:
 * a recording codec stands in for the DBC codec and keeps the values each frame was built from
 * (frame bytes 0–3 hold the record's index). The real codec is exercised in traffic.test.ts.
 */
function recordingCodec(db: DbcDatabase): { codec: DbcCodec; records: Array<Record<string, number | string>> } {
  const records: Array<Record<string, number | string>> = [];
  const messages: MessageCodec[] = db.messages.map((m) => ({
    message: m,
    signalNames: m.signals.map((s) => s.name),
    decode: () => ({}),
    decodeWithChoices: () => ({}),
    decodeValues: () => undefined,
    encode: (values) => {
      const data = new Uint8Array(m.length);
      new DataView(data.buffer).setUint32(0, records.length);
      records.push({ ...values });
      return data;
    },
  }));
  return {
    records,
    codec: {
      db,
      messages,
      get: (id, ext) => messages.find((c) => c.message.id === id && c.message.extended === ext),
      byName: (name) => messages.find((c) => c.message.name === name),
    },
  };
}

function setup(seed: number, db = tinyDb()) {
  const { codec, records } = recordingCodec(db);
  const clock = new ManualClock();
  const model = new VehicleModel({ seed, initialParkSeconds: 0 });
  const mapping = resolveMapping(
    parseMapping({
      version: 1,
      dbc: 'tiny.dbc',
      signals: {
        'Speed.VehSpeed': { quantity: 'speedKmh' },
        'Speed.SteerAbs': { quantity: 'steeringAngleDeg', transform: 'abs' },
        'Speed.SteerNeg': { quantity: 'steeringAngleDeg', transform: 'isNegative' },
        'Engine.Rpm': { quantity: 'engineRpm' },
        'Engine.Gear': { quantity: 'gear', map: { P: 'P', R: 'R', N: 'N', D: 'D' } },
      },
    }),
    db,
  );
  const gen = new TrafficGenerator({ codec, model, mapping, rng: new SeededRng(seed), clock, bus: 'vcan0', driveModel: false, cycleTimeMs: { Engine: 20 } });
  const recordOf = (data: Uint8Array) => records[new DataView(data.buffer, data.byteOffset).getUint32(0)]!;
  return { gen, clock, model, records, recordOf, db };
}

describe('TrafficGenerator logic', () => {
  it('schedules every message at its cycle time with jittered phase, in time order', () => {
    const { gen, clock } = setup(1);
    const t0 = clock.nowMicros();
    const frames = gen.framesUntil(t0 + 10_000_000);
    const count = (id: number) => frames.filter((f) => f.id === id).length;
    expect(count(0x100)).toBeGreaterThanOrEqual(99); // default 100 ms
    expect(count(0x100)).toBeLessThanOrEqual(101);
    expect(count(0x200)).toBeGreaterThanOrEqual(499); // overridden to 20 ms
    expect(count(0x200)).toBeLessThanOrEqual(501);
    for (let i = 1; i < frames.length; i++) expect(frames[i]!.ts).toBeGreaterThanOrEqual(frames[i - 1]!.ts);
    for (const f of frames) {
      expect(f.ts).toBeGreaterThanOrEqual(t0);
      expect(f.ts).toBeLessThanOrEqual(t0 + 10_000_000);
      expect(f.bus).toBe('vcan0');
      validateFrame(f);
    }
    expect(gen.framesUntil(t0 + 10_000_000)).toEqual([]);
    expect(gen.nextDueMicros()).toBeGreaterThan(t0 + 10_000_000);
  });

  it('keeps synthetic values on the grid inside their range; counters count; switches rotate', () => {
    const { gen, clock, recordOf } = setup(2);
    const frames = gen.framesUntil(clock.nowMicros() + 20_000_000);
    const speed = frames.filter((f) => f.id === 0x100).map((f) => recordOf(f.data));
    const counters = speed.map((r) => r['Speed_Counter'] as number);
    for (let i = 1; i < counters.length; i++) expect(counters[i]).toBe((counters[i - 1]! + 1) % 16);
    for (const r of speed) {
      expect(r['Speed_CRC']).toBeGreaterThanOrEqual(0);
      expect(r['Speed_CRC']).toBeLessThanOrEqual(255);
      expect(Number.isInteger(r['Speed_CRC'])).toBe(true);
    }
    const muxed = frames.filter((f) => f.id === 0x300).map((f) => recordOf(f.data));
    const pages = muxed.map((r) => r['Page']);
    expect(new Set(pages)).toEqual(new Set([1, 2, 5]));
    for (let i = 3; i < pages.length; i++) expect(pages[i]).toBe(pages[i - 3]);
    for (const r of muxed) {
      expect(r['A']).toBeGreaterThanOrEqual(0);
      expect(r['A']).toBeLessThanOrEqual(100);
      expect(r['B']).toBeGreaterThanOrEqual(10);
      expect(r['B']).toBeLessThanOrEqual(20);
    }
    // A random walk is smooth: small steps relative to the range.
    const b = muxed.map((r) => r['B'] as number);
    const bigSteps = b.slice(1).filter((v, i) => Math.abs(v - b[i]!) > 2).length;
    expect(bigSteps).toBeLessThan(b.length / 10);
  });

  it('mapped signals follow the model, quantised to the signal grid and clamped to its range', () => {
    const { gen, clock, model, recordOf } = setup(3);
    let checked = 0;
    let moving = 0;
    for (let i = 0; i < 6000; i++) {
      clock.advanceMs(50);
      model.step(50);
      const s = model.snapshot();
      for (const f of gen.framesUntil(clock.nowMicros())) {
        const r = recordOf(f.data);
        if (f.id === 0x100) {
          expect(Math.abs((r['VehSpeed'] as number) - s.speedKmh)).toBeLessThanOrEqual(0.005 + 1e-9);
          expect(Math.abs((r['SteerAbs'] as number) - Math.abs(s.steeringAngleDeg))).toBeLessThanOrEqual(0.05 + 1e-9);
          expect(r['SteerNeg']).toBe(s.steeringAngleDeg < 0 ? 1 : 0);
          checked++;
          if (s.speedKmh > 1) moving++;
        } else if (f.id === 0x200) {
          expect(Math.abs((r['Rpm'] as number) - s.engineRpm)).toBeLessThanOrEqual(0.125 + 1e-9);
          expect(r['Gear']).toBe({ P: 0, R: 1, N: 2, D: 3 }[s.gear]);
        }
      }
    }
    expect(checked).toBeGreaterThan(2000);
    expect(moving).toBeGreaterThan(100);
  });

  it('is deterministic for a seed, and seeds differ', () => {
    const run = (seed: number) => {
      const { gen, clock, recordOf } = setup(seed);
      return gen.framesUntil(clock.nowMicros() + 5_000_000).map((f) => ({ id: f.id, ts: f.ts, values: recordOf(f.data) }));
    };
    expect(run(9)).toEqual(run(9));
    expect(run(9)).not.toEqual(run(10));
  });

  it('floods round-robin over the messages with fresh values', () => {
    const { gen, recordOf } = setup(4);
    const frames = Array.from({ length: 300 }, () => gen.nextFrameFlood());
    expect(frames.slice(0, 6).map((f) => f.id)).toEqual([0x100, 0x200, 0x300, 0x100, 0x200, 0x300]);
    const counters = frames.filter((f) => f.id === 0x100).map((f) => recordOf(f.data)['Speed_Counter'] as number);
    for (let i = 1; i < counters.length; i++) expect(counters[i]).toBe((counters[i - 1]! + 1) % 16);
    expect(gen.framesGenerated).toBe(300);
  });

  it('sends FD frames with the declared length, extended ids with the flag, and refuses bad options', () => {
    const db = database([
      message({ id: 0x18fef100, extended: true, name: 'Ext', signals: [signal({ name: 'X', minimum: 0, maximum: 10 })] }),
      message({ id: 0x123, name: 'Fd', length: 20, fd: false, signals: [signal({ name: 'Y', startBit: 100, length: 16 })] }),
    ]);
    const { codec } = recordingCodec(db);
    const clock = new ManualClock();
    const model = new VehicleModel({ seed: 1 });
    const gen = new TrafficGenerator({ codec, model, rng: new SeededRng(1), clock, bus: 'can1', defaultCycleTimeMs: 10 });
    const frames = gen.framesUntil(clock.nowMicros() + 100_000);
    const ext = frames.find((f) => f.id === 0x18fef100)!;
    const fd = frames.find((f) => f.id === 0x123)!;
    expect(ext).toMatchObject({ ext: true, fd: false });
    expect(ext.data.length).toBe(8);
    expect(fd).toMatchObject({ ext: false, fd: true });
    expect(fd.data.length).toBe(20);
    for (const f of frames) validateFrame(f);

    const bad = (opts: object) => () => new TrafficGenerator({ codec, model, rng: new SeededRng(1), clock, bus: 'can1', ...opts });
    expect(bad({ defaultCycleTimeMs: 0 })).toThrow(expect.objectContaining({ code: 'EMULATOR_CONFIG' }) as Error);
    expect(bad({ jitter: 0.9 })).toThrow(expect.objectContaining({ code: 'EMULATOR_CONFIG' }) as Error);
    expect(bad({ messages: ['Nope'] })).toThrow(/the DBC has no message Nope/);
    expect(bad({ cycleTimeMs: { Nope: 10 } })).toThrow(/the DBC has no message Nope/);
  });

  it('drops frames further behind than maxBacklogMs instead of bursting them', () => {
    const { codec } = recordingCodec(tinyDb());
    const clock = new ManualClock();
    const gen = new TrafficGenerator({ codec, model: new VehicleModel({ seed: 1 }), rng: new SeededRng(1), clock, bus: 'can0', maxBacklogMs: 1000, jitter: 0 });
    const frames = gen.framesUntil(clock.nowMicros() + 3600_000_000);
    // Three 100 ms messages: about one second's worth each, the rest of the hour dropped.
    expect(frames.length).toBeGreaterThanOrEqual(27);
    expect(frames.length).toBeLessThanOrEqual(33);
    expect(gen.framesDropped + frames.length).toBeGreaterThanOrEqual(3 * 36_000 - 3);
    expect(frames[0]!.ts).toBeGreaterThanOrEqual(clock.nowMicros() + 3599_000_000);
  });

  it('drives the model from the frame times when asked to', () => {
    const { codec } = recordingCodec(tinyDb());
    const clock = new ManualClock();
    const model = new VehicleModel({ seed: 1 });
    const gen = new TrafficGenerator({ codec, model, rng: new SeededRng(1), clock, bus: 'can0' });
    gen.framesUntil(clock.nowMicros() + 30_000_000);
    expect(model.timeMs).toBeGreaterThan(29_800);
    expect(model.timeMs).toBeLessThanOrEqual(30_000);
  });
});

describe('generatedRawRange', () => {
  it('intersects the declared range with what the bits hold', () => {
    expect(generatedRawRange(signal({ name: 'a', length: 8, minimum: 0, maximum: 0 }))).toEqual([0, 255]);
    expect(generatedRawRange(signal({ name: 'a', length: 8, signed: true }))).toEqual([-128, 127]);
    expect(generatedRawRange(signal({ name: 'a', length: 4, minimum: 0, maximum: 255 }))).toEqual([0, 15]);
    expect(generatedRawRange(signal({ name: 'a', length: 8, offset: -27, minimum: 0, maximum: 255 }))).toEqual([27, 255]);
    expect(generatedRawRange(signal({ name: 'a', length: 16, factor: 0.0075, minimum: 0, maximum: 491.49 }))).toEqual([0, 65532]);
    expect(generatedRawRange(signal({ name: 'a', length: 64 }))).toEqual([0, 2 ** 32 - 1]);
  });
});
