import type { RadioTech, SignalInfo } from '../types.js';
import { afterPrefix, compact, isBlank, malformed, measurement, optHex, optInt, responseParams, type Param } from './fields.js';
import { mergeSignals, makeSignal } from './signal.js';

/**
 * AT+QENG="servingcell" (Quectel EC2x/EG2x/BG9x and RG50xQ/RM5xxQ/RM520N manuals). Layouts:
 *
 *   LTE   +QENG: "servingcell",<state>,"LTE",<is_tdd>,<MCC>,<MNC>,<cellID>,<PCID>,<earfcn>,
 *                <band>,<UL_bw>,<DL_bw>,<TAC>,<RSRP>,<RSRQ>,<RSSI>,<SINR>[,<CQI>,<tx_power>],<srxlev>
 *         (BG9x: "eMTC"/"CAT-M"/"NBIoT"/"CAT-NB" in place of "LTE", same fields)
 *   SA    +QENG: "servingcell",<state>,"NR5G-SA",<duplex>,<MCC>,<MNC>,<cellID>,<PCID>,<TAC>,
 *                <ARFCN>,<band>,<DL_bw>,<RSRP>,<RSRQ>,<SINR>,<scs>,<srxlev>
 *   EN-DC +QENG: "servingcell",<state>
 *         +QENG: "LTE",<is_tdd>,<MCC>,<MNC>,<cellID>,<PCID>,<earfcn>,<band>,<UL_bw>,<DL_bw>,<TAC>,
 *                <RSRP>,<RSRQ>,<RSSI>,<SINR>,<CQI>,<tx_power>,<srxlev>
 *         +QENG: "NR5G-NSA",<MCC>,<MNC>,<PCID>,<RSRP>,<SINR>,<RSRQ>,<ARFCN>,<band>,<DL_bw>,<scs>
 *   WCDMA +QENG: "servingcell",<state>,"WCDMA",<MCC>,<MNC>,<LAC>,<cellID>,<uarfcn>,<PSC>,<RAC>,<RSCP>,<ecio>,...
 *   GSM   +QENG: "servingcell",<state>,"GSM",<MCC>,<MNC>,<LAC>,<cellID>,<BSIC>,<arfcn>,<band>,<rxlev>,...
 *   none  +QENG: "servingcell","SEARCH"
 *
 * `<state>`: SEARCH (no cell), LIMSRV (camped, limited service), NOCONN (idle), CONNECT.
 * `-` marks a value the modem does not have. Neighbour-cell lines are ignored.
 * LTE SINR: see quectel.ts (value * 2 - 20 dB; a value above 25 is read as 1/5 dB).
 */

export interface ServingCellInfo {
  /** The RAT as given: `LTE`, `NR5G-SA`, `NR5G-NSA`, `WCDMA`, `GSM`, `eMTC`, ... */
  rat: string;
  tech: RadioTech;
  duplex?: string;
  mcc?: string;
  mnc?: string;
  /** Cell identity, hex. */
  cellId?: string;
  /** Physical cell id (LTE, NR) or primary scrambling code (WCDMA). */
  pcid?: number;
  /** Tracking or location area code, hex. */
  area?: string;
  /** EARFCN, NR-ARFCN, UARFCN or ARFCN. */
  channel?: number;
  band?: string;
  rsrpDbm?: number;
  rsrqDb?: number;
  rssiDbm?: number;
  sinrDb?: number;
  /** WCDMA received signal code power. */
  rscpDbm?: number;
}

export interface ServingCell {
  /** SEARCH, LIMSRV, NOCONN or CONNECT, when given. */
  state?: string;
  /** One entry per serving RAT: one, or two in EN-DC (LTE anchor and NR5G-NSA). */
  cells: ServingCellInfo[];
}

function mccOf(line: string, p: Param | undefined): string | undefined {
  if (isBlank(p)) return undefined;
  if (!/^\d{3}$/.test(p!.text)) throw malformed(line, 'MCC is not three digits');
  return p!.text;
}

