/**
 * The DBC tokenizer. Token classes follow cantools (`NUMBER`, `WORD`, `STRING`, single-character
 * punctuation; `//` comments and whitespace are skipped), with line and column tracking so that
 * every warning can point at the place in the file. It never throws: a character it does not
 * know, or a string that never closes, becomes an `error` token that the parser reports.
 */

export type TokenKind = 'word' | 'number' | 'string' | 'punct' | 'error' | 'eof';

export interface Token {
  kind: TokenKind;
  /** Word or number text; string contents with `\"` unescaped; the punctuation character; an error description. */
  text: string;
  /** Offset of the first character. */
  pos: number;
  /** 1-based line and column of the first character. */
  line: number;
  column: number;
  /** No other token precedes it on its line. */
  firstOnLine: boolean;
  /** 1-based line and column just after its last character. */
  endLine: number;
  endColumn: number;
}

/** Keywords that begin a statement (each also a valid `WORD`). */
export const STATEMENT_KEYWORDS: ReadonlySet<string> = new Set([
  'VERSION', 'NS_', 'BS_', 'BU_', 'BO_', 'SG_', 'EV_', 'CM_', 'BA_DEF_', 'BA_DEF_DEF_', 'BA_',
  'VAL_', 'VAL_TABLE_', 'SIG_VALTYPE_', 'BO_TX_BU_', 'SG_MUL_VAL_', 'ENVVAR_DATA_', 'EV_DATA_',
  'SGTYPE_', 'SGTYPE_VAL_', 'SIG_GROUP_', 'SIG_TYPE_REF_', 'SIGTYPE_VALTYPE_', 'BA_DEF_SGTYPE_',
  'BA_SGTYPE_', 'BA_DEF_REL_', 'BA_REL_', 'BA_DEF_DEF_REL_', 'BU_SG_REL_', 'BU_EV_REL_',
  'BU_BO_REL_', 'CAT_DEF_', 'CAT_', 'FILTER', 'NS_DESC_',
]);

const PUNCTUATION = '()[],|@;:+-';

/**
 * A line inside a string that starts like one of these statements means the string was never
 * closed: the tokenizer ends the string there rather than swallowing the rest of the file.
 */
const STATEMENT_LINE =
  String.raw`[ \t]*(?:BO_[ \t]+\d|SG_[ \t]+\w+[ \t]*(?:\w+[ \t]*)?:|CM_[ \t]|BA_(?:DEF_(?:DEF_)?)?[ \t]|VAL_(?:TABLE_)?[ \t]|SIG_VALTYPE_[ \t]|BO_TX_BU_[ \t]|SG_MUL_VAL_[ \t])`;

/** A number as cantools reads it (`[-+]?\d+\.?\d*([eE][+-]?\d+)?`), also accepting `.5`. */
const NUMBER = String.raw`[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?`;

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isWordChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

export class Tokenizer {
  private pos = 0;
  private line = 1;
  private lineStart = 0;
  /** Line on which the previous token ended (0 before the first token). */
  private lastTokenLine = 0;
  private peeked: Token[] = [];
  /** The tokens `next()` returned last and the one before. */
  private last: Token | undefined;
  private beforeLast: Token | undefined;
  /** Sticky regular expressions (own instances: `lastIndex` is state). */
  private readonly number = new RegExp(NUMBER, 'y');
  private readonly statementLine = new RegExp(STATEMENT_LINE, 'y');

  constructor(private readonly src: string) {
    if (src.charCodeAt(0) === 0xfeff) {
      this.pos = 1;
      this.lineStart = 1;
    }
  }

  /** The next token, consuming it. */
  next(): Token {
    this.beforeLast = this.last;
    this.last = this.peeked.shift() ?? this.scan();
    return this.last;
  }

  /** The token consumed before `t` (`t` being the last consumed or the next one). */
  before(t: Token): Token | undefined {
    return t === this.last ? this.beforeLast : this.last;
  }

  /** The token `ahead` positions on (0 = the next one), without consuming anything. */
  peek(ahead = 0): Token {
    while (this.peeked.length <= ahead) this.peeked.push(this.scan());
    return this.peeked[ahead]!;
  }

  /**
   * Recovery after a statement failed at `at`: continue at the next line whose first word is a
   * statement keyword (the line of `at` itself when `at` is such a keyword at line start).
   * With `skipSignals`, lines starting with `SG_` are skipped too (the failed `BO_` owns them).
   * `statementPos` is where the failed statement began: recovery always moves past it.
   */
  resync(at: Token, skipSignals: boolean, statementPos: number): void {
    this.peeked = [];
    const src = this.src;
    const n = src.length;
    let p = at.pos - (at.column - 1);
    let line = at.line;
    let check = at.firstOnLine && at.pos > statementPos;
    if (at.kind === 'eof') p = n;
    for (;;) {
      if (check && this.keywordLine(p, skipSignals)) break;
      const nl = p >= n ? n : this.endOfLine(p);
      if (nl >= n) {
        this.pos = n;
        this.line = line;
        this.lineStart = p;
        this.lastTokenLine = line - 1;
        return;
      }
      p = nl + (src.charCodeAt(nl) === 13 && src.charCodeAt(nl + 1) === 10 ? 2 : 1);
      line++;
      check = true;
    }
    this.pos = p;
    this.line = line;
    this.lineStart = p;
    this.lastTokenLine = line - 1;
  }

