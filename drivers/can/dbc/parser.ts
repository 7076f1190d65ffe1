import { readFileSync } from 'node:fs';
import { TextDecoder } from 'node:util';
import { TcuError } from '../../../core/errors.js';
import type { DbcDatabase, DbcWarning, ParseOptions } from './model.js';
import { buildDatabase } from './semantics.js';
import type { Warn } from './raw.js';
import { parseStatements } from './statements.js';

/**
 * Reads a DBC file into a {@link DbcDatabase}, with the semantics of cantools (`cantools.database
 * .load_string`): which statements count, how ids, multiplexing, value tables and attributes
 * resolve, and that the `VECTOR__INDEPENDENT_SIG_MSG` pseudo message is dropped.
 *
 * Tolerant by default: a statement that cannot be used becomes a {@link DbcWarning} (sorted by
 * position in `db.warnings`) and everything else still loads. With `strict: true` the first
 * warning is thrown instead, as a `TcuError` whose code is the warning's code and whose details
 * hold `{ file, line, column }`. In tolerant mode it never throws, whatever the input.
 *
 * Differences from cantools, all on the tolerant side: ids above 0x7FF without the extended flag
 * load as extended (`DBC_EXTENDED_ID`) where cantools refuses the file; a missing `;` before the
 * next statement is a warning; unknown references are warnings where cantools ignores or fails.
 * ENUM attribute values are stored as their text (`BA_` gives the index).
 */
export function parseDbc(text: string, options: ParseOptions = {}): DbcDatabase {
  const file = options.file ?? '<string>';
  const warnings: DbcWarning[] = [];
  const warn: Warn = (code, message, where) => {
    warnings.push({ code, message, file, line: where.line, column: where.column });
  };
  const db = buildDatabase(parseStatements(text, warn), warn);
  warnings.sort((a, b) => a.line - b.line || a.column - b.column);
  db.warnings = warnings;
  const first = warnings[0];
  if (options.strict === true && first !== undefined) {
    throw new TcuError(first.code, `${first.file}:${first.line}:${first.column}: ${first.message}`, {
      details: { file: first.file, line: first.line, column: first.column },
    });
  }
  return db;
}

/**
 * Reads and parses a DBC file. The bytes are decoded as UTF-8 when they are valid UTF-8 (opendbc
 * files are), otherwise as Windows-1252 (CANdb++'s default, and cantools'). A file that cannot be
 * read throws `TcuError` `FILE_READ`.
 */
export function loadDbcFile(path: string, options: ParseOptions = {}): DbcDatabase {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new TcuError('FILE_READ', `cannot read DBC file ${path}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
      details: { file: path },
    });
  }
  return parseDbc(decodeText(bytes), { ...options, file: options.file ?? path });
}

function decodeText(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    // Not UTF-8: the legacy single-byte encoding DBC editors write (Latin-1 where a Node built
    // without ICU has no Windows-1252 decoder).
    return windows1252()?.decode(bytes) ?? Buffer.from(bytes).toString('latin1');
  }
}

function windows1252(): TextDecoder | undefined {
  try {
    return new TextDecoder('windows-1252');
  } catch {
    return undefined;
  }
}
