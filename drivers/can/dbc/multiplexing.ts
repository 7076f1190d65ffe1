import type { RawMessage, RawMuxValues, Warn } from './raw.js';

/**
 * Multiplexing as cantools resolves it. A message with exactly one switch (`M` or `mNM`) uses it
 * for every `mN` signal, and `SG_MUL_VAL_` can add values. With several switches (extended
 * multiplexing) only `SG_MUL_VAL_` says which switch selects a signal and with which values.
 */
export function resolveMultiplexing(m: RawMessage, values: readonly RawMuxValues[], warn: Warn): void {
  const bySwitch = new Map<string, Map<string, number[]>>();
  for (const v of values) {
    const items = bySwitch.get(v.switchName) ?? new Map<string, number[]>();
    items.set(v.target.name, v.ids);
    bySwitch.set(v.switchName, items);
  }
  const signalToSwitch = new Map<string, string>();
  for (const [switchName, items] of bySwitch) for (const name of items.keys()) signalToSwitch.set(name, switchName);

  const switches = m.signals.filter((s) => s.mux.endsWith('M'));
  const single = switches.length === 1 ? switches[0]!.signal.name : undefined;

  for (const { signal, mux } of m.signals) {
    delete signal.multiplexerSignal;
    delete signal.multiplexerIds;
    const ids = new Set<number>();
    let lookup: string | undefined;
    if (single !== undefined) {
      if (mux !== '' && !mux.endsWith('M')) ids.add(Number(mux.slice(1)));
      lookup = single;
      if (mux !== '' && signal.name !== single) signal.multiplexerSignal = single;
    } else if (mux !== '') {
      lookup = signalToSwitch.get(signal.name);
      if (lookup !== undefined) signal.multiplexerSignal = lookup;
    }
    for (const id of (lookup === undefined ? undefined : bySwitch.get(lookup)?.get(signal.name)) ?? []) ids.add(id);
    if (ids.size > 0) signal.multiplexerIds = [...ids].sort((a, b) => a - b);
  }

  if (m.drop) return;
  const byName = new Map(m.signals.map((s) => [s.signal.name, s.signal]));
  for (const { signal, mux, where } of m.signals) {
    if (mux !== '' && !mux.endsWith('M') && signal.multiplexerSignal === undefined) {
      warn('DBC_SEMANTIC', `signal ${signal.name} is multiplexed (${mux}) but message ${m.name} has no switch for it; always decoded`, where);
    }
    if (signal.multiplexerSignal === undefined) continue;
    const parent = byName.get(signal.multiplexerSignal);
    if (parent === undefined || !parent.isMultiplexer) {
      warn('DBC_SEMANTIC', `signal ${signal.name} is selected by ${signal.multiplexerSignal}, which is not a multiplexer switch of message ${m.name}; never decoded`, where);
    } else if (signal.multiplexerIds === undefined) {
      warn('DBC_SEMANTIC', `signal ${signal.name} has no multiplexer values; never decoded`, where);
    }
  }
  for (const v of values) {
    const sw = byName.get(v.switchName);
    if (sw === undefined || !sw.isMultiplexer) {
      warn('DBC_SEMANTIC', `SG_MUL_VAL_ names ${v.switchName}, which is not a multiplexer switch of message ${m.name}`, v.target.where);
    }
  }
}