  /** The line starting at `p` begins (after blanks) with a statement keyword. */
  private keywordLine(p: number, skipSignals: boolean): boolean {
    const src = this.src;
    while (p < src.length && (src.charCodeAt(p) === 32 || src.charCodeAt(p) === 9)) p++;
    let e = p;
    while (e < src.length && isWordChar(src.charCodeAt(e))) e++;
    const word = src.slice(p, e);
    return STATEMENT_KEYWORDS.has(word) && !(skipSignals && word === 'SG_');
  }

  /** Offset of the line terminator at or after `p` (or the end of the text). */
  private endOfLine(p: number): number {
    const src = this.src;
    while (p < src.length) {
      const c = src.charCodeAt(p);
      if (c === 10 || c === 13) return p;
      p++;
    }
    return p;
  }

  private newline(at: number): void {
    this.line++;
    this.lineStart = at + 1;
  }

  private make(kind: TokenKind, text: string, pos: number, line: number, lineStart: number): Token {
    const token: Token = {
      kind,
      text,
      pos,
      line,
      column: pos - lineStart + 1,
      firstOnLine: line !== this.lastTokenLine,
      endLine: this.line,
      endColumn: this.pos - this.lineStart + 1,
    };
    this.lastTokenLine = this.line;
    return token;
  }

  private scan(): Token {
    const src = this.src;
    const n = src.length;
    let p = this.pos;
    // Whitespace and `//` comments.
    for (;;) {
      if (p >= n) break;
      const c = src.charCodeAt(p);
      if (c === 32 || c === 9 || c === 11 || c === 12) {
        p++;
      } else if (c === 10) {
        this.newline(p);
        p++;
      } else if (c === 13) {
        if (src.charCodeAt(p + 1) !== 10) this.newline(p);
        p++;
      } else if (c === 47 && src.charCodeAt(p + 1) === 47) {
        p = this.endOfLine(p);
      } else {
        break;
      }
    }
    const line = this.line;
    const lineStart = this.lineStart;
    if (p >= n) {
      this.pos = p;
      return this.make('eof', '', p, line, lineStart);
    }
    const c = src.charCodeAt(p);
    const next = src.charCodeAt(p + 1);
    if (isDigit(c) || ((c === 43 || c === 45 || c === 46) && (isDigit(next) || (next === 46 && isDigit(src.charCodeAt(p + 2)))))) {
      this.number.lastIndex = p;
      const m = this.number.exec(src);
      if (m !== null) {
        this.pos = p + m[0].length;
        return this.make('number', m[0], p, line, lineStart);
      }
    }
    if (isWordChar(c)) {
      let e = p + 1;
      while (e < n && isWordChar(src.charCodeAt(e))) e++;
      this.pos = e;
      return this.make('word', src.slice(p, e), p, line, lineStart);
    }
    if (c === 34) return this.scanString(p, line, lineStart);
    this.pos = p + 1;
    if (PUNCTUATION.includes(src[p]!)) return this.make('punct', src[p]!, p, line, lineStart);
    const shown = c >= 32 && c < 127 ? `'${src[p]!}'` : `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
    return this.make('error', `unexpected character ${shown}`, p, line, lineStart);
  }

  private scanString(start: number, line: number, lineStart: number): Token {
    const src = this.src;
    const n = src.length;
    let p = start + 1;
    let hasEscape = false;
    for (;;) {
      if (p >= n) break;
      const c = src.charCodeAt(p);
      if (c === 34) {
        this.pos = p + 1;
        const raw = src.slice(start + 1, p);
        return this.make('string', hasEscape ? raw.replaceAll('\\"', '"') : raw, start, line, lineStart);
      }
      if (c === 92 && src.charCodeAt(p + 1) === 34) {
        hasEscape = true;
        p += 2;
        continue;
      }
      if (c === 10 || c === 13) {
        const after = c === 13 && src.charCodeAt(p + 1) === 10 ? p + 2 : p + 1;
        this.statementLine.lastIndex = after;
        if (this.statementLine.test(src)) break;
        this.newline(after - 1);
        p = after;
        continue;
      }
      p++;
    }
    // Unterminated: the token ends where the string gave up, the parser reports it.
    this.pos = p;
    return this.make('error', 'unterminated string', start, line, lineStart);
  }
}
