/**
 * {@link LibraryBackend} on the data directory: the catalog in `libraries/index.json` (written
 * atomically), one SQLite database per library in `libraries/<id>/library.db`.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-file/index.js';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import { SqliteLibraryStore } from './sqlite-store.js';
import type { LibraryBackend, LibraryCatalog, LibraryRecord, LibraryStore } from './store.js';

interface LibraryIndexFile {
  version: 1;
  default_library_id: string | null;
  libraries: Array<{ id: string; name: string; created_at: number }>;
}

export class SqliteLibraryBackend implements LibraryBackend {
  readonly #root: string;
  readonly #indexPath: string;
  readonly #stores = new Map<string, SqliteLibraryStore>();
  #closed = false;

  /** @param root the `libraries` directory of the data directory. */
  constructor(root: string) {
    this.#root = root;
    this.#indexPath = join(root, 'index.json');
    mkdirSync(root, { recursive: true, mode: 0o700 });
  }

  async readCatalog(): Promise<LibraryCatalog> {
    return toCatalog(this.#readIndex());
  }

  async addLibrary(library: LibraryRecord, makeDefault: boolean): Promise<LibraryCatalog> {
    const index = this.#readIndex();
    if (index.libraries.some((l) => l.name.toLowerCase() === library.name.toLowerCase())) {
      throw new SpacedriveError(ErrorCode.ALREADY_EXISTS, `a library named '${library.name}' already exists`, { name: library.name });
    }
    mkdirSync(join(this.#root, library.id), { recursive: true, mode: 0o700 });
    // Create the database before the library becomes visible in the index.
    this.#open(library.id);
    index.libraries.push({ id: library.id, name: library.name, created_at: library.createdAt });
    if (makeDefault || !index.default_library_id) index.default_library_id = library.id;
    this.#writeIndex(index);
    return toCatalog(index);
  }

  async setDefaultLibrary(id: string): Promise<LibraryCatalog> {
    const index = this.#readIndex();
    index.default_library_id = id;
    this.#writeIndex(index);
    return toCatalog(index);
  }

  async openStore(libraryId: string): Promise<LibraryStore> {
    return this.#open(libraryId);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const store of this.#stores.values()) await store.close();
    this.#stores.clear();
  }

  /** Open stores (for `status`). */
  get openCount(): number {
    return this.#stores.size;
  }

  #open(libraryId: string): SqliteLibraryStore {
    if (this.#closed) throw new SpacedriveError(ErrorCode.SHUTTING_DOWN, 'the library service is closed');
    let store = this.#stores.get(libraryId);
    if (!store) {
      store = new SqliteLibraryStore(join(this.#root, libraryId, 'library.db'));
      this.#stores.set(libraryId, store);
    }
    return store;
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

  #writeIndex(index: LibraryIndexFile): void {
    writeFileAtomic(this.#indexPath, `${JSON.stringify(index, null, 2)}\n`);
  }
}

function toCatalog(index: LibraryIndexFile): LibraryCatalog {
  return { libraries: index.libraries.map((l) => ({ id: l.id, name: l.name, createdAt: l.created_at })), defaultId: index.default_library_id };
}
