/** The job store: interface, its SQLite (one daemon) and PostgreSQL (a cluster) implementations, and migrations. */
export * from './types.js';
export { SqliteJobStore, type SqliteJobStoreOptions } from './sqlite.js';
export { PostgresJobStore, type PostgresJobStoreOptions, RUNNABLE_CHANNEL } from './postgres/index.js';
export { MIGRATIONS } from './migrations/index.js';
export type { Migration } from '../../sqlite/index.js';
