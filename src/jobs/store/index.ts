/** The job store: interface, SQLite implementation and migrations. */
export * from './types.js';
export { SqliteJobStore, type SqliteJobStoreOptions } from './sqlite.js';
export { MIGRATIONS } from './migrations/index.js';
export type { Migration } from '../../sqlite/index.js';
