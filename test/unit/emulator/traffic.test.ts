import { describe, expect, it } from 'vitest';
import { compileDbc, compileMessage } from '../../../drivers/can/dbc/codec.js';
import type { DbcCodec, DbcDatabase, DbcMessage, DbcSignal } from '../../../drivers/can/dbc/model.js';
import { loadDbcFile, parseDbc } from '../../../drivers/can/dbc/parser.js';
import { type CanFrame, validateFrame } from '../../../drivers/can/frame.js';
import { builtinMapping } from '../../../hw-emulator/mappings/builtin.js';
import { type ResolvedMapping, resolveMapping } from '../../../hw-emulator/mappings/resolve.js';
import { TrafficGenerator } from '../../../hw-emulator/traffic/generator.js';
import { signalBits } from '../../../hw-emulator/traffic/overlaps.js';
import { generatedRawRange } from '../../../hw-emulator/traffic/signals.js';
import { VehicleModel } from '../../../hw-emulator/vehicle/model.js';
import { SeededRng } from '../../../hw-emulator/vehicle/random.js';
import type { VehicleState } from '../../../hw-emulator/vehicle/state.js';
import { message, signal } from './dbc-builders.js';
import { ManualClock } from './fake-clock.js';

const FIXTURES = [
  'vw_mqb.dbc',
  'tesla_can.dbc',
  'hyundai_2015_mcan.dbc',
  'toyota_tss2_adas.dbc',
  'gwm_haval_h6_phev_2024.dbc',
  'hongqi_hs5.dbc',
  'chrysler_cusw.dbc',
] as const;

interface Loaded {
  db: DbcDatabase;
  codec: DbcCodec;
  mapping: ResolvedMapping | undefined;
}

const cache = new Map<string, Loaded>();
function load(name: string): Loaded {
  let entry = cache.get(name);
  if (!entry) {
    const db = loadDbcFile(`test/fixtures/dbc/${name}`);
    const m = builtinMapping(name);
    entry = { db, codec: compileDbc(db), mapping: m ? resolveMapping(m, db) : undefined };
    cache.set(name, entry);
  }
  return entry;
}

interface Batch {
  state: VehicleState;
  frames: CanFrame[];
}

/**
 * Runs a generator for `seconds` of simulated time. The test steps the model itself (10 ms) so each
 * batch of frames was built from one known vehicle state. The model first drives for a minute.
 */
function run(name: string, seed: number, seconds: number): { batches: Batch[]; gen: TrafficGenerator; start: number } {
  const { codec, mapping } = load(name);
  const clock = new ManualClock();
  const model = new VehicleModel({ seed, initialParkSeconds: 0 });
  model.step(60_000);
  const gen = new TrafficGenerator({ codec, model, mapping, rng: new SeededRng(seed), clock, bus: 'vcan0', driveModel: false });
  const start = clock.nowMicros();
  const batches: Batch[] = [];
  for (let t = 0; t < seconds * 1000; t += 10) {
    clock.advanceMs(10);
    model.step(10);
    batches.push({ state: model.snapshot(), frames: gen.framesUntil(clock.nowMicros()) });
  }
  return { batches, gen, start };
}

/** The value the generator should have sent for a mapped signal: on the grid, inside the range. */
function expectedMapped(signal: DbcSignal, value: number): number {
  const [lo, hi] = generatedRawRange(signal);
  const raw = Math.min(hi, Math.max(lo, Math.round((value - signal.offset) / signal.factor)));
  return raw * signal.factor + signal.offset;
}

