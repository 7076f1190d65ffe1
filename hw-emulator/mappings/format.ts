import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { TcuError } from '../../core/errors.js';
import { isQuantityName, QUANTITIES, type QuantityName } from '../vehicle/quantities.js';

/**
 * The emulator mapping file: which vehicle-model quantity drives which DBC signal.
 *
 * ```json
 * { "version": 1, "dbc": "vw_mqb.dbc",
 *   "signals": {
 *     "ESP_19.ESP_HL_Radgeschw_02": { "quantity": "speedKmh" },
 *     "LWI_01.LWI_Lenkradwinkel":   { "quantity": "steeringAngleDeg", "transform": "abs" },
 *     "LWI_01.LWI_VZ_Lenkradwinkel": { "quantity": "steeringAngleDeg", "transform": "isNegative" },
 *     "Getriebe_11.GE_Fahrstufe":   { "quantity": "gear", "map": { "P": "P", "R": "R", "N": "N", "D": "D" } } } }
 * ```
 *
 * The value sent is: quantity → `transform` → `map` (when the value has an entry: the entry is the
 * signal's physical value or value-table text, used as is) or else `value × scale + offset`.
 */

export type MappingTransform = 'abs' | 'isNegative' | 'negate';
export const MAPPING_TRANSFORMS: readonly MappingTransform[] = ['abs', 'isNegative', 'negate'];

export interface SignalMappingRule {
  quantity: QuantityName;
  /** Multiplies the (transformed) quantity. Default 1. */
  scale?: number;
  /** Added after `scale`. Default 0. */
  offset?: number;
  /** `abs` (magnitude), `isNegative` (1 when below zero, else 0: sign bits), `negate`. */
  transform?: MappingTransform;
  /**
   * Value map, keyed by the quantity's text (`"P"`) or number (`"3"`): the signal's physical value,
   * or a text from the signal's value table.
   */
  map?: Record<string, number | string>;
  /** Used when `map` has no entry for the value (required for enumerations the map does not cover). */
  default?: number | string;
}

export interface EmulatorMapping {
  version: 1;
  /** File name of the DBC the mapping was written for. */
  dbc: string;
  description?: string;
  /** Keyed `Message.Signal`. */
  signals: Record<string, SignalMappingRule>;
}

const TOP_KEYS = new Set(['version', 'dbc', 'description', 'signals']);
const RULE_KEYS = new Set(['quantity', 'scale', 'offset', 'transform', 'map', 'default']);

/** Validates the shape of a parsed mapping file. Throws `EMULATOR_MAPPING` naming the path and the rule broken. */
export function parseMapping(json: unknown, source = 'mapping'): EmulatorMapping {
  const fail = (path: string, problem: string): never => {
    throw new TcuError('EMULATOR_MAPPING', `${source}: ${path}: ${problem}`, { details: { file: source, path } });
  };
  if (!isObject(json)) return fail('(root)', 'must be a JSON object');
  for (const key of Object.keys(json)) if (!TOP_KEYS.has(key)) fail(key, `unknown key (allowed: ${[...TOP_KEYS].join(', ')})`);
  if (json['version'] !== 1) fail('version', `must be 1, not ${JSON.stringify(json['version'])}`);
  const dbc = json['dbc'];
  if (typeof dbc !== 'string' || dbc.length === 0) return fail('dbc', 'must be the DBC file name, a non-empty string');
  const description = json['description'];
  if (description !== undefined && typeof description !== 'string') fail('description', 'must be a string');
  const signals = json['signals'];
  if (!isObject(signals)) return fail('signals', 'must be an object keyed "Message.Signal"');

  const out: Record<string, SignalMappingRule> = {};
  for (const [key, raw] of Object.entries(signals)) {
    const path = `signals["${key}"]`;
    if (!/^[^.\s]+\.[^.\s]+$/.test(key)) fail(path, 'key must be "Message.Signal"');
    out[key] = parseRule(raw, path, fail);
  }
  const mapping: EmulatorMapping = { version: 1, dbc, signals: out };
  if (typeof description === 'string') mapping.description = description;
  return mapping;
}

