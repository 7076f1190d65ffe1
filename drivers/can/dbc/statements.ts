import type { DbcSignal } from './model.js';
import type { RawDbc, RawMessage, RawTarget, RawValue, ObjectKind, Where, Warn } from './raw.js';
import { describe, isKeywordAtLineStart, StatementError, TokenReader, where } from './reader.js';
import { STATEMENT_KEYWORDS, type Token } from './tokenizer.js';

/**
 * The DBC grammar: statements → plain records with their positions ({@link RawDbc}). Nothing is
 * resolved here (attributes, value tables and multiplexing are cross-references that may come
 * in any order); `semantics.ts` turns the records into the database. A statement that does not
 * parse becomes a warning and the parser resynchronises at the next statement keyword at line start.
 */

/** Statements cantools knows and this codec has no use for: parsed up to their `;` and dropped. */
const SKIPPED: ReadonlySet<string> = new Set([
  'EV_', 'ENVVAR_DATA_', 'EV_DATA_', 'SGTYPE_', 'SGTYPE_VAL_', 'SIG_GROUP_', 'SIG_TYPE_REF_',
  'SIGTYPE_VALTYPE_', 'BA_DEF_SGTYPE_', 'BA_SGTYPE_', 'BA_DEF_REL_', 'BA_REL_', 'BA_DEF_DEF_REL_',
  'BU_SG_REL_', 'BU_EV_REL_', 'BU_BO_REL_', 'CAT_DEF_', 'CAT_', 'FILTER', 'NS_DESC_',
]);

const MUX_INDICATOR = /^(?:M|m\d+M?)$/;
const MAX_MUX_IDS = 1 << 16;
const EXTENDED_FLAG = 0x80000000;

export function parseStatements(text: string, warn: Warn): RawDbc {
  return new StatementParser(text, warn).parse();
}

class StatementParser extends TokenReader {
  private message: RawMessage | null = null;
  private readonly raw: RawDbc = {
    version: '',
    nodes: [],
    messages: [],
    comments: [],
    attributeDefinitions: [],
    attributeDefaults: [],
    attributes: [],
    choices: [],
    valueTables: new Map(),
    signalTypes: [],
    senders: [],
    muxValues: [],
  };

  parse(): RawDbc {
    for (;;) {
      const t = this.tk.next();
      if (t.kind === 'eof') return this.raw;
      const keyword = t.kind === 'word' && STATEMENT_KEYWORDS.has(t.text) ? t.text : '';
      if (keyword !== 'SG_') this.message = null;
      try {
        if (keyword === '') {
          const unsupported = t.kind === 'word' && /^[A-Z][A-Z0-9_]*_$/.test(t.text);
          throw new StatementError(unsupported ? 'DBC_UNSUPPORTED' : 'DBC_SYNTAX',
            unsupported ? `unknown statement '${t.text}' ignored` : `expected a statement keyword, got ${describe(t)}`, t);
        }
        this.statement(keyword, t);
      } catch (err) {
        if (!(err instanceof StatementError)) throw err;
        this.warn(err.code, `${keyword === '' ? '' : `${keyword}: `}${err.message}`, err.at);
        this.tk.resync(err.token, keyword === 'BO_', t.pos);
      }
    }
  }

  private statement(keyword: string, t: Token): void {
    switch (keyword) {
      case 'VERSION':
        this.raw.version = this.string('version');
        return;
      case 'NS_':
        return this.newSymbols();
      case 'BS_':
        this.punct(':', true);
        while (!this.tk.peek().firstOnLine && this.tk.peek().kind !== 'eof') this.tk.next();
        return;
      case 'BU_':
        this.punct(':', true);
        this.raw.nodes = [];
        for (let p = this.tk.peek(); p.kind === 'word' && !STATEMENT_KEYWORDS.has(p.text); p = this.tk.peek()) {
          this.raw.nodes.push(this.tk.next().text);
        }
        return;
      case 'BO_':
        return this.messageHeader();
      case 'SG_':
        return this.signal(t);
      case 'CM_':
        return this.comment();
      case 'BA_DEF_':
        return this.attributeDefinition(t);
      case 'BA_DEF_DEF_': {
        const name = this.string('attribute name');
        this.raw.attributeDefaults.push({ name, value: this.value(), where: where(t) });
        return this.end();
      }
      case 'BA_':
        return this.attribute(t);
      case 'VAL_':
        return this.valueDescriptions();
      case 'VAL_TABLE_': {
        const name = this.word('value table name');
        this.raw.valueTables.set(name, new Map(this.valuePairs()));
        return this.end();
      }
      case 'SIG_VALTYPE_': {
        const target = this.signalTarget();
        this.punct(':', true);
        const type = this.int('value type', 0, 2);
        this.raw.signalTypes.push({ target, type });
        return this.end();
      }
      case 'BO_TX_BU_':
        return this.transmitters();
      case 'SG_MUL_VAL_':
        return this.muxValues();
      default:
        if (SKIPPED.has(keyword)) return this.skipStatement();
        throw new StatementError('DBC_UNSUPPORTED', 'statement not supported', t);
    }
  }

