/**
 * The AT-command engine: one command in flight, a bounded queue behind it, a timeout per command,
 * unsolicited result codes routed as events wherever they arrive, and a supervisor that reopens a
 * port that vanished. It implements `AtCommander` over any `AtPort` (the serial port, the
 * emulator's, a test's fault injector). Framing lives in `at/lines.ts`, the meaning of a line in
 * `at/results.ts` (with the URC-versus-reply rule); this file holds the state.
 *
 * A command's life: queued → written (`command + "\r"`, its timer starts) → [`> ` prompt → payload
 * + Ctrl-Z] → settled by its final result code, by its timeout, or by the port closing. Every
 * command settles: the timer runs from the write, and the queue only moves forward.
 *
 * Echo (ATE1): the first line of a command that repeats the command itself is dropped, and so are
 * the echoed lines of a payload. The splitter joins an echo that arrived across reads.
 *
 * After a timeout (a late reply must not be taken for the next command's): the engine resyncs. It
 * writes nothing and drops every line (the echo, replies, final result codes; URCs named like the
 * timed-out command too) except other known URCs until the port has been quiet for
 * `resyncQuietMs` (any byte restarts the wait), or `resyncMaxMs` at most; then the queue moves on.
 * Lines arriving after that are taken for the next command: the limit of any scheme without echo.
 * Each timeout raises `consecutiveTimeouts` (also in the AT_TIMEOUT error's details); a final
 * result code attributed to a command, or a reopened port, sets it back to 0. What to do about it
 * (re-initialise, then `AT+CFUN=1,1`) is the modem's policy (`modem.ts`), not the engine's.
 *
 * Port supervision is `at/supervisor.ts`, owned by the engine (not by the port, so it works over any
 * AtPort): when the port closes without `stop()`, the state goes to `lost`, the command in flight
 * and the queue reject with AT_PORT_CLOSED, and the port is reopened on the injected clock with
 * back-off until its device path is back; then the state is `open` again. Commands sent while the
 * state is not `open` (opening, lost, closed) are refused at once with AT_PORT_CLOSED.
 */
import type { Clock, TimerHandle } from '../../core/clock.js';
import { Counters } from '../../core/counters.js';
import { TcuError, asTcuError } from '../../core/errors.js';
import { OncePerKind, type Logger } from '../../core/logger.js';
import { PendingCommand, commandProblem, payloadProblem } from './at/command.js';
import { AtLineSplitter, DEFAULT_MAX_LINE_LENGTH, isEchoOf, type AtToken } from './at/lines.js';
import { UrcMatcher, classifyLine, lineName, type FinalResult } from './at/results.js';
import { PortSupervisor, type ReopenOptions } from './at/supervisor.js';
import type { AtCommandOptions, AtCommander, AtLinkState, AtPort, AtResponse, Unsubscribe } from './types.js';

export interface AtEngineOptions {
  port: AtPort;
  clock: Clock;
  /** Per command unless it gives its own. Default 5000 ms. */
  defaultTimeoutMs?: number;
  /** Commands waiting behind the one in flight; more are refused with AT_QUEUE_FULL. Default 32. */
  queueLimit?: number;
  logger?: Logger;
  /** After a timeout, the quiet gap that ends the resync. Default 300 ms. */
  resyncQuietMs?: number;
  /** After a timeout, the longest resync however chatty the port. Default 2000 ms. */
  resyncMaxMs?: number;
  /** Back-off of the reopen attempts after the port vanished. Default 250 ms doubling to 5000 ms. */
  reopen?: ReopenOptions;
  /** false (default): start() rejects with AT_PORT_OPEN when the first open fails. true: it resolves, the state is `lost` and the engine keeps trying. */
  waitForPort?: boolean;
  /** Longer lines are dropped and counted. Default 4096 bytes. */
  maxLineLength?: number;
  /** The URC list (`at/results.ts` DEFAULT_URC_PATTERNS by default). */
  urcPatterns?: readonly string[];
}

