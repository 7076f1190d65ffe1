import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TcuError } from '../../../core/errors.js';
import {
  actToTech,
  parseAti,
  parseCgatt,
  parseCgdcont,
  parseCgpaddr,
  parseCops,
  parseCpin,
  parseCrsmIccid,
  parseCsq,
  parseFirmware,
  parseIccid,
  parseImei,
  parseImsi,
  parseManufacturer,
  parseModel,
  parseQcsq,
  parseQcsqLines,
  parseQnwinfo,
  parseQspn,
  parseRegistration,
  parseServingCell,
  qspnOperator,
  registrationDomainOf,
  servingCellSignal,
  servingCellTech,
  signalBars,
  simStateFromError,
  splitParams,
} from '../../../drivers/modem/parse/index.js';

/** The parser rejects `input` with AT_REPLY_MALFORMED, keeping the line in its details. */
function expectMalformed(fn: () => unknown): TcuError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TcuError);
    expect((err as TcuError).code).toBe('AT_REPLY_MALFORMED');
    expect(typeof (err as TcuError).details.line).toBe('string');
    return err as TcuError;
  }
  throw new Error('expected AT_REPLY_MALFORMED, the parser returned');
}

describe('parameter splitting', () => {
  it('splits quoted and bare parameters, keeping commas inside quotes and empty ones', () => {
    expect(splitParams('', '1,"a,b",,-5 , "x"')).toEqual([
      { text: '1', quoted: false },
      { text: 'a,b', quoted: true },
      { text: '', quoted: false },
      { text: '-5', quoted: false },
      { text: 'x', quoted: true },
    ]);
    expect(splitParams('', '')).toEqual([]);
  });

  it('rejects an unterminated quote and text glued to a quoted string', () => {
    expectMalformed(() => splitParams('+X: "abc', '"abc'));
    expectMalformed(() => splitParams('+X: "a"b', '"a"b'));
    expectMalformed(() => splitParams('+X: a"b', 'a"b'));
  });
});

describe('identity', () => {
  it('reads manufacturer, model and firmware with or without a prefix', () => {
    expect(parseManufacturer(['Quectel'])).toBe('Quectel');
    expect(parseManufacturer(['', '+CGMI: "SIMCOM INCORPORATED"'])).toBe('SIMCOM INCORPORATED');
    expect(parseModel(['EC25'])).toBe('EC25');
    expect(parseModel(['+CGMM: RM500Q-GL'])).toBe('RM500Q-GL');
    expect(parseFirmware(['Revision: EC25EFAR06A06M4G'])).toBe('EC25EFAR06A06M4G');
    expect(parseFirmware(['RM500QGLABR11A06M4G'])).toBe('RM500QGLABR11A06M4G');
    expect(parseFirmware(['+CGMR: 11.618.11.00'])).toBe('11.618.11.00');
    expectMalformed(() => parseModel([]));
    expectMalformed(() => parseModel(['\u0001\u0002']));
  });

  it('reads ATI in the Quectel three-line form and in the keyed form', () => {
    expect(parseAti(['Quectel', 'EC25', 'Revision: EC25EFAR06A06M4G'])).toEqual({ manufacturer: 'Quectel', model: 'EC25', firmware: 'EC25EFAR06A06M4G' });
    expect(parseAti(['Manufacturer: QUALCOMM INCORPORATED', 'Model: T99W175', 'Revision: T99W175.F0.1.0.0.9.DF.015', 'SVN: 01', 'IMEI: 351234567890123', '+GCAP: +CGSM'])).toEqual({
      manufacturer: 'QUALCOMM INCORPORATED',
      model: 'T99W175',
      firmware: 'T99W175.F0.1.0.0.9.DF.015',
      imei: '351234567890123',
    });
    expectMalformed(() => parseAti(['+GCAP: +CGSM']));
  });

  it('reads the IMEI bare, prefixed and quoted; refuses anything but 14 to 16 digits', () => {
    expect(parseImei(['866758040012345'])).toBe('866758040012345');
    expect(parseImei(['+CGSN: "866758040012345"'])).toBe('866758040012345');
    expect(parseImei(['+CGSN: 866758040012345'])).toBe('866758040012345');
    expectMalformed(() => parseImei(['86675804001234X']));
    expectMalformed(() => parseImei(['12345']));
  });

  it('reads the IMSI', () => {
    expect(parseImsi(['262011234567890'])).toBe('262011234567890');
    expect(parseImsi(['+CIMI: 310260000000001'])).toBe('310260000000001');
    expectMalformed(() => parseImsi(['26201ABC']));
  });

  it('reads the ICCID from +QCCID, +ICCID, +CCID and bare lines, dropping F padding', () => {
    expect(parseIccid(['+QCCID: 89860318760234557178'])).toBe('89860318760234557178');
    expect(parseIccid(['+QCCID: 8944500102198304826F'])).toBe('8944500102198304826');
    expect(parseIccid(['+ICCID: 8949226301234567890'])).toBe('8949226301234567890');
    expect(parseIccid(['+CCID: "89014103211118510720"'])).toBe('89014103211118510720');
    expect(parseIccid(['89014103211118510720'])).toBe('89014103211118510720');
    expectMalformed(() => parseIccid(['+QCCID: 8986']));
  });

  it('decodes EF_ICCID read through +CRSM (swapped nibbles)', () => {
    expect(parseCrsmIccid('+CRSM: 144,0,"98683081672043551787"')).toBe('89860318760234557178');
    expect(parseCrsmIccid('+CRSM: 144,0,"984405102091384028F6"')).toBe('8944500102198304826');
    expectMalformed(() => parseCrsmIccid('+CRSM: 106,130'));
    expectMalformed(() => parseCrsmIccid('+CRSM: 144,0,"98XX"'));
  });
});

