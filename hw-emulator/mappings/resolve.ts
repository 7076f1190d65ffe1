import { TcuError } from '../../core/errors.js';
import type { DbcDatabase, DbcMessage, DbcSignal } from '../../drivers/can/dbc/model.js';
import { QUANTITIES } from '../vehicle/quantities.js';
import type { VehicleState } from '../vehicle/state.js';
import type { EmulatorMapping, SignalMappingRule } from './format.js';

/** One mapping entry bound to its DBC message and signal. */
export interface ResolvedSignalMapping {
  /** `Message.Signal`. */
  readonly key: string;
  readonly message: DbcMessage;
  readonly signal: DbcSignal;
  readonly rule: SignalMappingRule;
  /** The signal's physical value for this vehicle state (before clamping to the signal's range). */
  valueFor(state: VehicleState): number;
}

export interface ResolvedMapping {
  readonly mapping: EmulatorMapping;
  readonly signals: readonly ResolvedSignalMapping[];
  /** The entry driving `signal` of `message`, if any. */
  find(messageName: string, signalName: string): ResolvedSignalMapping | undefined;
}

/**
 * Binds a mapping to a DBC: every `Message.Signal` must exist, value-table texts must be in the
 * signal's table, and multiplexer switches cannot be mapped (the generator rotates them).
 * Throws `EMULATOR_MAPPING` naming the first entry that does not fit.
 */
export function resolveMapping(mapping: EmulatorMapping, db: DbcDatabase, source = mapping.dbc): ResolvedMapping {
  const messages = new Map<string, DbcMessage>();
  for (const m of db.messages) if (!messages.has(m.name)) messages.set(m.name, m);

  const resolved: ResolvedSignalMapping[] = [];
  const index = new Map<string, ResolvedSignalMapping>();
  for (const [key, rule] of Object.entries(mapping.signals)) {
    const fail = (problem: string): never => {
      throw new TcuError('EMULATOR_MAPPING', `mapping signal "${key}": ${problem}`, { details: { key, dbc: source } });
    };
    const dot = key.indexOf('.');
    const messageName = key.slice(0, dot);
    const signalName = key.slice(dot + 1);
    const message = messages.get(messageName) ?? fail(`${source} has no message ${messageName}`);
    const signal = message.signals.find((s) => s.name === signalName) ?? fail(`message ${messageName} in ${source} has no signal ${signalName}`);
    if (signal.isMultiplexer) fail(`${signalName} is a multiplexer switch; the generator rotates it and it cannot be mapped`);

    const toPhysical = (v: number | string, where: string): number => {
      if (typeof v === 'number') return v;
      for (const [raw, text] of signal.choices ?? []) if (text === v) return raw * signal.factor + signal.offset;
      return fail(`${where} "${v}" is not in the value table of ${signalName}`);
    };
    const mapped = new Map<string, number>();
    for (const [from, to] of Object.entries(rule.map ?? {})) mapped.set(from, toPhysical(to, `map["${from}"]`));
    const fallback = rule.default === undefined ? undefined : toPhysical(rule.default, 'default');
    const read = QUANTITIES[rule.quantity].read;
    const scale = rule.scale ?? 1;
    const offset = rule.offset ?? 0;
    const transform = rule.transform;

    const entry: ResolvedSignalMapping = {
      key,
      message,
      signal,
      rule,
      valueFor(state: VehicleState): number {
        let v = read(state);
        if (typeof v === 'number') {
          if (transform === 'abs') v = Math.abs(v);
          else if (transform === 'isNegative') v = v < 0 ? 1 : 0;
          else if (transform === 'negate') v = -v;
        }
        if (mapped.size > 0) {
          const hit = mapped.get(String(v));
          if (hit !== undefined) return hit;
        }
        if (typeof v === 'string') return fallback ?? 0; // enumerations are covered by map or default (checked on parse)
        if (fallback !== undefined && mapped.size > 0) return fallback;
        return v * scale + offset;
      },
    };
    resolved.push(entry);
    index.set(`${message.name}\u0000${signal.name}`, entry);
  }
  return {
    mapping,
    signals: resolved,
    find: (messageName, signalName) => index.get(`${messageName}\u0000${signalName}`),
  };
}
