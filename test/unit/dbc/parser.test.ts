import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isTcuError, TcuError } from '../../../core/errors.js';
import { loadDbcFile, parseDbc } from '../../../drivers/can/dbc/parser.js';
import { FIXTURE_DIR } from './reference.js';

/**
 * Messages and signals per fixture, from test/fixtures/dbc/README.md. chrysler_cusw.dbc: the
 * README says 113 signals, but the file defines 97 (`grep -c '^ SG_'`); 113 is 97 plus the 16
 * `CM_ SG_` comment lines, so the README figure is a miscount and 97 is what cantools reads.
 */
const COUNTS: Record<string, [number, number]> = {
  'tesla_can.dbc': [44, 572],
  'vw_mqb.dbc': [113, 1348],
  'hyundai_2015_mcan.dbc': [170, 1180],
  'toyota_tss2_adas.dbc': [35, 183],
  'gwm_haval_h6_phev_2024.dbc': [27, 135],
  'hongqi_hs5.dbc': [16, 79],
  'chrysler_cusw.dbc': [26, 97],
};

describe('parseDbc on the real fixture files', () => {
  for (const [file, [messages, signals]] of Object.entries(COUNTS)) {
    it(`${file}: ${messages} messages, ${signals} signals`, () => {
      const db = loadDbcFile(join(FIXTURE_DIR, file));
      expect(db.messages).toHaveLength(messages);
      expect(db.messages.reduce((n, m) => n + m.signals.length, 0)).toBe(signals);
      expect(db.warnings.filter((w) => w.code === 'DBC_SYNTAX' || w.code === 'DBC_SIGNAL_RANGE')).toEqual([]);
    });
  }

  it('drops VECTOR__INDEPENDENT_SIG_MSG like cantools', () => {
    const db = loadDbcFile(join(FIXTURE_DIR, 'hyundai_2015_mcan.dbc'));
    expect(db.messages.find((m) => m.name === 'VECTOR__INDEPENDENT_SIG_MSG')).toBeUndefined();
    expect(db.warnings).toEqual([]);
  });

  it('reads vw_mqb: extended ids, multiplexing, value tables, multi-line comments', () => {
    const db = loadDbcFile(join(FIXTURE_DIR, 'vw_mqb.dbc'));
    expect(db.messages.filter((m) => m.extended).length).toBeGreaterThan(0);
    expect(db.messages.every((m) => m.id <= (m.extended ? 0x1fffffff : 0x7ff))).toBe(true);
    const vin = db.messages.find((m) => m.name === 'VIN_01')!;
    const mux = vin.signals.find((s) => s.name === 'VIN_01_MUX')!;
    expect(mux.isMultiplexer).toBe(true);
    expect(vin.signals.find((s) => s.name === 'VIN_4')).toMatchObject({ multiplexerSignal: 'VIN_01_MUX', multiplexerIds: [1] });
    const kbi = db.messages.find((m) => m.id === 1720)!;
    expect(kbi.signals.find((s) => s.name === 'KBI_Reifenumfang_Sekundaer')!.comment).toContain('\nPrimärachse: KBI_Reifenumfang\n');
    expect(db.messages.some((m) => m.signals.some((s) => s.choices !== undefined && s.choices.size > 0))).toBe(true);
    // Stale comments for signals that no longer exist are DBC_SEMANTIC warnings.
    expect(db.warnings.every((w) => w.code === 'DBC_SEMANTIC' && w.line > 0 && w.column > 0)).toBe(true);
  });

  it('reads big-endian signed signals (toyota) and CAN FD lengths (gwm)', () => {
    const toyota = loadDbcFile(join(FIXTURE_DIR, 'toyota_tss2_adas.dbc'));
    const all = toyota.messages.flatMap((m) => m.signals);
    expect(all.every((s) => s.byteOrder === 'big_endian')).toBe(true);
    expect(all.some((s) => s.signed)).toBe(true);
    const gwm = loadDbcFile(join(FIXTURE_DIR, 'gwm_haval_h6_phev_2024.dbc'));
    expect(gwm.messages.filter((m) => m.length > 8)).toHaveLength(21);
    // No VFrameFormat attribute in the file: cantools reports these as classic frames too.
    expect(gwm.messages.every((m) => !m.fd)).toBe(true);
  });

  it('chrysler_cusw: loads with DBC_EXTENDED_ID warnings, refuses in strict mode', () => {
    const path = join(FIXTURE_DIR, 'chrysler_cusw.dbc');
    const db = loadDbcFile(path);
    const ext = db.warnings.filter((w) => w.code === 'DBC_EXTENDED_ID');
    expect(ext.map((w) => [w.line, w.column, w.file])).toEqual([
      [182, 5, path],
      [185, 5, path],
    ]);
    const bsm = db.messages.find((m) => m.name === 'BSM_LEFT')!;
    expect(bsm).toMatchObject({ id: 103596083, extended: true });
    let thrown: unknown;
    try {
      loadDbcFile(path, { strict: true });
    } catch (err) {
      thrown = err;
    }
    expect(isTcuError(thrown, 'DBC_EXTENDED_ID')).toBe(true);
    expect((thrown as TcuError).details).toEqual({ file: path, line: 182, column: 5 });
  });

  it('loadDbcFile: a missing file throws FILE_READ; Windows-1252 files decode', () => {
    expect(() => loadDbcFile('/no/such/file.dbc')).toThrow(expect.objectContaining({ code: 'FILE_READ' }) as Error);
    const dir = mkdtempSync(join(tmpdir(), 'dbc-'));
    const file = join(dir, 'latin.dbc');
    writeFileSync(file, Buffer.from('BO_ 1 M: 1 X\n SG_ S : 0|8@1+ (1,0) [0|0] "\xb0C" X\n', 'latin1'));
    expect(loadDbcFile(file).messages[0]!.signals[0]!.unit).toBe('°C');
  });
});

