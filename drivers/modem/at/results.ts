/**
 * What one line from the modem means: a final result code, an intermediate line of the command in
 * flight, or an unsolicited result code (URC). Pure: no I/O, no state beyond the URC list.
 *
 * Final result codes (V.250, 3GPP TS 27.007 9.2, 27.005 3.2.5):
 *   success  `OK`; `CONNECT` or `CONNECT <text>` (data mode, file transfers: the command ends there)
 *   failure  `ERROR`, `+CME ERROR: <n|text>`, `+CMS ERROR: <n|text>`, `NO CARRIER`, `BUSY`,
 *            `NO ANSWER`, `NO DIALTONE`
 * Verbose result codes only (ATV1, which every profile sets); numeric codes (ATV0) are not decoded.
 *
 * The URC-versus-reply rule. A line is read in this order:
 *   1. a final result code ends the command in flight;
 *   2. a line named like the command in flight (`+CREG: 1,5` while `AT+CREG?` runs, `+CSQ: 20,99`
 *      for `AT+CSQ`, `+QGPSLOC: ...` for `AT+QGPSLOC=2`) is an intermediate line of that command,
 *      even when its name is also a URC's (the modem cannot tell us which it meant, and the reply is
 *      what the command waits for);
 *   3. a line that matches a known URC (by `+NAME:` prefix, or a whole word such as `RING`, `RDY`)
 *      is unsolicited, wherever it arrives, including between the lines of a reply;
 *   4. any other line is an intermediate line when a command is in flight, and an unknown
 *      unsolicited line (counted, still delivered) when none is.
 * With nothing in flight, `NO CARRIER` is unsolicited (a data call ended) and other final result
 * codes are stray (a late reply to a command that already timed out): dropped and counted.
 */

export type FinalResult =
  | { kind: 'ok'; line: string }
  /** `CONNECT` with its optional text (a rate, a length): success, the command ends. */
  | { kind: 'connect'; line: string; text?: string }
  /** `ERROR`, `+CME ERROR`, `+CMS ERROR`: numeric codes as numbers, verbose ones as text. */
  | { kind: 'error'; line: string; cme?: number | string; cms?: number | string }
  /** `NO CARRIER`, `BUSY`, `NO ANSWER`, `NO DIALTONE`. */
  | { kind: 'failure'; line: string };

const FAILURE_WORDS = new Set(['NO CARRIER', 'BUSY', 'NO ANSWER', 'NO DIALTONE']);

/** The final result code `line` is, or undefined for any other line. */
export function parseFinal(line: string): FinalResult | undefined {
  if (line === 'OK') return { kind: 'ok', line };
  if (line === 'ERROR') return { kind: 'error', line };
  if (FAILURE_WORDS.has(line)) return { kind: 'failure', line };
  if (line === 'CONNECT') return { kind: 'connect', line };
  if (line.startsWith('CONNECT ')) return { kind: 'connect', line, text: line.slice(8).trim() };
  const m = /^\+(CME|CMS) ERROR:\s*(.*)$/.exec(line);
  if (m) {
    const raw = m[2]!.trim();
    const value: number | string = /^\d{1,6}$/.test(raw) ? Number(raw) : raw;
    return m[1] === 'CME' ? { kind: 'error', line, cme: value } : { kind: 'error', line, cms: value };
  }
  return undefined;
}

/** True for a final result code that ends a command successfully (`OK`, `CONNECT ...`). */
export function isSuccess(final: FinalResult): boolean {
  return final.kind === 'ok' || final.kind === 'connect';
}

