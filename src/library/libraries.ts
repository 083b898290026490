/**
 * The library service (`core.libraries`): the index of libraries, one {@link LibraryStore} per
 * library (opened on first use), entries and their content, events.
 *
 * Layout under the data directory:
 *   libraries/index.json                      the libraries and which one is the default
 *   libraries/<id>/library.db                 entries, locations, the sidecar index (SQLite, WAL)
 *   libraries/<id>/objects/<hh>/<sha256>      entry content, content-addressed
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import type { EventBus } from '../events/index.js';
import type { Logger } from '../logging/index.js';
import { SqliteLibraryBackend } from './sqlite-backend.js';
import { mergeMetadata, type EntryFilter, type EntryRecord, type LibraryBackend, type LibraryCatalog, type LibraryStats, type LibraryStore } from './store.js';

export interface LibraryInfo {
  id: string;
  name: string;
  createdAt: number;
}

export interface CreateEntryRequest {
  name: string;
  path: string;
  entryType: string;
  metadata?: Record<string, unknown>;
  content?: Uint8Array;
  dedupeKey?: string;
  /** What to do when an entry with this path (or dedupe key) exists. Default `error`. */
  ifExists?: 'error' | 'return' | 'replace';
}

export interface CreateEntryResult {
  entry: EntryRecord;
  /** False when an existing entry was returned unchanged (`if_exists: "return"`). */
  created: boolean;
  replaced: boolean;
}

export interface LibraryServiceOptions {
  dataDir: string;
  events: EventBus;
  logger: Logger;
  /** Where the libraries are (default: SQLite files under `<dataDir>/libraries`). */
  backend?: LibraryBackend;
}

/** Called when no entry of a library refers to a content key any more (its sidecars can go). */
export type ContentReleasedListener = (libraryId: string, contentKey: string) => void | Promise<void>;

/** Largest content returned inline by `include_content` (the wire's frame limit is larger, base64 adds a third). */
export const MAX_INLINE_CONTENT_BYTES = 8 * 1024 * 1024;

export class LibraryService {
  readonly dataDir: string;
  readonly #root: string;
  readonly #backend: LibraryBackend;
  readonly #events: EventBus;
  readonly #logger: Logger;
  readonly #released: ContentReleasedListener[] = [];
  /**
   * The catalog as last read. Resolving a library id a call names is on every library-scoped
   * call, so it is answered from here; an id not in it re-reads the catalog (another node of a
   * cluster may have just created it) before it is NOT_FOUND.
   */
  #catalog: LibraryCatalog = { libraries: [], defaultId: null };
  #closed = false;

