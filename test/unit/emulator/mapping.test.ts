import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TcuError } from '../../../core/errors.js';
import { loadDbcFile } from '../../../drivers/can/dbc/parser.js';
import { builtinMapping, builtinMappingNames } from '../../../hw-emulator/mappings/builtin.js';
import { loadMappingFile, parseMapping } from '../../../hw-emulator/mappings/format.js';
import { resolveMapping } from '../../../hw-emulator/mappings/resolve.js';
import { VehicleModel } from '../../../hw-emulator/vehicle/model.js';
import type { VehicleState } from '../../../hw-emulator/vehicle/state.js';
import { tinyDb } from './dbc-builders.js';

function errorOf(fn: () => unknown): TcuError {
  try {
    fn();
  } catch (err) {
    if (err instanceof TcuError) return err;
    throw err;
  }
  throw new Error('expected a TcuError');
}

const base = { version: 1, dbc: 'tiny.dbc' };

describe('parseMapping', () => {
  it('accepts a well-formed mapping and keeps every field', () => {
    const m = parseMapping({
      ...base,
      description: 'x',
      signals: {
        'Speed.VehSpeed': { quantity: 'speedKmh', scale: 1, offset: 0 },
        'Speed.SteerAbs': { quantity: 'steeringAngleDeg', transform: 'abs' },
        'Engine.Gear': { quantity: 'gear', map: { P: 'P', R: 1, N: 'N', D: 3 } },
        'Engine.Rpm': { quantity: 'currentGear', map: { '-1': 0 }, default: 7 },
      },
    });
    expect(m.signals['Engine.Gear']).toEqual({ quantity: 'gear', map: { P: 'P', R: 1, N: 'N', D: 3 } });
    expect(m.signals['Engine.Rpm']?.default).toBe(7);
    expect(m.description).toBe('x');
  });

  const cases: Array<[string, unknown, RegExp]> = [
    ['not an object', [1, 2], /\(root\): must be a JSON object/],
    ['wrong version', { ...base, version: 2, signals: {} }, /version: must be 1/],
    ['unknown top-level key', { ...base, signals: {}, extra: 1 }, /extra: unknown key/],
    ['no dbc', { version: 1, signals: {} }, /dbc: must be the DBC file name/],
    ['signals not an object', { ...base, signals: [] }, /signals: must be an object/],
    ['key without a dot', { ...base, signals: { VehSpeed: { quantity: 'speedKmh' } } }, /signals\["VehSpeed"\]: key must be "Message.Signal"/],
    ['unknown quantity', { ...base, signals: { 'A.B': { quantity: 'warpFactor' } } }, /signals\["A.B"\].quantity: "warpFactor" is not a quantity/],
    ['misspelt rule key', { ...base, signals: { 'A.B': { quantity: 'speedKmh', scael: 2 } } }, /signals\["A.B"\].scael: unknown key/],
    ['scale not a number', { ...base, signals: { 'A.B': { quantity: 'speedKmh', scale: '2' } } }, /scale: must be a finite number/],
    ['scale zero', { ...base, signals: { 'A.B': { quantity: 'speedKmh', scale: 0 } } }, /scale: must not be 0/],
    ['bad transform', { ...base, signals: { 'A.B': { quantity: 'speedKmh', transform: 'sqrt' } } }, /transform: must be one of abs, isNegative, negate/],
    ['transform on an enumeration', { ...base, signals: { 'A.B': { quantity: 'gear', transform: 'abs', default: 0 } } }, /is an enumeration; transforms apply to numbers/],
    ['enumeration not covered', { ...base, signals: { 'A.B': { quantity: 'gear', map: { P: 0, D: 3 } } } }, /"map" must cover R, N or give a "default"/],
    ['enumeration key unknown', { ...base, signals: { 'A.B': { quantity: 'gear', map: { X: 0 }, default: 0 } } }, /map\["X"\]: quantity gear takes only P, R, N, D/],
    ['numeric map key not a number', { ...base, signals: { 'A.B': { quantity: 'currentGear', map: { first: 1 } } } }, /map keys must be numbers/],
    ['map value not usable', { ...base, signals: { 'A.B': { quantity: 'currentGear', map: { '1': null } } } }, /map\["1"\]: must be a finite number or a value-table text/],
    ['default without a map', { ...base, signals: { 'A.B': { quantity: 'speedKmh', default: 0 } } }, /default: applies only together with "map"/],
    ['empty map', { ...base, signals: { 'A.B': { quantity: 'currentGear', map: {} } } }, /map: must be a non-empty object/],
  ];
  for (const [name, json, message] of cases) {
    it(`refuses ${name} with EMULATOR_MAPPING naming the problem`, () => {
      const err = errorOf(() => parseMapping(json, 'tiny.json'));
      expect(err.code).toBe('EMULATOR_MAPPING');
      expect(err.message).toMatch(/^tiny\.json: /);
      expect(err.message).toMatch(message);
    });
  }
});

describe('loadMappingFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tcu-mapping-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a file', () => {
    const path = join(dir, 'ok.json');
    writeFileSync(path, JSON.stringify({ ...base, signals: { 'Speed.VehSpeed': { quantity: 'speedKmh' } } }));
    expect(loadMappingFile(path).signals['Speed.VehSpeed']).toEqual({ quantity: 'speedKmh' });
  });

  it('refuses a missing file with FILE_READ and bad JSON with EMULATOR_MAPPING', () => {
    expect(errorOf(() => loadMappingFile(join(dir, 'missing.json'))).code).toBe('FILE_READ');
    const path = join(dir, 'bad.json');
    writeFileSync(path, '{ "version": 1, ');
    const err = errorOf(() => loadMappingFile(path));
    expect(err.code).toBe('EMULATOR_MAPPING');
    expect(err.message).toMatch(/bad\.json: not valid JSON/);
  });
});