export const AT_ENGINE_COUNTER_NAMES = [
  /** Commands written to the port. */
  'commands',
  'ok',
  /** Commands ended by ERROR, +CME/+CMS ERROR, NO CARRIER, BUSY, ... */
  'failed',
  'timeouts',
  /** Commands refused or ended because the port was not open or closed. */
  'portClosed',
  'queueFull',
  /** Unsolicited lines delivered (known and unknown). */
  'urcs',
  /** Of those, lines that matched no known URC (arrived with nothing in flight). */
  'unknownUrcs',
  'echoes',
  /** Lines dropped: late replies (resync, a final with nothing in flight), prompts nobody asked for. */
  'strayLines',
  'prompts',
  'malformedLines',
  'garbageBytes',
  /** Times the port came back after it vanished. */
  'reopens',
  'listenerErrors',
] as const;
export type AtEngineCounterName = (typeof AT_ENGINE_COUNTER_NAMES)[number];
export type AtEngineCounters = Readonly<Record<AtEngineCounterName, number>>;

type Listeners = {
  unsolicited: ((line: string) => void)[];
  state: ((state: AtLinkState) => void)[];
  error: ((error: TcuError) => void)[];
};

export class AtEngine implements AtCommander {
  private readonly port: AtPort;
  private readonly clock: Clock;
  private readonly splitter: AtLineSplitter;
  private readonly urcs: UrcMatcher;
  private readonly stats = new Counters(AT_ENGINE_COUNTER_NAMES);
  private readonly listeners: Listeners = { unsolicited: [], state: [], error: [] };
  private readonly supervisor: PortSupervisor;
  private readonly badInput: OncePerKind | undefined;
  private current: AtLinkState = 'closed';
  private queue: PendingCommand[] = [];
  private inFlight: PendingCommand | undefined;
  private resync: { names: string[]; command: string; quiet: TimerHandle | undefined; max: TimerHandle } | undefined;
  private timeoutsInARow = 0;
  private inData = false;

  constructor(private readonly options: AtEngineOptions) {
    this.port = options.port;
    this.clock = options.clock;
    this.splitter = new AtLineSplitter(options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH);
    this.urcs = new UrcMatcher(options.urcPatterns);
    this.badInput = options.logger ? new OncePerKind(options.logger) : undefined;
    const { reopen, waitForPort, logger } = options;
    this.supervisor = new PortSupervisor(
      options.port,
      options.clock,
      { data: (chunk) => this.data(chunk), state: (state, cause) => this.linkState(state, cause), error: (err) => this.emitError(err) },
      { reopen, waitForPort, logger },
    );
  }

  get state(): AtLinkState {
    return this.current;
  }

  /** Timeouts since the last final result code attributed to a command, or since the port (re)opened. */
  get consecutiveTimeouts(): number {
    return this.timeoutsInARow;
  }

  counters(): AtEngineCounters {
    return { ...this.stats.snapshot(), malformedLines: this.splitter.malformedLines, garbageBytes: this.splitter.garbageBytes };
  }

  /** Opens the port and starts supervising it. Rejects with AT_PORT_OPEN unless `waitForPort`. */
  start(): Promise<void> {
    return this.supervisor.start();
  }

  /** Rejects the command in flight and the queue with AT_PORT_CLOSED, stops reopening, closes the port. */
  stop(): Promise<void> {
    return this.supervisor.stop();
  }

  send(command: string, options: AtCommandOptions = {}): Promise<AtResponse> {
    const cmd = command.replace(/\r$/, '');
    const problem = commandProblem(cmd) ?? (options.payload === undefined ? undefined : payloadProblem(options.payload));
    if (problem) return Promise.reject(new TcuError('AT_COMMAND_FAILED', `"${cmd}" not sent: ${problem}`, { details: { command: cmd, final: '' } }));
    if (this.current !== 'open') {
      this.stats.inc('portClosed');
      return Promise.reject(this.portClosed(cmd, `the port ${this.port.path} is ${this.current}`));
    }
    const limit = this.options.queueLimit ?? 32;
    if (this.queue.length >= limit) {
      this.stats.inc('queueFull');
      return Promise.reject(new TcuError('AT_QUEUE_FULL', `${limit} AT commands already wait; "${cmd}" refused`, { details: { command: cmd, queueLimit: limit } }));
    }
    const timeoutMs = options.timeoutMs ?? this.options.defaultTimeoutMs ?? 5000;
    return new Promise<AtResponse>((resolve, reject) => {
      this.queue.push(new PendingCommand(cmd, timeoutMs, options.payload, resolve, reject));
      this.pump();
    });
  }

  onUnsolicited(listener: (line: string) => void): Unsubscribe {
    return this.listen(this.listeners.unsolicited, listener);
  }

