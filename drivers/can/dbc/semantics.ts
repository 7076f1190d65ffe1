import type {
  DbcAttributeDefinition,
  DbcDatabase,
  DbcMessage,
  DbcNode,
  DbcSignal,
} from './model.js';
import type { RawDbc, RawMessage, RawSignal, RawTarget, RawValue, Warn, Where } from './raw.js';
import { motorolaLinearPosition } from './layout.js';
import { resolveMultiplexing } from './multiplexing.js';

/**
 * Turns parsed statements into the database, resolving cross-references the way cantools does:
 * statements are keyed by the identifier as written in the DBC (extended flag included), the last
 * of several definitions wins, value tables and comments attach by (message id, signal name).
 * References to things that do not exist become `DBC_SEMANTIC` warnings.
 */

type AttributeValue = string | number;

interface MessageEntry {
  raw: RawMessage;
  message: DbcMessage;
  signals: Map<string, { raw: RawSignal; signal: DbcSignal }[]>;
  signalAttributes: Map<DbcSignal, Record<string, AttributeValue>>;
}

const VALUE_TYPES: ReadonlySet<string> = new Set(['INT', 'HEX', 'FLOAT', 'STRING', 'ENUM']);

export function buildDatabase(raw: RawDbc, warn: Warn): DbcDatabase {
  const definitions = attributeDefinitions(raw, warn);
  const byId = new Map<number, MessageEntry[]>();
  const byFrame = new Map<string, string>();
  const entries: MessageEntry[] = [];
  for (const rm of raw.messages) {
    const signals = new Map<string, { raw: RawSignal; signal: DbcSignal }[]>();
    for (const rs of rm.signals) {
      const list = signals.get(rs.signal.name);
      if (list === undefined) signals.set(rs.signal.name, [{ raw: rs, signal: rs.signal }]);
      else {
        if (!rm.drop) warn('DBC_SEMANTIC', `message ${rm.name} has two signals named ${rs.signal.name}`, rs.where);
        list.push({ raw: rs, signal: rs.signal });
      }
    }
    const message: DbcMessage = {
      id: rm.id,
      extended: rm.extended,
      name: rm.name,
      length: rm.length,
      sender: rm.sender,
      transmitters: [rm.sender],
      signals: rm.signals.map((s) => s.signal),
      fd: false,
      attributes: {},
    };
    const entry: MessageEntry = { raw: rm, message, signals, signalAttributes: new Map() };
    entries.push(entry);
    const same = byId.get(rm.dbcId);
    if (same === undefined) byId.set(rm.dbcId, [entry]);
    else same.push(entry);
    const key = `${rm.extended ? 'x' : 's'}${rm.id}`;
    if (!rm.drop) {
      const earlier = byFrame.get(key);
      if (earlier !== undefined) {
        warn('DBC_SEMANTIC', `message ${rm.name} has the same ${rm.extended ? 'extended' : 'standard'} id 0x${rm.id.toString(16)} as ${earlier}; the later one wins lookups`, rm.where);
      }
      byFrame.set(key, rm.name);
    }
  }

  const nodeNames = new Set(raw.nodes);
  const findMessages = (t: RawTarget): MessageEntry[] => {
    const found = byId.get(t.dbcId);
    if (found === undefined) warn('DBC_SEMANTIC', `no message with id ${t.dbcId}`, t.where);
    return found ?? [];
  };
  const findSignals = (t: RawTarget): { raw: RawSignal; signal: DbcSignal; entry: MessageEntry }[] => {
    const out: { raw: RawSignal; signal: DbcSignal; entry: MessageEntry }[] = [];
    const messages = findMessages(t);
    for (const entry of messages) for (const s of entry.signals.get(t.name) ?? []) out.push({ ...s, entry });
    if (messages.length > 0 && out.length === 0) warn('DBC_SEMANTIC', `message ${t.dbcId} has no signal ${t.name}`, t.where);
    return out;
  };
  const checkNode = (t: RawTarget): boolean => {
    if (nodeNames.has(t.name)) return true;
    warn('DBC_SEMANTIC', `no node named ${t.name}`, t.where);
    return false;
  };

  // Attributes: defaults first, then every BA_ (the last one for an object wins).
  const networkAttributes: Record<string, AttributeValue> = {};
  const nodeAttributes = new Map<string, Record<string, AttributeValue>>();
  for (const def of definitions.values()) {
    if (def.objectType === '' && def.defaultValue !== undefined) networkAttributes[def.name] = def.defaultValue;
  }
  for (const entry of entries) {
    for (const def of definitions.values()) {
      if (def.objectType === 'BO_' && def.defaultValue !== undefined) entry.message.attributes[def.name] = def.defaultValue;
    }
  }
  for (const a of raw.attributes) {
    const def = definitions.get(a.name);
    if (def === undefined) {
      warn('DBC_SEMANTIC', `attribute ${a.name} has no BA_DEF_ definition`, a.where);
      continue;
    }
    const value = attributeValue(def, a.value, warn);
    if (value === undefined) continue;
    switch (a.target.kind) {
      case '':
        networkAttributes[a.name] = value;
        break;
      case 'BO_':
        for (const e of findMessages(a.target)) e.message.attributes[a.name] = value;
        break;
      case 'SG_':
        for (const s of findSignals(a.target)) {
          const rec = s.entry.signalAttributes.get(s.signal) ?? {};
          rec[a.name] = value;
          s.entry.signalAttributes.set(s.signal, rec);
        }
        break;
      case 'BU_':
        if (checkNode(a.target)) nodeAttributes.set(a.target.name, { ...nodeAttributes.get(a.target.name), [a.name]: value });
        break;
      case 'EV_':
        break;
    }
  }

  // Comments (bus comments concatenate, as CANdb++ and cantools do).
  let networkComment: string | undefined;
  const nodeComments = new Map<string, string>();
  for (const c of raw.comments) {
    const t = c.target;
    if (t.kind === '') networkComment = (networkComment ?? '') + c.text;
    else if (t.kind === 'BO_') for (const e of findMessages(t)) e.message.comment = c.text;
    else if (t.kind === 'SG_') for (const s of findSignals(t)) s.signal.comment = c.text;
    else if (t.kind === 'BU_') {
      if (checkNode(t)) nodeComments.set(t.name, c.text);
    }
  }

  for (const v of raw.choices) {
    if (v.entries.length === 0) continue;
    for (const s of findSignals(v.target)) s.signal.choices = new Map(v.entries);
  }
  for (const st of raw.signalTypes) {
    for (const s of findSignals(st.target)) setValueType(s.signal, st.type, st.target.where, warn);
  }
  for (const tx of raw.senders) {
    for (const e of findMessages(tx.target)) {
      for (const node of tx.nodes) if (!e.message.transmitters.includes(node)) e.message.transmitters.push(node);
    }
  }
  for (const mv of raw.muxValues) findSignals(mv.target);

  for (const entry of entries) {
    const m = entry.message;
    const cycle = definitions.has('GenMsgCycleTime') ? m.attributes.GenMsgCycleTime : undefined;
    if (typeof cycle === 'number' && cycle !== 0) m.cycleTimeMs = cycle;
    const format = definitions.has('VFrameFormat') ? m.attributes.VFrameFormat : undefined;
    m.fd = typeof format === 'string' && format.endsWith('CAN_FD');
    // cantools: senders are empty when the only one is the placeholder.
    if (m.transmitters.length === 1 && m.transmitters[0] === 'Vector__XXX') m.transmitters = [];
    for (const [signal, attrs] of entry.signalAttributes) {
      const start = attrs.GenSigStartValue;
      if (typeof start === 'number') signal.initialRaw = start;
    }
    resolveMultiplexing(entry.raw, raw.muxValues.filter((v) => v.target.dbcId === entry.raw.dbcId), warn);
    if (!entry.raw.drop) checkSignalRanges(entry.raw, warn);
  }

  applyLongNames(entries, nodeAttributes);
  const nodes: DbcNode[] = raw.nodes.map((name) => {
    const node: DbcNode = { name: longName(nodeAttributes.get(name), 'SystemNodeLongSymbol') ?? name };
    const comment = nodeComments.get(name);
    if (comment !== undefined) node.comment = comment;
    return node;
  });
  const db: DbcDatabase = {
    version: raw.version,
    nodes,
    messages: entries.filter((e) => !e.raw.drop).map((e) => e.message),
    valueTables: raw.valueTables,
    attributeDefinitions: [...definitions.values()],
    attributes: networkAttributes,
    warnings: [],
  };
  if (networkComment !== undefined) db.comment = networkComment;
  return db;
}