const FULL = `VERSION "1.2"

NS_ :
    NS_DESC_
    CM_
    BA_DEF_
    SG_MUL_VAL_

BS_:

BU_: ECU1 ECU2 Gateway
VAL_TABLE_ Gears 0 "P" 1 "R" 2 "N" 3 "D" ;

BO_ 100 Engine: 8 ECU1
 SG_ Speed : 0|16@1+ (0.25,0) [0|16383.75] "rpm" ECU2,Gateway
 SG_ Temp : 23|8@0- (1,-40) [-40|215] "degC" Vector__XXX
 SG_ Gear : 24|4@1+ (1,0) [0|15] "" ECU2
 SG_ Ratio : 32|32@1- (1,0) [0|0] "" ECU2

BO_ 2147484160 Ext: 64 Gateway
 SG_ Mux M : 0|8@1+ (1,0) [0|255] "" ECU1
 SG_ Sub m1M : 8|8@1+ (1,0) [0|255] "" ECU1
 SG_ A m0 : 16|8@1+ (1,0) [0|255] "" ECU1
 SG_ B m0 : 24|8@1+ (1,0) [0|255] "" ECU1
 SG_ Deep m0 : 32|64@1- (1,0) [0|0] "" ECU1

BO_TX_BU_ 100 : ECU2,Gateway;

CM_ "Network one ";
CM_ "and two";
CM_ BU_ ECU1 "The \\"engine\\" ECU";
CM_ BO_ 100 "Engine data
on two lines";
CM_ SG_ 100 Speed "Crank speed";
BA_DEF_ BO_ "GenMsgCycleTime" INT 0 65535;
BA_DEF_ BO_ "VFrameFormat" ENUM "StandardCAN","ExtendedCAN","reserved","J1939PG","reserved","reserved","reserved","reserved","reserved","reserved","reserved","reserved","reserved","reserved","StandardCAN_FD","ExtendedCAN_FD";
BA_DEF_ SG_ "GenSigStartValue" FLOAT 0 100000;
BA_DEF_ "BusType" STRING ;
BA_DEF_ BU_ "NodeLayer" HEX 0 255;
BA_DEF_ BO_ "GenMsgSendType" ENUM "Cyclic","OnEvent";
BA_DEF_DEF_ "GenMsgCycleTime" 0;
BA_DEF_DEF_ "VFrameFormat" "StandardCAN";
BA_DEF_DEF_ "BusType" "CAN";
BA_DEF_DEF_ "GenMsgSendType" "Cyclic";
BA_ "BusType" "CAN FD";
BA_ "GenMsgCycleTime" BO_ 100 20;
BA_ "VFrameFormat" BO_ 2147484160 15;
BA_ "GenMsgSendType" BO_ 2147484160 1;
BA_ "GenSigStartValue" SG_ 100 Temp 50;
BA_ "NodeLayer" BU_ ECU1 3;
VAL_ 100 Gear 0 "P" 1 "R" 2 "N" 3 "D" ;
VAL_ 2147484160 Mux 0 "Zero" 1 "One" ;
SIG_VALTYPE_ 100 Ratio : 1;
SG_MUL_VAL_ 2147484160 Sub Mux 1-1;
SG_MUL_VAL_ 2147484160 A Sub 0-0, 3-5;
SG_MUL_VAL_ 2147484160 B Sub 2-2;
SG_MUL_VAL_ 2147484160 Deep Mux 0-0;
`;

