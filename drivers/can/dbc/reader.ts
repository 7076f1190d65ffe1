import type { ErrorCode } from '../../../core/errors.js';
import type { RawTarget, RawValue, Warn, Where } from './raw.js';
import { STATEMENT_KEYWORDS, Tokenizer, type Token } from './tokenizer.js';

/** Token-level helpers of the statement parser: expectations, and the errors they raise. */

export class StatementError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Where parsing stopped (recovery starts from there). */
    readonly token: Token,
    /** Where to report it, when not at `token`. */
    readonly at: Where = where(token),
  ) {
    super(message);
  }
}

export function where(t: Token): Where {
  return { line: t.line, column: t.column };
}

export function describe(t: Token): string {
  switch (t.kind) {
    case 'eof':
      return 'end of file';
    case 'string':
      return `string "${t.text.length > 20 ? `${t.text.slice(0, 20)}...` : t.text}"`;
    case 'error':
      return t.text;
    default:
      return `'${t.text}'`;
  }
}

export function isKeywordAtLineStart(t: Token): boolean {
  return t.kind === 'word' && t.firstOnLine && STATEMENT_KEYWORDS.has(t.text);
}

export class TokenReader {
  protected readonly tk: Tokenizer;

  constructor(
    text: string,
    protected readonly warn: Warn,
  ) {
    this.tk = new Tokenizer(text);
  }

  /**
   * A token that is not what the grammar wants. When it starts a new line, the line before
   * ended too early: the warning points just after that line's last token.
   */
  protected fail(t: Token, expected: string): never {
    const prev = this.tk.before(t);
    const early = t.firstOnLine && prev !== undefined && t.kind !== 'error';
    const at = early ? { line: prev.endLine, column: prev.endColumn } : where(t);
    throw new StatementError('DBC_SYNTAX', `expected ${expected}, got ${describe(t)}`, t, at);
  }

  /** Just after the last token consumed. */
  protected afterPrevious(): Where {
    const prev = this.tk.before(this.tk.peek());
    return prev === undefined ? { line: 1, column: 1 } : { line: prev.endLine, column: prev.endColumn };
  }

  protected word(what: string): string {
    const t = this.tk.next();
    if (t.kind !== 'word' || isKeywordAtLineStart(t)) this.fail(t, what);
    return t.text;
  }

  protected string(what: string): string {
    const t = this.tk.next();
    if (t.kind !== 'string') this.fail(t, what);
    return t.text;
  }

  protected numberToken(what: string): Token {
    const t = this.tk.next();
    if (t.kind !== 'number') this.fail(t, what);
    return t;
  }

  protected float(what: string): number {
    const t = this.numberToken(what);
    const v = Number(t.text);
    if (!Number.isFinite(v)) throw new StatementError('DBC_SYNTAX', `${what} '${t.text}' is not a finite number`, t);
    return v;
  }

  protected int(what: string, min: number, max: number): number {
    const t = this.numberToken(what);
    const v = Number(t.text);
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new StatementError('DBC_SYNTAX', `${what} '${t.text}' is not an integer in ${min}..${max}`, t);
    }
    return v;
  }

  /** Consumes `ch`; when `optional`, only if it is there. */
  protected punct(ch: string, optional = false): boolean {
    const p = this.tk.peek();
    if (p.kind === 'punct' && p.text === ch) {
      this.tk.next();
      return true;
    }
    if (!optional) this.fail(this.tk.next(), `'${ch}'`);
    return false;
  }

  protected value(): RawValue {
    const t = this.tk.next();
    if (t.kind !== 'number' && t.kind !== 'string') this.fail(t, 'a number or a string');
    return { text: t.text, isString: t.kind === 'string', where: where(t) };
  }

  /** The closing `;`. A missing one before the next statement is only a warning. */
  protected end(): void {
    const t = this.tk.peek();
    if (t.kind === 'punct' && t.text === ';') {
      this.tk.next();
      return;
    }
    if (t.kind === 'eof' || isKeywordAtLineStart(t)) {
      this.warn('DBC_SYNTAX', `missing ';' before ${describe(t)}`, this.afterPrevious());
      return;
    }
    this.fail(this.tk.next(), "';'");
  }

  protected skipStatement(): void {
    for (;;) {
      const t = this.tk.peek();
      if (t.kind === 'error') this.fail(this.tk.next(), "';'");
      if (t.kind === 'eof' || isKeywordAtLineStart(t)) return this.end();
      this.tk.next();
      if (t.kind === 'punct' && t.text === ';') return;
    }
  }

  protected messageId(): { dbcId: number; target: Where } {
    const t = this.tk.peek();
    return { dbcId: this.int('message id', 0, 0xffffffff), target: where(t) };
  }

  protected signalTarget(): RawTarget {
    const { dbcId, target } = this.messageId();
    const name = this.word('signal name');
    return { kind: 'SG_', dbcId, name, where: target };
  }

  protected valuePairs(): Array<[number, string]> {
    const pairs: Array<[number, string]> = [];
    while (this.tk.peek().kind === 'number') {
      const raw = this.float('value');
      pairs.push([raw, this.string('value description')]);
    }
    return pairs;
  }
}
