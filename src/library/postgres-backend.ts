/**
 * {@link LibraryBackend} on PostgreSQL (src/storage/postgres): the catalog and every library's
 * entries, locations and sidecar index in tables shared by all nodes of a cluster, rows keyed by
 * library id. A library created on one node is seen by every other (the catalog is read again
 * when a call names a library the node does not know yet).
 *
 * Entry content bytes and sidecar files stay in the data directory's object store for now (see
 * docs/architecture.md, "Modules and storage ports").
 */
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import { migratePostgres, type PostgresDatabase, type PostgresMigration, type SqlExecutor } from '../storage/postgres/index.js';
import { mergeMetadata, type SidecarBlobStore } from './store.js';
import type {
  EntryFilter,
  EntryPatch,
  EntryRecord,
  LibraryBackend,
  LibraryCatalog,
  LibraryRecord,
  LibraryStats,
  LibraryStore,
  LocationRecord,
  NewEntry,
  SidecarFilter,
  SidecarRecord,
} from './store.js';
import { entryFromRow, toLocation, toSidecar, type EntryRow as StoredEntryRow, type LocationRow, type SidecarRow } from './rows.js';

type EntryRow = StoredEntryRow<Record<string, unknown>, boolean>;
const toEntry = (r: EntryRow): EntryRecord => entryFromRow(r, r.metadata, r.content_stored);

export const LIBRARY_PG_MIGRATIONS: readonly PostgresMigration[] = [
  {
    version: 1,
    name: 'libraries_entries_locations_sidecars',
    // Times are ms since the epoch (BIGINT, read back as numbers); metadata is JSONB.
    sql: `
      CREATE TABLE libraries (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        created_at  BIGINT NOT NULL,
        is_default  BOOLEAN NOT NULL DEFAULT false
      );
      CREATE UNIQUE INDEX libraries_name ON libraries (lower(name));
      CREATE UNIQUE INDEX libraries_default ON libraries (is_default) WHERE is_default;

      CREATE TABLE library_entries (
        library_id      TEXT NOT NULL REFERENCES libraries (id),
        seq             BIGINT GENERATED ALWAYS AS IDENTITY,
        id              TEXT NOT NULL,
        name            TEXT NOT NULL,
        path            TEXT NOT NULL,
        entry_type      TEXT NOT NULL,
        kind            TEXT,
        metadata        JSONB NOT NULL DEFAULT '{}',
        content_hash    TEXT,
        size            BIGINT,
        mtime           BIGINT,
        location_id     TEXT,
        content_stored  BOOLEAN NOT NULL DEFAULT false,
        dedupe_key      TEXT,
        scan_id         TEXT,
        created_at      BIGINT NOT NULL,
        updated_at      BIGINT NOT NULL,
        PRIMARY KEY (library_id, id),
        UNIQUE (library_id, path),
        UNIQUE (library_id, seq)
      );
      CREATE UNIQUE INDEX library_entries_dedupe ON library_entries (library_id, dedupe_key) WHERE dedupe_key IS NOT NULL;
      CREATE INDEX library_entries_type ON library_entries (library_id, entry_type, seq);
      CREATE INDEX library_entries_hash ON library_entries (library_id, content_hash) WHERE content_hash IS NOT NULL;
      CREATE INDEX library_entries_location ON library_entries (library_id, location_id, scan_id) WHERE location_id IS NOT NULL;

      CREATE TABLE library_locations (
        library_id       TEXT NOT NULL REFERENCES libraries (id),
        id               TEXT NOT NULL,
        path             TEXT NOT NULL,
        name             TEXT NOT NULL,
        created_at       BIGINT NOT NULL,
        last_indexed_at  BIGINT,
        last_job_id      TEXT,
        PRIMARY KEY (library_id, id),
        UNIQUE (library_id, path)
      );

      CREATE TABLE library_sidecars (
        library_id   TEXT NOT NULL REFERENCES libraries (id),
        id           TEXT NOT NULL,
        content_key  TEXT NOT NULL,
        kind         TEXT NOT NULL,
        variant      TEXT NOT NULL,
        format       TEXT NOT NULL,
        path         TEXT NOT NULL,
        checksum     TEXT NOT NULL,
        size         BIGINT NOT NULL,
        created_at   BIGINT NOT NULL,
        updated_at   BIGINT NOT NULL,
        PRIMARY KEY (library_id, id),
        UNIQUE (library_id, content_key, kind, variant)
      );
      CREATE INDEX library_sidecars_path ON library_sidecars (library_id, path);
    `,
  },
  {
    version: 2,
    name: 'content_addressed_blobs',
    // Entry content per library, and sidecar bytes shared by every library, both by SHA-256.
    sql: `
      CREATE TABLE library_objects (
        library_id  TEXT NOT NULL REFERENCES libraries (id),
        sha256      TEXT NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
        bytes       BYTEA NOT NULL,
        PRIMARY KEY (library_id, sha256)
      );
      CREATE TABLE sidecar_blobs (
        sha256  TEXT PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
        bytes   BYTEA NOT NULL
      );
      CREATE INDEX library_sidecars_checksum ON library_sidecars (checksum);
    `,
  },
];