describe('SIM state', () => {
  it('maps +CPIN codes', () => {
    expect(parseCpin('+CPIN: READY')).toBe('ready');
    expect(parseCpin('+CPIN: SIM PIN')).toBe('pin-required');
    expect(parseCpin('+CPIN: PH-SIM PIN')).toBe('pin-required');
    expect(parseCpin('+CPIN: SIM PIN2')).toBe('pin-required');
    expect(parseCpin('+CPIN: SIM PUK')).toBe('puk-required');
    expect(parseCpin('+CPIN: NOT INSERTED')).toBe('missing');
    expect(parseCpin('+CPIN: NOT READY')).toBe('unknown');
    expectMalformed(() => parseCpin('+CPIN: BANANA'));
    expectMalformed(() => parseCpin('+CSQ: 1,2'));
  });

  it('reads the SIM state from +CME ERROR (numeric and verbose)', () => {
    const failed = (details: Record<string, unknown>): TcuError => new TcuError('AT_COMMAND_FAILED', 'failed', { details: { command: 'AT+CPIN?', ...details } });
    expect(simStateFromError(failed({ final: '+CME ERROR: 10', cme: 10 }))).toBe('missing');
    expect(simStateFromError(failed({ final: '+CME ERROR: SIM not inserted', cme: 'SIM not inserted' }))).toBe('missing');
    expect(simStateFromError(failed({ final: '+CME ERROR: 11', cme: 11 }))).toBe('pin-required');
    expect(simStateFromError(failed({ final: '+CME ERROR: 12' }))).toBe('puk-required');
    expect(simStateFromError(failed({ final: '+CME ERROR: 13', cme: 13 }))).toBe('error');
    expect(simStateFromError(failed({ final: '+CME ERROR: 30', cme: 30 }))).toBeUndefined();
    expect(simStateFromError(failed({ final: 'ERROR' }))).toBeUndefined();
    expect(simStateFromError(new TcuError('AT_TIMEOUT', 'late', { details: { command: 'AT+CPIN?' } }))).toBeUndefined();
    expect(simStateFromError(new Error('plain'))).toBeUndefined();
  });
});

