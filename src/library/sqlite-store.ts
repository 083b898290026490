/**
 * {@link LibraryStore} on an embedded SQLite file (better-sqlite3): WAL journal, `synchronous =
 * NORMAL` (a commit is in the WAL file before it returns, so it survives `kill -9` of the daemon),
 * numbered migrations from ./migrations.ts.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../atomic-file/index.js';
import Database from 'better-sqlite3';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import { applyMigrations } from '../sqlite/index.js';
import { LIBRARY_MIGRATIONS } from './migrations.js';
import { mergeMetadata } from './store.js';
import type {
  EntryFilter,
  EntryPatch,
  EntryRecord,
  LibraryStats,
  LibraryStore,
  LocationRecord,
  NewEntry,
  SidecarFilter,
  SidecarRecord,
} from './store.js';
import { entryFromRow, toLocation, toSidecar, type EntryRow as StoredEntryRow, type LocationRow, type SidecarRow } from './rows.js';

type EntryRow = StoredEntryRow<string, number>;
const toEntry = (r: EntryRow): EntryRecord => entryFromRow(r, JSON.parse(r.metadata) as Record<string, unknown>, r.content_stored === 1);







/** `$."field"` — a JSON path naming one top-level field, quoted so dots and spaces stay part of the name. */
function fieldPath(field: string): string {
  if (field.length === 0 || field.includes('"') || field.includes('\\')) {
    throw new SpacedriveError(ErrorCode.INVALID_INPUT, `invalid input: field 'metadata': the field name ${JSON.stringify(field)} cannot be queried (empty, or contains a quote or backslash)`, {
      field,
    });
  }
  return `$."${field}"`;
}

