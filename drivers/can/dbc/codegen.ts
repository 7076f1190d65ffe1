import type { DbcMessage, DbcSignal } from './model.js';
import { lastByte, nameLiteral, numberLiteral, signalPieces, splitAt32, type Piece } from './layout.js';

/**
 * Generates the JavaScript source of one message's decode, decodeWithChoices, decodeValues and
 * encode functions: straight-line code with the byte indices, shifts and masks precomputed.
 *
 * Only three kinds of text reach the source: fixed code, numbers checked finite by
 * `numberLiteral` (or integers computed here), and signal names through `JSON.stringify`.
 * Everything else (value tables, multiplexer value sets, helpers) is passed in as closure values.
 *
 * The generated body expects these bindings (see `codec.ts`): `C` value tables by signal index,
 * `S` multiplexer-value sets by signal index, `MX` multiplexer-number helpers for the value-table
 * flavour by signal index, `K` encode converters and `X` encode multiplexer-number helpers by
 * signal index, `U`/`F32`/`F64` scratch views over one 8-byte buffer, `LO`/`HI` the word order.
 *
 * Raw values of up to 53 bits are exact. 54 to 64-bit integer signals are assembled as
 * hi * 2^32 + lo in doubles and so are rounded to 53 significant bits (cantools returns exact
 * Python ints there); their scaled values still equal cantools', which converts to float too.
 */

export interface SignalPlan {
  index: number;
  signal: DbcSignal;
  last: number;
  /** Reachable from the root of the multiplexing tree (cantools decodes nothing else). */
  reachable: boolean;
  /** Index of the switch that selects it, -1 for root signals. */
  parent: number;
  /** Reachable signals this switch selects. */
  children: number[];
  /** The switch's multiplexer number needs the value-table helper in the choices flavour. */
  choiceMux: boolean;
}

type Mode = 'decode' | 'choices' | 'values';

export function planMessage(m: DbcMessage, choiceMuxNeeded: (s: DbcSignal) => boolean): SignalPlan[] {
  const plans: SignalPlan[] = m.signals.map((signal, index) => ({
    index,
    signal,
    last: lastByte(signal),
    reachable: false,
    parent: -1,
    children: [],
    choiceMux: false,
  }));
  // cantools' codec tree: root signals have no switch; a switch selects the signals naming it.
  const queue = plans.filter((p) => p.signal.multiplexerSignal === undefined);
  for (const p of queue) p.reachable = true;
  for (let i = 0; i < queue.length; i++) {
    const sw = queue[i]!;
    if (!sw.signal.isMultiplexer) continue;
    sw.choiceMux = choiceMuxNeeded(sw.signal);
    for (const c of plans) {
      if (c.reachable || c.signal.multiplexerSignal !== sw.signal.name || (c.signal.multiplexerIds ?? []).length === 0) continue;
      c.reachable = true;
      c.parent = sw.index;
      sw.children.push(c.index);
      queue.push(c);
    }
  }
  return plans;
}

const TWO_32 = '4294967296';

function pieceRead(p: Piece, at: number): string {
  let e = `d[${p.byte}]`;
  if (p.shift > 0) e = `(${e} >> ${p.shift})`;
  if (p.shift + p.width < 8) e = `(${e} & ${(1 << p.width) - 1})`;
  if (at > 0) e = `(${e} << ${at})`;
  return e;
}

function word(pieces: readonly Piece[], base: number): string {
  const terms = pieces.map((p) => pieceRead(p, p.pos - base));
  return terms.length === 1 ? terms[0]! : `(${terms.join(' | ')})`;
}

/** The raw value of a signal as an expression over `d` (a number; floats reinterpret the bits). */
export function rawExpression(s: DbcSignal): string {
  const L = s.length;
  const pieces = signalPieces(s);
  if (L <= 32) {
    const w = word(pieces, 0);
    if (s.valueType === 'float32') return `(U[0] = ${w}, F32[0])`;
    if (s.signed) return L === 32 ? `(${w} | 0)` : `((${w} << ${32 - L}) >> ${32 - L})`;
    return L === 32 ? `(${w} >>> 0)` : w;
  }
  const split = splitAt32(pieces);
  const low = `(${word(split.filter((p) => p.pos < 32), 0)} >>> 0)`;
  const highPieces = split.filter((p) => p.pos >= 32);
  const hw = word(highPieces, 32);
  if (s.valueType === 'float64') return `(U[LO] = ${low}, U[HI] = ${hw}, F64[0])`;
  const H = L - 32;
  const high = s.signed ? (H === 32 ? `(${hw} | 0)` : `((${hw} << ${32 - H}) >> ${32 - H})`) : H === 32 ? `(${hw} >>> 0)` : hw;
  return `(${high} * ${TWO_32} + ${low})`;
}

function isIdentity(s: DbcSignal): boolean {
  return s.factor === 1 && s.offset === 0;
}

function scaled(s: DbcSignal, raw: string): string {
  return isIdentity(s) ? raw : `(${raw} * ${numberLiteral(s.factor)} + ${numberLiteral(s.offset)})`;
}

