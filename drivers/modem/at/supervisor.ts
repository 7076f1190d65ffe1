/**
 * Keeps an AtPort open: opens it, notices when it closes without being asked (a USB modem
 * re-enumerating after `AT+CFUN=1,1`, a cable pulled), and reopens it on the injected clock with
 * back-off (`initialMs`, doubling, up to `maxMs`) for as long as it takes; an open that fails
 * (ENOENT: the device path is not back yet) simply waits for the next attempt. Works over any
 * AtPort (serial port, emulator, test fault injector), which is why it is here and not in the port.
 *
 * States (AtLinkState): closed → opening → open; open → lost (closed under us) → open (reopened);
 * any → closed (stop). With `waitForPort`, a first open that fails goes to `lost` as well.
 */
import type { Clock, TimerHandle } from '../../../core/clock.js';
import { TcuError, asTcuError } from '../../../core/errors.js';
import type { Logger } from '../../../core/logger.js';
import type { AtLinkState, AtPort, Unsubscribe } from '../types.js';

export interface ReopenOptions {
  /** First wait after the port vanished. Default 250 ms. */
  initialMs?: number;
  /** The wait doubles per failed attempt up to this. Default 5000 ms. */
  maxMs?: number;
}

export interface SupervisorHooks {
  /** Bytes from the port while it is open (or opening). */
  data(chunk: Buffer): void;
  /** Every state change, after the supervisor's own state is set. `cause` comes with `lost`. */
  state(state: AtLinkState, cause?: TcuError): void;
  /** A failed open the supervisor survived (with `waitForPort`). */
  error(error: TcuError): void;
}

/** Wait before reopen attempt `attempt` (0-based): initialMs · 2^attempt, at most maxMs. No jitter: one port, one modem. */
export function reopenDelay(attempt: number, options: ReopenOptions = {}): number {
  const initial = options.initialMs ?? 250;
  const max = options.maxMs ?? 5000;
  return Math.min(max, initial * 2 ** Math.min(attempt, 30));
}

export class PortSupervisor {
  private current: AtLinkState = 'closed';
  /** Bumped by start() and stop(): callbacks of an older run are ignored. */
  private run = 0;
  private subs: Unsubscribe[] = [];
  private timer: TimerHandle | undefined;
  private attempt = 0;

  constructor(
    private readonly port: AtPort,
    private readonly clock: Clock,
    private readonly hooks: SupervisorHooks,
    private readonly options: { reopen?: ReopenOptions; waitForPort?: boolean; logger?: Logger } = {},
  ) {}

  get state(): AtLinkState {
    return this.current;
  }

  /** Rejects with AT_PORT_OPEN when the first open fails, unless `waitForPort` (then: `lost`, retrying). */
  async start(): Promise<void> {
    if (this.current !== 'closed') return;
    const run = ++this.run;
    this.subs = [
      this.port.onData((chunk) => {
        if (run === this.run && (this.current === 'open' || this.current === 'opening')) this.hooks.data(chunk);
      }),
      this.port.onClose((info) => this.closed(run, info.error)),
    ];
    this.attempt = 0;
    this.setState('opening');
    try {
      await this.port.open();
    } catch (err) {
      if (run !== this.run) return;
      const error = asTcuError(err, 'AT_PORT_OPEN', `cannot open ${this.port.path}`);
      if (!this.options.waitForPort) {
        this.unsubscribe();
        this.setState('closed');
        throw error;
      }
      this.hooks.error(error);
      this.setState('lost', error);
      this.schedule(run);
      return;
    }
    if (run !== this.run) return this.closeQuietly(); // stop() came while the port opened
    this.setState('open');
  }

  /** Stops reopening and closes the port. Errors closing it are reported through `hooks.error`. */
  async stop(): Promise<void> {
    if (this.current === 'closed') return;
    this.run++;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.setState('closed');
    this.unsubscribe();
    if (this.port.isOpen) await this.port.close().catch((err: unknown) => this.hooks.error(asTcuError(err, 'AT_PORT_CLOSED', `closing ${this.port.path}`)));
  }

  private closed(run: number, error: TcuError | undefined): void {
    if (run !== this.run || this.current !== 'open') return;
    const cause = new TcuError('AT_PORT_CLOSED', `the port ${this.port.path} vanished; reopening`, { details: { path: this.port.path }, cause: error });
    this.options.logger?.warn({ code: cause.code, path: this.port.path, err: error?.message }, 'modem port lost; reopening');
    this.attempt = 0;
    this.setState('lost', cause);
    this.schedule(run);
  }

  private schedule(run: number): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      void this.reopen(run);
    }, reopenDelay(this.attempt++, this.options.reopen));
  }

  private async reopen(run: number): Promise<void> {
    if (run !== this.run || this.current !== 'lost') return;
    try {
      await this.port.open();
    } catch (err) {
      if (run !== this.run) return;
      this.options.logger?.debug({ path: this.port.path, err: err instanceof Error ? err.message : String(err) }, 'modem port not back yet');
      this.schedule(run);
      return;
    }
    if (run !== this.run) return this.closeQuietly();
    this.options.logger?.info({ path: this.port.path, attempts: this.attempt }, 'modem port reopened');
    this.setState('open');
  }

  private async closeQuietly(): Promise<void> {
    await this.port.close().catch(() => undefined);
  }

  private unsubscribe(): void {
    for (const off of this.subs) off();
    this.subs = [];
  }

  private setState(state: AtLinkState, cause?: TcuError): void {
    if (state === this.current) return;
    this.current = state;
    this.hooks.state(state, cause);
  }
}