describe('registration', () => {
  it('reads read-command replies (with <n>) of every domain', () => {
    expect(parseRegistration('+CREG: 2,1,"1A2B","01C3D4E5",7')).toEqual({ shape: 'query', n: 2, registration: { domain: 'cs', status: 'home', area: '1A2B', cellId: '01C3D4E5', tech: 'LTE' } });
    expect(parseRegistration('+CREG: 0,1')).toEqual({ shape: 'query', n: 0, registration: { domain: 'cs', status: 'home' } });
    expect(parseRegistration('+CGREG: 2,1,"1a2b","01c3d4",3,"01"').registration).toEqual({ domain: 'gprs', status: 'home', area: '1A2B', cellId: '01C3D4', tech: 'GSM' });
    expect(parseRegistration('+CEREG: 2,5,"D5A1","0A8B4C01",7').registration).toEqual({ domain: 'eps', status: 'roaming', area: 'D5A1', cellId: '0A8B4C01', tech: 'LTE' });
    expect(parseRegistration('+CEREG: 4,5,"1A2B","01A2B3C4",9,,,"00100100","01000111"').registration).toEqual({ domain: 'eps', status: 'roaming', area: '1A2B', cellId: '01A2B3C4', tech: 'LTE' });
    expect(parseRegistration('+CEREG: 3,3,,,,0,15').registration).toEqual({ domain: 'eps', status: 'denied' });
    expect(parseRegistration('+C5GREG: 2,1,"00A1B2","0001A2B3C",11,2,"01.000001:02.000002"').registration).toEqual({ domain: '5gs', status: 'home', area: '00A1B2', cellId: '0001A2B3C', tech: 'NR' });
    expect(parseRegistration('+C5GREG: 0,0').registration).toEqual({ domain: '5gs', status: 'not-registered' });
    expect(parseRegistration('+CEREG: 2,4').registration.status).toBe('unknown');
    expect(parseRegistration('+CEREG: 2,11').registration.status).toBe('unknown');
  });

  it('reads unsolicited codes (without <n>) with one parser', () => {
    expect(parseRegistration('+CREG: 1')).toEqual({ shape: 'urc', registration: { domain: 'cs', status: 'home' } });
    expect(parseRegistration('+CEREG: 2')).toEqual({ shape: 'urc', registration: { domain: 'eps', status: 'searching' } });
    expect(parseRegistration('+CREG: 5,"00C3","0000A2B1",2')).toEqual({ shape: 'urc', registration: { domain: 'cs', status: 'roaming', area: '00C3', cellId: '0000A2B1', tech: 'UMTS' } });
    expect(parseRegistration('+CEREG: 1,"D5A1","0A8B4C01",7').registration).toEqual({ domain: 'eps', status: 'home', area: 'D5A1', cellId: '0A8B4C01', tech: 'LTE' });
    expect(parseRegistration('+CEREG: 3').registration.status).toBe('denied');
    // The caller's shape settles the unquoted case.
    expect(parseRegistration('+CREG: 1,1234,5678,7', 'urc').registration).toEqual({ domain: 'cs', status: 'home', area: '1234', cellId: '5678', tech: 'LTE' });
    expect(parseRegistration('+CREG: 2,1', 'query').n).toBe(2);
  });

  it('names the domain of a line by its prefix', () => {
    expect(registrationDomainOf('+CREG: 1')).toBe('cs');
    expect(registrationDomainOf('+CGREG: 1')).toBe('gprs');
    expect(registrationDomainOf('+CEREG: 1')).toBe('eps');
    expect(registrationDomainOf('+C5GREG: 1')).toBe('5gs');
    expect(registrationDomainOf('+CGEV: ME PDN ACT 1')).toBeUndefined();
    expect(registrationDomainOf('+CREGX: 1')).toBeUndefined();
  });

  it('rejects what is not a registration', () => {
    expectMalformed(() => parseRegistration('+CREG: x'));
    expectMalformed(() => parseRegistration('+CREG: 2,1,"XYZ","01"'));
    expectMalformed(() => parseRegistration('+CREG: 1', 'query'));
    expectMalformed(() => parseRegistration('+CREG:'));
    expectMalformed(() => parseRegistration('+COPS: 0'));
    expectMalformed(() => parseRegistration('+CEREG: 1,"D5A1","0A8B4C01",x'));
  });

  it('maps every 27.007 <AcT> to a technology', () => {
    expect([0, 1, 3, 8].map(actToTech)).toEqual(['GSM', 'GSM', 'GSM', 'GSM']);
    expect([2, 4, 5, 6].map(actToTech)).toEqual(['UMTS', 'UMTS', 'UMTS', 'UMTS']);
    expect([7, 9, 10].map(actToTech)).toEqual(['LTE', 'LTE', 'LTE']);
    expect([11, 12, 13].map(actToTech)).toEqual(['NR', 'NR', 'NR']);
    expect([17, 100, 255].map(actToTech)).toEqual(['unknown', 'unknown', 'unknown']);
  });
});