describe('parseDbc: every statement', () => {
  const db = parseDbc(FULL, { file: 'full.dbc' });

  it('loads without warnings', () => {
    expect(db.warnings).toEqual([]);
    expect(db.version).toBe('1.2');
    expect(db.nodes).toEqual([{ name: 'ECU1', comment: 'The "engine" ECU' }, { name: 'ECU2' }, { name: 'Gateway' }]);
    expect(db.comment).toBe('Network one and two');
    expect(db.valueTables.get('Gears')).toEqual(new Map([[0, 'P'], [1, 'R'], [2, 'N'], [3, 'D']]));
  });

  it('reads messages, signals and their attributes', () => {
    const engine = db.messages[0]!;
    expect(engine).toMatchObject({
      id: 100, extended: false, name: 'Engine', length: 8, sender: 'ECU1', transmitters: ['ECU1', 'ECU2', 'Gateway'],
      fd: false, cycleTimeMs: 20, comment: 'Engine data\non two lines',
      attributes: { GenMsgCycleTime: 20, VFrameFormat: 'StandardCAN', GenMsgSendType: 'Cyclic' },
    });
    expect(engine.signals[0]).toEqual({
      name: 'Speed', startBit: 0, length: 16, byteOrder: 'little_endian', signed: false, valueType: 'integer',
      factor: 0.25, offset: 0, minimum: 0, maximum: 16383.75, unit: 'rpm', receivers: ['ECU2', 'Gateway'],
      isMultiplexer: false, comment: 'Crank speed',
    });
    expect(engine.signals[1]).toMatchObject({ name: 'Temp', byteOrder: 'big_endian', signed: true, offset: -40, receivers: [], initialRaw: 50 });
    expect(engine.signals[2]!.choices).toEqual(new Map([[0, 'P'], [1, 'R'], [2, 'N'], [3, 'D']]));
    expect(engine.signals[3]!.valueType).toBe('float32');
  });

  it('reads extended ids, CAN FD and extended multiplexing with ranges', () => {
    const ext = db.messages[1]!;
    expect(ext).toMatchObject({ id: 512, extended: true, fd: true, length: 64, attributes: { VFrameFormat: 'ExtendedCAN_FD', GenMsgSendType: 'OnEvent' } });
    expect(ext.cycleTimeMs).toBeUndefined();
    const [mux, sub, a, b, deep] = ext.signals;
    expect(mux).toMatchObject({ isMultiplexer: true });
    expect(mux!.multiplexerSignal).toBeUndefined();
    expect(sub).toMatchObject({ isMultiplexer: true, multiplexerSignal: 'Mux', multiplexerIds: [1] });
    expect(a).toMatchObject({ isMultiplexer: false, multiplexerSignal: 'Sub', multiplexerIds: [0, 3, 4, 5] });
    expect(b).toMatchObject({ multiplexerSignal: 'Sub', multiplexerIds: [2] });
    expect(deep).toMatchObject({ multiplexerSignal: 'Mux', multiplexerIds: [0], length: 64, signed: true });
  });

  it('keeps attribute definitions with converted defaults and network attributes', () => {
    expect(db.attributes).toEqual({ BusType: 'CAN FD' });
    expect(db.attributeDefinitions.find((d) => d.name === 'GenMsgCycleTime')).toEqual({
      objectType: 'BO_', name: 'GenMsgCycleTime', valueType: 'INT', minimum: 0, maximum: 65535, defaultValue: 0,
    });
    expect(db.attributeDefinitions.find((d) => d.name === 'VFrameFormat')!.enumValues).toHaveLength(16);
    expect(db.attributeDefinitions.find((d) => d.name === 'NodeLayer')).toMatchObject({ objectType: 'BU_', valueType: 'HEX' });
  });
});