/** MNC as written; a one-digit MNC (firmware printing an integer) is padded to two. */
function mncOf(line: string, p: Param | undefined): string | undefined {
  if (isBlank(p)) return undefined;
  if (!/^\d{1,3}$/.test(p!.text)) throw malformed(line, 'MNC is not two or three digits');
  return p!.text.padStart(2, '0');
}

function bandOf(line: string, p: Param | undefined): string | undefined {
  if (isBlank(p)) return undefined;
  if (!/^[A-Za-z0-9 _-]{1,16}$/.test(p!.text)) throw malformed(line, 'band is malformed');
  return p!.text;
}

const rsrp = (line: string, p: Param | undefined): number | undefined => measurement(line, p, 'RSRP', -160, -20);
const rsrq = (line: string, p: Param | undefined): number | undefined => measurement(line, p, 'RSRQ', -45, 25);
const dbm = (line: string, p: Param | undefined, what: string): number | undefined => measurement(line, p, what, -140, -10);

/** LTE SINR of +QENG → dB. */
export function qengLteSinrDb(raw: number | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (raw >= 0 && raw <= 25) return raw * 2 - 20;
  if (raw > 25 && raw <= 250) return Math.round((raw / 5 - 20) * 10) / 10;
  return undefined;
}

/** LTE fields starting at `o` (the index of `<is_tdd>`). */
function lteCell(line: string, rat: string, p: Param[], o: number): ServingCellInfo {
  return compact<ServingCellInfo>({
    rat,
    tech: 'LTE',
    duplex: p[o]?.text || undefined,
    mcc: mccOf(line, p[o + 1]),
    mnc: mncOf(line, p[o + 2]),
    cellId: optHex(line, p[o + 3], 'cell id', 10),
    pcid: optInt(line, p[o + 4], 'PCID', 0, 1007),
    channel: optInt(line, p[o + 5], 'EARFCN', 0, 300_000),
    band: bandOf(line, p[o + 6]),
    area: optHex(line, p[o + 9], 'TAC', 8),
    rsrpDbm: rsrp(line, p[o + 10]),
    rsrqDb: rsrq(line, p[o + 11]),
    rssiDbm: dbm(line, p[o + 12], 'RSSI'),
    sinrDb: qengLteSinrDb(measurement(line, p[o + 13], 'SINR', -1000, 1000)),
  });
}

function servingLine(line: string, p: Param[]): { state: string; cell?: ServingCellInfo } {
  const state = p[1]?.text ?? '';
  if (!/^[A-Z]{1,12}$/i.test(state)) throw malformed(line, 'serving cell state is missing or malformed');
  if (p.length <= 2) return { state };
  const rat = p[2]!.text;
  const upper = rat.toUpperCase();
  if (upper === 'NR5G-SA') {
    return {
      state,
      cell: compact<ServingCellInfo>({
        rat,
        tech: 'NR',
        duplex: p[3]?.text || undefined,
        mcc: mccOf(line, p[4]),
        mnc: mncOf(line, p[5]),
        cellId: optHex(line, p[6], 'cell id', 10),
        pcid: optInt(line, p[7], 'PCID', 0, 1007),
        area: optHex(line, p[8], 'TAC', 8),
        channel: optInt(line, p[9], 'ARFCN', 0, 4_000_000),
        band: bandOf(line, p[10]),
        rsrpDbm: rsrp(line, p[12]),
        rsrqDb: rsrq(line, p[13]),
        sinrDb: measurement(line, p[14], 'SINR', -30, 60),
      }),
    };
  }
  if (upper === 'LTE' || /^(EMTC|CAT-?M1?|NBIOT|NB-IOT|CAT-?NB\d?)$/.test(upper)) return { state, cell: lteCell(line, rat, p, 3) };
  if (upper === 'WCDMA' || upper === 'TDSCDMA') {
    return {
      state,
      cell: compact<ServingCellInfo>({
        rat,
        tech: 'UMTS',
        mcc: mccOf(line, p[3]),
        mnc: mncOf(line, p[4]),
        area: optHex(line, p[5], 'LAC', 8),
        cellId: optHex(line, p[6], 'cell id', 10),
        channel: optInt(line, p[7], 'UARFCN', 0, 100_000),
        pcid: optInt(line, p[8], 'PSC', 0, 511),
        rscpDbm: dbm(line, p[10], 'RSCP'),
      }),
    };
  }
  if (upper === 'GSM') {
    return {
      state,
      cell: compact<ServingCellInfo>({
        rat,
        tech: 'GSM',
        mcc: mccOf(line, p[3]),
        mnc: mncOf(line, p[4]),
        area: optHex(line, p[5], 'LAC', 8),
        cellId: optHex(line, p[6], 'cell id', 10),
        channel: optInt(line, p[8], 'ARFCN', 0, 100_000),
        band: bandOf(line, p[9]),
        rssiDbm: dbm(line, p[10], 'rxlev'),
      }),
    };
  }
  if (!/^[A-Z0-9 _-]{1,16}$/i.test(rat)) throw malformed(line, 'serving cell RAT is malformed');
  return { state, cell: { rat, tech: 'unknown' } };
}

