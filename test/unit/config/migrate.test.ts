import { describe, expect, it } from 'vitest';
import { TcuError } from '../../../core/errors.js';
import { CURRENT_CONFIG_VERSION, MIGRATIONS, createConfigLoader, migrateConfig, type ConfigMigration, type ConfigProblem } from '../../../config/index.js';
import { minimal } from './samples.js';

/** A made-up version 0, where the uplink was called `mqtt` and its keep-alive `keepalive`. */
const v0ToV1: ConfigMigration = {
  from: 0,
  to: 1,
  migrate: ({ mqtt, ...rest }) => {
    const { keepalive, ...uplink } = mqtt as Record<string, unknown>;
    return { ...rest, uplink: keepalive === undefined ? uplink : { ...uplink, keepaliveSeconds: keepalive } };
  },
};

function v0File(): Record<string, unknown> {
  const { uplink, ...rest } = minimal();
  return { ...rest, version: 0, mqtt: { ...(uplink as object), keepalive: 45 } };
}

function problemsOf(run: () => unknown): ConfigProblem[] {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(TcuError);
    expect((err as TcuError).code).toBe('CONFIG_INVALID');
    return (err as TcuError).details.problems as ConfigProblem[];
  }
  throw new Error('expected CONFIG_INVALID');
}

/** Steps 0 -> 1 -> 2 -> 3 that each leave a mark, to see the order. */
const chain: ConfigMigration[] = [0, 1, 2].map((from) => ({
  from,
  to: from + 1,
  migrate: (c) => ({ ...c, trail: [...((c.trail as number[] | undefined) ?? []), from] }),
}));

describe('migrations', () => {
  it('version 1 is the first version: there are no steps yet', () => {
    expect(CURRENT_CONFIG_VERSION).toBe(1);
    expect(MIGRATIONS).toEqual([]);
  });

  it('a current file passes through unchanged (as a copy)', () => {
    const input = minimal();
    const out = migrateConfig(input);
    expect(out).toEqual(input);
    expect(out).not.toBe(input);
  });

  it('an older file is migrated before validation, then loads like a current one', () => {
    const loader = createConfigLoader({ migrations: [v0ToV1] });
    const config = loader.parse(v0File());
    expect(config.version).toBe(1);
    expect(config.uplink).toMatchObject({ url: 'mqtt://127.0.0.1:1883', keepaliveSeconds: 45, protocolVersion: 5 });
  });

  it('steps run one at a time, oldest first, whatever order they are listed in, and set the version', () => {
    const out = migrateConfig({ version: 0 }, [...chain].reverse(), 3);
    expect(out).toEqual({ version: 3, trail: [0, 1, 2] });
    expect(migrateConfig({ version: 2 }, chain, 3)).toEqual({ version: 3, trail: [2] });
  });

  it('the object given is never changed, even by a step that changes its argument', () => {
    const input = v0File();
    const copy = structuredClone(input);
    const rude: ConfigMigration = {
      from: 0,
      to: 1,
      migrate: (c) => {
        c.uplink = c.mqtt;
        delete c.mqtt;
        (c.vehicle as Record<string, unknown>).deviceId = 'changed';
        return c;
      },
    };
    migrateConfig(input, [rude]);
    expect(input).toEqual(copy);
  });

  it('a gap in the chain is refused, naming the missing step', () => {
    expect(problemsOf(() => migrateConfig({ version: 0 }, [chain[0] as ConfigMigration, chain[2] as ConfigMigration], 3))).toEqual([
      { path: '/version', message: 'version 0 is too old: this agent has no migration from version 1 to 2' },
    ]);
  });

  it('a step that fails gives CONFIG_INVALID saying which step', () => {
    const broken: ConfigMigration = {
      from: 0,
      to: 1,
      migrate: () => {
        throw new Error('no mqtt section');
      },
    };
    expect(problemsOf(() => migrateConfig({ version: 0 }, [broken]))).toEqual([{ path: '/', message: 'could not migrate from version 0 to 1: no mqtt section' }]);
    const notAnObject: ConfigMigration = { from: 0, to: 1, migrate: () => [] as unknown as Record<string, unknown> };
    expect(problemsOf(() => migrateConfig({ version: 0 }, [notAnObject]))[0]?.message).toBe('could not migrate from version 0 to 1: the step did not return an object');
  });

  it('errors after a migration name paths of the current version', () => {
    const file = v0File();
    (file.mqtt as Record<string, unknown>).keepalive = 1;
    expect(problemsOf(() => createConfigLoader({ migrations: [v0ToV1] }).parse(file))).toEqual([{ path: '/uplink/keepaliveSeconds', message: 'must be >= 5' }]);
  });

  it('newer than the target, or without a version, is refused before any step runs', () => {
    let ran = false;
    const spy: ConfigMigration = { from: 0, to: 1, migrate: (c) => ((ran = true), c) };
    expect(problemsOf(() => migrateConfig({ version: 4 }, [spy], 3))[0]?.message).toBe(
      'version 4 is newer than this agent supports (it reads up to version 3); update the agent or write a version 3 file',
    );
    expect(problemsOf(() => migrateConfig({}, [spy]))[0]?.path).toBe('/');
    expect(ran).toBe(false);
  });
});