/** One SQL condition (and its parameters) matching `metadata.field == value`, type included. */
function metadataCondition(field: string, value: unknown): { sql: string; params: unknown[] } {
  const path = fieldPath(field);
  if (value === null) return { sql: `json_type(metadata, ?) = 'null'`, params: [path] };
  if (value === true) return { sql: `json_type(metadata, ?) = 'true'`, params: [path] };
  if (value === false) return { sql: `json_type(metadata, ?) = 'false'`, params: [path] };
  if (typeof value === 'number') return { sql: `(json_type(metadata, ?) IN ('integer','real') AND json_extract(metadata, ?) = ?)`, params: [path, path, value] };
  if (typeof value === 'string') return { sql: `(json_type(metadata, ?) = 'text' AND json_extract(metadata, ?) = ?)`, params: [path, path, value] };
  // Objects and arrays: compared as minified JSON text (key order as written).
  return { sql: `(json_type(metadata, ?) IN ('object','array') AND json_extract(metadata, ?) = json(?))`, params: [path, path, JSON.stringify(value)] };
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** The synchronous database behind {@link SqliteLibraryStore}. */
class SqliteLibraryDb {
  readonly #db: Database.Database;
  readonly #path: string;
  /** Prepared statements by SQL text: preparing costs more than running most of these queries. */
  readonly #statements = new Map<string, Database.Statement>();

  constructor(path: string) {
    this.#path = path;
    this.#db = new Database(path);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = NORMAL');
    this.#db.pragma('busy_timeout = 5000');
    applyMigrations(this.#db, LIBRARY_MIGRATIONS, `the library database ${path}`);
  }

  #sql(sql: string): Database.Statement {
    let stmt = this.#statements.get(sql);
    if (!stmt) {
      stmt = this.#db.prepare(sql);
      this.#statements.set(sql, stmt);
    }
    return stmt;
  }

  updateEntryMetadata(id: string, metadata: Record<string, unknown>, replace: boolean): EntryRecord | undefined {
    return this.#db.transaction(() => {
      const entry = this.getEntry(id);
      if (!entry) return undefined;
      return this.updateEntry(id, { metadata: replace ? metadata : mergeMetadata(entry.metadata, metadata) });
    })();
  }

  insertEntry(e: NewEntry): EntryRecord {
    const now = Date.now();
    const created = e.createdAt ?? now;
    this.#sql(
        `INSERT INTO entries (id, name, path, entry_type, kind, metadata, content_hash, size, mtime, location_id, content_stored, dedupe_key, scan_id, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        e.id,
        e.name,
        e.path,
        e.entryType,
        e.kind,
        JSON.stringify(e.metadata),
        e.contentHash,
        e.size,
        e.mtime,
        e.locationId,
        e.contentStored ? 1 : 0,
        e.dedupeKey,
        e.scanId ?? null,
        created,
        now,
      );
    return this.getEntry(e.id)!;
  }

  getEntry(id: string): EntryRecord | undefined {
    const r = this.#sql('SELECT * FROM entries WHERE id = ?').get(id) as EntryRow | undefined;
    return r && toEntry(r);
  }

  getEntryByPath(path: string): EntryRecord | undefined {
    const r = this.#sql('SELECT * FROM entries WHERE path = ?').get(path) as EntryRow | undefined;
    return r && toEntry(r);
  }

  getEntryByDedupeKey(key: string): EntryRecord | undefined {
    const r = this.#sql('SELECT * FROM entries WHERE dedupe_key = ?').get(key) as EntryRow | undefined;
    return r && toEntry(r);
  }

  listEntries(f: EntryFilter): EntryRecord[] {
    const where: string[] = ['seq > ?'];
    const params: unknown[] = [f.afterSeq ?? 0];
    if (f.entryType !== undefined) {
      where.push('entry_type = ?');
      params.push(f.entryType);
    }
    if (f.nameContains !== undefined) {
      where.push("lower(name) LIKE ? ESCAPE '\\'");
      params.push(`%${escapeLike(f.nameContains.toLowerCase())}%`);
    }
    if (f.pathPrefix !== undefined) {
      // substr comparison rather than LIKE: exact, case-sensitive, no wildcard surprises.
      where.push('substr(path, 1, ?) = ?');
      params.push(f.pathPrefix.length, f.pathPrefix);
    }
    if (f.locationId !== undefined) {
      where.push('location_id = ?');
      params.push(f.locationId);
    }
    for (const [field, value] of Object.entries(f.metadata ?? {})) {
      const c = metadataCondition(field, value);
      where.push(c.sql);
      params.push(...c.params);
    }
    params.push(f.limit + 1);
    const rows = this.#sql(`SELECT * FROM entries WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`).all(...params) as EntryRow[];
    return rows.map(toEntry);
  }

  updateEntry(id: string, patch: EntryPatch): EntryRecord | undefined {
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
    if (patch.contentStored !== undefined) columns.content_stored = patch.contentStored ? 1 : 0;
    if (patch.dedupeKey !== undefined) columns.dedupe_key = patch.dedupeKey;
    if (patch.scanId !== undefined) columns.scan_id = patch.scanId;
    const names = Object.keys(columns);
    // Seeing a file again (only scan_id changes) is not an update of the entry.
    const touch = names.some((n) => n !== 'scan_id');
    if (names.length > 0) {
      const sets = names.map((n) => `${n} = ?`);
      if (touch) sets.push('updated_at = ?');
      const info = this.#sql(`UPDATE entries SET ${sets.join(', ')} WHERE id = ?`)
        .run(...names.map((n) => columns[n]), ...(touch ? [Date.now()] : []), id);
      if (info.changes === 0) return undefined;
    }
    return this.getEntry(id);
  }

  deleteEntry(id: string): boolean {
    return this.#sql('DELETE FROM entries WHERE id = ?').run(id).changes > 0;
  }

  countEntriesWithContentKey(key: string, exceptId?: string): number {
    const r = this.#sql('SELECT count(*) AS n FROM entries WHERE (content_hash = ? OR (content_hash IS NULL AND id = ?)) AND id IS NOT ?')
      .get(key, key, exceptId ?? null) as { n: number };
    return r.n;
  }

  entriesWithHash(locationId: string, contentHash: string): EntryRecord[] {
    return (this.#sql('SELECT * FROM entries WHERE location_id = ? AND content_hash = ? ORDER BY seq').all(locationId, contentHash) as EntryRow[]).map(toEntry);
  }

  entriesNotSeen(locationId: string, scanId: string): EntryRecord[] {
    return (this.#sql('SELECT * FROM entries WHERE location_id = ? AND scan_id IS NOT ? ORDER BY seq').all(locationId, scanId) as EntryRow[]).map(toEntry);
  }

  countLocationEntries(locationId: string): number {
    return (this.#sql('SELECT count(*) AS n FROM entries WHERE location_id = ?').get(locationId) as { n: number }).n;
  }

  insertLocation(l: LocationRecord): LocationRecord {
    this.#sql('INSERT INTO locations (id, path, name, created_at, last_indexed_at, last_job_id) VALUES (?, ?, ?, ?, ?, ?)')
      .run(l.id, l.path, l.name, l.createdAt, l.lastIndexedAt, l.lastJobId);
    return this.getLocation(l.id)!;
  }

  getLocation(id: string): LocationRecord | undefined {
    const r = this.#sql('SELECT * FROM locations WHERE id = ?').get(id) as LocationRow | undefined;
    return r && toLocation(r);
  }

  listLocations(): LocationRecord[] {
    return (this.#sql('SELECT * FROM locations ORDER BY created_at, id').all() as LocationRow[]).map(toLocation);
  }

  updateLocation(id: string, patch: Partial<Omit<LocationRecord, 'id'>>): LocationRecord | undefined {
    const map: Record<string, string> = { path: 'path', name: 'name', createdAt: 'created_at', lastIndexedAt: 'last_indexed_at', lastJobId: 'last_job_id' };
    const keys = Object.keys(patch).filter((k) => (patch as Record<string, unknown>)[k] !== undefined && map[k]);
    if (keys.length > 0) {
      this.#sql(`UPDATE locations SET ${keys.map((k) => `${map[k]} = ?`).join(', ')} WHERE id = ?`)
        .run(...keys.map((k) => (patch as Record<string, unknown>)[k]), id);
    }
    return this.getLocation(id);
  }

  deleteLocation(id: string): boolean {
    return this.#sql('DELETE FROM locations WHERE id = ?').run(id).changes > 0;
  }

  getSidecar(contentKey: string, kind: string, variant: string): SidecarRecord | undefined {
    const r = this.#sql('SELECT * FROM sidecars WHERE content_key = ? AND kind = ? AND variant = ?').get(contentKey, kind, variant) as SidecarRow | undefined;
    return r && toSidecar(r);
  }

  getSidecarById(id: string): SidecarRecord | undefined {
    const r = this.#sql('SELECT * FROM sidecars WHERE id = ?').get(id) as SidecarRow | undefined;
    return r && toSidecar(r);
  }

  listSidecars(f: SidecarFilter): SidecarRecord[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (f.contentKey !== undefined) {
      where.push('content_key = ?');
      params.push(f.contentKey);
    }
    if (f.kind !== undefined) {
      where.push('kind = ?');
      params.push(f.kind);
    }
    const sql = `SELECT * FROM sidecars ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY content_key, kind, variant`;
    return (this.#sql(sql).all(...params) as SidecarRow[]).map(toSidecar);
  }

  upsertSidecar(row: SidecarRecord, commitFile: () => void): { previous: SidecarRecord | undefined; current: SidecarRecord } {
    return this.#db.transaction(() => {
      const previous = this.getSidecar(row.contentKey, row.kind, row.variant);
      if (previous) {
        this.#sql('UPDATE sidecars SET format = ?, path = ?, checksum = ?, size = ?, updated_at = ? WHERE id = ?')
          .run(row.format, row.path, row.checksum, row.size, row.updatedAt, previous.id);
      } else {
        this.#sql('INSERT INTO sidecars (id, content_key, kind, variant, format, path, checksum, size, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
          .run(row.id, row.contentKey, row.kind, row.variant, row.format, row.path, row.checksum, row.size, row.createdAt, row.updatedAt);
      }
      commitFile();
      return { previous, current: this.getSidecar(row.contentKey, row.kind, row.variant)! };
    })();
  }

  refreshSidecarFile(path: string, checksum: string, size: number, updatedAt: number): number {
    return this.#sql('UPDATE sidecars SET checksum = ?, size = ?, updated_at = ? WHERE path = ?').run(checksum, size, updatedAt, path).changes;
  }

  countSidecarPath(path: string): number {
    return (this.#sql('SELECT count(*) AS n FROM sidecars WHERE path = ?').get(path) as { n: number }).n;
  }

  deleteSidecar(id: string): boolean {
    return this.#sql('DELETE FROM sidecars WHERE id = ?').run(id).changes > 0;
  }

  deleteSidecarsOfContent(contentKey: string): SidecarRecord[] {
    return this.#db.transaction(() => {
      const rows = this.listSidecars({ contentKey });
      this.#sql('DELETE FROM sidecars WHERE content_key = ?').run(contentKey);
      return rows;
    })();
  }

  stats(): LibraryStats {
    const e = this.#sql('SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes FROM entries').get() as { n: number; bytes: number };
    const l = this.#sql('SELECT count(*) AS n FROM locations').get() as { n: number };
    const s = this.#sql('SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes FROM sidecars').get() as { n: number; bytes: number };
    let databaseBytes = 0;
    for (const suffix of ['', '-wal']) {
      try {
        databaseBytes += statSync(this.#path + suffix).size;
      } catch {
        // no WAL file right now
      }
    }
    return { entries: e.n, locations: l.n, sidecars: s.n, entryBytes: e.bytes, sidecarBytes: s.bytes, databaseBytes };
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

/**
 * {@link LibraryStore} on one SQLite file. Each call runs synchronously on the embedded driver and
 * answers as a promise, as the port requires.
 */
export class SqliteLibraryStore implements LibraryStore {
  readonly #db: SqliteLibraryDb;
  /** Entry content: `objects/<hh>/<sha256>` beside the database. */
  readonly #objects: string;

  constructor(path: string) {
    this.#db = new SqliteLibraryDb(path);
    this.#objects = join(dirname(path), 'objects');
  }

  #objectPath(hash: string): string {
    if (!/^[0-9a-f]{64}$/.test(hash)) throw new SpacedriveError(ErrorCode.INVALID_INPUT, `'${hash}' is not a SHA-256`);
    return join(this.#objects, hash.slice(0, 2), hash);
  }
  async putObject(hash: string, bytes: Uint8Array): Promise<void> {
    const target = this.#objectPath(hash);
    if (!existsSync(target)) writeFileAtomic(target, bytes);
  }
  async getObject(hash: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.#objectPath(hash));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }
  async deleteObject(hash: string): Promise<void> {
    await rm(this.#objectPath(hash), { force: true });
  }

  async insertEntry(entry: NewEntry): Promise<EntryRecord> {
    return this.#db.insertEntry(entry);
  }
  async getEntry(id: string): Promise<EntryRecord | undefined> {
    return this.#db.getEntry(id);
  }
  async getEntryByPath(path: string): Promise<EntryRecord | undefined> {
    return this.#db.getEntryByPath(path);
  }
  async getEntryByDedupeKey(key: string): Promise<EntryRecord | undefined> {
    return this.#db.getEntryByDedupeKey(key);
  }
  async listEntries(filter: EntryFilter): Promise<EntryRecord[]> {
    return this.#db.listEntries(filter);
  }
  async updateEntry(id: string, patch: EntryPatch): Promise<EntryRecord | undefined> {
    return this.#db.updateEntry(id, patch);
  }
  async updateEntryMetadata(id: string, metadata: Record<string, unknown>, replace: boolean): Promise<EntryRecord | undefined> {
    return this.#db.updateEntryMetadata(id, metadata, replace);
  }
  async deleteEntry(id: string): Promise<boolean> {
    return this.#db.deleteEntry(id);
  }
  async countEntriesWithContentKey(key: string, exceptId?: string): Promise<number> {
    return this.#db.countEntriesWithContentKey(key, exceptId);
  }
  async entriesWithHash(locationId: string, contentHash: string): Promise<EntryRecord[]> {
    return this.#db.entriesWithHash(locationId, contentHash);
  }
  async entriesNotSeen(locationId: string, scanId: string): Promise<EntryRecord[]> {
    return this.#db.entriesNotSeen(locationId, scanId);
  }
  async countLocationEntries(locationId: string): Promise<number> {
    return this.#db.countLocationEntries(locationId);
  }
  async insertLocation(location: LocationRecord): Promise<LocationRecord> {
    return this.#db.insertLocation(location);
  }
  async getLocation(id: string): Promise<LocationRecord | undefined> {
    return this.#db.getLocation(id);
  }
  async listLocations(): Promise<LocationRecord[]> {
    return this.#db.listLocations();
  }
  async updateLocation(id: string, patch: Partial<Omit<LocationRecord, 'id'>>): Promise<LocationRecord | undefined> {
    return this.#db.updateLocation(id, patch);
  }
  async deleteLocation(id: string): Promise<boolean> {
    return this.#db.deleteLocation(id);
  }
  async getSidecar(contentKey: string, kind: string, variant: string): Promise<SidecarRecord | undefined> {
    return this.#db.getSidecar(contentKey, kind, variant);
  }
  async getSidecarById(id: string): Promise<SidecarRecord | undefined> {
    return this.#db.getSidecarById(id);
  }
  async listSidecars(filter: SidecarFilter): Promise<SidecarRecord[]> {
    return this.#db.listSidecars(filter);
  }
  async upsertSidecar(row: SidecarRecord, commitFile: () => void): Promise<{ previous: SidecarRecord | undefined; current: SidecarRecord }> {
    return this.#db.upsertSidecar(row, commitFile);
  }
  async refreshSidecarFile(path: string, checksum: string, size: number, updatedAt: number): Promise<number> {
    return this.#db.refreshSidecarFile(path, checksum, size, updatedAt);
  }
  async countSidecarPath(path: string): Promise<number> {
    return this.#db.countSidecarPath(path);
  }
  async deleteSidecar(id: string): Promise<boolean> {
    return this.#db.deleteSidecar(id);
  }
  async deleteSidecarsOfContent(contentKey: string): Promise<SidecarRecord[]> {
    return this.#db.deleteSidecarsOfContent(contentKey);
  }
  async stats(): Promise<LibraryStats> {
    return this.#db.stats();
  }
  async close(): Promise<void> {
    this.#db.close();
  }
}