function nsaCell(line: string, p: Param[]): ServingCellInfo {
  return compact<ServingCellInfo>({
    rat: p[0]!.text,
    tech: 'NR',
    mcc: mccOf(line, p[1]),
    mnc: mncOf(line, p[2]),
    pcid: optInt(line, p[3], 'PCID', 0, 1007),
    rsrpDbm: rsrp(line, p[4]),
    sinrDb: measurement(line, p[5], 'SINR', -30, 60),
    rsrqDb: rsrq(line, p[6]),
    channel: optInt(line, p[7], 'ARFCN', 0, 4_000_000),
    band: bandOf(line, p[8]),
  });
}

/** The `+QENG:` lines of one AT+QENG="servingcell" reply. Throws when there is no serving-cell line. */
export function parseServingCell(lines: readonly string[]): ServingCell {
  const out: ServingCell = { cells: [] };
  let seen = false;
  for (const line of lines) {
    if (afterPrefix(line, '+QENG') === undefined) continue;
    const p = responseParams(line, '+QENG');
    const kind = (p[0]?.text ?? '').toUpperCase();
    if (kind === 'SERVINGCELL') {
      seen = true;
      const { state, cell } = servingLine(line, p);
      out.state = state;
      if (cell) out.cells.push(cell);
    } else if (kind === 'LTE') {
      seen = true;
      out.cells.push(lteCell(line, p[0]!.text, p, 1));
    } else if (kind === 'NR5G-NSA') {
      seen = true;
      out.cells.push(nsaCell(line, p));
    }
  }
  if (!seen) throw malformed(lines.join('\n'), 'no serving cell line');
  return compact(out);
}

const RANK: Record<RadioTech, number> = { unknown: 0, GSM: 1, UMTS: 2, LTE: 3, NR: 4 };

/** Cells that are really there: an NSA leg with no RSRP is a placeholder, not a carrier. */
function liveCells(sc: ServingCell): ServingCellInfo[] {
  if (sc.state?.toUpperCase() === 'SEARCH') return [];
  return sc.cells.filter((c) => !(c.rat.toUpperCase() === 'NR5G-NSA' && c.rsrpDbm === undefined));
}

/** The best technology the serving cell(s) use: NR for SA and for a live EN-DC leg. */
export function servingCellTech(sc: ServingCell): RadioTech {
  let best: RadioTech = 'unknown';
  for (const c of liveCells(sc)) if (RANK[c.tech] > RANK[best]) best = c.tech;
  return best;
}

/** Signal from the serving cell(s); in EN-DC the NR leg's values override the LTE anchor's. */
export function servingCellSignal(sc: ServingCell): SignalInfo | undefined {
  const cells = liveCells(sc);
  if (cells.length === 0) return undefined;
  const ordered = [...cells].sort((a, b) => RANK[a.tech] - RANK[b.tech]);
  return mergeSignals(...ordered.map((c) => makeSignal({ rssiDbm: c.rssiDbm, rsrpDbm: c.rsrpDbm, rsrqDb: c.rsrqDb, sinrDb: c.sinrDb })));
}
