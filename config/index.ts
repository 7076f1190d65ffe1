/** The agent's configuration: schema, types, loader, migrations. */
export type * from './types.js';
export { CONFIG_SCHEMA, PATTERNS, BUS_DRIVERS } from './schema.js';
export {
  createConfigLoader,
  loadConfig,
  parseConfig,
  parseConfigText,
  type ConfigLoader,
  type ConfigLoaderOptions,
  type ParseConfigOptions,
} from './load.js';
export { CURRENT_CONFIG_VERSION, MIGRATIONS, migrateConfig, type ConfigMigration, type ConfigObject } from './migrate.js';
