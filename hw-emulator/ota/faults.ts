/**
 * The OTA repository server's fault modes, and their command-line form `NAME[:ARG][@PATH]`.
 * Without `@PATH` a fault applies to every file it makes sense for (tamper and short: files under
 * a `targets/` folder; stale-metadata: files that have a stale copy); with it, to that file or to
 * everything under that folder (`@targets/` or `@image/targets/app.bin`).
 */
import { TcuError } from '../../core/errors.js';

export type OtaFault =
  /** Close the connection once the file's byte `at` is reached (a number, or `{ percent }` of the file). `times` drops then serve normally (default 1; 0 = always). */
  | { kind: 'drop-mid-file'; at: number | { percent: number }; times?: number; path?: string }
  /** Trickle the body at this many bytes per second. */
  | { kind: 'slow'; bytesPerS: number; path?: string }
  /** Flip (XOR 0xFF) the byte at `offset` (default the middle of the file): same length, wrong hash. */
  | { kind: 'tamper'; offset?: number; path?: string }
  /** After the file's last byte keep sending zeros, with no Content-Length, until the client hangs up. */
  | { kind: 'endless'; path?: string }
  /** Serve `DIR/<path>` (default `stale/<path>` under the root) instead of `<path>` where that copy exists. */
  | { kind: 'stale-metadata'; dir?: string; path?: string }
  /** Answer every request 200 with the whole file, as a server without Range support does. */
  | { kind: 'ignore-range'; path?: string }
  /** Serve the file as if it held only its first `bytes` (default half of it): a truncated file, headers included. */
  | { kind: 'short'; bytes?: number; path?: string };

export type OtaFaultKind = OtaFault['kind'];

export const OTA_FAULT_HELP: Readonly<Record<OtaFaultKind, string>> = {
  'drop-mid-file': 'drop-mid-file:AT[,TIMES]  close the connection at byte AT (or AT% of the file); TIMES drops, then normal (default 1, 0 = always)',
  slow: 'slow[:BYTES_PER_S]       trickle the body (default 1024 B/s)',
  tamper: 'tamper[:OFFSET]          flip one byte of target files (default: the middle byte)',
  endless: 'endless                  keep sending zeros past the end of the file, no Content-Length',
  'stale-metadata': 'stale-metadata[:DIR]     serve DIR/<path> instead of <path> where it exists (default DIR: stale)',
  'ignore-range': 'ignore-range             answer every Range request with 200 and the whole file',
  short: 'short[:BYTES]            serve only the first BYTES of target files (default half), as a truncated file',
};

function usage(text: string, why: string): TcuError {
  return new TcuError('EMULATOR_CONFIG', `bad fault "${text}": ${why} (NAME[:ARG][@PATH]; names: ${Object.keys(OTA_FAULT_HELP).join(', ')})`);
}

function count(text: string, arg: string, what: string): number {
  if (!/^\d{1,15}$/.test(arg)) throw usage(text, `${what} must be a non-negative integer, not "${arg}"`);
  return Number(arg);
}

/** `NAME[:ARG][@PATH]` → a fault. EMULATOR_CONFIG for an unknown name or a bad argument. */
export function parseFault(text: string): OtaFault {
  const at = text.indexOf('@');
  const spec = at < 0 ? text : text.slice(0, at);
  const path = at < 0 ? undefined : normalisePath(text.slice(at + 1), text);
  const colon = spec.indexOf(':');
  const name = colon < 0 ? spec : spec.slice(0, colon);
  const arg = colon < 0 ? undefined : spec.slice(colon + 1);
  const withPath = <F extends OtaFault>(f: F): F => (path === undefined ? f : { ...f, path });
  switch (name) {
    case 'drop-mid-file': {
      if (arg === undefined) throw usage(text, 'drop-mid-file needs the byte (or percentage) to drop at');
      const [where = '', times] = arg.split(',');
      const pct = /^(\d{1,3}(?:\.\d+)?)%$/.exec(where);
      if (pct && Number(pct[1]) > 100) throw usage(text, 'a percentage is at most 100');
      const point = pct ? { percent: Number(pct[1]) } : count(text, where, 'the drop point');
      return withPath({ kind: 'drop-mid-file', at: point, times: times === undefined ? 1 : count(text, times, 'TIMES') });
    }
    case 'slow': {
      const rate = arg === undefined ? 1024 : count(text, arg, 'the rate');
      if (rate === 0) throw usage(text, 'the rate must be at least 1 byte per second');
      return withPath({ kind: 'slow', bytesPerS: rate });
    }
    case 'tamper':
      return withPath(arg === undefined ? { kind: 'tamper' } : { kind: 'tamper', offset: count(text, arg, 'the offset') });
    case 'short':
      return withPath(arg === undefined ? { kind: 'short' } : { kind: 'short', bytes: count(text, arg, 'the length') });
    case 'stale-metadata':
      return withPath(arg === undefined ? { kind: 'stale-metadata' } : { kind: 'stale-metadata', dir: normalisePath(arg, text) });
    case 'endless':
    case 'ignore-range':
      if (arg !== undefined) throw usage(text, `${name} takes no argument`);
      return withPath({ kind: name });
    default:
      throw usage(text, `unknown fault "${name}"`);
  }
}

function normalisePath(path: string, text: string): string {
  const p = path.replace(/^\/+/, '');
  if (p === '' || p.split('/').some((s) => s === '..' || s === '.')) throw usage(text, `"${path}" is not a path inside the root`);
  return p;
}

/** Whether `fault` applies to the file at `path` (relative to the root, no leading slash). */
export function faultApplies(fault: OtaFault, path: string): boolean {
  if (fault.path !== undefined) return path === fault.path || path.startsWith(fault.path.endsWith('/') ? fault.path : `${fault.path}/`);
  if (fault.kind === 'tamper' || fault.kind === 'short') return path.split('/').slice(0, -1).includes('targets');
  return true;
}

/** The byte a drop-mid-file fault cuts at, in a file of `size` bytes. */
export function dropPoint(fault: Extract<OtaFault, { kind: 'drop-mid-file' }>, size: number): number {
  return typeof fault.at === 'number' ? fault.at : Math.floor((size * fault.at.percent) / 100);
}

/** The command-line form of a fault, for the listening line and logs. */
export function formatFault(fault: OtaFault): string {
  const arg = (() => {
    switch (fault.kind) {
      case 'drop-mid-file':
        return `:${typeof fault.at === 'number' ? fault.at : `${fault.at.percent}%`},${fault.times ?? 1}`;
      case 'slow':
        return `:${fault.bytesPerS}`;
      case 'tamper':
        return fault.offset === undefined ? '' : `:${fault.offset}`;
      case 'short':
        return fault.bytes === undefined ? '' : `:${fault.bytes}`;
      case 'stale-metadata':
        return fault.dir === undefined ? '' : `:${fault.dir}`;
      default:
        return '';
    }
  })();
  return `${fault.kind}${arg}${fault.path === undefined ? '' : `@${fault.path}`}`;
}
