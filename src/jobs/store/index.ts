/** The job store: interface, SQLite implementation and migrations. */
export * from './types.js';
export { SqliteJobStore, type SqliteJobStoreOptions } from './sqlite.js';
export { MIGRATIONS, type Migration } from './migrations/index.js';