function parseRule(raw: unknown, path: string, fail: (path: string, problem: string) => never): SignalMappingRule {
  if (!isObject(raw)) return fail(path, 'must be an object with at least "quantity"');
  for (const key of Object.keys(raw)) if (!RULE_KEYS.has(key)) fail(`${path}.${key}`, `unknown key (allowed: ${[...RULE_KEYS].join(', ')})`);
  const quantity = raw['quantity'];
  if (typeof quantity !== 'string' || !isQuantityName(quantity)) {
    return fail(`${path}.quantity`, `${JSON.stringify(quantity)} is not a quantity of the vehicle model (one of: ${Object.keys(QUANTITIES).join(', ')})`);
  }
  const rule: SignalMappingRule = { quantity };
  const kind = QUANTITIES[quantity].kind;
  for (const field of ['scale', 'offset'] as const) {
    const v = raw[field];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(`${path}.${field}`, 'must be a finite number');
    else rule[field] = v;
  }
  if (rule.scale === 0) fail(`${path}.scale`, 'must not be 0');
  const transform = raw['transform'];
  if (transform !== undefined) {
    if (!MAPPING_TRANSFORMS.includes(transform as MappingTransform)) {
      fail(`${path}.transform`, `must be one of ${MAPPING_TRANSFORMS.join(', ')}`);
    }
    if (kind !== 'number') fail(`${path}.transform`, `quantity ${quantity} is an enumeration; transforms apply to numbers`);
    rule.transform = transform as MappingTransform;
  }
  const map = raw['map'];
  if (map !== undefined) {
    if (!isObject(map) || Object.keys(map).length === 0) return fail(`${path}.map`, 'must be a non-empty object');
    const entries: Record<string, number | string> = {};
    for (const [from, to] of Object.entries(map)) {
      if (!isMapValue(to)) fail(`${path}.map["${from}"]`, 'must be a finite number or a value-table text');
      else entries[from] = to;
      if (kind === 'number' && !Number.isFinite(Number(from))) {
        fail(`${path}.map["${from}"]`, `quantity ${quantity} is numeric; map keys must be numbers`);
      }
      if (kind !== 'number' && !kind.includes(from)) {
        fail(`${path}.map["${from}"]`, `quantity ${quantity} takes only ${kind.join(', ')}`);
      }
    }
    rule.map = entries;
  }
  const def = raw['default'];
  if (def !== undefined) {
    if (!isMapValue(def)) fail(`${path}.default`, 'must be a finite number or a value-table text');
    else rule.default = def;
    if (rule.map === undefined && kind === 'number') fail(`${path}.default`, 'applies only together with "map"');
  }
  if (kind !== 'number' && rule.default === undefined) {
    const missing = kind.filter((k) => rule.map?.[k] === undefined);
    if (missing.length > 0) {
      fail(path, `quantity ${quantity} is an enumeration (${kind.join(', ')}); "map" must cover ${missing.join(', ')} or give a "default"`);
    }
  }
  return rule;
}

/** Reads and validates a mapping file. Throws `FILE_READ` or `EMULATOR_MAPPING`. */
export function loadMappingFile(path: string): EmulatorMapping {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new TcuError('FILE_READ', `cannot read mapping file ${path}: ${(err as Error).message}`, { cause: err, details: { file: path } });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new TcuError('EMULATOR_MAPPING', `${basename(path)}: not valid JSON: ${(err as Error).message}`, { cause: err, details: { file: path } });
  }
  return parseMapping(json, basename(path));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isMapValue(v: unknown): v is number | string {
  return (typeof v === 'number' && Number.isFinite(v)) || (typeof v === 'string' && v.length > 0);
}