  // ----- statements -----

  /** `NS_ :` and its list of symbols, one per line, up to the first real statement. */
  private newSymbols(): void {
    this.punct(':', true);
    for (;;) {
      const t = this.tk.peek();
      if (t.kind !== 'word') return;
      const after = this.tk.peek(1);
      if (after.kind === 'punct' && after.text === ':') return;
      if (STATEMENT_KEYWORDS.has(t.text) && !after.firstOnLine && after.kind !== 'eof') return;
      this.tk.next();
    }
  }

  private messageHeader(): void {
    const idToken = this.tk.peek();
    const dbcId = this.int('message id', 0, 0xffffffff);
    const name = this.word('message name');
    this.punct(':');
    const lengthToken = this.tk.peek();
    const length = this.int('message length', 0, 0xffff);
    const sender = this.word('transmitter');
    let extended = dbcId >= EXTENDED_FLAG;
    const id = extended ? dbcId - EXTENDED_FLAG : dbcId;
    const pseudo = name === 'VECTOR__INDEPENDENT_SIG_MSG';
    let drop = pseudo;
    if (!pseudo && !extended && id > 0x7ff) {
      this.warn('DBC_EXTENDED_ID', `message ${name} has id 0x${id.toString(16)} above 0x7FF without the extended flag; loaded as extended`, where(idToken));
      extended = true;
    }
    if (!pseudo && id > 0x1fffffff) {
      this.warn('DBC_SEMANTIC', `message ${name} has id 0x${id.toString(16)}, more than 29 bits; dropped`, where(idToken));
      drop = true;
    }
    if (!drop && length > 64) {
      this.warn('DBC_SEMANTIC', `message ${name} declares ${length} bytes, more than a CAN FD frame holds`, where(lengthToken));
    }
    const message: RawMessage = { dbcId, id, extended, name, length, sender, signals: [], where: where(idToken), drop };
    this.raw.messages.push(message);
    this.message = message;
  }

  private signal(keyword: Token): void {
    const message = this.message;
    if (message === null) throw new StatementError('DBC_SYNTAX', 'signal outside of a BO_ message', keyword);
    const name = this.word('signal name');
    let mux = '';
    const p = this.tk.peek();
    if (p.kind === 'word' && !isKeywordAtLineStart(p)) {
      const t = this.tk.next();
      if (!MUX_INDICATOR.test(t.text) || !Number.isSafeInteger(Number(t.text.replace(/[mM]/g, '') || '0'))) {
        throw new StatementError('DBC_SYNTAX', `bad multiplexer indicator '${t.text}'`, t);
      }
      mux = t.text;
    }
    this.punct(':');
    const startToken = this.tk.peek();
    const startBit = this.int('start bit', 0, 0xffff);
    this.punct('|');
    const lengthToken = this.tk.peek();
    const length = this.int('signal length', 0, 0xffff);
    this.punct('@');
    const order = this.tk.next();
    if (order.kind !== 'number' || (order.text !== '0' && order.text !== '1')) this.fail(order, 'byte order 0 or 1');
    const sign = this.tk.next();
    if (sign.kind !== 'punct' || (sign.text !== '+' && sign.text !== '-')) this.fail(sign, "sign '+' or '-'");
    this.punct('(');
    const factor = this.float('factor');
    this.punct(',');
    const offset = this.float('offset');
    this.punct(')');
    this.punct('[');
    const minimum = this.float('minimum');
    this.punct('|');
    const maximum = this.float('maximum');
    this.punct(']');
    const unit = this.string('unit');
    const receivers: string[] = [];
    // Comma-separated; a list may continue on the next line after a comma.
    let comma = false;
    for (let r = this.tk.peek(); r.kind === 'word' && (comma || !r.firstOnLine) && !isKeywordAtLineStart(r); r = this.tk.peek()) {
      receivers.push(this.tk.next().text);
      comma = this.punct(',', true);
    }
    if (length < 1 || length > 64) {
      this.warn('DBC_SIGNAL_RANGE', `signal ${name} has length ${length}, not 1..64; ignored`, where(lengthToken));
      return;
    }
    const signal: DbcSignal = {
      name,
      startBit,
      length,
      byteOrder: order.text === '0' ? 'big_endian' : 'little_endian',
      signed: sign.text === '-',
      valueType: 'integer',
      factor,
      offset,
      minimum,
      maximum,
      unit,
      receivers: receivers.length === 1 && receivers[0] === 'Vector__XXX' ? [] : receivers,
      isMultiplexer: mux.endsWith('M'),
    };
    message.signals.push({ signal, mux, where: where(startToken) });
  }