describe('resolveMapping', () => {
  const db = tinyDb();
  const resolve = (signals: Record<string, unknown>) => resolveMapping(parseMapping({ ...base, signals }), db);

  it('names a signal missing from the DBC', () => {
    const err = errorOf(() => resolve({ 'Speed.VehSped': { quantity: 'speedKmh' } }));
    expect(err.code).toBe('EMULATOR_MAPPING');
    expect(err.message).toBe('mapping signal "Speed.VehSped": message Speed in tiny.dbc has no signal VehSped');
    expect(err.details).toMatchObject({ key: 'Speed.VehSped' });
  });

  it('names a message missing from the DBC', () => {
    const err = errorOf(() => resolve({ 'Brakes.Pressure': { quantity: 'brakePedalPct' } }));
    expect(err.message).toBe('mapping signal "Brakes.Pressure": tiny.dbc has no message Brakes');
  });

  it('refuses value-table texts the signal does not have, and multiplexer switches', () => {
    const text = errorOf(() => resolve({ 'Engine.Gear': { quantity: 'gear', map: { P: 'PARK', R: 'R', N: 'N', D: 'D' } } }));
    expect(text.message).toMatch(/map\["P"\] "PARK" is not in the value table of Gear/);
    const mux = errorOf(() => resolve({ 'Muxed.Page': { quantity: 'currentGear' } }));
    expect(mux.message).toMatch(/Page is a multiplexer switch/);
  });

  it('computes values: scale and offset, transforms, value maps with table texts, defaults', () => {
    const r = resolve({
      'Speed.VehSpeed': { quantity: 'speedKmh', scale: 0.621371 },
      'Speed.SteerAbs': { quantity: 'steeringAngleDeg', transform: 'abs' },
      'Speed.SteerNeg': { quantity: 'steeringAngleDeg', transform: 'isNegative' },
      'Engine.Gear': { quantity: 'gear', map: { P: 'P', R: 'R', N: 'N', D: 'D' } },
      'Engine.Rpm': { quantity: 'engineRpm', offset: 10 },
      'Engine.Coolant': { quantity: 'ignition', map: { on: 90 }, default: -40 },
      'Muxed.A': { quantity: 'currentGear', map: { '-1': 0 } },
    });
    const state = { ...new VehicleModel({ seed: 1 }).snapshot() };
    const at = (s: Partial<VehicleState>, key: string): number => {
      const entry = r.signals.find((e) => e.key === key);
      if (!entry) throw new Error(key);
      return entry.valueFor({ ...state, ...s });
    };
    expect(at({ speedKmh: 100 }, 'Speed.VehSpeed')).toBeCloseTo(62.1371, 9);
    expect(at({ steeringAngleDeg: -12.5 }, 'Speed.SteerAbs')).toBe(12.5);
    expect(at({ steeringAngleDeg: -12.5 }, 'Speed.SteerNeg')).toBe(1);
    expect(at({ steeringAngleDeg: 12.5 }, 'Speed.SteerNeg')).toBe(0);
    expect(at({ gear: 'D' }, 'Engine.Gear')).toBe(3);
    expect(at({ gear: 'R' }, 'Engine.Gear')).toBe(1);
    expect(at({ engineRpm: 800 }, 'Engine.Rpm')).toBe(810);
    expect(at({ ignition: 'on' }, 'Engine.Coolant')).toBe(90);
    expect(at({ ignition: 'acc' }, 'Engine.Coolant')).toBe(-40);
    expect(at({ currentGear: -1 }, 'Muxed.A')).toBe(0);
    expect(at({ currentGear: 4 }, 'Muxed.A')).toBe(4);
    expect(r.find('Engine', 'Gear')?.signal.name).toBe('Gear');
    expect(r.find('Engine', 'Nope')).toBeUndefined();
  });
});

describe('builtin mappings', () => {
  it('ships a valid mapping for each of the fixture DBCs it names', () => {
    expect(builtinMappingNames()).toEqual(
      expect.arrayContaining(['vw_mqb.dbc', 'tesla_can.dbc', 'hyundai_2015_mcan.dbc', 'toyota_tss2_adas.dbc']),
    );
    for (const name of builtinMappingNames()) {
      const m = builtinMapping(`test/fixtures/dbc/${name}`);
      expect(m?.dbc).toBe(name);
      expect(Object.keys(m?.signals ?? {}).length).toBeGreaterThan(2);
    }
    expect(builtinMapping('unknown.dbc')).toBeUndefined();
  });

  it('resolves every shipped mapping against its fixture DBC (each named signal exists)', () => {
    for (const name of builtinMappingNames()) {
      const db = loadDbcFile(join('test/fixtures/dbc', name));
      const resolved = resolveMapping(builtinMapping(name)!, db);
      expect(resolved.signals.length).toBe(Object.keys(builtinMapping(name)!.signals).length);
    }
  });

  it('names the signal when a shipped mapping meets a DBC without it', () => {
    const db = loadDbcFile('test/fixtures/dbc/hongqi_hs5.dbc');
    const err = errorOf(() => resolveMapping(builtinMapping('vw_mqb.dbc')!, db, 'hongqi_hs5.dbc'));
    expect(err.code).toBe('EMULATOR_MAPPING');
    expect(err.message).toBe('mapping signal "ESP_19.ESP_HL_Radgeschw_02": hongqi_hs5.dbc has no message ESP_19');
  });
});