describe('operator', () => {
  it('reads +COPS? in the long, short and numeric formats', () => {
    expect(parseCops('+COPS: 0,0,"Vodafone.de",7')).toEqual({ mode: 0, format: 0, operator: { name: 'Vodafone.de', tech: 'LTE' } });
    expect(parseCops('+COPS: 0,1,"T-Mobile",2')).toEqual({ mode: 0, format: 1, operator: { name: 'T-Mobile', tech: 'UMTS' } });
    expect(parseCops('+COPS: 0,2,"26201",7')).toEqual({ mode: 0, format: 2, operator: { mcc: '262', mnc: '01', tech: 'LTE' } });
    expect(parseCops('+COPS: 0,2,"310260",11')).toEqual({ mode: 0, format: 2, operator: { mcc: '310', mnc: '260', tech: 'NR' } });
    expect(parseCops('+COPS: 0,0,"CHINA MOBILE",13').operator).toEqual({ name: 'CHINA MOBILE', tech: 'NR' });
    expect(parseCops('+COPS: 0,0,"26202",7').operator).toEqual({ mcc: '262', mnc: '02', tech: 'LTE' });
    expect(parseCops('+COPS: 0')).toEqual({ mode: 0 });
    expect(parseCops('+COPS: 2')).toEqual({ mode: 2 });
  });

  it('rejects a numeric operator that is no PLMN and a bad mode', () => {
    expectMalformed(() => parseCops('+COPS: 1,2,"2620",7'));
    expectMalformed(() => parseCops('+COPS: 9,0,"x"'));
    expectMalformed(() => parseCops('+COPS: 0,0,"Vodafone'));
  });
});

describe('signal', () => {
  it('converts +CSQ <rssi> to dBm, with 99 and 199 unknown', () => {
    expect(parseCsq('+CSQ: 23,99')).toEqual({ rssiDbm: -67, bars: 4 });
    expect(parseCsq('+CSQ: 0,99').rssiDbm).toBe(-113);
    expect(parseCsq('+CSQ: 31,0').rssiDbm).toBe(-51);
    expect(parseCsq('+CSQ: 99,99')).toEqual({ bars: 0 });
    expect(parseCsq('+CSQ: 100,99').rssiDbm).toBe(-116);
    expect(parseCsq('+CSQ: 191,99').rssiDbm).toBe(-25);
    expect(parseCsq('+CSQ: 199,99')).toEqual({ bars: 0 });
    expect(parseCsq('+CSQ: 23').rssiDbm).toBe(-67);
    expectMalformed(() => parseCsq('+CSQ: 50,99'));
    expectMalformed(() => parseCsq('+CSQ: -1,99'));
  });

  it('derives bars from RSRP when known, else from RSSI', () => {
    expect(signalBars({ rsrpDbm: -75 })).toBe(5);
    expect(signalBars({ rsrpDbm: -80 })).toBe(5);
    expect(signalBars({ rsrpDbm: -81 })).toBe(4);
    expect(signalBars({ rsrpDbm: -95, rssiDbm: -51 })).toBe(3);
    expect(signalBars({ rsrpDbm: -115 })).toBe(1);
    expect(signalBars({ rsrpDbm: -121 })).toBe(0);
    expect(signalBars({ rssiDbm: -60 })).toBe(5);
    expect(signalBars({ rssiDbm: -100 })).toBe(1);
    expect(signalBars({ rssiDbm: -113 })).toBe(0);
    expect(signalBars({})).toBe(0);
  });
});

