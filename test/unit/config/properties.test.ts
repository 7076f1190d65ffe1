import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TcuError } from '../../../core/errors.js';
import { createConfigLoader, type ConfigProblem } from '../../../config/index.js';
import { jsonErrorOffset, lineColumn } from '../../../config/json-text.js';
import { everything } from './samples.js';

const loader = createConfigLoader();

/** Runs `fn`; anything thrown must be a CONFIG_INVALID TcuError whose message lists its problems one per line. */
function onlyConfigInvalid(fn: () => unknown): ConfigProblem[] | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    if (!(err instanceof TcuError) || err.code !== 'CONFIG_INVALID') throw err;
    const problems = err.details.problems as ConfigProblem[];
    expect(problems.length).toBeGreaterThan(0);
    expect(err.message.split('\n')).toHaveLength(problems.length + 1);
    for (const p of problems) {
      expect(p.path.startsWith('/')).toBe(true);
      expect(p.message.length).toBeGreaterThan(0);
    }
    return problems;
  }
}

/** Every JSON pointer into a value, as key lists. */
function pathsOf(value: unknown, at: (string | number)[] = []): (string | number)[][] {
  const out = [at];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...pathsOf(v, [...at, i])));
  else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) out.push(...pathsOf(v, [...at, k]));
  return out;
}

function setAt(root: unknown, path: (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value;
  const parent = path.slice(0, -1).reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], root) as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  if (value === undefined) delete parent[last];
  else parent[last] = value;
  return root;
}

const valid = everything();
const allPaths = pathsOf(valid);

describe('properties (fast-check)', () => {
  it('random JSON values never make parseConfig throw anything but CONFIG_INVALID', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        onlyConfigInvalid(() => loader.parse(value));
        onlyConfigInvalid(() => loader.parse({ version: 1, ...(typeof value === 'object' && value !== null && !Array.isArray(value) ? value : { value }) }));
      }),
      { numRuns: 300 },
    );
  });

  it('a valid configuration with one value replaced or removed either loads or fails with CONFIG_INVALID', () => {
    fc.assert(
      fc.property(fc.constantFrom(...allPaths), fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }), (path, value) => {
        const input = setAt(structuredClone(valid), path, value);
        const problems = onlyConfigInvalid(() => loader.parse(input));
        if (problems === undefined) {
          const once = loader.parse(input);
          expect(loader.parse(once)).toEqual(once);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('random text never makes parseText throw anything but CONFIG_INVALID', () => {
    const text = fc.oneof(
      fc.string(),
      fc.jsonValue().map((v) => JSON.stringify(v, null, 2)),
      fc.tuple(fc.jsonValue().map((v) => JSON.stringify(v)), fc.nat(), fc.string({ maxLength: 3 })).map(([t, at, ins]) => t.slice(0, at % (t.length + 1)) + ins + t.slice(at % (t.length + 1))),
    );
    fc.assert(
      fc.property(text, (t) => {
        onlyConfigInvalid(() => loader.parseText(t));
      }),
      { numRuns: 300 },
    );
  });

  it('the JSON scanner agrees with JSON.parse, and finds the position Node reports when Node reports one', () => {
    const unit = fc.constantFrom('{', '}', '[', ']', ':', ',', '"', '\\', 'a', 'u', '0', '1', '-', '.', 'e', '+', ' ', '\n', 't', 'true', 'null', 'false', '"k"', '\u0001', '€');
    const nearlyJson = fc.oneof(
      fc.string({ unit, maxLength: 30 }),
      fc.tuple(fc.jsonValue().map((v) => JSON.stringify(v, null, 1)), fc.nat(), fc.nat(3), fc.string({ unit, maxLength: 2 })).map(([t, at, cut, ins]) => {
        const i = at % (t.length + 1);
        return t.slice(0, i) + ins + t.slice(i + cut);
      }),
    );
    fc.assert(
      fc.property(nearlyJson, (text) => {
        let nodeError: string | undefined;
        try {
          JSON.parse(text);
        } catch (err) {
          nodeError = (err as Error).message;
        }
        const offset = jsonErrorOffset(text);
        expect(offset === undefined).toBe(nodeError === undefined);
        const nodeAt = /at position (\d+)/.exec(nodeError ?? '')?.[1];
        if (nodeAt !== undefined) expect(offset).toBe(Number(nodeAt));
      }),
      { numRuns: 2000 },
    );
  });

  it('line and column count from 1', () => {
    expect(lineColumn('ab\ncd', 0)).toEqual({ line: 1, column: 1 });
    expect(lineColumn('ab\ncd', 3)).toEqual({ line: 2, column: 1 });
    expect(lineColumn('ab\r\ncd', 5)).toEqual({ line: 2, column: 2 });
    expect(lineColumn('ab', 2)).toEqual({ line: 1, column: 3 });
  });
});
