/**
 * One AT command from `send()` to its end: what was asked, the lines gathered for it, and the
 * response or error it ends with. No I/O and no timers of its own (the engine holds those).
 */
import type { TimerHandle } from '../../../core/clock.js';
import { TcuError } from '../../../core/errors.js';
import type { AtResponse } from '../types.js';
import { isEchoOf } from './lines.js';
import { commandNames, isSuccess, type FinalResult } from './results.js';

function hasControl(text: string, allowLineBreaks: boolean): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 || c === 0x7f) && !(allowLineBreaks && (c === 0x0a || c === 0x0d))) return true;
  }
  return false;
}

/** Why `command` cannot be sent (one printable line), or undefined when it can. */
export function commandProblem(command: string): string | undefined {
  if (command.trim() === '') return 'an AT command must not be empty';
  if (hasControl(command, false)) return 'an AT command is one line of printable text (no CR, LF, Ctrl-Z or ESC inside); a payload goes in options.payload';
  return undefined;
}

/** Why `payload` cannot be sent after a `> ` prompt, or undefined. It may span lines; Ctrl-Z and ESC would end it early. */
export function payloadProblem(payload: string): string | undefined {
  return payload.includes('\x1a') || payload.includes('\x1b') ? 'a payload must not contain Ctrl-Z or ESC (the engine ends it with Ctrl-Z)' : undefined;
}

export class PendingCommand {
  /** Extended command names (`+CREG`) for the URC-versus-reply rule. */
  readonly names: string[];
  readonly lines: string[] = [];
  /** The payload's lines as the modem echoes them after the prompt, in order. */
  private readonly payloadEcho: string[];
  private echoDone = false;
  /** The prompt came and the payload was written. */
  promptDone = false;
  startedAt = 0;
  timer: TimerHandle | undefined;

  constructor(
    readonly command: string,
    readonly timeoutMs: number,
    readonly payload: string | undefined,
    private readonly resolve: (response: AtResponse) => void,
    private readonly reject: (error: TcuError) => void,
  ) {
    this.names = commandNames(command);
    this.payloadEcho = (payload ?? '')
      .split(/[\r\n]+/)
      .map((l) => l.replace(/[^\t\x20-\x7e]/g, '').trim()) // as the splitter leaves the echo: 7-bit text
      .filter((l) => l !== '');
  }

  /**
   * True when `text` is the modem echoing the command (the first line, before any reply) or the
   * next line of the payload after the prompt; the echo is then consumed.
   */
  takeEcho(text: string): boolean {
    if (!this.echoDone && this.lines.length === 0 && isEchoOf(text, this.command)) {
      this.echoDone = true;
      return true;
    }
    if (this.promptDone && this.payloadEcho[0] === text) {
      this.payloadEcho.shift();
      return true;
    }
    return false;
  }

  /** The response for a successful final result code, the AT_COMMAND_FAILED error otherwise. */
  outcome(final: FinalResult, nowMs: number): AtResponse | TcuError {
    if (isSuccess(final)) return { command: this.command, lines: this.lines, final: final.line, elapsedMs: nowMs - this.startedAt };
    const details: Record<string, unknown> = { command: this.command, final: final.line, lines: this.lines };
    if (final.kind === 'error' && final.cme !== undefined) details['cme'] = final.cme;
    if (final.kind === 'error' && final.cms !== undefined) details['cms'] = final.cms;
    return new TcuError('AT_COMMAND_FAILED', `"${this.command}" answered ${final.line}`, { details });
  }

  settle(outcome: AtResponse | TcuError): void {
    if (outcome instanceof TcuError) this.reject(outcome);
    else this.resolve(outcome);
  }
}