describe('parseDbc: the simple multiplexing and the cantools details', () => {
  it('m-signals take the single M switch; SG_MUL_VAL_ adds values; ids with bit 31 are extended', () => {
    const db = parseDbc(`BO_ 2147483649 M: 8 X
 SG_ S M : 0|4@1+ (1,0) [0|0] "" X
 SG_ P : 4|4@1+ (1,0) [0|0] "" X
 SG_ A m1 : 8|8@1+ (1,0) [0|0] "" X
 SG_ B m2 : 8|8@1+ (1,0) [0|0] "" X
SG_MUL_VAL_ 2147483649 B S 2-2, 7-8;
`);
    expect(db.warnings).toEqual([]);
    const [s, p, a, b] = db.messages[0]!.signals;
    expect(db.messages[0]).toMatchObject({ id: 1, extended: true });
    expect(s!.multiplexerSignal).toBeUndefined();
    expect(p!.multiplexerSignal).toBeUndefined();
    expect(a).toMatchObject({ multiplexerSignal: 'S', multiplexerIds: [1] });
    expect(b).toMatchObject({ multiplexerSignal: 'S', multiplexerIds: [2, 7, 8] });
  });

  it('ENUM BA_ indices resolve to text; GenMsgCycleTime 0 is no cycle time; long names rename', () => {
    const db = parseDbc(`BU_: N1
BO_ 1 Short: 8 N1
 SG_ Sig : 0|8@1+ (1,0) [0|0] "" N1
BA_DEF_ BO_ "GenMsgCycleTime" INT 0 1000;
BA_DEF_ BO_ "SystemMessageLongSymbol" STRING ;
BA_DEF_ SG_ "SystemSignalLongSymbol" STRING ;
BA_DEF_ BU_ "SystemNodeLongSymbol" STRING ;
BA_DEF_DEF_ "GenMsgCycleTime" 0;
BA_ "SystemMessageLongSymbol" BO_ 1 "A_Very_Long_Message_Name";
BA_ "SystemSignalLongSymbol" SG_ 1 Sig "A_Very_Long_Signal_Name";
BA_ "SystemNodeLongSymbol" BU_ N1 "Node_Long";
`);
    expect(db.warnings).toEqual([]);
    const m = db.messages[0]!;
    expect(m.cycleTimeMs).toBeUndefined();
    expect(m.name).toBe('A_Very_Long_Message_Name');
    expect(m.signals[0]!.name).toBe('A_Very_Long_Signal_Name');
    expect(m.signals[0]!.receivers).toEqual(['Node_Long']);
    expect(m.sender).toBe('Node_Long');
    expect(db.nodes[0]!.name).toBe('Node_Long');
  });

  it('receivers may continue on the next line after a comma', () => {
    const db = parseDbc('BO_ 1 M: 1 X\n SG_ S : 0|8@1+ (1,0) [0|0] "" A,\n  B\n');
    expect(db.warnings).toEqual([]);
    expect(db.messages[0]!.signals[0]!.receivers).toEqual(['A', 'B']);
  });

  it('senders: Vector__XXX alone means none', () => {
    const db = parseDbc('BO_ 1 M: 1 Vector__XXX\n SG_ S : 0|8@1+ (1,0) [0|0] "" Vector__XXX\n');
    expect(db.messages[0]).toMatchObject({ sender: 'Vector__XXX', transmitters: [] });
    expect(db.messages[0]!.signals[0]!.receivers).toEqual([]);
  });

  it('SIG_VALTYPE_ 2 makes a 64-bit signal float64; a length that is no float is a warning', () => {
    const db = parseDbc(`BO_ 1 M: 8 X
 SG_ D : 0|64@1- (1,0) [0|0] "" X
 SG_ W : 0|16@1- (1,0) [0|0] "" X
SIG_VALTYPE_ 1 D : 2;
SIG_VALTYPE_ 1 W : 1;
`);
    expect(db.messages[0]!.signals.map((s) => s.valueType)).toEqual(['float64', 'integer']);
    expect(db.warnings.map((w) => [w.code, w.line])).toEqual([['DBC_SEMANTIC', 5]]);
  });
});
