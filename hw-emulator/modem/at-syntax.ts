/**
 * The modem's side of the AT syntax (ITU-T V.250, 3GPP TS 27.007): splitting a command line into
 * commands, their arguments, and writing responses and result codes the way a Quectel module does
 * (`\r\n<line>\r\n`, final `\r\nOK\r\n`). Pure functions, no state.
 */

export type CommandKind = 'exec' | 'read' | 'test' | 'set';

export interface AtCommand {
  /** Upper case: `+CREG`, `E`, `I`, `&F`, `` (a bare `AT`). */
  name: string;
  kind: CommandKind;
  /** Set arguments, unquoted and trimmed; a basic command's digits are its one argument. */
  args: string[];
  /** Which arguments were quoted (`"1"` and `1` differ for some commands). */
  quoted: boolean[];
}

/** Longest command line accepted, bytes after `AT` (Quectel: 1024 characters including `AT`). */
export const MAX_LINE = 1024;

/**
 * The commands of one line after its `AT` prefix (`E0V1`, `+CREG?;+CGREG?`, `+QGPSCFG="outport","usbnmea"`).
 * Returns undefined for a syntax error (unbalanced quote, stray character), which a modem answers
 * with ERROR before running anything.
 */
export function parseCommandLine(body: string): AtCommand[] | undefined {
  const commands: AtCommand[] = [];
  let i = 0;
  if (body.trim() === '') return [{ name: '', kind: 'exec', args: [], quoted: [] }];
  while (i < body.length) {
    const c = body[i]!;
    if (c === ' ' || c === ';') {
      i++;
      continue;
    }
    if (c === '+' || c === '$' || c === '%') {
      const m = /^[+$%][A-Za-z][A-Za-z0-9_]*/.exec(body.slice(i));
      if (!m) return undefined;
      const name = m[0].toUpperCase();
      i += m[0].length;
      const end = endOfExtended(body, i);
      if (end === undefined) return undefined;
      const parsed = parseSuffix(body.slice(i, end));
      if (!parsed) return undefined;
      commands.push({ name, ...parsed });
      i = end;
      continue;
    }
    const m = /^(&?[A-Za-z])(\d*)/.exec(body.slice(i));
    if (!m) return undefined;
    i += m[0].length;
    let kind: CommandKind = m[2] ? 'set' : 'exec';
    if (body[i] === '?') {
      kind = 'read';
      i++;
    }
    commands.push({ name: m[1]!.toUpperCase(), kind, args: m[2] ? [m[2]] : [], quoted: m[2] ? [false] : [] });
  }
  return commands;
}

/** Index of the `;` ending an extended command (outside quotes), or the end; undefined when a quote is open. */
function endOfExtended(body: string, from: number): number | undefined {
  let quoted = false;
  for (let i = from; i < body.length; i++) {
    const c = body[i];
    if (c === '"') quoted = !quoted;
    else if (c === ';' && !quoted) return i;
  }
  return quoted ? undefined : body.length;
}

function parseSuffix(suffix: string): Omit<AtCommand, 'name'> | undefined {
  const s = suffix.trim();
  if (s === '') return { kind: 'exec', args: [], quoted: [] };
  if (s === '?') return { kind: 'read', args: [], quoted: [] };
  if (s === '=?') return { kind: 'test', args: [], quoted: [] };
  if (!s.startsWith('=')) return undefined;
  const split = splitArguments(s.slice(1));
  return split ? { kind: 'set', ...split } : undefined;
}

/** `1,"a,b", 2` → ['1', 'a,b', '2']; undefined when a quoted argument has text around it. */
export function splitArguments(text: string): { args: string[]; quoted: boolean[] } | undefined {
  const args: string[] = [];
  const quoted: boolean[] = [];
  let current = '';
  let inQuote = false;
  let wasQuoted = false;
  let closed = false;
  for (const c of text) {
    if (inQuote) {
      if (c === '"') {
        inQuote = false;
        closed = true;
      } else current += c;
    } else if (c === '"') {
      if (current.trim() !== '' || closed) return undefined;
      inQuote = true;
      wasQuoted = true;
      current = '';
    } else if (c === ',') {
      args.push(wasQuoted ? current : current.trim());
      quoted.push(wasQuoted);
      current = '';
      wasQuoted = false;
      closed = false;
    } else if (closed) {
      if (c !== ' ') return undefined;
    } else current += c;
  }
  if (inQuote) return undefined;
  args.push(wasQuoted ? current : current.trim());
  quoted.push(wasQuoted);
  return { args, quoted };
}

// ---------------------------------------------------------------------------------------------
// Responses

/** 3GPP TS 27.007 §9.2 and Quectel's GNSS codes: numeric code and the verbose text of +CMEE=2. */
export const CME_ERRORS = {
  3: 'operation not allowed',
  4: 'operation not supported',
  10: 'SIM not inserted',
  14: 'SIM busy',
  30: 'no network service',
  50: 'Incorrect parameters',
  100: 'unknown',
  504: 'Session is ongoing',
  505: 'Session not active',
  516: 'Not fixed now',
} as const;

export type CmeCode = keyof typeof CME_ERRORS;

/** An AT+CMEE setting: 0 plain ERROR, 1 numeric, 2 verbose. */
export type CmeeMode = 0 | 1 | 2;

/** The final result code for a failure, as +CMEE asks for it. */
export function errorResult(code: CmeCode, cmee: CmeeMode): string {
  if (cmee === 0) return 'ERROR';
  return `+CME ERROR: ${cmee === 1 ? code : CME_ERRORS[code]}`;
}

/**
 * An information response and its final result code, as a Quectel module writes them (verbose, V1):
 * `\r\n<line1>\r\n<line2>\r\n` then `\r\n<final>\r\n`. No information lines: just the final.
 */
export function formatResponse(lines: readonly string[], final: string): string {
  return formatInformation(lines) + formatLine(final);
}

export function formatInformation(lines: readonly string[]): string {
  return lines.length === 0 ? '' : `\r\n${lines.join('\r\n')}\r\n`;
}

/** One unsolicited result code or final result code on its own: `\r\n<line>\r\n`. */
export function formatLine(line: string): string {
  return `\r\n${line}\r\n`;
}

/** `"text"`: quotes for a string field of a response. */
export function q(text: string): string {
  return `"${text}"`;
}