  onState(listener: (state: AtLinkState) => void): Unsubscribe {
    return this.listen(this.listeners.state, listener);
  }

  onError(listener: (error: TcuError) => void): Unsubscribe {
    return this.listen(this.listeners.error, listener);
  }

  // -------------------------------------------------------------------------------------------
  // Commands

  private pump(): void {
    if (this.inFlight || this.inData || this.resync || this.current !== 'open') return;
    const job = this.queue.shift();
    if (!job) return;
    this.inFlight = job;
    this.stats.inc('commands');
    job.startedAt = this.clock.monotonic();
    job.timer = this.clock.setTimeout(() => this.timedOut(job), job.timeoutMs);
    this.write(job, `${job.command}\r`);
  }

  private write(job: PendingCommand, text: string): void {
    this.port.write(text).catch((err: unknown) => {
      if (this.inFlight !== job) return;
      this.stats.inc('portClosed');
      this.settle(job, asTcuError(err, 'AT_PORT_CLOSED', `writing "${job.command}" to ${this.port.path}`));
    });
  }

  /** Ends `job` (the one in flight) with a response or an error, then lets the queue move. */
  private settle(job: PendingCommand, outcome: AtResponse | TcuError): void {
    if (job.timer !== undefined) this.clock.clearTimeout(job.timer);
    job.timer = undefined;
    if (this.inFlight === job) this.inFlight = undefined;
    job.settle(outcome);
    this.pump();
  }

  private finalResult(job: PendingCommand, final: FinalResult): void {
    this.timeoutsInARow = 0;
    const outcome = job.outcome(final, this.clock.monotonic());
    this.stats.inc(outcome instanceof TcuError ? 'failed' : 'ok');
    this.settle(job, outcome);
  }

  private timedOut(job: PendingCommand): void {
    if (this.inFlight !== job) return;
    job.timer = undefined;
    this.stats.inc('timeouts');
    this.timeoutsInARow++;
    const error = new TcuError('AT_TIMEOUT', `no final result code for "${job.command}" within ${job.timeoutMs} ms`, {
      details: { command: job.command, timeoutMs: job.timeoutMs, consecutiveTimeouts: this.timeoutsInARow },
    });
    this.options.logger?.warn({ code: error.code, command: job.command, timeoutMs: job.timeoutMs, consecutiveTimeouts: this.timeoutsInARow }, 'AT command timed out');
    this.startResync(job);
    this.settle(job, error);
    this.emitError(error);
  }

  private startResync(job: PendingCommand): void {
    this.endResync();
    const max = this.clock.setTimeout(() => this.endResync(true), this.options.resyncMaxMs ?? 2000);
    this.resync = { names: job.names, command: job.command, quiet: undefined, max };
    this.restartQuiet();
  }

  private restartQuiet(): void {
    const r = this.resync;
    if (!r) return;
    if (r.quiet !== undefined) this.clock.clearTimeout(r.quiet);
    r.quiet = this.clock.setTimeout(() => this.endResync(true), this.options.resyncQuietMs ?? 300);
  }

  private endResync(thenPump = false): void {
    const r = this.resync;
    if (!r) return;
    if (r.quiet !== undefined) this.clock.clearTimeout(r.quiet);
    this.clock.clearTimeout(r.max);
    this.resync = undefined;
    if (thenPump) this.pump();
  }

  private failAll(reason: string, cause?: TcuError): void {
    const jobs = [...(this.inFlight ? [this.inFlight] : []), ...this.queue];
    this.inFlight = undefined;
    this.queue = [];
    for (const job of jobs) {
      if (job.timer !== undefined) this.clock.clearTimeout(job.timer);
      this.stats.inc('portClosed');
      job.settle(this.portClosed(job.command, reason, cause));
    }
  }

  private portClosed(command: string, reason: string, cause?: TcuError): TcuError {
    return new TcuError('AT_PORT_CLOSED', `"${command}" not answered: ${reason}`, { details: { command, path: this.port.path }, cause });
  }

  // -------------------------------------------------------------------------------------------
  // Bytes in