const ENTRY_COLUMNS = 'seq, id, name, path, entry_type, kind, metadata, content_hash, size, mtime, location_id, content_stored, dedupe_key, scan_id, created_at, updated_at';
const SIDECAR_COLUMNS = 'id, content_key, kind, variant, format, path, checksum, size, created_at, updated_at';
const LOCATION_COLUMNS = 'id, path, name, created_at, last_indexed_at, last_job_id';




function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** A unique violation as the store's typed error (the SQLite store lets the driver's through as OPERATION_FAILED). */
function uniqueViolation(err: unknown, what: string): unknown {
  if ((err as { code?: string } | null)?.code === '23505') return new SpacedriveError(ErrorCode.ALREADY_EXISTS, `${what} already exists`, { constraint: (err as { constraint?: string }).constraint });
  return err;
}

export class PostgresLibraryBackend implements LibraryBackend {
  readonly #db: PostgresDatabase;
  readonly #stores = new Map<string, PostgresLibraryStore>();

  constructor(db: PostgresDatabase) {
    this.#db = db;
  }

  /** Applies the library migrations (under the shared advisory lock). */
  async migrate(): Promise<void> {
    await migratePostgres(this.#db, 'library', LIBRARY_PG_MIGRATIONS);
  }

  async readCatalog(): Promise<LibraryCatalog> {
    return catalogOf(this.#db);
  }

  async addLibrary(library: LibraryRecord, makeDefault: boolean): Promise<LibraryCatalog> {
    return this.#db.transaction(async (tx) => {
      const taken = await tx.query('SELECT 1 FROM libraries WHERE lower(name) = lower($1)', [library.name]);
      if (taken.length > 0) throw new SpacedriveError(ErrorCode.ALREADY_EXISTS, `a library named '${library.name}' already exists`, { name: library.name });
      const hasDefault = (await tx.query('SELECT 1 FROM libraries WHERE is_default FOR UPDATE')).length > 0;
      if (makeDefault && hasDefault) await tx.execute('UPDATE libraries SET is_default = false WHERE is_default');
      try {
        await tx.execute('INSERT INTO libraries (id, name, created_at, is_default) VALUES ($1, $2, $3, $4)', [library.id, library.name, library.createdAt, makeDefault || !hasDefault]);
      } catch (err) {
        throw uniqueViolation(err, `a library named '${library.name}'`);
      }
      return catalogOf(tx);
    });
  }

  async setDefaultLibrary(id: string): Promise<LibraryCatalog> {
    return this.#db.transaction(async (tx) => {
      await tx.execute('UPDATE libraries SET is_default = false WHERE is_default AND id <> $1', [id]);
      await tx.execute('UPDATE libraries SET is_default = true WHERE id = $1', [id]);
      return catalogOf(tx);
    });
  }

  async openStore(libraryId: string): Promise<LibraryStore> {
    let store = this.#stores.get(libraryId);
    if (!store) {
      store = new PostgresLibraryStore(this.#db, libraryId);
      this.#stores.set(libraryId, store);
    }
    return store;
  }

  /** The connection belongs to the storage backend, which closes it. */
  async close(): Promise<void> {
    this.#stores.clear();
  }
}

async function catalogOf(sql: SqlExecutor): Promise<LibraryCatalog> {
  const rows = await sql.query<{ id: string; name: string; created_at: number; is_default: boolean }>('SELECT id, name, created_at, is_default FROM libraries ORDER BY created_at, id');
  return { libraries: rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at })), defaultId: rows.find((r) => r.is_default)?.id ?? null };
}

/** One library's rows. */
export class PostgresLibraryStore implements LibraryStore {
  readonly #db: PostgresDatabase;
  readonly #lib: string;

