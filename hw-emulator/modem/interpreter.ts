import { chance, randomInt, type Rng } from '../vehicle/random.js';
import { errorResult, formatInformation, formatLine, MAX_LINE, parseCommandLine } from './at-syntax.js';
import { GENERAL_COMMANDS } from './commands-general.js';
import { GNSS_COMMANDS } from './commands-gnss.js';
import { NETWORK_COMMANDS } from './commands-network.js';
import type { Handler, HandlerContext } from './context.js';
import type { Scenario } from './scenarios.js';
import type { Wire } from './wire.js';

/**
 * The command side of the modem: collects typed bytes into command lines, echoes them when
 * ATE1, answers one line at a time through the handlers, and writes the reply (delayed, with
 * garbage before it or a URC inside it when the scenario says so) before taking the next line.
 */

const HANDLERS: ReadonlyMap<string, Handler> = new Map(Object.entries({ ...GENERAL_COMMANDS, ...NETWORK_COMMANDS, ...GNSS_COMMANDS }));

export type InterpreterCounter = 'bytesIn' | 'commands' | 'errors' | 'urcs' | 'garbageBytes';

export interface InterpreterOptions {
  ctx: HandlerContext;
  wire: Wire;
  rng: Rng;
  scenario: Scenario;
  stats: { inc(name: InterpreterCounter, by?: number): void };
  /** A URC for the middle of a reply (urc-storm). */
  stormText: () => string;
  /** Line noise for before a reply (garbage). */
  garbage: () => Buffer;
}

export class AtInterpreter {
  private typed = '';
  private readonly pending: string[] = [];
  private replying = false;
  private afterReply: (() => void)[] = [];

  constructor(private readonly options: InterpreterOptions) {}

  /** A reply is being written (or waits for its delay). */
  get busy(): boolean {
    return this.replying;
  }

  /** Forgets the line being typed, the lines waiting and what was to happen after the reply (a reset). */
  clear(): void {
    this.typed = '';
    this.pending.length = 0;
    this.replying = false;
    this.afterReply = [];
  }

  /** Runs `action` once the current reply is out (a setting that takes effect after OK). */
  whenReplied(action: () => void): void {
    this.afterReply.push(action);
  }

  /** Bytes typed by the agent. `\r` ends a line; `\n` is ignored; backspace deletes. */
  receive(bytes: Buffer): void {
    this.options.stats.inc('bytesIn', bytes.length);
    // Echoed as typed: the bytes after an ATE0 in the same write are not echoed.
    let echoFrom = 0;
    const echo = (to: number): void => {
      if (this.options.ctx.settings.echo && to > echoFrom) this.options.wire.push(bytes.subarray(echoFrom, to));
      echoFrom = to;
    };
    bytes.forEach((b, i) => {
      if (b === 0x0d) {
        echo(bytes[i + 1] === 0x0a ? i + 2 : i + 1);
        this.lineTyped(this.typed);
        this.typed = '';
      } else if (b === 0x08) this.typed = this.typed.slice(0, -1);
      else if (b !== 0x0a && this.typed.length <= MAX_LINE + 2) this.typed += String.fromCharCode(b);
    });
    echo(bytes.length);
  }

  /** Takes the next waiting line, if no reply is on its way. */
  answerNext(): void {
    if (this.replying) return;
    const body = this.pending.shift();
    if (body === undefined) return;
    this.replying = true;
    const { lines, final } = this.execute(body);
    const { scenario: s, rng, wire } = this.options;
    const delayMs = s.replyDelayMs ? randomInt(rng, s.replyDelayMs.min, s.replyDelayMs.max) : 0;
    const segments: (string | Buffer)[] = [];
    if (s.garbage && chance(rng, s.garbage.beforeReplyProbability)) segments.push(this.options.garbage());
    segments.push(formatInformation(lines));
    if (s.urcStorm && chance(rng, s.urcStorm.inReplyProbability)) {
      this.options.stats.inc('urcs');
      segments.push(formatLine(this.options.stormText()));
    }
    segments.push(formatLine(final));
    segments.forEach((segment, i) => {
      const last = i === segments.length - 1;
      wire.push(segment, { delayMs: i === 0 ? delayMs : 0, onDone: last ? () => this.replied() : undefined });
    });
  }

  /** Runs one command line (what follows `AT`) through the handlers: information lines and the final result code. */
  execute(body: string): { lines: string[]; final: string } {
    const { stats, ctx } = this.options;
    stats.inc('commands');
    const commands = body.length > MAX_LINE ? undefined : parseCommandLine(body);
    const lines: string[] = [];
    let final = 'OK';
    if (!commands) final = 'ERROR';
    for (const cmd of commands ?? []) {
      const handler = HANDLERS.get(cmd.name);
      // An unknown command is "operation not supported" (plain ERROR under AT+CMEE=0).
      const result = handler ? handler(cmd, ctx) : ({ error: 4 } as const);
      if ('error' in result) {
        final = errorResult(result.error, ctx.settings.cmee);
        break;
      }
      lines.push(...result.lines);
    }
    if (final !== 'OK') stats.inc('errors');
    return { lines, final };
  }

  private lineTyped(line: string): void {
    // Characters before "AT" are ignored (a stray \n, NUL, spaces); a line without it is no command.
    const start = line.search(/at/i);
    if (start < 0 || line.slice(0, start).replace(/[\s\0]/g, '') !== '') return;
    this.pending.push(line.slice(start + 2));
    this.answerNext();
  }

  private replied(): void {
    this.replying = false;
    const actions = this.afterReply;
    this.afterReply = [];
    for (const action of actions) action();
    this.answerNext();
  }
}
