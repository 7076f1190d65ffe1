/**
 * Turns ajv's raw errors into one readable line per problem: the JSON path and the rule in plain
 * words (`/uplink/keepaliveSeconds: must be >= 5`, `/can/buses/0: unknown property "ifface"`).
 */
import type { ErrorObject } from 'ajv';
import { TcuError } from '../core/errors.js';
import { BUS_DRIVERS, PATTERNS } from './schema.js';
import type { ConfigProblem } from './types.js';

const PATTERN_WORDS: ReadonlyMap<string, string> = new Map(Object.values(PATTERNS).map((p) => [p.pattern, p.words]));

const TYPE_WORDS: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  integer: 'an integer',
  boolean: 'true or false',
  object: 'an object',
  array: 'an array',
  null: 'null',
};

/** The JSON pointer as shown: "/" stands for the whole file. */
export function displayPath(pointer: string): string {
  return pointer === '' ? '/' : pointer;
}

/** Appends one escaped JSON pointer segment. */
export function childPath(pointer: string, key: string | number): string {
  const base = pointer === '/' ? '' : pointer;
  return `${base}/${String(key).replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

export function quote(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

function typeWords(type: unknown): string {
  const types = Array.isArray(type) ? type : [type];
  const words = types.map((t) => TYPE_WORDS[String(t)] ?? String(t));
  return words.length <= 1 ? (words[0] ?? 'of another type') : `${words.slice(0, -1).join(', ')} or ${words[words.length - 1] ?? ''}`;
}

function oneOf(values: readonly unknown[]): string {
  return values.map(quote).join(', ');
}

/** Edit distance, for "did you mean" on unknown properties. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

/** The known name closest to `unknown`, when it is close enough to be a typo. */
function closest(unknown: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = distance(unknown.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(Math.min(best.length, unknown.length) / 3)) ? best : undefined;
}

function knownProperties(parentSchema: unknown): string[] {
  if (typeof parentSchema !== 'object' || parentSchema === null) return [];
  const properties = (parentSchema as { properties?: unknown }).properties;
  return typeof properties === 'object' && properties !== null ? Object.keys(properties) : [];
}

/** One ajv error as a problem; `undefined` for errors that only repeat another one. */
function describe(error: ErrorObject): ConfigProblem | undefined {
  const at = error.instancePath;
  const p = error.params as Record<string, unknown>;
  const problem = (path: string, message: string): ConfigProblem => ({ path: displayPath(path), message });
  switch (error.keyword) {
    case 'additionalProperties': {
      const name = String(p.additionalProperty);
      const guess = closest(name, knownProperties(error.parentSchema));
      return problem(at, `unknown property ${quote(name)}${guess === undefined ? '' : ` (did you mean ${quote(guess)}?)`}`);
    }
    case 'required':
      return problem(at, `missing required property ${quote(p.missingProperty)}`);
    case 'type':
      return problem(at, `must be ${typeWords(p.type)}`);
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return problem(at, `must be ${String(p.comparison)} ${String(p.limit)}`);
    case 'minLength':
      return problem(at, p.limit === 1 ? 'must not be empty' : `must be at least ${String(p.limit)} characters long`);
    case 'maxLength':
      return problem(at, `must be at most ${String(p.limit)} characters long`);
    case 'minItems':
      return problem(at, p.limit === 1 ? 'must have at least one item' : `must have at least ${String(p.limit)} items`);
    case 'maxItems':
      return problem(at, `must have at most ${String(p.limit)} items`);
    case 'uniqueItems': {
      const [first, second] = [Number(p.i), Number(p.j)].sort((a, b) => a - b);
      return problem(at, `must not repeat an item (items ${String(first)} and ${String(second)} are the same)`);
    }
    case 'pattern': {
      const words = PATTERN_WORDS.get(String(p.pattern));
      return problem(at, words ?? `must match the pattern /${String(p.pattern)}/`);
    }
    case 'enum':
      return problem(at, `must be one of ${oneOf(p.allowedValues as unknown[])}`);
    case 'const':
      return problem(at, `must be ${quote(p.allowedValue)}`);
    case 'discriminator': {
      const tag = String(p.tag);
      const data = error.data as Record<string, unknown> | undefined;
      if (data?.[tag] === undefined) return problem(at, `missing required property ${quote(tag)} (one of ${oneOf(BUS_DRIVERS)})`);
      return problem(childPath(at, tag), `must be one of ${oneOf(BUS_DRIVERS)}`);
    }
    case 'oneOf':
    case 'anyOf':
    case 'if':
      // Summaries of errors already reported one by one.
      return undefined;
    default:
      return problem(at, error.message ?? `breaks the rule "${error.keyword}"`);
  }
}

/**
 * ajv's errors as readable problems, in schema order, without repeats. A missing property is not
 * reported where an unknown property of the same object is its likely misspelling: "unknown
 * property "ifface" (did you mean "iface"?)" says it all.
 */
export function describeAjvErrors(errors: readonly ErrorObject[]): ConfigProblem[] {
  const misspelt = new Set<string>();
  for (const e of errors) {
    if (e.keyword !== 'additionalProperties') continue;
    const guess = closest(String((e.params as { additionalProperty?: unknown }).additionalProperty), knownProperties(e.parentSchema));
    if (guess !== undefined) misspelt.add(`${e.instancePath}\u0000${guess}`);
  }
  const seen = new Set<string>();
  const out: ConfigProblem[] = [];
  for (const error of errors) {
    if (error.keyword === 'required' && misspelt.has(`${error.instancePath}\u0000${String((error.params as { missingProperty?: unknown }).missingProperty)}`)) continue;
    const problem = describe(error);
    if (problem === undefined) continue;
    const key = `${problem.path}\u0000${problem.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(problem);
  }
  return out;
}

/**
 * The one error a bad configuration gives: CONFIG_INVALID, a first line naming the file, then one
 * line per problem (`  /path: rule`); `details.problems` holds the same as `{path, message}`.
 */
export function configInvalid(problems: readonly ConfigProblem[], source?: string, extra: Record<string, unknown> = {}): TcuError {
  const where = source === undefined ? 'the configuration' : `the configuration ${source}`;
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  const lines = problems.map((p) => `\n  ${p.path}: ${p.message}`).join('');
  return new TcuError('CONFIG_INVALID', `${where} is invalid (${count}):${lines}`, {
    details: { ...extra, ...(source === undefined ? {} : { source }), problems: problems.map((p) => ({ ...p })) },
  });
}
