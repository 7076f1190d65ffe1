import type { ErrorCode } from '../../../core/errors.js';

/**
 * The DBC database as the parser produces it: plain data, no behaviour. The codec compiles it;
 * the emulator reads it to generate traffic. Semantics follow the reference library cantools.
 */

export type ByteOrder = 'little_endian' | 'big_endian';
/** `integer`, or an IEEE float from `SIG_VALTYPE_` (1 = float32, 2 = float64). */
export type ValueType = 'integer' | 'float32' | 'float64';

export interface DbcSignal {
  name: string;
  /** The start bit exactly as written in the DBC (`@1` LSB for Intel, `@0` MSB in sawtooth numbering for Motorola). */
  startBit: number;
  length: number;
  byteOrder: ByteOrder;
  signed: boolean;
  valueType: ValueType;
  factor: number;
  offset: number;
  minimum: number;
  maximum: number;
  unit: string;
  receivers: string[];
  /** This signal is a multiplexer switch (`M`, or `mNM` in extended multiplexing). */
  isMultiplexer: boolean;
  /** Name of the switch that selects this signal; absent when it is always present. */
  multiplexerSignal?: string;
  /** Switch values that select this signal (`m3` gives [3]; `SG_MUL_VAL_` ranges are expanded). */
  multiplexerIds?: number[];
  /** Value table (`VAL_`), raw value to text. */
  choices?: Map<number, string>;
  comment?: string;
  /** `GenSigStartValue`, raw. */
  initialRaw?: number;
}

export interface DbcMessage {
  /** Identifier without the extended flag (bit 31 of the DBC id). */
  id: number;
  extended: boolean;
  name: string;
  /** Declared length in bytes (DLC as a byte count; up to 64 for CAN FD). */
  length: number;
  /** First transmitter (`BO_ ... NODE`), `Vector__XXX` when none. */
  sender: string;
  /** All transmitters: the sender and any from `BO_TX_BU_`. */
  transmitters: string[];
  signals: DbcSignal[];
  /** CAN FD (`VFrameFormat` is `StandardCAN_FD` or `ExtendedCAN_FD`). */
  fd: boolean;
  /** `GenMsgCycleTime` in milliseconds, when declared and non-zero. */
  cycleTimeMs?: number;
  comment?: string;
  /** Every `BA_` attribute on the message (defaults from `BA_DEF_DEF_` applied). */
  attributes: Record<string, string | number>;
}

export interface DbcNode {
  name: string;
  comment?: string;
}

export interface DbcAttributeDefinition {
  /** `''` for network, `BU_`, `BO_`, `SG_`, `EV_`. */
  objectType: '' | 'BU_' | 'BO_' | 'SG_' | 'EV_';
  name: string;
  /** `INT`, `HEX`, `FLOAT`, `STRING`, `ENUM`. */
  valueType: 'INT' | 'HEX' | 'FLOAT' | 'STRING' | 'ENUM';
  minimum?: number;
  maximum?: number;
  enumValues?: string[];
  defaultValue?: string | number;
}

/** Something the tolerant parser could not use; a strict parse throws it as an error instead. */
export interface DbcWarning {
  code: ErrorCode;
  message: string;
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
}

export interface DbcDatabase {
  version: string;
  nodes: DbcNode[];
  messages: DbcMessage[];
  /** `VAL_TABLE_` definitions by name. */
  valueTables: Map<string, Map<number, string>>;
  attributeDefinitions: DbcAttributeDefinition[];
  /** Network-level attributes (`BA_ "Name" value;`). */
  attributes: Record<string, string | number>;
  comment?: string;
  warnings: DbcWarning[];
}

export interface ParseOptions {
  /** File name for warnings and errors. */
  file?: string;
  /** Turn every warning into a thrown `TcuError` (code `DBC_SYNTAX` or the warning's code). */
  strict?: boolean;
}

/**
 * The compiled codec contract (implemented in `codec.ts`): each message is compiled once into
 * straight-line decode and encode functions; nothing is interpreted bit by bit per frame.
 */
export interface MessageCodec {
  readonly message: DbcMessage;
  /** Signal names in DBC order; index i is where `decodeValues` writes signal i. */
  readonly signalNames: readonly string[];
  /**
   * Scaled values (raw × factor + offset; floats reinterpret the raw bits) of the signals present:
   * a signal is present when every one of its bits lies within `length` bytes (default
   * `data.length`) and, when multiplexed, its switch is present and holds a selecting value.
   */
  decode(data: Uint8Array, length?: number): Record<string, number>;
  /** As `decode`, with the value-table text instead of the number where the raw value has one. */
  decodeWithChoices(data: Uint8Array, length?: number): Record<string, number | string>;
  /** Writes signal i's scaled value to `out[i]`, NaN where absent. For hot paths: no allocation. */
  decodeValues(data: Uint8Array, length: number, out: Float64Array): void;
  /**
   * A payload of `message.length` bytes. Values are scaled (or value-table text); missing signals
   * encode as their `initialRaw` or 0; multiplexed signals are written only when the switch value
   * given selects them. Values outside what the bits can hold are clamped.
   */
  encode(values: Readonly<Record<string, number | string>>): Uint8Array;
}

export interface DbcCodec {
  readonly db: DbcDatabase;
  readonly messages: readonly MessageCodec[];
  /** Message by identifier (without the extended flag) and extended flag. */
  get(id: number, extended: boolean): MessageCodec | undefined;
  byName(name: string): MessageCodec | undefined;
}