class Generator {
  private readonly fast: number;

  constructor(
    private readonly m: DbcMessage,
    private readonly plans: readonly SignalPlan[],
  ) {
    // The fast path covers the root signals inside the declared length: no per-signal checks.
    let fast = 0;
    for (const p of plans) if (p.reachable && p.parent === -1 && p.last < m.length) fast = Math.max(fast, p.last + 1);
    this.fast = fast;
  }

  private isSwitch(p: SignalPlan): boolean {
    return p.reachable && p.children.length > 0;
  }

  private inFast(p: SignalPlan): boolean {
    return p.reachable && p.parent === -1 && p.last < this.m.length;
  }

  /** Value of signal `p` in `mode`, its raw value given as an expression or a variable. */
  private value(p: SignalPlan, mode: Mode, raw: string, rawIsVariable: boolean): string {
    const s = p.signal;
    if (mode !== 'choices' || s.choices === undefined || s.choices.size === 0) return scaled(s, raw);
    const x = rawIsVariable ? raw : 'x';
    const assign = rawIsVariable ? '' : `x = ${raw}, `;
    return `(${assign}(t = C${p.index}.get(${x})) !== undefined ? t : ${scaled(s, x)})`;
  }

  /** The multiplexer number of switch `p` from its raw value in variable `w` (cantools' `int(scaled)`). */
  private muxNumber(p: SignalPlan, mode: Mode, w: string): string {
    if (mode === 'choices' && p.choiceMux) return `MX${p.index}(${w})`;
    const s = p.signal;
    return isIdentity(s) && s.valueType === 'integer' ? w : `Math.trunc(${scaled(s, w)})`;
  }

  private selected(p: SignalPlan): string {
    const ids = p.signal.multiplexerIds ?? [];
    const m = `m${p.parent}`;
    if (ids.length <= 4) return `(${ids.map((id) => `${m} === ${numberLiteral(id)}`).join(' || ')})`;
    return `S${p.index}.has(${m})`;
  }

  private setter(target: string, name: string, value: string): string {
    if (target === 'out') return `out[${name}] = ${value};`;
    if (name === '"__proto__"') return `Object.defineProperty(r, "__proto__", { value: ${value}, writable: true, enumerable: true, configurable: true });`;
    return `r[${name}] = ${value};`;
  }

  private decodeFunction(mode: Mode): string {
    const out = mode === 'values' ? 'out' : 'r';
    const lines: string[] = [];
    const switches = this.plans.filter((p) => this.isSwitch(p));
    lines.push(mode === 'values' ? 'function (d, len, out) {' : 'function (d, len) {');
    lines.push('let n = d.length; if (len !== undefined && len < n) n = len;');
    lines.push('let x = 0, t;');
    for (const p of switches) lines.push(`let w${p.index} = NaN, m${p.index} = NaN;`);
    const key = (p: SignalPlan): string => (mode === 'values' ? String(p.index) : nameLiteral(p.signal.name));
    const emitSignal = (p: SignalPlan, fastPath: boolean): void => {
      if (!p.reachable) {
        if (mode === 'values') lines.push(`out[${p.index}] = NaN;`);
        return;
      }
      const conds: string[] = [];
      if (p.parent !== -1) conds.push(this.selected(p));
      if (!(fastPath && p.last < this.fast)) conds.push(`n > ${p.last}`);
      const cond = conds.join(' && ');
      const raw = rawExpression(p.signal);
      if (this.isSwitch(p)) {
        const w = `w${p.index}`;
        if (mode === 'values') {
          lines.push(cond === '' ? `${w} = ${raw};` : `${w} = ${cond} ? ${raw} : NaN;`);
          lines.push(`out[${p.index}] = ${this.value(p, mode, w, true)};`);
        } else {
          const body = `${w} = ${raw}; ${this.setter(out, key(p), this.value(p, mode, w, true))}`;
          lines.push(cond === '' ? body : `if (${cond}) { ${body} }`);
        }
        lines.push(`m${p.index} = ${this.muxNumber(p, mode, w)};`);
        return;
      }
      const v = this.value(p, mode, raw, false);
      if (mode === 'values') lines.push(`out[${p.index}] = ${cond === '' ? v : `${cond} ? ${v} : NaN`};`);
      else lines.push(cond === '' ? this.setter(out, key(p), v) : `if (${cond}) ${this.setter(out, key(p), v)}`);
    };
    const order = this.treeOrder();
    if (this.fast > 0) {
      lines.push(`if (n >= ${this.fast}) {`);
      const core = this.plans.filter((p) => this.inFast(p));
      for (const p of core) {
        if (!this.isSwitch(p)) continue;
        lines.push(`w${p.index} = ${rawExpression(p.signal)};`);
        lines.push(`m${p.index} = ${this.muxNumber(p, mode, `w${p.index}`)};`);
      }
      const valueOf = (p: SignalPlan): string =>
        this.isSwitch(p) ? this.value(p, mode, `w${p.index}`, true) : this.value(p, mode, rawExpression(p.signal), false);
      if (mode === 'values') {
        for (const p of core) lines.push(`out[${p.index}] = ${valueOf(p)};`);
      } else {
        const fields = core.map((p) => {
          const k = key(p);
          return `${k === '"__proto__"' ? `[${k}]` : k}: ${valueOf(p)}`;
        });
        lines.push(`const r = { ${fields.join(', ')} };`);
      }
      for (const p of order) if (!this.inFast(p)) emitSignal(p, true);
      lines.push(mode === 'values' ? 'return;' : 'return r;');
      lines.push('}');
    }
    if (mode !== 'values') lines.push('const r = {};');
    for (const p of order) emitSignal(p, false);
    if (mode !== 'values') lines.push('return r;');
    lines.push('}');
    return lines.join('\n');
  }