describe('Quectel +QCSQ', () => {
  it('reads every system mode; LTE SINR is in 1/5 dB, NR5G SINR in dB', () => {
    expect(parseQcsq('+QCSQ: "NOSERVICE"')).toEqual({ sysmode: 'NOSERVICE', tech: 'unknown', signal: { bars: 0 } });
    expect(parseQcsq('+QCSQ: "GSM",-69')).toEqual({ sysmode: 'GSM', tech: 'GSM', signal: { rssiDbm: -69, bars: 4 } });
    expect(parseQcsq('+QCSQ: "WCDMA",-75,-80,-5')).toEqual({ sysmode: 'WCDMA', tech: 'UMTS', signal: { rssiDbm: -75, bars: 4 } });
    expect(parseQcsq('+QCSQ: "LTE",-52,-81,195,-10')).toEqual({ sysmode: 'LTE', tech: 'LTE', signal: { rssiDbm: -52, rsrpDbm: -81, sinrDb: 19, rsrqDb: -10, bars: 4 } });
    expect(parseQcsq('+QCSQ: "CAT-M1",-62,-87,111,-12').signal).toEqual({ rssiDbm: -62, rsrpDbm: -87, sinrDb: 2.2, rsrqDb: -12, bars: 4 });
    expect(parseQcsq('+QCSQ: "NR5G",-75,4,-11')).toEqual({ sysmode: 'NR5G', tech: 'NR', signal: { rsrpDbm: -75, sinrDb: 4, rsrqDb: -11, bars: 5 } });
  });

  it('drops sentinel values and rejects non-numbers', () => {
    expect(parseQcsq('+QCSQ: "LTE",-52,-32768,195,-10').signal).toEqual({ rssiDbm: -52, sinrDb: 19, rsrqDb: -10, bars: 5 });
    expectMalformed(() => parseQcsq('+QCSQ: "LTE",abc,-81,195,-10'));
    expectMalformed(() => parseQcsq('+QCSQ: '));
  });

  it('merges EN-DC lines: NR values over the LTE anchor, its RSSI kept', () => {
    expect(parseQcsqLines(['+QCSQ: "LTE",-63,-92,150,-9', '+QCSQ: "NR5G",-88,12,-11'])).toEqual({ sysmode: 'NR5G', tech: 'NR', signal: { rssiDbm: -63, rsrpDbm: -88, sinrDb: 12, rsrqDb: -11, bars: 4 } });
    expect(parseQcsqLines(['OK'])).toBeUndefined();
  });
});