function attributeDefinitions(raw: RawDbc, warn: Warn): Map<string, DbcAttributeDefinition> {
  const defs = new Map<string, DbcAttributeDefinition>();
  for (const d of raw.attributeDefinitions) {
    if (!VALUE_TYPES.has(d.valueType)) {
      warn('DBC_SYNTAX', `attribute ${d.name} has unknown type ${d.valueType}`, d.where);
      continue;
    }
    const def: DbcAttributeDefinition = {
      objectType: d.objectType,
      name: d.name,
      valueType: d.valueType as DbcAttributeDefinition['valueType'],
    };
    if (def.valueType === 'ENUM') {
      def.enumValues = d.values.map((v) => v.text);
    } else if (def.valueType !== 'STRING' && d.values.length > 0) {
      const min = d.values.length === 2 ? numeric(def.valueType, d.values[0]!) : undefined;
      const max = d.values.length === 2 ? numeric(def.valueType, d.values[1]!) : undefined;
      if (min === undefined || max === undefined) {
        warn('DBC_SYNTAX', `attribute ${d.name}: expected a minimum and a maximum`, d.where);
      } else {
        def.minimum = min;
        def.maximum = max;
      }
    }
    defs.set(d.name, def);
  }
  for (const d of raw.attributeDefaults) {
    const def = defs.get(d.name);
    if (def === undefined) {
      warn('DBC_SEMANTIC', `default for attribute ${d.name}, which has no BA_DEF_ definition`, d.where);
      continue;
    }
    if (def.valueType === 'STRING' || def.valueType === 'ENUM') def.defaultValue = d.value.text;
    else {
      const v = numeric(def.valueType, d.value);
      if (v === undefined) warn('DBC_SEMANTIC', `default ${d.value.text} of attribute ${d.name} is not a number`, d.value.where);
      else def.defaultValue = v;
    }
  }
  return defs;
}

