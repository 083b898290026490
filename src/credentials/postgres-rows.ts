/**
 * {@link CredentialRows} on PostgreSQL: ciphertext rows and the key check in tables shared by
 * every node. The key is never here: every node reads the same key from its key file or
 * `SPACEDRIVE_CREDENTIALS_KEY`, and the key check refuses a node started with another key.
 */
import { migratePostgres, type PostgresDatabase, type PostgresMigration } from '../storage/postgres/index.js';
import type { CredentialRow, CredentialRowSummary, CredentialRows } from './store.js';

export const CREDENTIALS_PG_MIGRATIONS: readonly PostgresMigration[] = [
  {
    version: 1,
    name: 'credentials',
    sql: `
      CREATE TABLE credentials_meta (key TEXT PRIMARY KEY, value BYTEA NOT NULL);
      CREATE TABLE credentials (
        owner       TEXT NOT NULL,
        name        TEXT NOT NULL,
        nonce       BYTEA NOT NULL,
        ciphertext  BYTEA NOT NULL,
        tag         BYTEA NOT NULL,
        metadata    TEXT NOT NULL DEFAULT '{}',
        created_at  BIGINT NOT NULL,
        updated_at  BIGINT NOT NULL,
        PRIMARY KEY (owner, name)
      );
    `,
  },
];

export class PostgresCredentialRows implements CredentialRows {
  readonly where = 'the PostgreSQL credentials table';
  readonly #db: PostgresDatabase;

  constructor(db: PostgresDatabase) {
    this.#db = db;
  }

  /** Applies the credentials migrations (under the shared advisory lock). */
  async migrate(): Promise<void> {
    await migratePostgres(this.#db, 'credentials', CREDENTIALS_PG_MIGRATIONS);
  }

  async open(): Promise<Buffer | undefined> {
    const [row] = await this.#db.query<{ value: Buffer }>("SELECT value FROM credentials_meta WHERE key = 'key_check'");
    return row?.value;
  }

  async initKeyCheck(blob: Buffer): Promise<Buffer> {
    // First writer wins: two nodes starting a new store with the same key agree on its check.
    await this.#db.execute("INSERT INTO credentials_meta (key, value) VALUES ('key_check', $1) ON CONFLICT (key) DO NOTHING", [blob]);
    return (await this.open())!;
  }

  async upsert(r: CredentialRow): Promise<CredentialRowSummary> {
    const [row] = await this.#db.query<CredentialRowSummary>(
      `INSERT INTO credentials (owner, name, nonce, ciphertext, tag, metadata, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (owner, name) DO UPDATE SET nonce = excluded.nonce, ciphertext = excluded.ciphertext, tag = excluded.tag,
         metadata = excluded.metadata, updated_at = excluded.updated_at
       RETURNING owner, name, metadata, created_at, updated_at`,
      [r.owner, r.name, r.nonce, r.ciphertext, r.tag, r.metadata, r.created_at, r.updated_at],
    );
    return row!;
  }

  async get(owner: string, name: string): Promise<CredentialRow | undefined> {
    const [row] = await this.#db.query<CredentialRow>('SELECT owner, name, nonce, ciphertext, tag, metadata, created_at, updated_at FROM credentials WHERE owner = $1 AND name = $2', [owner, name]);
    return row;
  }

  async delete(owner: string, name: string): Promise<boolean> {
    return (await this.#db.execute('DELETE FROM credentials WHERE owner = $1 AND name = $2', [owner, name])) > 0;
  }

  async list(owner: string): Promise<CredentialRowSummary[]> {
    // COLLATE "C": the same order as SQLite's, whatever the database's locale.
    return this.#db.query<CredentialRowSummary>('SELECT owner, name, metadata, created_at, updated_at FROM credentials WHERE owner = $1 ORDER BY name COLLATE "C"', [owner]);
  }

  async deleteOwner(owner: string): Promise<number> {
    return this.#db.execute('DELETE FROM credentials WHERE owner = $1', [owner]);
  }

  neverUsed(): boolean {
    return false;
  }

  /** The connection belongs to the storage backend. */
  async close(): Promise<void> {}
}