describe('Quectel +QENG="servingcell"', () => {
  it('reads an LTE serving cell (EC25 capture)', () => {
    const sc = parseServingCell(['+QENG: "servingcell","NOCONN","LTE","FDD",214,01,7676A09,188,6300,20,3,3,603,-104,-9,-78,11,23']);
    expect(sc).toEqual({
      state: 'NOCONN',
      cells: [{ rat: 'LTE', tech: 'LTE', duplex: 'FDD', mcc: '214', mnc: '01', cellId: '7676A09', pcid: 188, channel: 6300, band: '20', area: '603', rsrpDbm: -104, rsrqDb: -9, rssiDbm: -78, sinrDb: 2 }],
    });
    expect(servingCellTech(sc)).toBe('LTE');
    expect(servingCellSignal(sc)).toEqual({ rssiDbm: -78, rsrpDbm: -104, rsrqDb: -9, sinrDb: 2, bars: 2 });
  });

  it('reads the manual example with CQI and tx_power unavailable', () => {
    const sc = parseServingCell(['+QENG: "servingcell","NOCONN","LTE","FDD",460,01,5F1EA15,12,1650,3,5,5,DE10,-100,-12,-68,11,-,-,27']);
    expect(sc.cells[0]).toMatchObject({ mcc: '460', mnc: '01', area: 'DE10', band: '3', rsrpDbm: -100, rsrqDb: -12, rssiDbm: -68, sinrDb: 2 });
  });

  it('reads EN-DC (LTE anchor plus NR5G-NSA leg) as NR', () => {
    const sc = parseServingCell([
      '+QENG: "servingcell","NOCONN"',
      '+QENG: "LTE","FDD",515,03,3359966,1,150,1,5,5,4AA3,-89,-13,-58,16,15,20,-',
      '+QENG:"NR5G-NSA",515,03,832,-76,21,-11,528030,41,8,1',
    ]);
    expect(sc.state).toBe('NOCONN');
    expect(sc.cells).toEqual([
      { rat: 'LTE', tech: 'LTE', duplex: 'FDD', mcc: '515', mnc: '03', cellId: '3359966', pcid: 1, channel: 150, band: '1', area: '4AA3', rsrpDbm: -89, rsrqDb: -13, rssiDbm: -58, sinrDb: 12 },
      { rat: 'NR5G-NSA', tech: 'NR', mcc: '515', mnc: '03', pcid: 832, rsrpDbm: -76, sinrDb: 21, rsrqDb: -11, channel: 528030, band: '41' },
    ]);
    expect(servingCellTech(sc)).toBe('NR');
    expect(servingCellSignal(sc)).toEqual({ rssiDbm: -58, rsrpDbm: -76, rsrqDb: -11, sinrDb: 21, bars: 5 });
  });

  it('does not count an NSA leg without measurements', () => {
    const sc = parseServingCell(['+QENG: "servingcell","NOCONN"', '+QENG: "LTE","FDD",222,01,4940206,427,1350,3,5,5,BFF,-94,-15,-58,9,5,100,-', '+QENG: "NR5G-NSA",222,01,-,-32768,-,-,-,-,-,-']);
    expect(servingCellTech(sc)).toBe('LTE');
    expect(servingCellSignal(sc)?.rsrpDbm).toBe(-94);
  });

  it('reads an NR5G-SA serving cell (RM520N capture)', () => {
    const sc = parseServingCell(['+QENG: "servingcell","NOCONN","NR5G-SA","TDD",310,260,18666712F,335,794E00,516270,41,12,-75,-11,5,1,-']);
    expect(sc.cells[0]).toEqual({ rat: 'NR5G-SA', tech: 'NR', duplex: 'TDD', mcc: '310', mnc: '260', cellId: '18666712F', pcid: 335, area: '794E00', channel: 516270, band: '41', rsrpDbm: -75, rsrqDb: -11, sinrDb: 5 });
    expect(servingCellTech(sc)).toBe('NR');
  });

  it('reads WCDMA, GSM and BG96 eMTC cells, and a modem still searching', () => {
    const wcdma = parseServingCell(['+QENG: "servingcell","NOCONN","WCDMA",460,01,A7BA,3D6C5C,10663,257,0,-98,-7,-,-,-,-,-']);
    expect(wcdma.cells[0]).toEqual({ rat: 'WCDMA', tech: 'UMTS', mcc: '460', mnc: '01', area: 'A7BA', cellId: '3D6C5C', channel: 10663, pcid: 257, rscpDbm: -98 });
    const gsm = parseServingCell(['+QENG: "servingcell","NOCONN","GSM",460,00,550A,2BF6,31,78,0,-61,255,255,0,31,31,1,-,-,-,-,-,-,-,-,-,"-"']);
    expect(gsm.cells[0]).toMatchObject({ rat: 'GSM', tech: 'GSM', area: '550A', cellId: '2BF6', channel: 78, rssiDbm: -61 });
    const emtc = parseServingCell(['+QENG: "servingcell","LIMSRV","eMTC","FDD",240,42,C511706,6,9435,28,2,2,8,-82,-5,-63,16,57']);
    expect(emtc.cells[0]).toMatchObject({ tech: 'LTE', band: '28', rsrpDbm: -82, sinrDb: 12 });
    const searching = parseServingCell(['+QENG: "servingcell","SEARCH"']);
    expect(searching).toEqual({ state: 'SEARCH', cells: [] });
    expect(servingCellTech(searching)).toBe('unknown');
    expect(servingCellSignal(searching)).toBeUndefined();
  });

  it('ignores neighbour cells and rejects malformed serving-cell lines', () => {
    expectMalformed(() => parseServingCell(['+QENG: "neighbourcell intra","LTE",6300,188,-12,-105,-75,-20,23,4,12,10,62']));
    expectMalformed(() => parseServingCell(['+QENG: "servingcell","NOCONN","LTE","FDD",2140,01,7676A09,188,6300,20,3,3,603,-104,-9,-78,11,23']));
    expectMalformed(() => parseServingCell(['+QENG: "servingcell","NOCONN","LTE","FDD",214,01,7676A09,188,6300,20,3,3,603,x,-9,-78,11,23']));
    expectMalformed(() => parseServingCell(['+QENG: "servingcell",""']));
  });
});

