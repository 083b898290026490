/**
 * {@link MailStore} on PostgreSQL: accounts and Maildir UIDs in tables shared by every node (a
 * Maildir folder is read by the node that has it; its UIDs are the cluster's).
 */
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import { migratePostgres, type PostgresDatabase, type PostgresMigration } from '../storage/postgres/index.js';
import type { MaildirUids, MailStore, StoredAccount } from './store.js';

export const MAIL_PG_MIGRATIONS: readonly PostgresMigration[] = [
  {
    version: 1,
    name: 'mail_accounts_maildir_uids',
    sql: `
      CREATE TABLE mail_accounts (
        name        TEXT PRIMARY KEY,
        kind        TEXT NOT NULL CHECK (kind IN ('imap', 'maildir')),
        host        TEXT,
        port        INTEGER,
        secure      BOOLEAN,
        username    TEXT,
        mailbox     TEXT NOT NULL,
        path        TEXT,
        created_at  BIGINT NOT NULL,
        updated_at  BIGINT NOT NULL
      );
      CREATE TABLE mail_uidvalidity (account TEXT PRIMARY KEY, last_uidvalidity BIGINT NOT NULL);
      CREATE TABLE mail_maildir_state (account TEXT PRIMARY KEY, uidvalidity BIGINT NOT NULL, uidnext BIGINT NOT NULL);
      CREATE TABLE mail_maildir_uids (account TEXT NOT NULL, key TEXT NOT NULL, uid BIGINT NOT NULL, PRIMARY KEY (account, key));
    `,
  },
];

const ACCOUNT_COLUMNS = 'name, kind, host, port, secure, username, mailbox, path, created_at, updated_at';

export class PostgresMailStore implements MailStore {
  readonly path = 'the PostgreSQL mail tables';
  readonly #db: PostgresDatabase;

  constructor(db: PostgresDatabase) {
    this.#db = db;
  }

  /** Applies the mail migrations (under the shared advisory lock). */
  async migrate(): Promise<void> {
    await migratePostgres(this.#db, 'mail', MAIL_PG_MIGRATIONS);
  }

  async getAccount(name: string): Promise<StoredAccount | undefined> {
    const [row] = await this.#db.query<StoredAccount>(`SELECT ${ACCOUNT_COLUMNS} FROM mail_accounts WHERE name = $1`, [name]);
    return row;
  }

  async listAccounts(): Promise<StoredAccount[]> {
    return this.#db.query<StoredAccount>(`SELECT ${ACCOUNT_COLUMNS} FROM mail_accounts ORDER BY name COLLATE "C"`);
  }

  async putAccount(a: Omit<StoredAccount, 'created_at' | 'updated_at'>, replace: boolean): Promise<StoredAccount> {
    return this.#db.transaction(async (tx) => {
      const [existing] = await tx.query<StoredAccount>(`SELECT ${ACCOUNT_COLUMNS} FROM mail_accounts WHERE name = $1 FOR UPDATE`, [a.name]);
      if (existing && !replace) {
        throw new SpacedriveError(ErrorCode.ALREADY_EXISTS, `mail account '${a.name}' already exists; remove it first or add it again with replace`, { account: a.name });
      }
      if (existing && (existing.kind !== a.kind || existing.path !== a.path || existing.mailbox !== a.mailbox)) {
        await tx.execute('DELETE FROM mail_maildir_uids WHERE account = $1', [a.name]);
        await tx.execute('DELETE FROM mail_maildir_state WHERE account = $1', [a.name]);
      }
      const now = Date.now();
      const created = existing?.created_at ?? now;
      await tx.execute(
        `INSERT INTO mail_accounts (${ACCOUNT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, host = excluded.host, port = excluded.port, secure = excluded.secure,
           username = excluded.username, mailbox = excluded.mailbox, path = excluded.path, updated_at = excluded.updated_at`,
        [a.name, a.kind, a.host, a.port, a.secure, a.username, a.mailbox, a.path, created, now],
      );
      return { ...a, created_at: created, updated_at: now };
    });
  }

  async removeAccount(name: string): Promise<boolean> {
    return this.#db.transaction(async (tx) => {
      await tx.execute('DELETE FROM mail_maildir_uids WHERE account = $1', [name]);
      await tx.execute('DELETE FROM mail_maildir_state WHERE account = $1', [name]);
      return (await tx.execute('DELETE FROM mail_accounts WHERE name = $1', [name])) > 0;
    });
  }

  async assignMaildirUids(account: string, presentKeys: readonly string[], order: (a: string, b: string) => number): Promise<MaildirUids> {
    return this.#db.transaction(async (tx) => {
      // Serialises assignments for one account across nodes (the state row may not exist yet).
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`mail:${account}`]);
      let [state] = await tx.query<{ uidvalidity: number; uidnext: number }>('SELECT uidvalidity, uidnext FROM mail_maildir_state WHERE account = $1', [account]);
      if (!state) {
        const [previous] = await tx.query<{ last_uidvalidity: number }>('SELECT last_uidvalidity FROM mail_uidvalidity WHERE account = $1', [account]);
        const uidvalidity = Math.max(Math.floor(Date.now() / 1000), (previous?.last_uidvalidity ?? 0) + 1);
        state = { uidvalidity, uidnext: 1 };
        await tx.execute('INSERT INTO mail_maildir_state (account, uidvalidity, uidnext) VALUES ($1, $2, 1)', [account, uidvalidity]);
        await tx.execute(
          'INSERT INTO mail_uidvalidity (account, last_uidvalidity) VALUES ($1, $2) ON CONFLICT (account) DO UPDATE SET last_uidvalidity = excluded.last_uidvalidity',
          [account, uidvalidity],
        );
      }
      const uids = new Map<string, number>();
      for (const row of await tx.query<{ key: string; uid: number }>('SELECT key, uid FROM mail_maildir_uids WHERE account = $1', [account])) uids.set(row.key, row.uid);
      const present = new Set(presentKeys);
      const gone = [...uids.keys()].filter((k) => !present.has(k));
      if (gone.length > 0) {
        await tx.execute('DELETE FROM mail_maildir_uids WHERE account = $1 AND key = ANY($2::text[])', [account, gone]);
        for (const key of gone) uids.delete(key);
      }
      let uidnext = state.uidnext;
      const added = presentKeys.filter((k) => !uids.has(k)).sort(order);
      if (added.length > 0) {
        const addedUids = added.map((_, i) => uidnext + i);
        await tx.execute('INSERT INTO mail_maildir_uids (account, key, uid) SELECT $1, k, u FROM unnest($2::text[], $3::bigint[]) AS t (k, u)', [account, added, addedUids]);
        added.forEach((key, i) => uids.set(key, addedUids[i]!));
        uidnext += added.length;
        await tx.execute('UPDATE mail_maildir_state SET uidnext = $2 WHERE account = $1', [account, uidnext]);
      }
      return { uidvalidity: state.uidvalidity, uidnext, uids };
    });
  }

  /** The connection belongs to the storage backend. */
  async close(): Promise<void> {}
}
