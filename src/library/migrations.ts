/**
 * Numbered migrations of a library database, applied in order, each in its own transaction and
 * recorded in `migrations (version, name, applied_at)`. Never edit a migration that has shipped:
 * add the next number.
 */
import type { Migration } from '../sqlite/index.js';

export const LIBRARY_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: '0001_entries_locations_sidecars',
    // Params: none. Creates entries, locations and sidecars. Times are ms since the epoch;
    // `metadata` is JSON text (queried with SQLite's JSON functions).
    sql: `
      CREATE TABLE entries (
        seq             INTEGER PRIMARY KEY AUTOINCREMENT,
        id              TEXT NOT NULL UNIQUE,
        name            TEXT NOT NULL,
        path            TEXT NOT NULL UNIQUE,
        entry_type      TEXT NOT NULL,
        kind            TEXT,
        metadata        TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
        content_hash    TEXT,
        size            INTEGER,
        mtime           INTEGER,
        location_id     TEXT,
        content_stored  INTEGER NOT NULL DEFAULT 0,
        dedupe_key      TEXT UNIQUE,
        scan_id         TEXT,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL
      );
      CREATE INDEX entries_type ON entries (entry_type, seq);
      CREATE INDEX entries_hash ON entries (content_hash) WHERE content_hash IS NOT NULL;
      CREATE INDEX entries_location ON entries (location_id, scan_id) WHERE location_id IS NOT NULL;

      CREATE TABLE locations (
        id               TEXT PRIMARY KEY,
        path             TEXT NOT NULL UNIQUE,
        name             TEXT NOT NULL,
        created_at       INTEGER NOT NULL,
        last_indexed_at  INTEGER,
        last_job_id      TEXT
      );

      CREATE TABLE sidecars (
        id           TEXT PRIMARY KEY,
        content_key  TEXT NOT NULL,
        kind         TEXT NOT NULL,
        variant      TEXT NOT NULL,
        format       TEXT NOT NULL,
        path         TEXT NOT NULL,
        checksum     TEXT NOT NULL,
        size         INTEGER NOT NULL,
        created_at   INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL,
        UNIQUE (content_key, kind, variant)
      );
      CREATE INDEX sidecars_path ON sidecars (path);
    `,
  },
];