  private data(chunk: Buffer): void {
    const garbageBefore = this.splitter.garbageBytes;
    const tokens = this.splitter.push(chunk);
    if (this.resync) this.restartQuiet();
    this.inData = true;
    try {
      for (const token of tokens) {
        if (this.current !== 'open' && this.current !== 'opening') break; // a listener stopped the engine
        this.token(token);
      }
    } finally {
      this.inData = false;
    }
    const garbage = this.splitter.garbageBytes - garbageBefore;
    if (garbage > 0) this.malformed(`${garbage} control or undecodable byte(s) from ${this.port.path} stripped`, { garbageBytes: garbage });
    this.pump();
  }

  private token(token: AtToken): void {
    if (token.kind === 'malformed') {
      this.malformed(`a line of ${token.length} bytes from ${this.port.path} exceeds ${this.splitter.maxLineLength}; dropped`, { length: token.length });
      return;
    }
    const job = this.inFlight;
    if (token.kind === 'prompt') {
      this.stats.inc('prompts');
      if (job && job.payload !== undefined && !job.promptDone) {
        job.promptDone = true;
        this.write(job, `${job.payload}\x1a`);
      } else if (job && job.payload === undefined) {
        this.stats.inc('strayLines');
        this.write(job, '\x1b'); // the modem wants a payload nobody gave: ESC cancels, it answers
      } else this.stats.inc('strayLines');
      return;
    }
    this.line(token.text, job);
  }

  private line(text: string, job: PendingCommand | undefined): void {
    if (job?.takeEcho(text)) {
      this.stats.inc('echoes');
      return;
    }
    if (this.resync) {
      const r = this.resync;
      const late = isEchoOf(text, r.command) || r.names.includes(lineName(text) ?? '') || !this.urcs.matches(text);
      if (late) {
        this.stats.inc('strayLines');
        this.options.logger?.debug({ line: text, after: r.command }, 'AT line dropped while resyncing after a timeout');
        return;
      }
    }
    const role = classifyLine(text, job?.names, this.urcs);
    switch (role.role) {
      case 'final':
        if (job) this.finalResult(job, role.final);
        return;
      case 'intermediate':
        job?.lines.push(text);
        return;
      case 'stray':
        this.stats.inc('strayLines');
        this.options.logger?.debug({ line: text }, 'AT final result code with no command in flight dropped');
        return;
      case 'unsolicited':
        this.stats.inc('urcs');
        if (!role.known) this.stats.inc('unknownUrcs');
        for (const l of [...this.listeners.unsolicited]) this.call(() => l(text));
    }
  }

  private malformed(message: string, details: Record<string, unknown>): void {
    this.badInput?.report('AT_REPLY_MALFORMED', { path: this.port.path, ...details }, message);
    this.emitError(new TcuError('AT_REPLY_MALFORMED', message, { details: { path: this.port.path, ...details } }));
  }

  // -------------------------------------------------------------------------------------------
  // The link

  private linkState(state: AtLinkState, cause: TcuError | undefined): void {
    const previous = this.current;
    if (state === 'lost' || state === 'closed') {
      this.endResync();
      this.splitter.reset();
      const reason = state === 'closed' ? `the engine on ${this.port.path} stopped` : `the port ${this.port.path} closed`;
      this.failAll(reason, cause);
    }
    if (state === 'open') {
      this.splitter.reset();
      this.timeoutsInARow = 0;
      if (previous === 'lost') this.stats.inc('reopens');
    }
    this.setState(state);
    if (state === 'lost' && previous === 'open' && cause) this.emitError(cause);
    if (state === 'open') this.pump();
  }

  // -------------------------------------------------------------------------------------------
  // Listeners

  private setState(state: AtLinkState): void {
    if (state === this.current) return;
    this.current = state;
    for (const l of [...this.listeners.state]) this.call(() => l(state));
  }

  private emitError(error: TcuError): void {
    for (const l of [...this.listeners.error]) this.call(() => l(error));
  }

  /**
   * Runs a listener. One that throws is counted (`listenerErrors`) and logged, and never reaches the
   * port's reader or the other listeners. (No catalogue code fits a listener's own bug, so it is not
   * re-emitted through onError.)
   */
  private call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.stats.inc('listenerErrors');
      this.options.logger?.error({ err: err instanceof Error ? err.message : String(err) }, 'an AT engine listener threw');
    }
  }

  private listen<T>(list: T[], listener: T): Unsubscribe {
    list.push(listener);
    return () => {
      const i = list.indexOf(listener);
      if (i >= 0) list.splice(i, 1);
    };
  }
}
