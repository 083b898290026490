/**
 * The installed-extensions store: which extensions are installed, which version, enabled or not.
 * Behind {@link InstalledExtensionStore}; the embedded one here is a JSON
 * file written atomically (temp file, fsync, rename), which is enough for a record per
 * extension changed only by management commands.
 */
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../atomic-file/index.js';
import { ErrorCode, SpacedriveError } from '../errors/index.js';

export interface InstalledExtension {
  id: string;
  version: string;
  enabled: boolean;
  /** ISO time of the install (or of the last reload that brought a new version). */
  installed_at: string;
  /** Directory of the installed package, relative to the extensions directory (`<id>/<version>`). */
  path: string;
  sha256: string;
}

/**
 * The storage port of installed extensions. The embedded backend keeps the records in
 * `<dataDir>/extensions/installed.json` (the package files beside it); the PostgreSQL backend keeps
 * them in tables shared by every node, with each package's files stored by SHA-256
 * (./postgres-store.ts).
 */
export interface InstalledExtensionStore {
  list(): Promise<InstalledExtension[]>;
  get(id: string): Promise<InstalledExtension | undefined>;
  /** Inserts or replaces the record for `record.id`; durable when it returns. */
  put(record: InstalledExtension): Promise<void>;
  /** Removes the record; true if there was one. Durable when it returns. */
  remove(id: string): Promise<boolean>;
  /**
   * Keeps an installed package's manifest and module, the module by its SHA-256, so that every
   * node loads the same bytes (before the record naming it is put). Absent in the embedded store,
   * whose package files are already in the data directory.
   */
  savePackage?(record: InstalledExtension, manifest: unknown, module: Uint8Array): Promise<void>;
  /** The manifest and module saved for `record`, when this store keeps packages. */
  loadPackage?(record: InstalledExtension): Promise<{ manifest: unknown; module: Uint8Array } | undefined>;
}

interface FileShape {
  format: 1;
  extensions: InstalledExtension[];
}

export class JsonFileExtensionStore implements InstalledExtensionStore {
  readonly #file: string;
  #records: Map<string, InstalledExtension>;

  constructor(file: string) {
    this.#file = file;
    this.#records = new Map(this.#read().map((r) => [r.id, r]));
  }

  async list(): Promise<InstalledExtension[]> {
    return [...this.#records.values()].sort((a, b) => a.id.localeCompare(b.id)).map((r) => ({ ...r }));
  }

  async get(id: string): Promise<InstalledExtension | undefined> {
    const r = this.#records.get(id);
    return r ? { ...r } : undefined;
  }

  async put(record: InstalledExtension): Promise<void> {
    const next = new Map(this.#records);
    next.set(record.id, { ...record });
    this.#write(next);
    this.#records = next;
  }

  async remove(id: string): Promise<boolean> {
    if (!this.#records.has(id)) return false;
    const next = new Map(this.#records);
    next.delete(id);
    this.#write(next);
    this.#records = next;
    return true;
  }

  #read(): InstalledExtension[] {
    if (!existsSync(this.#file)) return [];
    let parsed: FileShape;
    try {
      parsed = JSON.parse(readFileSync(this.#file, 'utf8')) as FileShape;
    } catch (err) {
      throw new SpacedriveError(
        ErrorCode.CONFIG_INVALID,
        `the installed-extensions file ${this.#file} is not valid JSON (${(err as Error).message}); fix or remove it and reinstall the extensions`,
      );
    }
    if (parsed?.format !== 1 || !Array.isArray(parsed.extensions)) {
      throw new SpacedriveError(ErrorCode.CONFIG_INVALID, `the installed-extensions file ${this.#file} has an unknown format`);
    }
    return parsed.extensions;
  }

  #write(records: Map<string, InstalledExtension>): void {
    const body: FileShape = { format: 1, extensions: [...records.values()].sort((a, b) => a.id.localeCompare(b.id)) };
    writeFileAtomic(this.#file, `${JSON.stringify(body, null, 2)}\n`, { syncDirectory: true, dirMode: 0o700 });
  }
}