/** INT, HEX (and ENUM indices) truncate like cantools' `int(Decimal(text))`; FLOAT is a double. */
function numeric(type: DbcAttributeDefinition['valueType'], value: RawValue): number | undefined {
  const text = value.text.trim();
  const v = text === '' ? NaN : Number(text);
  if (!Number.isFinite(v)) return undefined;
  return type === 'FLOAT' ? v : Math.trunc(v);
}

/** A `BA_` value converted by its definition; ENUM indices become the enumeration's text. */
function attributeValue(def: DbcAttributeDefinition, value: RawValue, warn: Warn): AttributeValue | undefined {
  if (def.valueType === 'STRING') return value.text;
  if (def.valueType === 'ENUM') {
    const values = def.enumValues ?? [];
    if (value.isString && values.includes(value.text)) return value.text;
    const index = numeric('INT', value);
    const text = index === undefined ? undefined : values[index];
    if (text === undefined) {
      warn('DBC_SEMANTIC', `value ${value.text} is not an index into the values of ENUM attribute ${def.name}`, value.where);
    }
    return text;
  }
  const v = numeric(def.valueType, value);
  if (v === undefined) warn('DBC_SEMANTIC', `value ${value.text} of attribute ${def.name} is not a number`, value.where);
  return v;
}

/**
 * `SIG_VALTYPE_` 1 and 2 make the signal an IEEE float. As in cantools, the signal length picks
 * the format (32 → float32, 64 → float64); a declared type that disagrees with it is a warning.
 */
function setValueType(signal: DbcSignal, type: number, at: Where, warn: Warn): void {
  if (type === 0) {
    signal.valueType = 'integer';
    return;
  }
  const declared = type === 1 ? 'float32' : 'float64';
  const byLength = signal.length === 32 ? 'float32' : signal.length === 64 ? 'float64' : undefined;
  if (byLength === undefined) {
    warn('DBC_SEMANTIC', `signal ${signal.name} is ${signal.length} bits, which is no IEEE float; read as an integer`, at);
    return;
  }
  if (byLength !== declared) warn('DBC_SEMANTIC', `signal ${signal.name} is declared ${declared} but is ${signal.length} bits; read as ${byLength}`, at);
  signal.valueType = byLength;
}

/** Every bit of every signal must lie within the declared length (cantools' strict check). */
function checkSignalRanges(m: RawMessage, warn: Warn): void {
  for (const { signal: s, where } of m.signals) {
    const first = s.byteOrder === 'big_endian' ? motorolaLinearPosition(s.startBit) : s.startBit;
    if (first + s.length > 8 * m.length) {
      warn('DBC_SIGNAL_RANGE', `signal ${s.name} (bits ${s.startBit}|${s.length}) does not fit in the ${m.length} bytes of message ${m.name}`, where);
    }
  }
}

function longName(attrs: Record<string, AttributeValue> | undefined, key: string): string | undefined {
  const v = attrs?.[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** `SystemMessageLongSymbol`, `SystemSignalLongSymbol` and `SystemNodeLongSymbol` rename, as in cantools. */
function applyLongNames(entries: MessageEntry[], nodeAttributes: Map<string, Record<string, AttributeValue>>): void {
  const node = (name: string): string => longName(nodeAttributes.get(name), 'SystemNodeLongSymbol') ?? name;
  for (const e of entries) {
    const m = e.message;
    m.name = longName(m.attributes, 'SystemMessageLongSymbol') ?? m.name;
    m.sender = node(m.sender);
    m.transmitters = [...new Set(m.transmitters.map(node))];
    const renamed = new Map<string, string>();
    for (const [signal, attrs] of e.signalAttributes) {
      const name = longName(attrs, 'SystemSignalLongSymbol');
      if (name !== undefined) {
        renamed.set(signal.name, name);
        signal.name = name;
      }
    }
    for (const s of m.signals) {
      s.receivers = s.receivers.map(node);
      if (s.multiplexerSignal !== undefined) s.multiplexerSignal = renamed.get(s.multiplexerSignal) ?? s.multiplexerSignal;
    }
  }
}
