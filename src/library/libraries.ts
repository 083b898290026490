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
import { existsSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import type { EventBus } from '../events/index.js';
import type { Logger } from '../logging/index.js';
import { writeFileAtomic } from '../atomic-file/index.js';
import { SqliteLibraryStore } from './sqlite-store.js';
import type { EntryFilter, EntryRecord, LibraryStats, LibraryStore } from './store.js';

export interface LibraryInfo {
  id: string;
  name: string;
  createdAt: number;
}

interface LibraryIndexFile {
  version: 1;
  default_library_id: string | null;
  libraries: Array<{ id: string; name: string; created_at: number }>;
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
}

/** Called when no entry of a library refers to a content key any more (its sidecars can go). */
export type ContentReleasedListener = (libraryId: string, contentKey: string) => void;

/** Largest content returned inline by `include_content` (the wire's frame limit is larger, base64 adds a third). */
export const MAX_INLINE_CONTENT_BYTES = 8 * 1024 * 1024;

export class LibraryService {
  readonly dataDir: string;
  readonly #root: string;
  readonly #indexPath: string;
  readonly #events: EventBus;
  readonly #logger: Logger;
  readonly #stores = new Map<string, LibraryStore>();
  readonly #released: ContentReleasedListener[] = [];
  #index: LibraryIndexFile;
  #closed = false;

  constructor(opts: LibraryServiceOptions) {
    this.dataDir = opts.dataDir;
    this.#root = join(opts.dataDir, 'libraries');
    this.#indexPath = join(this.#root, 'index.json');
    this.#events = opts.events;
    this.#logger = opts.logger;
    mkdirSync(this.#root, { recursive: true, mode: 0o700 });
    this.#index = this.#readIndex();
  }

  #readIndex(): LibraryIndexFile {
    if (!existsSync(this.#indexPath)) return { version: 1, default_library_id: null, libraries: [] };
    try {
      const parsed = JSON.parse(readFileSync(this.#indexPath, 'utf8')) as LibraryIndexFile;
      if (!Array.isArray(parsed.libraries)) throw new Error('no "libraries" array');
      return parsed;
    } catch (err) {
      throw new SpacedriveError(ErrorCode.CONFIG_INVALID, `the library index ${this.#indexPath} cannot be read: ${(err as Error).message}`, { path: this.#indexPath });
    }
  }

  #writeIndex(): void {
    writeFileAtomic(this.#indexPath, `${JSON.stringify(this.#index, null, 2)}\n`);
  }

  /** Creates the default library when there is none (first start). */
  ensureDefault(): string {
    if (this.#index.default_library_id && this.#index.libraries.some((l) => l.id === this.#index.default_library_id)) {
      return this.#index.default_library_id;
    }
    const first = this.#index.libraries[0];
    if (first) {
      this.#index.default_library_id = first.id;
      this.#writeIndex();
      return first.id;
    }
    return this.create('Default', { makeDefault: true }).id;
  }

  list(): Array<LibraryInfo & { isDefault: boolean }> {
    return this.#index.libraries.map((l) => ({ id: l.id, name: l.name, createdAt: l.created_at, isDefault: l.id === this.#index.default_library_id }));
  }

  get defaultId(): string | null {
    return this.#index.default_library_id;
  }

  get(id: string): LibraryInfo | undefined {
    const l = this.#index.libraries.find((x) => x.id === id);
    return l && { id: l.id, name: l.name, createdAt: l.created_at };
  }

  /** The library a call runs against: the named one (NOT_FOUND if unknown) or the default. */
  resolve(id: string | null | undefined): string {
    if (id === null || id === undefined || id === '') {
      const def = this.#index.default_library_id;
      if (!def) throw new SpacedriveError(ErrorCode.LIBRARY_REQUIRED, 'there is no default library: pass library_id, or create one with `spacedrive library create <name>`');
      return def;
    }
    if (!this.#index.libraries.some((l) => l.id === id)) {
      throw new SpacedriveError(ErrorCode.NOT_FOUND, `library '${id}' not found; run 'spacedrive library list'`, { library_id: id });
    }
    return id;
  }

  create(name: string, opts: { makeDefault?: boolean } = {}): LibraryInfo {
    const trimmed = name.trim();
    if (trimmed.length === 0) throw new SpacedriveError(ErrorCode.INVALID_INPUT, "invalid input: field 'name': expected a non-empty name");
    if (this.#index.libraries.some((l) => l.name.toLowerCase() === trimmed.toLowerCase())) {
      throw new SpacedriveError(ErrorCode.ALREADY_EXISTS, `a library named '${trimmed}' already exists`, { name: trimmed });
    }
    const lib = { id: randomUUID(), name: trimmed, created_at: Date.now() };
    mkdirSync(join(this.#root, lib.id), { recursive: true, mode: 0o700 });
    // Create the database before the library becomes visible in the index.
    this.store(lib.id, true);
    this.#index.libraries.push(lib);
    if (opts.makeDefault || !this.#index.default_library_id) this.#index.default_library_id = lib.id;
    this.#writeIndex();
    this.#events.emit('library:created', { library_id: lib.id, name: lib.name });
    return { id: lib.id, name: lib.name, createdAt: lib.created_at };
  }

  /** The store of a library, opened on first use. */
  store(libraryId: string, creating = false): LibraryStore {
    if (this.#closed) throw new SpacedriveError(ErrorCode.SHUTTING_DOWN, 'the library service is closed');
    let store = this.#stores.get(libraryId);
    if (!store) {
      if (!creating) this.resolve(libraryId);
      store = new SqliteLibraryStore(join(this.#root, libraryId, 'library.db'));
      this.#stores.set(libraryId, store);
    }
    return store;
  }

  /** Every library's store (sidecar files can be shared between libraries with the same content). */
  allStores(): Array<{ libraryId: string; store: LibraryStore }> {
    return this.#index.libraries.map((l) => ({ libraryId: l.id, store: this.store(l.id) }));
  }

  stats(libraryId: string): LibraryStats {
    return this.store(libraryId).stats();
  }

  onContentReleased(listener: ContentReleasedListener): void {
    this.#released.push(listener);
  }

  /** Runs the release listeners when no entry of the library uses `contentKey` any more. */
  releaseContentIfUnused(libraryId: string, contentKey: string | null, storedHash?: string | null): void {
    if (!contentKey) return;
    const store = this.store(libraryId);
    if (store.countEntriesWithContentKey(contentKey) > 0) return;
    if (storedHash) {
      try {
        unlinkSync(this.objectPath(libraryId, storedHash));
      } catch {
        // already gone
      }
    }
    for (const listener of this.#released) {
      try {
        listener(libraryId, contentKey);
      } catch (err) {
        this.#logger.warn({ err, libraryId, contentKey }, 'releasing derived data failed');
      }
    }
  }

  objectPath(libraryId: string, hash: string): string {
    return join(this.#root, libraryId, 'objects', hash.slice(0, 2), hash);
  }

  /** Creates (or, per `ifExists`, returns or replaces) an entry. */
  createEntry(libraryId: string, req: CreateEntryRequest): CreateEntryResult {
    const store = this.store(libraryId);
    const existing = (req.dedupeKey !== undefined ? store.getEntryByDedupeKey(req.dedupeKey) : undefined) ?? store.getEntryByPath(req.path);
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
    if (existing && req.path !== existing.path && store.getEntryByPath(req.path)) {
      throw new SpacedriveError(ErrorCode.ALREADY_EXISTS, `an entry with path '${req.path}' already exists`, { path: req.path });
    }

    let contentHash: string | null = null;
    let size: number | null = null;
    if (req.content) {
      contentHash = createHash('sha256').update(req.content).digest('hex');
      size = req.content.length;
      const target = this.objectPath(libraryId, contentHash);
      if (!existsSync(target)) writeFileAtomic(target, req.content);
    }
    const metadata = req.metadata ?? {};
    if (existing) {
      const oldKey = existing.contentHash ?? existing.id;
      const entry = store.updateEntry(existing.id, {
        name: req.name,
        path: req.path,
        entryType: req.entryType,
        metadata,
        contentHash,
        size,
        contentStored: contentHash !== null,
        dedupeKey: req.dedupeKey ?? existing.dedupeKey,
      })!;
      if (oldKey !== (entry.contentHash ?? entry.id)) this.releaseContentIfUnused(libraryId, oldKey, existing.contentStored ? existing.contentHash : null);
      this.#events.emit('entry:updated', { library_id: libraryId, entry_id: entry.id, path: entry.path, entry_type: entry.entryType, replaced: true });
      return { entry, created: false, replaced: true };
    }
    const entry = store.insertEntry({
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

  getEntry(libraryId: string, entryId: string): EntryRecord {
    const entry = this.store(libraryId).getEntry(entryId);
    if (!entry) throw new SpacedriveError(ErrorCode.NOT_FOUND, `entry '${entryId}' not found in library '${libraryId}'`, { entry_id: entryId, library_id: libraryId });
    return entry;
  }

  listEntries(libraryId: string, filter: EntryFilter): { entries: EntryRecord[]; nextSeq: number | null } {
    const rows = this.store(libraryId).listEntries(filter);
    const more = rows.length > filter.limit;
    const entries = more ? rows.slice(0, filter.limit) : rows;
    return { entries, nextSeq: more ? entries[entries.length - 1]!.seq : null };
  }

  updateMetadata(libraryId: string, entryId: string, metadata: Record<string, unknown>, replace: boolean): EntryRecord {
    const store = this.store(libraryId);
    const updated = store.transaction(() => {
      const entry = this.getEntry(libraryId, entryId);
      const next = replace ? metadata : mergeMetadata(entry.metadata, metadata);
      return store.updateEntry(entryId, { metadata: next })!;
    });
    this.#events.emit('entry:updated', { library_id: libraryId, entry_id: entryId, path: updated.path, entry_type: updated.entryType });
    return updated;
  }

  /** Deletes an entry, its stored content and its sidecars when no other entry shares them. */
  deleteEntry(libraryId: string, entryId: string, reason: 'deleted' | 'file_removed' | 'location_removed' = 'deleted'): EntryRecord {
    const store = this.store(libraryId);
    const entry = this.getEntry(libraryId, entryId);
    store.deleteEntry(entryId);
    this.releaseContentIfUnused(libraryId, entry.contentHash ?? entry.id, entry.contentStored ? entry.contentHash : null);
    this.#events.emit('entry:deleted', { library_id: libraryId, entry_id: entryId, path: entry.path, entry_type: entry.entryType, reason });
    return entry;
  }

  /** The content bytes of an entry: from the object store, or the file on disk for indexed entries. */
  readContent(libraryId: string, entry: EntryRecord): Buffer | null {
    if (entry.contentHash === null) return null;
    if (entry.size !== null && entry.size > MAX_INLINE_CONTENT_BYTES) {
      throw new SpacedriveError(ErrorCode.INVALID_INPUT, `entry content is ${entry.size} bytes, more than the ${MAX_INLINE_CONTENT_BYTES} bytes returned inline; read the file instead`, {
        entry_id: entry.id,
        size: entry.size,
      });
    }
    const file = entry.contentStored ? this.objectPath(libraryId, entry.contentHash) : entry.path;
    let data: Buffer;
    try {
      data = readFileSync(file);
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
    return { count: this.#index.libraries.length, open: this.#stores.size };
  }

  close(): void {
    this.#closed = true;
    for (const store of this.#stores.values()) store.close();
    this.#stores.clear();
  }
}

/** Top-level merge: fields in `patch` replace those in `base`; a field set to null is removed. */
export function mergeMetadata(base: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}
