/**
 * Loading the configuration: read the file, parse the JSON, migrate an older version, validate
 * against the schema (ajv, every error at once, defaults filled in), check what the schema cannot
 * say, resolve relative paths against the file's folder. A bad file gives ONE TcuError
 * CONFIG_INVALID listing every problem as `/json/path: rule`.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { TcuError } from '../core/errors.js';
import { parseJsonText } from './json-text.js';
import { configInvalid, describeAjvErrors } from './messages.js';
import { MIGRATIONS, migrateConfig, type ConfigMigration } from './migrate.js';
import { CONFIG_SCHEMA } from './schema.js';
import { resolvePaths, semanticProblems } from './semantic.js';
import type { AgentConfig } from './types.js';

export interface ParseConfigOptions {
  /** Folder that relative file paths are resolved against; without it they are left as written. */
  baseDir?: string;
  /** Where the configuration came from (a file name), named in the error message. */
  source?: string;
}

export interface ConfigLoader {
  /** Validates an already-parsed JSON value; the value given is not changed. */
  parse(json: unknown, options?: ParseConfigOptions): AgentConfig;
  /** Parses JSON text, then as `parse`. */
  parseText(text: string, options?: ParseConfigOptions): AgentConfig;
  /** Reads a file (FILE_READ when it cannot), then as `parseText` with paths relative to the file's folder. */
  load(path: string): AgentConfig;
}

export interface ConfigLoaderOptions {
  /** Migration steps, oldest first (default: MIGRATIONS). Tests inject synthetic ones. */
  migrations?: readonly ConfigMigration[];
}

/** The ajv validator for CONFIG_SCHEMA: every error at once, defaults filled in, bus kinds by `driver`. */
function compileValidator(): ValidateFunction {
  const ajv = new Ajv({ allErrors: true, useDefaults: true, discriminator: true, allowUnionTypes: true, verbose: true, strict: true });
  return ajv.compile(CONFIG_SCHEMA);
}

/** A loader that compiles the schema once, on first use, and keeps the validator for later calls. */
export function createConfigLoader(options: ConfigLoaderOptions = {}): ConfigLoader {
  const migrations = options.migrations ?? MIGRATIONS;
  let validator: ValidateFunction | undefined;

  const parse = (json: unknown, parseOptions: ParseConfigOptions = {}): AgentConfig => {
    const { source, baseDir } = parseOptions;
    // migrateConfig works on its own copy, so ajv's defaults never reach the caller's object.
    const data = migrateConfig(json, migrations, undefined, source);
    validator ??= compileValidator();
    if (!validator(data)) throw configInvalid(describeAjvErrors(validator.errors ?? []), source);
    const config = data as unknown as AgentConfig;
    const problems = semanticProblems(config);
    if (problems.length > 0) throw configInvalid(problems, source);
    if (baseDir !== undefined) resolvePaths(config, baseDir);
    return config;
  };

  const parseText = (text: string, parseOptions: ParseConfigOptions = {}): AgentConfig => {
    const parsed = parseJsonText(text);
    if (!parsed.ok) {
      const { line, column } = parsed.problem;
      const position = line === undefined ? {} : { line, column };
      throw configInvalid([{ path: parsed.problem.path, message: parsed.problem.message }], parseOptions.source, position);
    }
    return parse(parsed.value, parseOptions);
  };

  const load = (path: string): AgentConfig => {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : err instanceof Error ? err.message : String(err);
      throw new TcuError('FILE_READ', `cannot read the configuration file ${path}: ${why}`, { cause: err, details: { path, ...(code ? { errno: code } : {}) } });
    }
    return parseText(text, { source: path, baseDir: dirname(resolve(path)) });
  };

  return { parse, parseText, load };
}

/** Validates a parsed configuration: migrated, checked, defaults filled in, paths resolved against `baseDir` when given. */
export function parseConfig(json: unknown, options?: ParseConfigOptions): AgentConfig {
  return createConfigLoader().parse(json, options);
}

/** As `parseConfig`, from JSON text; a syntax error names its line and column. */
export function parseConfigText(text: string, options?: ParseConfigOptions): AgentConfig {
  return createConfigLoader().parseText(text, options);
}

/** Reads and validates the configuration file at `path`; relative paths in it are relative to its folder. */
export function loadConfig(path: string): AgentConfig {
  return createConfigLoader().load(path);
}
