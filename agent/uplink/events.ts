/** The uplink's events: state changes and typed failures, to listeners and to the log. */
import { asTcuError, type TcuError } from '../../core/errors.js';
import { OncePerKind, type Logger } from '../../core/logger.js';

export type UplinkState = 'idle' | 'connecting' | 'connected' | 'disconnected' | 'stopped';

export interface UplinkEvents {
  state: (state: UplinkState) => void;
  /** Every failure, typed: UPLINK_CONNECT, UPLINK_AUTH, UPLINK_PUBLISH, UPLINK_OVERSIZE, UPLINK_COMMAND_*, ... */
  error: (err: TcuError) => void;
}

export class UplinkEmitter {
  private readonly listeners: { [K in keyof UplinkEvents]: Set<UplinkEvents[K]> } = { state: new Set(), error: new Set() };
  private readonly badInput: OncePerKind;

  constructor(private readonly logger: Logger) {
    this.badInput = new OncePerKind(logger);
  }

  /** Subscribes to an event; returns the function that unsubscribes. A listener that throws is ignored. */
  on<K extends keyof UplinkEvents>(event: K, listener: UplinkEvents[K]): () => void {
    const set = this.listeners[event] as Set<UplinkEvents[K]>;
    set.add(listener);
    return () => set.delete(listener);
  }

  state(state: UplinkState): void {
    for (const listener of this.listeners.state) {
      try {
        listener(state);
      } catch {
        // a listener's failure is its own
      }
    }
  }

  /** Logs (bad input once per kind) and tells the error listeners. */
  report(err: TcuError, level: 'warn' | 'debug' | 'once' = 'warn'): void {
    if (level === 'once') this.badInput.report(err.code, { ...err.details }, err.message);
    else this.logger[level]({ code: err.code, ...err.details }, err.message);
    for (const listener of this.listeners.error) {
      try {
        listener(err);
      } catch {
        // a listener's failure is its own
      }
    }
  }

  /** Nothing thrown in an event handler escapes into mqtt.js or the event loop. */
  guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.report(asTcuError(err, 'UPLINK_INTERNAL', 'an uplink event handler failed'));
    }
  }
}
