import type { Clock } from '../../core/clock.js';
import { TcuError } from '../../core/errors.js';
import type { AgentConfig } from '../../config/index.js';
import { IgnitionWatcher, OnChangeCollector, PeriodicCollector, type BoundSignal, type RecordSink } from '../collect/collectors.js';
import type { SignalState } from '../collect/signal-state.js';

export interface Collection {
  periodic: PeriodicCollector[];
  onChange: OnChangeCollector[];
  ignition: IgnitionWatcher | undefined;
  start(): void;
  stop(): void;
}

/**
 * Builds the collectors the configuration names, each signal resolved once against its bus's DBC.
 * A signal the DBCs do not have is refused at start (CONFIG_INVALID naming the configuration path).
 */
export function buildCollection(collect: AgentConfig['collect'], states: ReadonlyMap<string, SignalState>, sink: RecordSink, clock: Clock): Collection {
  const bind = (key: string, bus: string | undefined, path: string): BoundSignal => {
    const candidates = bus === undefined ? [...states.values()] : [states.get(bus)].filter((s): s is SignalState => s !== undefined);
    for (const state of candidates) {
      try {
        return { ref: state.resolve(key), state };
      } catch {
        // try the next bus
      }
    }
    const where = bus === undefined ? 'any bus' : `bus ${bus}`;
    throw new TcuError('CONFIG_INVALID', `${path}: signal ${key} is not in the DBC of ${where}`, { details: { path, key } });
  };

  const periodic = collect.periodic.map(
    (p, i) =>
      new PeriodicCollector(
        { name: p.name, everyMs: p.everyMs, maxAgeMs: p.maxAgeMs, priority: p.priority, signals: p.signals.map((key, j) => bind(key, p.bus, `/collect/periodic/${i}/signals/${j}`)) },
        sink,
        clock,
      ),
  );
  const onChange = collect.onChange.map(
    (c, i) => new OnChangeCollector({ signal: bind(c.signal, c.bus, `/collect/onChange/${i}/signal`), deadband: c.deadband, minIntervalMs: c.minIntervalMs, priority: c.priority }, sink, clock),
  );
  let ignition: IgnitionWatcher | undefined;
  if (collect.ignition) {
    const signal = bind(collect.ignition.signal, collect.ignition.bus, '/collect/ignition/signal');
    const onValues = collect.ignition.onValues.map((v, i) => (typeof v === 'number' ? v : choiceValue(signal, v, `/collect/ignition/onValues/${i}`)));
    ignition = new IgnitionWatcher({ signal, onValues, priority: collect.ignition.priority }, sink, clock);
  }
  return {
    periodic,
    onChange,
    ignition,
    start: () => periodic.forEach((p) => p.start()),
    stop: () => {
      periodic.forEach((p) => p.stop());
      onChange.forEach((c) => c.stop());
    },
  };
}

/** The scaled value whose value-table text is `text`. */
function choiceValue(signal: BoundSignal, text: string, path: string): number {
  const s = signal.state.signalOf(signal.ref);
  for (const [raw, name] of s.choices ?? []) if (name === text) return raw * s.factor + s.offset;
  throw new TcuError('CONFIG_INVALID', `${path}: signal ${signal.ref.key} has no value "${text}" in its value table`, { details: { path } });
}