describe('Quectel +QNWINFO and +QSPN', () => {
  it('reads the access technology, operator, band and channel', () => {
    expect(parseQnwinfo('+QNWINFO: "FDD LTE","46001","LTE BAND 3",1650')).toEqual({ act: 'FDD LTE', tech: 'LTE', mcc: '460', mnc: '01', band: 'LTE BAND 3', channel: 1650 });
    expect(parseQnwinfo('+QNWINFO: "TDD NR5G","90170","NR5G_BAND 78",626976')).toMatchObject({ tech: 'NR', mcc: '901', mnc: '70' });
    expect(parseQnwinfo('+QNWINFO: "WCDMA","46001","WCDMA 2100",10663').tech).toBe('UMTS');
    expect(parseQnwinfo('+QNWINFO: "EDGE","26201","GSM 900",62').tech).toBe('GSM');
    expect(parseQnwinfo('+QNWINFO: "CAT-M1","24042","LTE BAND 28",9435').tech).toBe('LTE');
    expect(parseQnwinfo('+QNWINFO: No Service')).toEqual({ act: 'No Service', tech: 'unknown' });
    expectMalformed(() => parseQnwinfo('+QNWINFO: "FDD LTE","4600","LTE BAND 3",1650'));
  });

  it('reads the network names and registered PLMN', () => {
    const info = parseQspn('+QSPN: "CHN-UNICOM","UNICOM","",0,"46001"');
    expect(info).toEqual({ fullName: 'CHN-UNICOM', shortName: 'UNICOM', mcc: '460', mnc: '01' });
    expect(qspnOperator(info)).toEqual({ name: 'CHN-UNICOM', mcc: '460', mnc: '01' });
    expect(qspnOperator(parseQspn('+QSPN: "","","giffgaff",0,"23410"'))).toEqual({ name: 'giffgaff', mcc: '234', mnc: '10' });
    expectMalformed(() => parseQspn('+QSPN: "A"'));
  });
});