  constructor(db: PostgresDatabase, libraryId: string) {
    this.#db = db;
    this.#lib = libraryId;
  }

  async insertEntry(e: NewEntry): Promise<EntryRecord> {
    const now = Date.now();
    try {
      const [row] = await this.#db.query<EntryRow>(
        `INSERT INTO library_entries (library_id, id, name, path, entry_type, kind, metadata, content_hash, size, mtime, location_id, content_stored, dedupe_key, scan_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING ${ENTRY_COLUMNS}`,
        [this.#lib, e.id, e.name, e.path, e.entryType, e.kind, JSON.stringify(e.metadata), e.contentHash, e.size, e.mtime, e.locationId, e.contentStored, e.dedupeKey, e.scanId ?? null, e.createdAt ?? now, now],
      );
      return toEntry(row!);
    } catch (err) {
      throw uniqueViolation(err, `an entry with path '${e.path}' (or its dedupe key)`);
    }
  }

  async getEntry(id: string): Promise<EntryRecord | undefined> {
    return this.#oneEntry('id = $2', id);
  }

  async getEntryByPath(path: string): Promise<EntryRecord | undefined> {
    return this.#oneEntry('path = $2', path);
  }

  async getEntryByDedupeKey(key: string): Promise<EntryRecord | undefined> {
    return this.#oneEntry('dedupe_key = $2', key);
  }

  async listEntries(f: EntryFilter): Promise<EntryRecord[]> {
    const params: unknown[] = [this.#lib, f.afterSeq ?? 0];
    const where = ['library_id = $1', 'seq > $2'];
    const p = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    if (f.entryType !== undefined) where.push(`entry_type = ${p(f.entryType)}`);
    if (f.nameContains !== undefined) where.push(`lower(name) LIKE ${p(`%${escapeLike(f.nameContains.toLowerCase())}%`)} ESCAPE '\\'`);
    // left() rather than LIKE: exact, case-sensitive, no wildcard surprises.
    if (f.pathPrefix !== undefined) where.push(`left(path, ${p(f.pathPrefix.length)}) = ${p(f.pathPrefix)}`);
    if (f.locationId !== undefined) where.push(`location_id = ${p(f.locationId)}`);
    for (const [field, value] of Object.entries(f.metadata ?? {})) {
      if (field.length === 0) throw new SpacedriveError(ErrorCode.INVALID_INPUT, "invalid input: field 'metadata': an empty field name cannot be queried", { field });
      // jsonb equality: the type is part of the value (1 is not "1"); objects compare by content.
      where.push(`metadata -> ${p(field)} = ${p(JSON.stringify(value))}::jsonb`);
    }
    const rows = await this.#db.query<EntryRow>(`SELECT ${ENTRY_COLUMNS} FROM library_entries WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ${p(f.limit + 1)}`, params);
    return rows.map(toEntry);
  }

  async updateEntry(id: string, patch: EntryPatch): Promise<EntryRecord | undefined> {
    return this.#update(this.#db, id, patch);
  }

  async updateEntryMetadata(id: string, metadata: Record<string, unknown>, replace: boolean): Promise<EntryRecord | undefined> {
    return this.#db.transaction(async (tx) => {
      const [row] = await tx.query<{ metadata: Record<string, unknown> }>('SELECT metadata FROM library_entries WHERE library_id = $1 AND id = $2 FOR UPDATE', [this.#lib, id]);
      if (!row) return undefined;
      return this.#update(tx, id, { metadata: replace ? metadata : mergeMetadata(row.metadata, metadata) });
    });
  }

  async deleteEntry(id: string): Promise<boolean> {
    return (await this.#db.execute('DELETE FROM library_entries WHERE library_id = $1 AND id = $2', [this.#lib, id])) > 0;
  }

  async countEntriesWithContentKey(key: string, exceptId?: string): Promise<number> {
    const [r] = await this.#db.query<{ n: number }>(
      'SELECT count(*) AS n FROM library_entries WHERE library_id = $1 AND (content_hash = $2 OR (content_hash IS NULL AND id = $2)) AND id IS DISTINCT FROM $3',
      [this.#lib, key, exceptId ?? null],
    );
    return r!.n;
  }

  async entriesWithHash(locationId: string, contentHash: string): Promise<EntryRecord[]> {
    const rows = await this.#db.query<EntryRow>(`SELECT ${ENTRY_COLUMNS} FROM library_entries WHERE library_id = $1 AND location_id = $2 AND content_hash = $3 ORDER BY seq`, [
      this.#lib,
      locationId,
      contentHash,
    ]);
    return rows.map(toEntry);
  }

