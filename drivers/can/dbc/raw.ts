import type { ErrorCode } from '../../../core/errors.js';
import type { DbcSignal } from './model.js';

/** The records the statement parser produces, with positions, before anything is resolved. */

export interface Where {
  line: number;
  column: number;
}

export type Warn = (code: ErrorCode, message: string, where: Where) => void;

export type ObjectKind = '' | 'BU_' | 'BO_' | 'SG_' | 'EV_';

export interface RawSignal {
  signal: DbcSignal;
  /** The multiplexer indicator as written (`M`, `m3`, `m3M`), `''` when none. */
  mux: string;
  where: Where;
}

export interface RawMessage {
  /** The identifier exactly as written (bit 31 = extended). */
  dbcId: number;
  id: number;
  extended: boolean;
  name: string;
  length: number;
  sender: string;
  signals: RawSignal[];
  where: Where;
  /** Not kept in the database (the `VECTOR__INDEPENDENT_SIG_MSG` pseudo message, impossible ids). */
  drop: boolean;
}

export interface RawValue {
  text: string;
  isString: boolean;
  where: Where;
}

/** The object a `CM_` or `BA_` is about: kind, message id (`BO_`, `SG_`), name (`SG_`, `BU_`, `EV_`). */
export interface RawTarget {
  kind: ObjectKind;
  dbcId: number;
  name: string;
  where: Where;
}

export interface RawComment {
  target: RawTarget;
  text: string;
}

export interface RawAttributeDefinition {
  objectType: ObjectKind;
  name: string;
  valueType: string;
  values: RawValue[];
  where: Where;
}

export interface RawAttributeDefault {
  name: string;
  value: RawValue;
  where: Where;
}

export interface RawAttribute {
  name: string;
  target: RawTarget;
  value: RawValue;
  where: Where;
}

export interface RawChoices {
  target: RawTarget;
  entries: Array<[number, string]>;
}

export interface RawSignalType {
  target: RawTarget;
  type: number;
}

export interface RawSenders {
  target: RawTarget;
  nodes: string[];
}

export interface RawMuxValues {
  target: RawTarget;
  switchName: string;
  ids: number[];
}

export interface RawDbc {
  version: string;
  nodes: string[];
  messages: RawMessage[];
  comments: RawComment[];
  attributeDefinitions: RawAttributeDefinition[];
  attributeDefaults: RawAttributeDefault[];
  attributes: RawAttribute[];
  choices: RawChoices[];
  valueTables: Map<string, Map<number, string>>;
  signalTypes: RawSignalType[];
  senders: RawSenders[];
  muxValues: RawMuxValues[];
}
