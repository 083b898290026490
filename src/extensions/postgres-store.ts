/**
 * {@link InstalledExtensionStore} on PostgreSQL: the installed list shared by every node, and each
 * installed package's manifest with its module stored once by SHA-256, so that a node that did not
 * install an extension writes the very same bytes to its data directory before loading them.
 */
import { migratePostgres, type PostgresDatabase, type PostgresMigration } from '../storage/postgres/index.js';
import type { InstalledExtension, InstalledExtensionStore } from './store.js';

export const EXTENSIONS_PG_MIGRATIONS: readonly PostgresMigration[] = [
  {
    version: 1,
    name: 'installed_extensions_modules',
    sql: `
      CREATE TABLE extension_modules (
        sha256  TEXT PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
        bytes   BYTEA NOT NULL,
        size    BIGINT NOT NULL
      );
      CREATE TABLE installed_extensions (
        id            TEXT PRIMARY KEY,
        version       TEXT NOT NULL,
        enabled       BOOLEAN NOT NULL,
        installed_at  TEXT NOT NULL,
        path          TEXT NOT NULL,
        sha256        TEXT NOT NULL REFERENCES extension_modules (sha256),
        manifest      JSONB
      );
    `,
  },
];

interface Row extends InstalledExtension {
  manifest: unknown;
}

export class PostgresExtensionStore implements InstalledExtensionStore {
  readonly #db: PostgresDatabase;

  constructor(db: PostgresDatabase) {
    this.#db = db;
  }

  /** Applies the extension migrations (under the shared advisory lock). */
  async migrate(): Promise<void> {
    await migratePostgres(this.#db, 'extensions', EXTENSIONS_PG_MIGRATIONS);
  }

  async list(): Promise<InstalledExtension[]> {
    return (await this.#db.query<Row>('SELECT id, version, enabled, installed_at, path, sha256 FROM installed_extensions ORDER BY id COLLATE "C"')).map(record);
  }

  async get(id: string): Promise<InstalledExtension | undefined> {
    const [row] = await this.#db.query<Row>('SELECT id, version, enabled, installed_at, path, sha256 FROM installed_extensions WHERE id = $1', [id]);
    return row && record(row);
  }

  async put(r: InstalledExtension): Promise<void> {
    // A record names its module; a placeholder row (size 0) stands in until savePackage stores the
    // bytes, and a put with the same module keeps the manifest saved with it.
    await this.#db.execute(
      "INSERT INTO extension_modules (sha256, bytes, size) VALUES ($1, ''::bytea, 0) ON CONFLICT (sha256) DO NOTHING",
      [r.sha256],
    );
    await this.#db.execute(
      `INSERT INTO installed_extensions (id, version, enabled, installed_at, path, sha256) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (id) DO UPDATE SET version = excluded.version, enabled = excluded.enabled, installed_at = excluded.installed_at, path = excluded.path,
         sha256 = excluded.sha256, manifest = CASE WHEN installed_extensions.sha256 = excluded.sha256 THEN installed_extensions.manifest ELSE NULL END`,
      [r.id, r.version, r.enabled, r.installed_at, r.path, r.sha256],
    );
  }

  async remove(id: string): Promise<boolean> {
    return (await this.#db.execute('DELETE FROM installed_extensions WHERE id = $1', [id])) > 0;
  }

  async savePackage(r: InstalledExtension, manifest: unknown, module: Uint8Array): Promise<void> {
    await this.#db.transaction(async (tx) => {
      await tx.execute(
        `INSERT INTO extension_modules (sha256, bytes, size) VALUES ($1, $2, $3)
         ON CONFLICT (sha256) DO UPDATE SET bytes = excluded.bytes, size = excluded.size WHERE extension_modules.size = 0`,
        [r.sha256, Buffer.from(module.buffer, module.byteOffset, module.byteLength), module.byteLength],
      );
      await tx.execute(
        `INSERT INTO installed_extensions (id, version, enabled, installed_at, path, sha256, manifest) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
         ON CONFLICT (id) DO UPDATE SET manifest = excluded.manifest WHERE installed_extensions.sha256 = excluded.sha256`,
        [r.id, r.version, r.enabled, r.installed_at, r.path, r.sha256, JSON.stringify(manifest)],
      );
    });
  }

  async loadPackage(r: InstalledExtension): Promise<{ manifest: unknown; module: Buffer } | undefined> {
    const [row] = await this.#db.query<{ manifest: unknown; bytes: Buffer; size: number }>(
      'SELECT e.manifest, m.bytes, m.size FROM installed_extensions e JOIN extension_modules m ON m.sha256 = e.sha256 WHERE e.id = $1 AND e.sha256 = $2',
      [r.id, r.sha256],
    );
    if (!row || row.manifest === null || row.size === 0) return undefined;
    return { manifest: row.manifest, module: row.bytes };
  }
}

function record(r: Row): InstalledExtension {
  return { id: r.id, version: r.version, enabled: r.enabled, installed_at: r.installed_at, path: r.path, sha256: r.sha256 };
}