describe('packet domain', () => {
  it('reads +CGATT', () => {
    expect(parseCgatt('+CGATT: 1')).toBe(true);
    expect(parseCgatt('+CGATT: 0')).toBe(false);
    expectMalformed(() => parseCgatt('+CGATT: 2'));
  });

  it('reads +CGPADDR with IPv4 and IPv6 in 27.007 dotted form and colon form', () => {
    expect(parseCgpaddr('+CGPADDR: 1,"10.45.0.2"')).toEqual({ cid: 1, addresses: ['10.45.0.2'] });
    expect(parseCgpaddr('+CGPADDR: 1,"10.1.2.3","32.1.13.184.0.0.0.0.0.0.0.0.0.0.0.1"')).toEqual({ cid: 1, addresses: ['10.1.2.3', '2001:db8::1'] });
    expect(parseCgpaddr('+CGPADDR: 1,"254.128.0.0.0.0.0.0.2.0.0.0.0.0.0.1"').addresses).toEqual(['fe80::200:0:0:1']);
    expect(parseCgpaddr('+CGPADDR: 1,"2001:DB8:0:0:1:0:0:1"').addresses).toEqual(['2001:db8::1:0:0:1']);
    expect(parseCgpaddr('+CGPADDR: 3,"2A00:1450::200E"').addresses).toEqual(['2a00:1450::200e']);
    expect(parseCgpaddr('+CGPADDR: 1,"0.0.0.0"')).toEqual({ cid: 1, addresses: [] });
    expect(parseCgpaddr('+CGPADDR: 2')).toEqual({ cid: 2, addresses: [] });
    expectMalformed(() => parseCgpaddr('+CGPADDR: 1,"10.1.2.300"'));
    expectMalformed(() => parseCgpaddr('+CGPADDR: 1,"hello"'));
    expectMalformed(() => parseCgpaddr('+CGPADDR: 1,"1::2::3"'));
  });

  it('reads +CGDCONT? lines', () => {
    expect(parseCgdcont('+CGDCONT: 1,"IP","internet","0.0.0.0",0,0,0,0')).toEqual({ cid: 1, pdpType: 'IP', apn: 'internet' });
    expect(parseCgdcont('+CGDCONT: 2,"IPV4V6","ims","",0,0,0,0')).toEqual({ cid: 2, pdpType: 'IPV4V6', apn: 'ims' });
    expect(parseCgdcont('+CGDCONT: 1,"IP","internet"')).toEqual({ cid: 1, pdpType: 'IP', apn: 'internet' });
    expectMalformed(() => parseCgdcont('+CGDCONT: 1'));
  });
});

describe('no parser throws anything but AT_REPLY_MALFORMED', () => {
  const single: Array<[string, (line: string) => unknown]> = [
    ['+CREG', (l) => parseRegistration(l)],
    ['+CEREG', (l) => parseRegistration(l, 'query')],
    ['+C5GREG', (l) => parseRegistration(l, 'urc')],
    ['+COPS', parseCops],
    ['+CSQ', parseCsq],
    ['+CPIN', parseCpin],
    ['+CGATT', parseCgatt],
    ['+CGPADDR', parseCgpaddr],
    ['+CGDCONT', parseCgdcont],
    ['+CRSM', parseCrsmIccid],
    ['+QCSQ', parseQcsq],
    ['+QNWINFO', parseQnwinfo],
    ['+QSPN', parseQspn],
  ];
  const multi: Array<(lines: string[]) => unknown> = [parseManufacturer, parseModel, parseFirmware, parseAti, parseImei, parseImsi, parseIccid, parseServingCell, parseQcsqLines];

  const token = fc.oneof(
    fc.constantFrom('', '-', '0', '1', '99', '-32768', '255', '"LTE"', '"NR5G"', '"NR5G-NSA"', '"servingcell"', '"FDD"', 'FFFF', '"1A2B"', '"', '""', '1.5', '32.1.13.184.0.0.0.0.0.0.0.0.0.0.0.1', ' '),
    fc.string({ maxLength: 12 }),
    fc.integer({ min: -200000, max: 5000000 }).map(String),
  );
  const structured = (prefix: string): fc.Arbitrary<string> => fc.array(token, { maxLength: 22 }).map((ts) => `${prefix}: ${ts.join(',')}`);

  const check = (fn: () => unknown): void => {
    try {
      fn();
    } catch (err) {
      if (!(err instanceof TcuError) || err.code !== 'AT_REPLY_MALFORMED') throw err;
    }
  };

  it('single-line parsers, on arbitrary text and on well-prefixed parameter soup', () => {
    for (const [prefix, parse] of single) {
      fc.assert(
        fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), structured(prefix)), (line) => check(() => parse(line))),
        { numRuns: 300 },
      );
    }
  });

  it('multi-line parsers, on arrays of arbitrary and well-prefixed lines', () => {
    const line = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), structured('+QENG'), structured('+QCSQ'), structured('+QCCID'), structured('+CGSN'));
    for (const parse of multi) {
      fc.assert(
        fc.property(fc.array(line, { maxLength: 4 }), (lines) => check(() => parse(lines))),
        { numRuns: 300 },
      );
    }
  });
});
