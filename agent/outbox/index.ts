/** The outbox's public entry: open it, read its figures from another process, and its types. */
export { openOutbox, type OutboxOptions, type OpenReport, type Synchronous } from './sqlite-outbox.js';
export { readOutboxStats } from './read-stats.js';
export type { BatchOptions, Outbox, OutboxStats } from './types.js';
export type { Migration } from './schema.js';
