/**
 * The storage backend: one object that supplies every module's storage port, chosen by the
 * `store` option. `sqlite` keeps everything in the data directory (files and SQLite databases,
 * no setup); a PostgreSQL URL keeps libraries, credentials, installed extensions (with their
 * modules) and mail state in one database shared by the nodes of a cluster, its schema migrated
 * under an advisory lock when the backend opens. (The job store is the jobs module's own.)
 */
import { join } from 'node:path';
import { SqliteCredentialRows, type CredentialRows } from '../credentials/store.js';
import { PostgresCredentialRows } from '../credentials/postgres-rows.js';
import { JsonFileExtensionStore, type InstalledExtensionStore } from '../extensions/store.js';
import { PostgresExtensionStore } from '../extensions/postgres-store.js';
import { SqliteLibraryBackend } from '../library/sqlite-backend.js';
import { PostgresLibraryBackend, PostgresSidecarBlobs } from '../library/postgres-backend.js';
import type { LibraryBackend, SidecarBlobStore } from '../library/store.js';
import { SqliteMailStore, type MailStore } from '../mail/store.js';
import { PostgresMailStore } from '../mail/postgres-store.js';
import { openPostgres, redactUrl, type PostgresDatabase } from '../storage/postgres/index.js';
import type { Logger } from '../logging/index.js';

export interface StorageBackend {
  readonly kind: 'sqlite' | 'postgres';
  /** Where, for status and logs (a PostgreSQL URL without its password). */
  readonly location: string;
  libraries(): LibraryBackend;
  /** Sidecar bytes by SHA-256 in the shared store; undefined: files in the data directory. */
  sidecarBlobs(): SidecarBlobStore | undefined;
  credentialRows(): CredentialRows;
  installedExtensions(): InstalledExtensionStore;
  mail(): MailStore;
  // Jobs are not a port of the backend: the jobs module opens its store from the same `store`
  // option (src/jobs/system.ts), with a pool and a LISTEN connection of its own for the cluster.
  /** Closes what the backend opened (after every module stopped). */
  close(): Promise<void>;
}

/** Files and SQLite databases in the data directory (the embedded default). */
export class SqliteStorage implements StorageBackend {
  readonly kind = 'sqlite' as const;
  readonly location: string;

  constructor(readonly dataDir: string) {
    this.location = dataDir;
  }

  libraries(): LibraryBackend {
    return new SqliteLibraryBackend(join(this.dataDir, 'libraries'));
  }
  sidecarBlobs(): undefined {
    return undefined;
  }
  credentialRows(): CredentialRows {
    return new SqliteCredentialRows(join(this.dataDir, 'credentials.db'));
  }
  installedExtensions(): InstalledExtensionStore {
    return new JsonFileExtensionStore(join(this.dataDir, 'extensions', 'installed.json'));
  }
  mail(): MailStore {
    return new SqliteMailStore(this.dataDir);
  }
  async close(): Promise<void> {}
}

/** One PostgreSQL database shared by the nodes (src/storage/postgres: pool, migrations). */
export class PostgresStorage implements StorageBackend {
  readonly kind = 'postgres' as const;
  readonly location: string;
  readonly db: PostgresDatabase;
  readonly #libraries: PostgresLibraryBackend;
  readonly #credentials: PostgresCredentialRows;
  readonly #extensions: PostgresExtensionStore;
  readonly #mail: PostgresMailStore;

  private constructor(db: PostgresDatabase) {
    this.db = db;
    this.location = redactUrl(db.url);
    this.#libraries = new PostgresLibraryBackend(db);
    this.#credentials = new PostgresCredentialRows(db);
    this.#extensions = new PostgresExtensionStore(db);
    this.#mail = new PostgresMailStore(db);
  }

  /** Connects and applies every component's migrations; STORE_UNAVAILABLE when the server cannot be reached. */
  static async open(url: string, logger?: Logger): Promise<PostgresStorage> {
    const db = openPostgres({
      url,
      applicationName: `spacedrive-${process.pid}`,
      ...(logger ? { onError: (err) => logger.warn({ err }, 'PostgreSQL connection error') } : {}),
    });
    const storage = new PostgresStorage(db);
    try {
      await db.ping();
      await storage.#libraries.migrate();
      await storage.#credentials.migrate();
      await storage.#extensions.migrate();
      await storage.#mail.migrate();
    } catch (err) {
      await db.close();
      throw err;
    }
    return storage;
  }

  libraries(): LibraryBackend {
    return this.#libraries;
  }
  sidecarBlobs(): SidecarBlobStore {
    return new PostgresSidecarBlobs(this.db);
  }
  credentialRows(): CredentialRows {
    return this.#credentials;
  }
  installedExtensions(): InstalledExtensionStore {
    return this.#extensions;
  }
  mail(): MailStore {
    return this.#mail;
  }
  async close(): Promise<void> {
    await this.db.close();
  }
}

/** The backend the `store` option names. */
export async function openStorage(store: string, dataDir: string, logger?: Logger): Promise<StorageBackend> {
  return store === 'sqlite' ? new SqliteStorage(dataDir) : PostgresStorage.open(store, logger);
}