  private target(): RawTarget {
    const t = this.tk.peek();
    if (t.kind === 'word' && (t.text === 'SG_' || t.text === 'BO_' || t.text === 'BU_' || t.text === 'EV_')) {
      this.tk.next();
      if (t.text === 'SG_') return this.signalTarget();
      if (t.text === 'BO_') return { kind: 'BO_', ...this.messageTarget() };
      const at = this.tk.peek();
      return { kind: t.text, dbcId: 0, name: this.word(t.text === 'BU_' ? 'node name' : 'variable name'), where: where(at) };
    }
    return { kind: '', dbcId: 0, name: '', where: where(t) };
  }

  private messageTarget(): { dbcId: number; name: string; where: Where } {
    const { dbcId, target } = this.messageId();
    return { dbcId, name: '', where: target };
  }

  private comment(): void {
    const target = this.target();
    this.raw.comments.push({ target, text: this.string('comment text') });
    this.end();
  }

  private attributeDefinition(keyword: Token): void {
    let objectType: ObjectKind = '';
    const k = this.tk.peek();
    if (k.kind === 'word' && (k.text === 'SG_' || k.text === 'BO_' || k.text === 'BU_' || k.text === 'EV_')) {
      objectType = k.text;
      this.tk.next();
    }
    const name = this.string('attribute name');
    const valueType = this.word('attribute type');
    const values: RawValue[] = [];
    for (let p = this.tk.peek(); p.kind === 'number' || p.kind === 'string'; p = this.tk.peek()) {
      values.push(this.value());
      this.punct(',', true);
    }
    this.raw.attributeDefinitions.push({ objectType, name, valueType, values, where: where(keyword) });
    this.end();
  }

  private attribute(keyword: Token): void {
    const name = this.string('attribute name');
    const target = this.target();
    this.raw.attributes.push({ name, target, value: this.value(), where: where(keyword) });
    this.end();
  }

  private valueDescriptions(): void {
    if (this.tk.peek().kind !== 'number') {
      // Environment variable value descriptions: nothing in the model holds them.
      this.word('variable name');
      this.valuePairs();
      return this.end();
    }
    const target = this.signalTarget();
    const entries = this.valuePairs();
    this.raw.choices.push({ target, entries });
    this.end();
  }

  private transmitters(): void {
    const target: RawTarget = { kind: 'BO_', ...this.messageTarget() };
    this.punct(':', true);
    const nodes = [this.word('transmitter')];
    for (;;) {
      const comma = this.punct(',', true);
      const p = this.tk.peek();
      if (p.kind !== 'word' || isKeywordAtLineStart(p)) break;
      if (!comma && p.firstOnLine) break;
      nodes.push(this.tk.next().text);
    }
    this.raw.senders.push({ target, nodes });
    this.end();
  }

  private muxValues(): void {
    const target = this.signalTarget();
    const switchName = this.word('multiplexer switch name');
    const ids: number[] = [];
    do {
      const lowToken = this.tk.peek();
      const low = this.int('multiplexer value', 0, Number.MAX_SAFE_INTEGER);
      // `3-5` reads as the numbers 3 and -5; `3 - 5` as 3, '-', 5.
      const dash = this.punct('-', true);
      const highToken = this.numberToken('range end');
      const highText = dash ? highToken.text : highToken.text.replace(/^-/, '');
      const high = Number(highText);
      if ((!dash && !highToken.text.startsWith('-')) || !Number.isSafeInteger(high) || high < low) {
        throw new StatementError('DBC_SYNTAX', `bad multiplexer range '${low}-${highText}'`, highToken);
      }
      if (high - low + 1 + ids.length > MAX_MUX_IDS) {
        throw new StatementError('DBC_SEMANTIC', `multiplexer range ${low}-${high} is too large`, lowToken);
      }
      for (let v = low; v <= high; v++) ids.push(v);
    } while (this.punct(',', true));
    this.raw.muxValues.push({ target, switchName, ids });
    this.end();
  }
}