describe.each(FIXTURES)('traffic for %s', (name) => {
  const { db, codec, mapping } = load(name);
  const { batches, gen, start } = run(name, 11, 10);
  const frames = batches.flatMap((b) => b.frames);

  it('sends every message at its cycle time (default 100 ms) over a simulated 10 s', () => {
    expect(gen.skippedMessages).toEqual([]);
    const counts = new Map<string, number>();
    for (const f of frames) {
      const c = codec.get(f.id, f.ext);
      expect(c, `frame id ${f.id.toString(16)}`).toBeDefined();
      counts.set(c!.message.name, (counts.get(c!.message.name) ?? 0) + 1);
    }
    for (const m of gen.messages) {
      const expected = 10_000 / (m.cycleTimeMs ?? 100);
      const n = counts.get(m.name) ?? 0;
      expect(Math.abs(n - expected), `${m.name}: ${n} frames`).toBeLessThanOrEqual(1);
    }
    const distinctIds = new Set(db.messages.map((m) => `${m.id}/${m.extended}`)).size;
    expect(gen.messages.length).toBe(distinctIds);
    for (let i = 1; i < frames.length; i++) expect(frames[i]!.ts).toBeGreaterThanOrEqual(frames[i - 1]!.ts);
    expect(frames[0]!.ts).toBeGreaterThanOrEqual(start);
  });

  it('builds valid frames: flags, declared length, FD where the message needs it', () => {
    for (const f of frames) {
      validateFrame(f);
      const m = codec.get(f.id, f.ext)!.message;
      expect(f.ext).toBe(m.extended);
      expect(f.fd).toBe(m.fd || m.length > 8);
      expect(f.data.length).toBe(m.length);
      expect(f.bus).toBe('vcan0');
    }
  });

  it('decodes to values inside each signal range, with mapped signals following the model', () => {
    const problems: string[] = [];
    let mappedChecks = 0;
    for (const { state, frames: batch } of batches) {
      for (const f of batch) {
        const c = codec.get(f.id, f.ext)!;
        const decoded = c.decode(f.data);
        for (const s of c.message.signals) {
          const v = decoded[s.name];
          if (v === undefined) continue;
          const tol = Math.abs(s.factor) * 1e-6 + 1e-9;
          if (s.minimum < s.maximum && (v < s.minimum - tol || v > s.maximum + tol)) {
            problems.push(`${c.message.name}.${s.name} = ${v} outside [${s.minimum}, ${s.maximum}]`);
          }
          const rule = mapping?.find(c.message.name, s.name);
          if (rule) {
            mappedChecks++;
            const want = expectedMapped(s, rule.valueFor(state));
            if (Math.abs(v - want) > Math.abs(s.factor) / 2 + tol) {
              problems.push(`${rule.key} = ${v}, model says ${want}`);
            }
          }
        }
      }
    }
    expect(problems.slice(0, 10)).toEqual([]);
    if (mapping) expect(mappedChecks).toBeGreaterThan(mapping.signals.length * 50);
  });

  const switchOf = (m: DbcMessage): DbcSignal | undefined => m.signals.find((s) => s.isMultiplexer && s.multiplexerSignal === undefined);
  // Only DBCs with multiplexed messages have something to check here; each of those messages must be sent.
  const multiplexed = db.messages.filter((m) => switchOf(m) !== undefined);
  it.runIf(multiplexed.length > 0)('rotates multiplexed messages through the switch values the DBC uses', () => {
    expect(multiplexed.length).toBeGreaterThan(0);
    let checked = 0;
    for (const m of multiplexed) {
      expect(gen.messages, m.name).toContain(m);
      const sw = switchOf(m)!;
      const used = new Set(m.signals.filter((s) => s.multiplexerSignal === sw.name).flatMap((s) => s.multiplexerIds ?? []));
      const c = codec.byName(m.name)!;
      const seen = new Set(frames.filter((f) => f.id === m.id && f.ext === m.extended).map((f) => c.decode(f.data)[sw.name]));
      const inRange = [...used].filter((id) => {
        const [lo, hi] = generatedRawRange(sw);
        return id >= lo && id <= hi;
      });
      expect([...seen].sort(), m.name).toEqual(inRange.sort());
      checked++;
    }
    expect(checked).toBe(multiplexed.length);
  });
});

