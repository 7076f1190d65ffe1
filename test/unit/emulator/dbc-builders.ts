import type { DbcDatabase, DbcMessage, DbcSignal } from '../../../drivers/can/dbc/model.js';

/** Small hand-made DBC databases for emulator unit tests. */
export function signal(partial: Partial<DbcSignal> & Pick<DbcSignal, 'name'>): DbcSignal {
  return {
    startBit: 0,
    length: 8,
    byteOrder: 'little_endian',
    signed: false,
    valueType: 'integer',
    factor: 1,
    offset: 0,
    minimum: 0,
    maximum: 0,
    unit: '',
    receivers: [],
    isMultiplexer: false,
    ...partial,
  };
}

export function message(partial: Partial<DbcMessage> & Pick<DbcMessage, 'id' | 'name' | 'signals'>): DbcMessage {
  return {
    extended: false,
    length: 8,
    sender: 'Vector__XXX',
    transmitters: [],
    fd: false,
    attributes: {},
    ...partial,
  };
}

export function database(messages: DbcMessage[]): DbcDatabase {
  return { version: '', nodes: [], messages, valueTables: new Map(), attributeDefinitions: [], attributes: {}, warnings: [] };
}

/** A tiny powertrain DBC: speed, rpm, gear with a value table, a multiplexed message. */
export function tinyDb(): DbcDatabase {
  return database([
    message({
      id: 0x100,
      name: 'Speed',
      signals: [
        signal({ name: 'VehSpeed', startBit: 0, length: 16, factor: 0.01, minimum: 0, maximum: 655.35, unit: 'km/h' }),
        signal({ name: 'SteerAbs', startBit: 16, length: 12, factor: 0.1, minimum: 0, maximum: 409.5 }),
        signal({ name: 'SteerNeg', startBit: 28, length: 1, minimum: 0, maximum: 1 }),
        signal({ name: 'Speed_Counter', startBit: 52, length: 4, minimum: 0, maximum: 15 }),
        signal({ name: 'Speed_CRC', startBit: 56, length: 8, minimum: 0, maximum: 255 }),
      ],
    }),
    message({
      id: 0x200,
      name: 'Engine',
      signals: [
        signal({ name: 'Rpm', startBit: 0, length: 16, factor: 0.25, minimum: 0, maximum: 16383.75, unit: 'rpm' }),
        signal({
          name: 'Gear',
          startBit: 16,
          length: 4,
          minimum: 0,
          maximum: 15,
          choices: new Map([
            [0, 'P'],
            [1, 'R'],
            [2, 'N'],
            [3, 'D'],
            [15, 'SNA'],
          ]),
        }),
        signal({ name: 'Coolant', startBit: 24, length: 8, factor: 0.75, offset: -48, minimum: -48, maximum: 141.75 }),
      ],
    }),
    message({
      id: 0x300,
      name: 'Muxed',
      signals: [
        signal({ name: 'Page', startBit: 0, length: 4, isMultiplexer: true, minimum: 0, maximum: 15 }),
        signal({ name: 'A', startBit: 8, length: 8, multiplexerSignal: 'Page', multiplexerIds: [1], minimum: 0, maximum: 100 }),
        signal({ name: 'B', startBit: 8, length: 8, multiplexerSignal: 'Page', multiplexerIds: [2, 5], minimum: 10, maximum: 20 }),
      ],
    }),
  ]);
}
