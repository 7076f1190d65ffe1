import type { Counters } from '../../core/counters.js';
import type { TcuError } from '../../core/errors.js';
import { OncePerKind, type Logger } from '../../core/logger.js';
import { cloneSnapshot, type ModemCounterName, type SnapshotKey } from './modem-state.js';
import type { ModemSnapshot, Unsubscribe } from './types.js';

export type SnapshotListener = (snapshot: ModemSnapshot) => void;
export type ChangeListener = (snapshot: ModemSnapshot, changes: SnapshotKey[]) => void;
export type ModemErrorListener = (error: TcuError) => void;

/**
 * The Modem's listeners. Each gets its own copy of the snapshot. A listener that throws is counted
 * (`listenerErrors`) and logged; the others still run and the Modem carries on. Errors are logged
 * once per code, then only counted.
 */
export class ModemEvents {
  private readonly snapshot: SnapshotListener[] = [];
  private readonly change: ChangeListener[] = [];
  private readonly error: ModemErrorListener[] = [];
  private readonly once: OncePerKind;

  constructor(
    private readonly counters: Counters<ModemCounterName>,
    private readonly logger: Logger,
  ) {
    this.once = new OncePerKind(logger);
  }

  onSnapshot(listener: SnapshotListener): Unsubscribe {
    return listen(this.snapshot, listener);
  }

  onChange(listener: ChangeListener): Unsubscribe {
    return listen(this.change, listener);
  }

  onError(listener: ModemErrorListener): Unsubscribe {
    return listen(this.error, listener);
  }

  /** A new snapshot: snapshot listeners always, change listeners when something changed. */
  updated(current: ModemSnapshot, changes: SnapshotKey[]): void {
    for (const l of [...this.snapshot]) this.call(() => l(cloneSnapshot(current)), 'snapshot');
    if (changes.length > 0) for (const l of [...this.change]) this.call(() => l(cloneSnapshot(current), changes), 'change');
  }

  report(error: TcuError): void {
    this.once.report(error.code, { details: error.details }, error.message);
    for (const l of [...this.error]) this.call(() => l(error), 'error');
  }

  private call(fn: () => void, kind: string): void {
    try {
      fn();
    } catch (err) {
      this.counters.inc('listenerErrors');
      this.logger.warn({ kind, err: err instanceof Error ? err.message : String(err) }, 'a modem listener threw');
    }
  }
}

function listen<L>(list: L[], listener: L): Unsubscribe {
  list.push(listener);
  return () => {
    const i = list.indexOf(listener);
    if (i >= 0) list.splice(i, 1);
  };
}