const NAME = /^([+$%^#*][A-Za-z0-9_.]+)/;

/**
 * The names of the extended commands in a command line, upper case: `AT+CREG?` → `['+CREG']`,
 * `AT+CEREG=2;+C5GREG=2` → `['+CEREG', '+C5GREG']`, `ATI` and `AT` → `[]`.
 */
export function commandNames(command: string): string[] {
  let body = command.trim();
  if (/^AT/i.test(body)) body = body.slice(2);
  const names: string[] = [];
  for (const part of body.split(';')) {
    const m = NAME.exec(part.trim());
    if (m) names.push(m[1]!.toUpperCase());
  }
  return names;
}

/** The name a reply or URC line carries before its colon (`+CREG: 5` → `+CREG`), upper case. */
export function lineName(line: string): string | undefined {
  const m = /^([+$%^#*][A-Za-z0-9_.]+)\s*:/.exec(line);
  return m ? m[1]!.toUpperCase() : undefined;
}

/**
 * Known unsolicited result codes. An entry ending in `:` matches lines starting with it; any other
 * entry matches a whole line. Quectel's asynchronous results of socket, MQTT, HTTP, ping and NTP
 * commands (which arrive after the `OK`) are here too, so they are unsolicited even when another
 * command is in flight.
 */
export const DEFAULT_URC_PATTERNS: readonly string[] = [
  // 3GPP TS 27.007 / 27.005
  '+CREG:', '+CGREG:', '+CEREG:', '+C5GREG:', '+CPIN:', '+CFUN:', '+CGEV:', '+CRING:', '+CLIP:',
  '+CCWA:', '+CUSD:', '+CMTI:', '+CMT:', '+CDS:', '+CDSI:', '+CBM:', '+CIEV:', '+CTZV:', '+CTZE:',
  '+CTZEU:', '+CSSI:', '+CSSU:', '+CUSATP:', 'RING', 'NO CARRIER',
  // Quectel (EC25/EG25/RM500Q)
  'RDY', '+QIND:', '+QIURC:', '+QUSIM:', '+QGPSURC:', '+QSIMSTAT:', '+QNITZ:', '+QMTSTAT:',
  '+QMTRECV:', '+QMTOPEN:', '+QMTCONN:', '+QMTSUB:', '+QMTPUB:', '+QIOPEN:', '+QSSLURC:',
  '+QSSLOPEN:', '+QPING:', '+QNTP:', '+QHTTPGET:', '+QHTTPPOST:', '+QFTPGET:', '+QLWURC:', '+QNETDEVSTATUS:',
  'POWERED DOWN', 'NORMAL POWER DOWN', 'UNDER-VOLTAGE POWER DOWN', 'OVER-VOLTAGE POWER DOWN',
  'UNDER-VOLTAGE WARNING', 'OVER-VOLTAGE WARNING', 'UNDER_VOLTAGE POWER DOWN', 'OVER_VOLTAGE POWER DOWN',
  'UNDER_VOLTAGE WARNING', 'OVER_VOLTAGE WARNING',
];

/** Matches lines against a URC list (prefixes ending in `:`, whole words otherwise). */
export class UrcMatcher {
  private readonly prefixes: string[];
  private readonly words: Set<string>;

  constructor(patterns: readonly string[] = DEFAULT_URC_PATTERNS) {
    this.prefixes = patterns.filter((p) => p.endsWith(':'));
    this.words = new Set(patterns.filter((p) => !p.endsWith(':')));
  }

  matches(line: string): boolean {
    if (this.words.has(line)) return true;
    for (const p of this.prefixes) if (line.startsWith(p)) return true;
    return false;
  }
}

export type LineRole =
  | { role: 'final'; final: FinalResult }
  | { role: 'intermediate' }
  /** `known`: it matched the URC list (false: an unknown line with nothing in flight). */
  | { role: 'unsolicited'; known: boolean }
  /** A final result code with nothing in flight: a late reply, dropped. */
  | { role: 'stray'; final: FinalResult };

/**
 * Applies the rule in this file's header. `inFlight` holds the names of the command in flight
 * (`commandNames`), or is undefined when no command is in flight.
 */
export function classifyLine(line: string, inFlight: readonly string[] | undefined, urcs: UrcMatcher): LineRole {
  const final = parseFinal(line);
  if (inFlight) {
    if (final) return { role: 'final', final };
    const name = lineName(line);
    if (name !== undefined && inFlight.includes(name)) return { role: 'intermediate' };
    if (urcs.matches(line)) return { role: 'unsolicited', known: true };
    return { role: 'intermediate' };
  }
  if (final && !urcs.matches(line)) return { role: 'stray', final };
  if (final || urcs.matches(line)) return { role: 'unsolicited', known: true };
  return { role: 'unsolicited', known: false };
}