describe('messages no CAN frame can carry', () => {
  it('skips a DBC message longer than 64 bytes with a reason, and sends the rest', () => {
    const text = [
      'VERSION ""',
      'BU_: ECU',
      'BO_ 256 Huge: 100 ECU',
      ' SG_ Tail : 792|8@1+ (1,0) [0|255] "" Vector__XXX',
      'BO_ 257 Small: 8 ECU',
      ' SG_ A : 0|8@1+ (1,0) [0|255] "" Vector__XXX',
      '',
    ].join('\n');
    const db = parseDbc(text, { file: 'huge.dbc' });
    // The parser keeps the message and only warns.
    expect(db.messages.map((m) => [m.name, m.length])).toEqual([
      ['Huge', 100],
      ['Small', 8],
    ]);
    expect(db.warnings.some((w) => /Huge declares 100 bytes/.test(w.message))).toBe(true);
    const clock = new ManualClock();
    const gen = new TrafficGenerator({ codec: compileDbc(db), model: new VehicleModel({ seed: 1 }), rng: new SeededRng(1), clock, bus: 'vcan0' });
    expect(gen.skippedMessages).toEqual([{ name: 'Huge', reason: '100 bytes is more than a CAN FD frame holds (64)' }]);
    expect(gen.messages.map((m) => m.name)).toEqual(['Small']);
    const frames = gen.framesUntil(clock.nowMicros() + 1_000_000);
    expect(frames.length).toBeGreaterThan(0);
    for (const f of frames) {
      expect(f.id).toBe(257);
      validateFrame(f);
    }
  });
});

describe('traffic determinism', () => {
  const bytes = (frames: CanFrame[]) => frames.map((f) => `${f.ts} ${f.id} ${Buffer.from(f.data).toString('hex')}`);
  it('gives the identical frame sequence for the same seed, and a different one for another seed', () => {
    const a = bytes(run('vw_mqb.dbc', 5, 3).batches.flatMap((b) => b.frames));
    const b = bytes(run('vw_mqb.dbc', 5, 3).batches.flatMap((b) => b.frames));
    const c = bytes(run('vw_mqb.dbc', 6, 3).batches.flatMap((b) => b.frames));
    expect(a.length).toBeGreaterThan(3000);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('is deterministic in flood mode too, driving the model itself', () => {
    const flood = (seed: number) => {
      const { codec, mapping } = load('tesla_can.dbc');
      const clock = new ManualClock();
      const gen = new TrafficGenerator({ codec, model: new VehicleModel({ seed }), mapping, rng: new SeededRng(seed), clock, bus: 'can0' });
      const out: CanFrame[] = [];
      for (let i = 0; i < 5000; i++) {
        clock.advanceMs(0.05);
        out.push(gen.nextFrameFlood());
      }
      return out;
    };
    expect(bytes(flood(3))).toEqual(bytes(flood(3)));
    expect(bytes(flood(3))).not.toEqual(bytes(flood(4)));
  });
});

describe('VW MQB speed on the bus', () => {
  it('decodes to the model speed within one quantisation step while driving', () => {
    const { codec } = load('vw_mqb.dbc');
    const esp19 = codec.byName('ESP_19')!;
    const { batches } = run('vw_mqb.dbc', 11, 10);
    let moving = 0;
    for (const { state, frames } of batches) {
      for (const f of frames) {
        if (f.id !== esp19.message.id) continue;
        const d = esp19.decode(f.data);
        for (const wheel of ['ESP_HL_Radgeschw_02', 'ESP_HR_Radgeschw_02', 'ESP_VL_Radgeschw_02', 'ESP_VR_Radgeschw_02']) {
          expect(Math.abs(d[wheel]! - state.speedKmh)).toBeLessThanOrEqual(0.0075);
        }
        if (state.speedKmh > 5) moving++;
      }
    }
    expect(moving).toBeGreaterThan(20);
  });
});

describe('signalBits', () => {
  it('places each raw bit where the codec writes it, for both byte orders', () => {
    for (const byteOrder of ['little_endian', 'big_endian'] as const) {
      for (const [startBit, length] of [[0, 1], [7, 8], [12, 13], [39, 16], [63, 1], [20, 33]] as const) {
        const s = signal({ name: 'S', startBit, length, byteOrder });
        const codec = compileMessage(message({ id: 1, name: 'M', signals: [s] }));
        signalBits(s).forEach((g, k) => {
          const data = codec.encode({ S: 2 ** k });
          const set = [...data].flatMap((byte, i) => [0, 1, 2, 3, 4, 5, 6, 7].filter((b) => (byte >> b) & 1).map((b) => i * 8 + b));
          expect(set, `${byteOrder} ${startBit}|${length} bit ${k}`).toEqual([g]);
        });
      }
    }
  });
});