  /** Root signals in DBC order, then each switch's children after it (parents before children). */
  private treeOrder(): SignalPlan[] {
    const order = this.plans.filter((p) => p.reachable && p.parent === -1);
    for (let i = 0; i < order.length; i++) for (const c of order[i]!.children) order.push(this.plans[c]!);
    for (const p of this.plans) if (!p.reachable) order.push(p);
    return order;
  }

  private encodeFunction(): string {
    const lines: string[] = ['function (v) {', `const d = new Uint8Array(${this.m.length});`, 'let u = 0, lo = 0, hi = 0, val;'];
    for (const p of this.plans) if (this.isSwitch(p)) lines.push(`let m${p.index} = NaN;`);
    for (const p of this.treeOrder()) {
      if (!p.reachable) continue;
      const name = nameLiteral(p.signal.name);
      const get = p.signal.name in Object.prototype ? `(Object.hasOwn(v, ${name}) ? v[${name}] : undefined)` : `v[${name}]`;
      const body = [`val = ${get};`, `u = K${p.index}(val);`];
      if (this.isSwitch(p)) body.push(`m${p.index} = X${p.index}(val, u);`);
      body.push(...this.writeBits(p.signal));
      lines.push(p.parent === -1 ? body.join(' ') : `if (${this.selected(p)}) { ${body.join(' ')} }`);
    }
    lines.push('return d;', '}');
    return lines.join('\n');
  }

  /** Statements that OR the raw value in `u` into `d` (bits past the declared length are dropped). */
  private writeBits(s: DbcSignal): string[] {
    const out: string[] = [];
    const write = (p: Piece, source: string, base: number): void => {
      if (p.byte >= this.m.length) return;
      const at = p.pos - base;
      let e = at > 0 ? `(${source} >>> ${at})` : source;
      e = `(${e} & ${(1 << p.width) - 1})`;
      if (p.shift > 0) e = `(${e} << ${p.shift})`;
      out.push(`d[${p.byte}] |= ${e};`);
    };
    const pieces = signalPieces(s);
    if (s.length <= 32) {
      out.push(s.valueType === 'float32' ? 'F32[0] = u; lo = U[0];' : 'lo = u >>> 0;');
      for (const p of pieces) write(p, 'lo', 0);
      return out;
    }
    if (s.valueType === 'float64') out.push('F64[0] = u; lo = U[LO]; hi = U[HI];');
    else out.push(`hi = Math.floor(u / ${TWO_32}); lo = (u - hi * ${TWO_32}) >>> 0; hi = hi >>> 0;`);
    for (const p of splitAt32(pieces)) write(p, p.pos < 32 ? 'lo' : 'hi', p.pos < 32 ? 0 : 32);
    return out;
  }

  source(): string {
    const consts: string[] = [];
    for (const p of this.plans) {
      const s = p.signal;
      if (s.choices !== undefined && s.choices.size > 0) consts.push(`const C${p.index} = C[${p.index}];`);
      if ((s.multiplexerIds ?? []).length > 4) consts.push(`const S${p.index} = S[${p.index}];`);
      if (p.choiceMux) consts.push(`const MX${p.index} = MX[${p.index}];`);
      consts.push(`const K${p.index} = K[${p.index}];`);
      if (this.isSwitch(p)) consts.push(`const X${p.index} = X[${p.index}];`);
    }
    return [
      '"use strict";',
      ...consts,
      `const decode = ${this.decodeFunction('decode')};`,
      `const decodeWithChoices = ${this.decodeFunction('choices')};`,
      `const decodeValues = ${this.decodeFunction('values')};`,
      `const encode = ${this.encodeFunction()};`,
      'return { decode, decodeWithChoices, decodeValues, encode };',
    ].join('\n');
  }
}

/** Parameter names of the generated body, in the order `codec.ts` passes them. */
export const GENERATED_PARAMS = ['C', 'S', 'MX', 'K', 'X', 'U', 'F32', 'F64', 'LO', 'HI'] as const;

export function generateSource(m: DbcMessage, plans: readonly SignalPlan[]): string {
  return new Generator(m, plans).source();
}
