/**
 * PostgreSQL plumbing shared by every PostgreSQL store: the connection ({@link openPostgres}),
 * numbered migrations under an advisory lock ({@link migratePostgres}) and the mapping of
 * connection failures to STORE_UNAVAILABLE. Stores import from here, never from `pg`.
 */
export { openPostgres, isUnavailable, storeError, redactUrl, prepared } from './connection.js';
export type { PostgresDatabase, PostgresOptions, SqlExecutor, NotificationHandler, PreparedSql, Sql } from './connection.js';
export { migratePostgres } from './migrations.js';
export type { PostgresMigration } from './migrations.js';
