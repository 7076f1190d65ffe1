/**
 * The hand-written TypeScript types and the JSON Schema describe the same thing. Checked twice:
 * by the compiler (`tsc --noEmit` evaluates the type-level comparison below: a field added to one
 * and not the other, a wrong optionality or a wrong leaf type is a compile error), and at run
 * time (a literal that uses every field passes the schema).
 */
import { describe, expect, it } from 'vitest';
import { CONFIG_SCHEMA, parseConfig, type AgentConfig, type AgentConfigInput } from '../../../config/index.js';
import { everything } from './samples.js';

// ---------------------------------------------------------------- the schema as a type

type Mode = 'input' | 'loaded';
type TypeOfName<N> = N extends 'string' ? string : N extends 'number' | 'integer' ? number : N extends 'boolean' ? boolean : never;
type Flatten<T> = { [K in keyof T]: T[K] };
type RequiredOf<S> = S extends { required: readonly (infer R)[] } ? R : never;
/** Keys present after loading: required ones, and (in the loaded form) those with a default. */
type Present<P, R, M extends Mode, K extends keyof P> = K extends R ? true : M extends 'loaded' ? (P[K] extends { default: unknown } ? true : false) : false;
type ObjectFrom<P, R, M extends Mode> = Flatten<
  { [K in keyof P as Present<P, R, M, K> extends true ? K : never]-?: FromSchema<P[K], M> } & {
    [K in keyof P as Present<P, R, M, K> extends true ? never : K]?: FromSchema<P[K], M>;
  }
>;
type FromSchema<S, M extends Mode> = S extends { const: infer C }
  ? C
  : S extends { enum: readonly (infer E)[] }
    ? E
    : S extends { oneOf: readonly (infer O)[] }
      ? O extends unknown
        ? FromSchema<O, M>
        : never
      : S extends { type: 'array'; items: infer I }
        ? FromSchema<I, M>[]
        : S extends { type: 'object'; properties: infer P }
          ? ObjectFrom<P, RequiredOf<S>, M>
          : S extends { type: readonly (infer N)[] }
            ? TypeOfName<N>
            : S extends { type: infer N }
              ? TypeOfName<N>
              : unknown;

// ---------------------------------------------------------------- deep comparison

type Identical<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Mutual<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Primitive = string | number | boolean | null | undefined;
type RequiredKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? never : K }[keyof T];
type SameObject<A, B> =
  Identical<keyof A, keyof B> extends true
    ? Identical<RequiredKeys<A>, RequiredKeys<B>> extends true
      ? false extends { [K in keyof A & keyof B]-?: Same<Exclude<A[K], undefined>, Exclude<B[K], undefined>> }[keyof A & keyof B]
        ? false
        : true
      : false
    : false;
type Member<a, B> = [a] extends [Primitive] ? Mutual<a, Extract<B, Primitive>> : true extends (B extends object ? SameObject<a, B> : never) ? true : false;
type AllIn<A, B> = false extends (A extends unknown ? Member<A, B> : never) ? false : true;
type Same<A, B> = [A] extends [readonly (infer EA)[]]
  ? [B] extends [readonly (infer EB)[]]
    ? Same<EA, EB>
    : false
  : [A] extends [Primitive]
    ? Mutual<A, B>
    : AllIn<A, B> extends true
      ? AllIn<B, A>
      : false;
type Expect<T extends true> = T;

type SchemaInput = FromSchema<typeof CONFIG_SCHEMA, 'input'>;
type SchemaLoaded = FromSchema<typeof CONFIG_SCHEMA, 'loaded'>;

export type TypeChecks = [
  Expect<Same<SchemaInput, AgentConfigInput>>,
  Expect<Same<SchemaLoaded, AgentConfig>>,
  // The comparison is not vacuous: each of these differences is caught.
  // @ts-expect-error a field the schema does not have
  Expect<Same<SchemaInput, AgentConfigInput & { extra?: string }>>,
  // @ts-expect-error an optional field made required
  Expect<Same<SchemaInput, Omit<AgentConfigInput, 'jobs'> & { jobs: { heartbeat?: string; housekeeping?: string } }>>,
  // @ts-expect-error the loaded form without a default filled in
  Expect<Same<SchemaLoaded, Omit<AgentConfig, 'logging'> & { logging: { level?: AgentConfig['logging']['level'] } }>>,
  // @ts-expect-error a wrong leaf type deep inside a union member
  Expect<Same<SchemaInput['can']['buses'][number], AgentConfigInput['can']['buses'][number] | { name: string; driver: 'candump'; path: number; dbc: string }>>,
  // @ts-expect-error a leaf of the wrong type
  Expect<Same<SchemaLoaded['uplink'], Omit<AgentConfig['uplink'], 'keepaliveSeconds'> & { keepaliveSeconds: string }>>,
  // @ts-expect-error an enum missing a value
  Expect<Same<SchemaLoaded['collect']['periodic'][number], Omit<AgentConfig['collect']['periodic'][number], 'priority'> & { priority: 'low' | 'normal' | 'high' }>>,
  // @ts-expect-error a union member missing
  Expect<Same<SchemaLoaded['can']['buses'][number], Exclude<AgentConfig['can']['buses'][number], { driver: 'candump' }>>>,
];

// ---------------------------------------------------------------- run time

describe('types and schema', () => {
  it('the schema accepts a configuration that sets every field of AgentConfigInput, and changes nothing that was set', () => {
    const loaded: AgentConfig = parseConfig(everything());
    expect(loaded).toEqual(everything());
  });

  it('every object in the schema refuses unknown properties', () => {
    const open: string[] = [];
    const walk = (node: unknown, path: string): void => {
      if (typeof node !== 'object' || node === null) return;
      const n = node as Record<string, unknown>;
      if (n.type === 'object' && n.properties !== undefined && n.additionalProperties !== false) open.push(path);
      for (const [k, v] of Object.entries(n)) walk(v, `${path}/${k}`);
    };
    walk(CONFIG_SCHEMA, '#');
    expect(open).toEqual([]);
  });
});
