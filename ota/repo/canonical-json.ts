import { TcuError } from '../../core/errors.js';

/**
 * TUF's canonical JSON (the OLPC dialect that python-tuf, go-tuf and tuf-js sign): object keys
 * sorted by UTF-16 code unit, no whitespace, strings escaped only for `\` and `"`, integers only
 * (no floats), no `undefined`. The bytes signed are the UTF-8 encoding of this text.
 *
 * Used for key ids here; tuf-js's `Metadata.sign` produces the same form for signatures (the unit
 * tests compare the two on real metadata).
 */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  write(value, out, '$');
  return out.join('');
}

function write(value: unknown, out: string[], path: string): void {
  if (value === null || typeof value === 'boolean') {
    out.push(String(value));
  } else if (typeof value === 'string') {
    out.push(quote(value));
  } else if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      throw new TcuError('OTA_METADATA', `${path}: canonical JSON allows integers only, not ${String(value)}`, { details: { path } });
    }
    out.push(String(value));
  } else if (Array.isArray(value)) {
    out.push('[');
    value.forEach((item, i) => {
      if (i > 0) out.push(',');
      write(item, out, `${path}[${i}]`);
    });
    out.push(']');
  } else if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    out.push('{');
    let first = true;
    for (const key of Object.keys(record).sort()) {
      if (record[key] === undefined) continue;
      if (!first) out.push(',');
      first = false;
      out.push(quote(key), ':');
      write(record[key], out, `${path}.${key}`);
    }
    out.push('}');
  } else {
    throw new TcuError('OTA_METADATA', `${path}: canonical JSON cannot encode a ${typeof value}`, { details: { path } });
  }
}

function quote(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}