  constructor(opts: LibraryServiceOptions) {
    this.dataDir = opts.dataDir;
    this.#root = join(opts.dataDir, 'libraries');
    this.#events = opts.events;
    this.#logger = opts.logger;
    mkdirSync(this.#root, { recursive: true, mode: 0o700 });
    this.#backend = opts.backend ?? new SqliteLibraryBackend(this.#root);
  }

  /** Reads the catalog, then creates the default library when there is none (first start). */
  async ensureDefault(): Promise<string> {
    this.#catalog = await this.#backend.readCatalog();
    const { defaultId, libraries } = this.#catalog;
    if (defaultId && libraries.some((l) => l.id === defaultId)) return defaultId;
    const first = libraries[0];
    if (first) {
      this.#catalog = await this.#backend.setDefaultLibrary(first.id);
      return first.id;
    }
    try {
      return (await this.create('Default', { makeDefault: true })).id;
    } catch (err) {
      // Another node of a cluster created it first.
      if ((err as SpacedriveError).code !== ErrorCode.ALREADY_EXISTS) throw err;
      this.#catalog = await this.#backend.readCatalog();
      return this.resolve(null);
    }
  }

  async list(): Promise<Array<LibraryInfo & { isDefault: boolean }>> {
    this.#catalog = await this.#backend.readCatalog();
    return this.#catalog.libraries.map((l) => ({ id: l.id, name: l.name, createdAt: l.createdAt, isDefault: l.id === this.#catalog.defaultId }));
  }

  get defaultId(): string | null {
    return this.#catalog.defaultId;
  }

  async get(id: string): Promise<LibraryInfo | undefined> {
    const l = (await this.#known(id)) ? this.#catalog.libraries.find((x) => x.id === id) : undefined;
    return l && { id: l.id, name: l.name, createdAt: l.createdAt };
  }

  /** The library a call runs against: the named one (NOT_FOUND if unknown) or the default. */
  async resolve(id: string | null | undefined): Promise<string> {
    if (id === null || id === undefined || id === '') {
      const def = this.#catalog.defaultId;
      if (!def) throw new SpacedriveError(ErrorCode.LIBRARY_REQUIRED, 'there is no default library: pass library_id, or create one with `spacedrive library create <name>`');
      return def;
    }
    if (!(await this.#known(id))) {
      throw new SpacedriveError(ErrorCode.NOT_FOUND, `library '${id}' not found; run 'spacedrive library list'`, { library_id: id });
    }
    return id;
  }

  async create(name: string, opts: { makeDefault?: boolean } = {}): Promise<LibraryInfo> {
    const trimmed = name.trim();
    if (trimmed.length === 0) throw new SpacedriveError(ErrorCode.INVALID_INPUT, "invalid input: field 'name': expected a non-empty name");
    const lib = { id: randomUUID(), name: trimmed, createdAt: Date.now() };
    this.#catalog = await this.#backend.addLibrary(lib, opts.makeDefault ?? false);
    this.#events.emit('library:created', { library_id: lib.id, name: lib.name });
    return { ...lib };
  }

  /** The store of a library, opened on first use. */
  async store(libraryId: string): Promise<LibraryStore> {
    if (this.#closed) throw new SpacedriveError(ErrorCode.SHUTTING_DOWN, 'the library service is closed');
    await this.resolve(libraryId);
    return this.#backend.openStore(libraryId);
  }

  /** Every library's store (sidecar files can be shared between libraries with the same content). */
  async allStores(): Promise<Array<{ libraryId: string; store: LibraryStore }>> {
    const out: Array<{ libraryId: string; store: LibraryStore }> = [];
    for (const l of this.#catalog.libraries) out.push({ libraryId: l.id, store: await this.#backend.openStore(l.id) });
    return out;
  }

  async stats(libraryId: string): Promise<LibraryStats> {
    return (await this.store(libraryId)).stats();
  }

  async #known(id: string): Promise<boolean> {
    if (this.#catalog.libraries.some((l) => l.id === id)) return true;
    this.#catalog = await this.#backend.readCatalog();
    return this.#catalog.libraries.some((l) => l.id === id);
  }

  onContentReleased(listener: ContentReleasedListener): void {
    this.#released.push(listener);
  }

  /** Runs the release listeners when no entry of the library uses `contentKey` any more. */
  async releaseContentIfUnused(libraryId: string, contentKey: string | null, storedHash?: string | null): Promise<void> {
    if (!contentKey) return;
    const store = await this.store(libraryId);
    if ((await store.countEntriesWithContentKey(contentKey)) > 0) return;
    if (storedHash) await store.deleteObject(storedHash);
    for (const listener of this.#released) {
      try {
        await listener(libraryId, contentKey);
      } catch (err) {
        this.#logger.warn({ err, libraryId, contentKey }, 'releasing derived data failed');
      }
    }
  }

  /** Creates (or, per `ifExists`, returns or replaces) an entry. */
  async createEntry(libraryId: string, req: CreateEntryRequest): Promise<CreateEntryResult> {
    const store = await this.store(libraryId);
    const existing = (req.dedupeKey !== undefined ? await store.getEntryByDedupeKey(req.dedupeKey) : undefined) ?? (await store.getEntryByPath(req.path));
    const ifExists = req.ifExists ?? 'error';
    if (existing && ifExists === 'error') {
      const byKey = req.dedupeKey !== undefined && existing.dedupeKey === req.dedupeKey;
      throw new SpacedriveError(
        ErrorCode.ALREADY_EXISTS,
        byKey
          ? `an entry with dedupe_key '${req.dedupeKey}' already exists (${existing.id}); pass if_exists "return" or "replace"`
          : `an entry with path '${req.path}' already exists (${existing.id}); pass if_exists "return" or "replace"`,
        { entry_id: existing.id, path: existing.path },
      );
    }
    if (existing && ifExists === 'return') return { entry: existing, created: false, replaced: false };
    if (existing?.locationId) {
      throw new SpacedriveError(ErrorCode.INVALID_INPUT, `the entry at '${existing.path}' was indexed from a location; it follows the file on disk and cannot be replaced`, {
        entry_id: existing.id,
      });
    }
    // Another entry already holds the other key: replacing one would collide with it.
    if (existing && req.path !== existing.path && (await store.getEntryByPath(req.path))) {
      throw new SpacedriveError(ErrorCode.ALREADY_EXISTS, `an entry with path '${req.path}' already exists`, { path: req.path });
    }

    let contentHash: string | null = null;
    let size: number | null = null;
    if (req.content) {
      contentHash = createHash('sha256').update(req.content).digest('hex');
      size = req.content.length;
      await store.putObject(contentHash, req.content);
    }
    const metadata = req.metadata ?? {};
    if (existing) {
      const oldKey = existing.contentHash ?? existing.id;
      const entry = (await store.updateEntry(existing.id, {
        name: req.name,
        path: req.path,
        entryType: req.entryType,
        metadata,
        contentHash,
        size,
        contentStored: contentHash !== null,
        dedupeKey: req.dedupeKey ?? existing.dedupeKey,
      }))!;
      if (oldKey !== (entry.contentHash ?? entry.id)) await this.releaseContentIfUnused(libraryId, oldKey, existing.contentStored ? existing.contentHash : null);
      this.#events.emit('entry:updated', { library_id: libraryId, entry_id: entry.id, path: entry.path, entry_type: entry.entryType, replaced: true });
      return { entry, created: false, replaced: true };
    }
    const entry = await store.insertEntry({
      id: randomUUID(),
      name: req.name,
      path: req.path,
      entryType: req.entryType,
      kind: null,
      metadata,
      contentHash,
      size,
      mtime: null,
      locationId: null,
      contentStored: contentHash !== null,
      dedupeKey: req.dedupeKey ?? null,
    });
    this.#events.emit('entry:created', { library_id: libraryId, entry_id: entry.id, path: entry.path, entry_type: entry.entryType });
    return { entry, created: true, replaced: false };
  }

  async getEntry(libraryId: string, entryId: string): Promise<EntryRecord> {
    const entry = await (await this.store(libraryId)).getEntry(entryId);
    if (!entry) throw new SpacedriveError(ErrorCode.NOT_FOUND, `entry '${entryId}' not found in library '${libraryId}'`, { entry_id: entryId, library_id: libraryId });
    return entry;
  }

  async listEntries(libraryId: string, filter: EntryFilter): Promise<{ entries: EntryRecord[]; nextSeq: number | null }> {
    const rows = await (await this.store(libraryId)).listEntries(filter);
    const more = rows.length > filter.limit;
    const entries = more ? rows.slice(0, filter.limit) : rows;
    return { entries, nextSeq: more ? entries[entries.length - 1]!.seq : null };
  }

  async updateMetadata(libraryId: string, entryId: string, metadata: Record<string, unknown>, replace: boolean): Promise<EntryRecord> {
    const updated = await (await this.store(libraryId)).updateEntryMetadata(entryId, metadata, replace);
    if (!updated) throw new SpacedriveError(ErrorCode.NOT_FOUND, `entry '${entryId}' not found in library '${libraryId}'`, { entry_id: entryId, library_id: libraryId });
    this.#events.emit('entry:updated', { library_id: libraryId, entry_id: entryId, path: updated.path, entry_type: updated.entryType });
    return updated;
  }

  /** Deletes an entry, its stored content and its sidecars when no other entry shares them. */
  async deleteEntry(libraryId: string, entryId: string, reason: 'deleted' | 'file_removed' | 'location_removed' = 'deleted'): Promise<EntryRecord> {
    const store = await this.store(libraryId);
    const entry = await this.getEntry(libraryId, entryId);
    await store.deleteEntry(entryId);
    await this.releaseContentIfUnused(libraryId, entry.contentHash ?? entry.id, entry.contentStored ? entry.contentHash : null);
    this.#events.emit('entry:deleted', { library_id: libraryId, entry_id: entryId, path: entry.path, entry_type: entry.entryType, reason });
    return entry;
  }

  /** The content bytes of an entry: from the object store, or the file on disk for indexed entries. */
  async readContent(libraryId: string, entry: EntryRecord): Promise<Buffer | null> {
    if (entry.contentHash === null) return null;
    if (entry.size !== null && entry.size > MAX_INLINE_CONTENT_BYTES) {
      throw new SpacedriveError(ErrorCode.INVALID_INPUT, `entry content is ${entry.size} bytes, more than the ${MAX_INLINE_CONTENT_BYTES} bytes returned inline; read the file instead`, {
        entry_id: entry.id,
        size: entry.size,
      });
    }
    let data: Buffer;
    try {
      const stored = entry.contentStored ? await (await this.store(libraryId)).getObject(entry.contentHash) : readFileSync(entry.path);
      if (!stored) throw Object.assign(new Error('not stored'), { code: 'ENOENT' });
      data = stored;
    } catch (err) {
      throw new SpacedriveError(ErrorCode.NOT_FOUND, `the content of entry '${entry.id}' is missing (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`, { entry_id: entry.id });
    }
    const hash = createHash('sha256').update(data).digest('hex');
    if (hash !== entry.contentHash) {
      throw new SpacedriveError(
        ErrorCode.CHECKSUM_MISMATCH,
        entry.contentStored
          ? `the stored content of entry '${entry.id}' does not match its SHA-256 (corrupted)`
          : `the file of entry '${entry.id}' changed since it was indexed; rescan its location`,
        { entry_id: entry.id, expected: entry.contentHash, actual: hash },
      );
    }
    return data;
  }

  emit(type: string, payload: Record<string, unknown>): void {
    this.#events.emit(type, payload);
  }

  counters(): Record<string, number> {
    return { count: this.#catalog.libraries.length, ...(this.#backend instanceof SqliteLibraryBackend ? { open: this.#backend.openCount } : {}) };
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#backend.close();
  }
}

export { mergeMetadata } from './store.js';
