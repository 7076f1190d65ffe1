import type { ModemIdentity } from '../types.js';
import { compact, firstLine, int, isPrintable, malformed, responseParams, stripPrefix } from './fields.js';

/**
 * Identity replies. 3GPP TS 27.007 gives +CGMI/+CGMM/+CGMR/+CGSN/+CIMI as bare text lines; many
 * modems prefix them anyway (`+CGSN: "866758040012345"`), so both forms are accepted.
 * The ICCID has no 27.007 command of its own: Quectel answers AT+QCCID, others AT+ICCID or
 * AT+CCID, and any SIM can be read through AT+CRSM (EF_ICCID, file 0x2FE2).
 */

const MAX_TEXT = 96;

function text(lines: readonly string[], what: string, prefixes: readonly string[]): string {
  const line = firstLine(lines, what);
  const value = stripPrefix(line, prefixes);
  if (value === '' || value.length > MAX_TEXT || !isPrintable(value)) throw malformed(line, `${what} is empty, too long or not printable`);
  return value;
}

/** AT+CGMI (or AT+GMI): `Quectel`. */
export function parseManufacturer(lines: readonly string[]): string {
  return text(lines, 'manufacturer', ['+CGMI', '+GMI']);
}

/** AT+CGMM (or AT+GMM): `EC25`, `RM500Q-GL`. */
export function parseModel(lines: readonly string[]): string {
  return text(lines, 'model', ['+CGMM', '+GMM']);
}

/** AT+CGMR (or AT+GMR): `EC25EFAR06A06M4G`, also `Revision: EC25EFAR06A06M4G`. */
export function parseFirmware(lines: readonly string[]): string {
  return text(lines, 'firmware revision', ['+CGMR', '+GMR', 'Revision']);
}

/**
 * ATI. Quectel answers three lines (`Quectel`, `EC25`, `Revision: EC25EFAR06A06M4G`); others
 * use keys (`Manufacturer: ...`, `Model: ...`, `Revision: ...`, `IMEI: ...`). Lines starting
 * with `+` (`+GCAP: +CGSM`) are skipped.
 */
export function parseAti(lines: readonly string[]): ModemIdentity {
  const id: ModemIdentity = {};
  let positional = 0;
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '' || line.startsWith('+')) continue;
    if (line.length > MAX_TEXT || !isPrintable(line)) throw malformed(line, 'ATI line is too long or not printable');
    const keyed = /^(manufacturer|model|revision|imei)\s*:\s*(.*)$/i.exec(line);
    if (keyed) {
      const key = keyed[1]!.toLowerCase();
      const value = keyed[2]!.trim();
      if (value === '') continue;
      if (key === 'manufacturer') id.manufacturer = value;
      else if (key === 'model') id.model = value;
      else if (key === 'revision') id.firmware = value;
      else id.imei = parseImei([value]);
    } else if (/^[A-Za-z][A-Za-z0-9 ]*:/.test(line)) {
      continue; // another keyed line (`SVN: 01`)
    } else if (positional === 0) {
      id.manufacturer = line;
      positional++;
    } else if (positional === 1) {
      id.model = line;
      positional++;
    }
  }
  const out = compact(id);
  if (Object.keys(out).length === 0) throw malformed(lines.join('\n'), 'ATI gave no identity');
  return out;
}

/** AT+CGSN: the IMEI (15 digits; 14 without check digit and 16 for an IMEISV are accepted). */
export function parseImei(lines: readonly string[]): string {
  const line = firstLine(lines, 'IMEI');
  const value = stripPrefix(line, ['+CGSN', '+GSN', 'IMEI']);
  if (!/^\d{14,16}$/.test(value)) throw malformed(line, 'IMEI is not 14 to 16 digits');
  return value;
}

/** AT+CIMI: the IMSI (at most 15 digits: MCC, MNC, MSIN). */
export function parseImsi(lines: readonly string[]): string {
  const line = firstLine(lines, 'IMSI');
  const value = stripPrefix(line, ['+CIMI']);
  if (!/^\d{6,15}$/.test(value)) throw malformed(line, 'IMSI is not 6 to 15 digits');
  return value;
}

/**
 * AT+QCCID (`+QCCID: 89860318760234557178`), AT+ICCID (`+ICCID: ...`), AT+CCID (`+CCID: "..."`)
 * or a bare line. Trailing `F` padding nibbles are dropped.
 */
export function parseIccid(lines: readonly string[]): string {
  const line = firstLine(lines, 'ICCID');
  const value = stripPrefix(line, ['+QCCID', '+ICCID', '+CCID', '+CICCID', 'ICCID']);
  if (!/^\d{18,22}[Ff]{0,2}$/.test(value)) throw malformed(line, 'ICCID is not 18 to 22 digits');
  return value.replace(/[Ff]+$/, '');
}

/**
 * AT+CRSM=176,12258,0,0,10 (READ BINARY of EF_ICCID): `+CRSM: 144,0,"98101430121181157002"`.
 * The file holds BCD with swapped nibbles; status word 144 (0x90) or 145 means success.
 */
export function parseCrsmIccid(line: string): string {
  const params = responseParams(line, '+CRSM');
  const sw1 = int(line, params[0], 'sw1', 0, 255);
  int(line, params[1], 'sw2', 0, 255);
  if (sw1 !== 144 && sw1 !== 145) throw malformed(line, `the SIM refused the read (sw1 ${sw1})`);
  const data = params[2]?.text ?? '';
  if (!/^[0-9A-Fa-f]{18,22}$/.test(data) || data.length % 2 !== 0) throw malformed(line, 'EF_ICCID is not 9 to 11 bytes of hex');
  let digits = '';
  for (let i = 0; i < data.length; i += 2) digits += data[i + 1]! + data[i]!;
  const iccid = digits.replace(/[Ff]+$/, '');
  if (!/^\d{18,22}$/.test(iccid)) throw malformed(line, 'EF_ICCID holds non-decimal digits');
  return iccid;
}
