/**
 * Configuration versions. A file says which version of the format it is written in (`version`);
 * an older file is brought to the current version one step at a time (1 -> 2 -> 3 ...), each step
 * a small pure function, before the schema sees it. A newer file, or one without a version, is
 * refused: guessing would be worse than saying so.
 */
import { TcuError } from '../core/errors.js';
import { configInvalid as invalid } from './messages.js';

/** The version this agent reads; the schema describes exactly this version. */
export const CURRENT_CONFIG_VERSION = 1;

/** The configuration as a plain JSON object, between steps. */
export type ConfigObject = Record<string, unknown>;

export interface ConfigMigration {
  from: number;
  to: number;
  /** Rewrites a version-`from` object into a version-`to` one. Gets its own copy; may change it. Need not set `version`. */
  migrate(config: ConfigObject): ConfigObject;
}

/** Every step, oldest first. Version 1 is the first version, so there are none yet. */
export const MIGRATIONS: readonly ConfigMigration[] = [];

export function isConfigObject(value: unknown): value is ConfigObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Brings a parsed configuration to `target` (the current version), step by step, without touching
 * the object given. Throws CONFIG_INVALID when the version is missing, not a whole number, newer
 * than `target`, or has no chain of steps to `target`, and when a step fails.
 */
export function migrateConfig(
  config: unknown,
  steps: readonly ConfigMigration[] = MIGRATIONS,
  target: number = CURRENT_CONFIG_VERSION,
  source?: string,
): ConfigObject {
  if (!isConfigObject(config)) throw invalid([{ path: '/', message: 'must be an object' }], source);
  const version = config.version;
  if (version === undefined) {
    throw invalid([{ path: '/', message: `missing required property "version" (this agent reads configuration version ${target}: add "version": ${target})` }], source);
  }
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) {
    throw invalid([{ path: '/version', message: `must be a whole number (the configuration version; this agent reads ${target})` }], source);
  }
  if (version > target) {
    throw invalid(
      [{ path: '/version', message: `version ${version} is newer than this agent supports (it reads up to version ${target}); update the agent or write a version ${target} file` }],
      source,
    );
  }
  let current: ConfigObject;
  try {
    current = structuredClone(config);
  } catch {
    throw invalid([{ path: '/', message: 'must be plain JSON data' }], source);
  }
  for (let v = version; v < target; ) {
    const step = steps.find((s) => s.from === v);
    if (step === undefined || step.to !== v + 1) {
      throw invalid([{ path: '/version', message: `version ${version} is too old: this agent has no migration from version ${v} to ${v + 1}` }], source);
    }
    try {
      const next = step.migrate(current);
      if (!isConfigObject(next)) throw new Error('the step did not return an object');
      current = { ...next, version: step.to };
    } catch (err) {
      if (err instanceof TcuError && err.code === 'CONFIG_INVALID') throw err;
      const why = err instanceof Error ? err.message : String(err);
      throw invalid([{ path: '/', message: `could not migrate from version ${step.from} to ${step.to}: ${why}` }], source);
    }
    v = step.to;
  }
  return current;
}