  async entriesNotSeen(locationId: string, scanId: string): Promise<EntryRecord[]> {
    const rows = await this.#db.query<EntryRow>(`SELECT ${ENTRY_COLUMNS} FROM library_entries WHERE library_id = $1 AND location_id = $2 AND scan_id IS DISTINCT FROM $3 ORDER BY seq`, [
      this.#lib,
      locationId,
      scanId,
    ]);
    return rows.map(toEntry);
  }

  async countLocationEntries(locationId: string): Promise<number> {
    const [r] = await this.#db.query<{ n: number }>('SELECT count(*) AS n FROM library_entries WHERE library_id = $1 AND location_id = $2', [this.#lib, locationId]);
    return r!.n;
  }

  async insertLocation(l: LocationRecord): Promise<LocationRecord> {
    try {
      const [row] = await this.#db.query<LocationRow>(
        `INSERT INTO library_locations (library_id, id, path, name, created_at, last_indexed_at, last_job_id) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${LOCATION_COLUMNS}`,
        [this.#lib, l.id, l.path, l.name, l.createdAt, l.lastIndexedAt, l.lastJobId],
      );
      return toLocation(row!);
    } catch (err) {
      throw uniqueViolation(err, `location ${l.path}`);
    }
  }

  async getLocation(id: string): Promise<LocationRecord | undefined> {
    const [row] = await this.#db.query<LocationRow>(`SELECT ${LOCATION_COLUMNS} FROM library_locations WHERE library_id = $1 AND id = $2`, [this.#lib, id]);
    return row && toLocation(row);
  }

  async listLocations(): Promise<LocationRecord[]> {
    return (await this.#db.query<LocationRow>(`SELECT ${LOCATION_COLUMNS} FROM library_locations WHERE library_id = $1 ORDER BY created_at, id`, [this.#lib])).map(toLocation);
  }

  async updateLocation(id: string, patch: Partial<Omit<LocationRecord, 'id'>>): Promise<LocationRecord | undefined> {
    const map: Record<string, string> = { path: 'path', name: 'name', createdAt: 'created_at', lastIndexedAt: 'last_indexed_at', lastJobId: 'last_job_id' };
    const keys = Object.keys(patch).filter((k) => (patch as Record<string, unknown>)[k] !== undefined && map[k]);
    if (keys.length === 0) return this.getLocation(id);
    const [row] = await this.#db.query<LocationRow>(
      `UPDATE library_locations SET ${keys.map((k, i) => `${map[k]} = $${i + 3}`).join(', ')} WHERE library_id = $1 AND id = $2 RETURNING ${LOCATION_COLUMNS}`,
      [this.#lib, id, ...keys.map((k) => (patch as Record<string, unknown>)[k])],
    );
    return row && toLocation(row);
  }

  async deleteLocation(id: string): Promise<boolean> {
    return (await this.#db.execute('DELETE FROM library_locations WHERE library_id = $1 AND id = $2', [this.#lib, id])) > 0;
  }

  async getSidecar(contentKey: string, kind: string, variant: string): Promise<SidecarRecord | undefined> {
    const [row] = await this.#db.query<SidecarRow>(`SELECT ${SIDECAR_COLUMNS} FROM library_sidecars WHERE library_id = $1 AND content_key = $2 AND kind = $3 AND variant = $4`, [
      this.#lib,
      contentKey,
      kind,
      variant,
    ]);
    return row && toSidecar(row);
  }

  async getSidecarById(id: string): Promise<SidecarRecord | undefined> {
    const [row] = await this.#db.query<SidecarRow>(`SELECT ${SIDECAR_COLUMNS} FROM library_sidecars WHERE library_id = $1 AND id = $2`, [this.#lib, id]);
    return row && toSidecar(row);
  }

  async listSidecars(f: SidecarFilter): Promise<SidecarRecord[]> {
    const params: unknown[] = [this.#lib];
    const where = ['library_id = $1'];
    if (f.contentKey !== undefined) {
      params.push(f.contentKey);
      where.push(`content_key = $${params.length}`);
    }
    if (f.kind !== undefined) {
      params.push(f.kind);
      where.push(`kind = $${params.length}`);
    }
    // COLLATE "C": the same byte order as SQLite's, whatever the database's locale.
    const rows = await this.#db.query<SidecarRow>(
      `SELECT ${SIDECAR_COLUMNS} FROM library_sidecars WHERE ${where.join(' AND ')} ORDER BY content_key COLLATE "C", kind COLLATE "C", variant COLLATE "C"`,
      params,
    );
    return rows.map(toSidecar);
  }

  async upsertSidecar(row: SidecarRecord, commitFile: () => void): Promise<{ previous: SidecarRecord | undefined; current: SidecarRecord }> {
    // Not retried: the file move must run once. A conflict with a concurrent writer of the same
    // sidecar fails this call instead (the other one's bytes win).
    return this.#db.transaction(
      async (tx) => {
        const [prev] = await tx.query<SidecarRow>(
          `SELECT ${SIDECAR_COLUMNS} FROM library_sidecars WHERE library_id = $1 AND content_key = $2 AND kind = $3 AND variant = $4 FOR UPDATE`,
          [this.#lib, row.contentKey, row.kind, row.variant],
        );
        let current: SidecarRow | undefined;
        if (prev) {
          [current] = await tx.query<SidecarRow>(
            `UPDATE library_sidecars SET format = $3, path = $4, checksum = $5, size = $6, updated_at = $7 WHERE library_id = $1 AND id = $2 RETURNING ${SIDECAR_COLUMNS}`,
            [this.#lib, prev.id, row.format, row.path, row.checksum, row.size, row.updatedAt],
          );
        } else {
          [current] = await tx.query<SidecarRow>(
            `INSERT INTO library_sidecars (library_id, id, content_key, kind, variant, format, path, checksum, size, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING ${SIDECAR_COLUMNS}`,
            [this.#lib, row.id, row.contentKey, row.kind, row.variant, row.format, row.path, row.checksum, row.size, row.createdAt, row.updatedAt],
          );
        }
        commitFile();
        return { previous: prev && toSidecar(prev), current: toSidecar(current!) };
      },
      { retries: 0 },
    );
  }

  async refreshSidecarFile(path: string, checksum: string, size: number, updatedAt: number): Promise<number> {
    return this.#db.execute('UPDATE library_sidecars SET checksum = $3, size = $4, updated_at = $5 WHERE library_id = $1 AND path = $2', [this.#lib, path, checksum, size, updatedAt]);
  }

  async countSidecarPath(path: string): Promise<number> {
    const [r] = await this.#db.query<{ n: number }>('SELECT count(*) AS n FROM library_sidecars WHERE library_id = $1 AND path = $2', [this.#lib, path]);
    return r!.n;
  }

  async deleteSidecar(id: string): Promise<boolean> {
    return (await this.#db.execute('DELETE FROM library_sidecars WHERE library_id = $1 AND id = $2', [this.#lib, id])) > 0;
  }

  async deleteSidecarsOfContent(contentKey: string): Promise<SidecarRecord[]> {
    const rows = await this.#db.query<SidecarRow>(`DELETE FROM library_sidecars WHERE library_id = $1 AND content_key = $2 RETURNING ${SIDECAR_COLUMNS}`, [this.#lib, contentKey]);
    return rows.map(toSidecar).sort((a, b) => (a.kind === b.kind ? (a.variant < b.variant ? -1 : 1) : a.kind < b.kind ? -1 : 1));
  }

  async putObject(hash: string, bytes: Uint8Array): Promise<void> {
    await this.#db.execute('INSERT INTO library_objects (library_id, sha256, bytes) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [this.#lib, hash, toBuffer(bytes)]);
  }

  async getObject(hash: string): Promise<Buffer | undefined> {
    const [row] = await this.#db.query<{ bytes: Buffer }>('SELECT bytes FROM library_objects WHERE library_id = $1 AND sha256 = $2', [this.#lib, hash]);
    return row?.bytes;
  }

  async deleteObject(hash: string): Promise<void> {
    await this.#db.execute('DELETE FROM library_objects WHERE library_id = $1 AND sha256 = $2', [this.#lib, hash]);
  }

  async stats(): Promise<LibraryStats> {
    const [r] = await this.#db.query<{ entries: number; entry_bytes: number; locations: number; sidecars: number; sidecar_bytes: number; database_bytes: number }>(
      `SELECT
         (SELECT count(*) FROM library_entries WHERE library_id = $1) AS entries,
         (SELECT coalesce(sum(size), 0)::bigint FROM library_entries WHERE library_id = $1) AS entry_bytes,
         (SELECT count(*) FROM library_locations WHERE library_id = $1) AS locations,
         (SELECT count(*) FROM library_sidecars WHERE library_id = $1) AS sidecars,
         (SELECT coalesce(sum(size), 0)::bigint FROM library_sidecars WHERE library_id = $1) AS sidecar_bytes,
         (SELECT pg_total_relation_size('library_entries') + pg_total_relation_size('library_locations') + pg_total_relation_size('library_sidecars') + pg_total_relation_size('library_objects'))::bigint AS database_bytes`,
      [this.#lib],
    );
    return { entries: r!.entries, locations: r!.locations, sidecars: r!.sidecars, entryBytes: r!.entry_bytes, sidecarBytes: r!.sidecar_bytes, databaseBytes: r!.database_bytes };
  }

  /** The connection belongs to the storage backend. */
  async close(): Promise<void> {}

  async #oneEntry(condition: string, value: string): Promise<EntryRecord | undefined> {
    const [row] = await this.#db.query<EntryRow>(`SELECT ${ENTRY_COLUMNS} FROM library_entries WHERE library_id = $1 AND ${condition}`, [this.#lib, value]);
    return row && toEntry(row);
  }

  async #update(sql: SqlExecutor, id: string, patch: EntryPatch): Promise<EntryRecord | undefined> {
    const columns: Record<string, unknown> = {};
    if (patch.name !== undefined) columns.name = patch.name;
    if (patch.path !== undefined) columns.path = patch.path;
    if (patch.entryType !== undefined) columns.entry_type = patch.entryType;
    if (patch.kind !== undefined) columns.kind = patch.kind;
    if (patch.metadata !== undefined) columns.metadata = JSON.stringify(patch.metadata);
    if (patch.contentHash !== undefined) columns.content_hash = patch.contentHash;
    if (patch.size !== undefined) columns.size = patch.size;
    if (patch.mtime !== undefined) columns.mtime = patch.mtime;
    if (patch.locationId !== undefined) columns.location_id = patch.locationId;
    if (patch.contentStored !== undefined) columns.content_stored = patch.contentStored;
    if (patch.dedupeKey !== undefined) columns.dedupe_key = patch.dedupeKey;
    if (patch.scanId !== undefined) columns.scan_id = patch.scanId;
    const names = Object.keys(columns);
    if (names.length === 0) {
      const [row] = await sql.query<EntryRow>(`SELECT ${ENTRY_COLUMNS} FROM library_entries WHERE library_id = $1 AND id = $2`, [this.#lib, id]);
      return row && toEntry(row);
    }
    const params: unknown[] = [this.#lib, id, ...names.map((n) => columns[n])];
    const sets = names.map((n, i) => `${n} = $${i + 3}${n === 'metadata' ? '::jsonb' : ''}`);
    // Seeing a file again (only scan_id changes) is not an update of the entry.
    if (names.some((n) => n !== 'scan_id')) {
      params.push(Date.now());
      sets.push(`updated_at = $${params.length}`);
    }
    try {
      const [row] = await sql.query<EntryRow>(`UPDATE library_entries SET ${sets.join(', ')} WHERE library_id = $1 AND id = $2 RETURNING ${ENTRY_COLUMNS}`, params);
      return row && toEntry(row);
    } catch (err) {
      throw uniqueViolation(err, `an entry with path '${patch.path ?? ''}' (or its dedupe key)`);
    }
  }
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Sidecar bytes by SHA-256 in `sidecar_blobs`, shared by every library and node. */
export class PostgresSidecarBlobs implements SidecarBlobStore {
  readonly #db: PostgresDatabase;

  constructor(db: PostgresDatabase) {
    this.#db = db;
  }

  async put(sha256: string, bytes: Uint8Array): Promise<void> {
    await this.#db.execute('INSERT INTO sidecar_blobs (sha256, bytes) VALUES ($1, $2) ON CONFLICT DO NOTHING', [sha256, toBuffer(bytes)]);
  }

  async get(sha256: string): Promise<Buffer | undefined> {
    const [row] = await this.#db.query<{ bytes: Buffer }>('SELECT bytes FROM sidecar_blobs WHERE sha256 = $1', [sha256]);
    return row?.bytes;
  }

  async release(sha256: string): Promise<void> {
    await this.#db.execute('DELETE FROM sidecar_blobs WHERE sha256 = $1 AND NOT EXISTS (SELECT 1 FROM library_sidecars WHERE checksum = $1)', [sha256]);
  }
}
