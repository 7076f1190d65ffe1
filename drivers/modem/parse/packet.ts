import { compact, int, isPrintable, malformed, responseParams } from './fields.js';

/**
 * The packet domain: +CGATT? (attached), +CGPADDR (addresses of PDP contexts) and +CGDCONT?
 * (context definitions), 3GPP TS 27.007 sections 10.1.9, 10.1.14 and 10.1.1.
 *
 * Addresses: IPv4 as given (`10.45.0.2`); IPv6 either as 27.007's sixteen dot-separated decimal
 * bytes (`32.1.13.184.0.0.0.0.0.0.0.0.0.0.0.1`) or colon hex (after AT+CGPIAF), both returned in
 * the RFC 5952 text form (`2001:db8::1`). `0.0.0.0`, `::` and empty mean "no address".
 */

/** `+CGATT: <state>` → attached. */
export function parseCgatt(line: string): boolean {
  const params = responseParams(line, '+CGATT');
  return int(line, params[0], '<state>', 0, 1) === 1;
}

/** Sixteen bytes → RFC 5952 text (lower case, longest run of two or more zero groups as `::`). */
export function ipv6Text(bytes: readonly number[]): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

function parseColonIpv6(text: string): number[] | undefined {
  if (!/^[0-9A-Fa-f:]{2,39}$/.test(text)) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const part = (s: string): string[] => (s === '' ? [] : s.split(':'));
  const head = part(halves[0]!);
  const tail = halves.length === 2 ? part(halves[1]!) : [];
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? fill : 0).fill('0'), ...tail];
  const bytes: number[] = [];
  for (const g of groups) {
    if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) return undefined;
    const v = parseInt(g, 16);
    bytes.push(v >> 8, v & 0xff);
  }
  return bytes;
}

/**
 * One PDP address as the modem wrote it → normalised text; undefined for "no address".
 * Throws AT_REPLY_MALFORMED for text that is no address.
 */
export function normaliseAddress(line: string, text: string): string | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  const parts = t.split('.');
  if (parts.length === 4 || parts.length === 16) {
    const bytes = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : 256));
    if (bytes.some((b) => b > 255)) throw malformed(line, 'address byte is not 0..255');
    if (bytes.every((b) => b === 0)) return undefined;
    return parts.length === 4 ? bytes.join('.') : ipv6Text(bytes);
  }
  const v6 = parseColonIpv6(t);
  if (!v6) throw malformed(line, 'not an IPv4 or IPv6 address');
  return v6.every((b) => b === 0) ? undefined : ipv6Text(v6);
}

export interface PdpAddress {
  cid: number;
  /** IPv4 first when the context has both; empty when the context has no address. */
  addresses: string[];
}

/** `+CGPADDR: <cid>[,<addr1>[,<addr2>]]`. */
export function parseCgpaddr(line: string): PdpAddress {
  const params = responseParams(line, '+CGPADDR');
  const cid = int(line, params[0], '<cid>', 0, 255);
  const addresses: string[] = [];
  for (const p of params.slice(1, 3)) {
    const a = normaliseAddress(line, p.text);
    if (a !== undefined) addresses.push(a);
  }
  return { cid, addresses };
}

export interface PdpContext {
  cid: number;
  /** `IP`, `IPV6`, `IPV4V6`, `Non-IP`, ... */
  pdpType: string;
  apn: string;
  address?: string;
}

/** `+CGDCONT: <cid>,<PDP_type>,<APN>,<PDP_addr>,...` (one line per defined context). */
export function parseCgdcont(line: string): PdpContext {
  const params = responseParams(line, '+CGDCONT');
  const cid = int(line, params[0], '<cid>', 0, 255);
  const pdpType = params[1]?.text ?? '';
  if (!/^[A-Za-z0-9-]{1,16}$/.test(pdpType)) throw malformed(line, '<PDP_type> is missing or malformed');
  const apn = params[2]?.text ?? '';
  if (apn.length > 100 || (apn !== '' && !isPrintable(apn))) throw malformed(line, '<APN> is too long or not printable');
  const address = params[3] === undefined ? undefined : normaliseAddress(line, params[3].text);
  return compact({ cid, pdpType, apn, address });
}
