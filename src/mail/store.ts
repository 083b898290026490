/**
 * `<dataDir>/mail.db` (SQLite): the configured accounts (never their passwords, which live in the
 * credentials store under owner `mail`) and, for Maildir accounts, the UID each message file was
 * given, so that a UID never changes once assigned and new files always get higher ones.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import type { MailAccountKind } from './types.js';

/** An account row (what {@link MailStore} keeps; the service adds `has_password`). */
export interface StoredAccount {
  name: string;
  kind: MailAccountKind;
  host: string | null;
  port: number | null;
  secure: boolean | null;
  username: string | null;
  mailbox: string;
  path: string | null;
  created_at: number;
  updated_at: number;
}

/** The UIDs of one Maildir folder, as assigned so far. */
export interface MaildirUids {
  uidvalidity: number;
  /** The UID the next new file gets. */
  uidnext: number;
  /** File key (name without the `:2,<flags>` part) → UID. */
  uids: Map<string, number>;
}

/**
 * The storage port of the mail capability: accounts and the Maildir UIDs. SQLite:
 * `<dataDir>/mail.db`; PostgreSQL: the `mail_*` tables shared by every node.
 */
export interface MailStore {
  /** Where the state is, for messages. */
  readonly path: string;
  getAccount(name: string): Promise<StoredAccount | undefined>;
  listAccounts(): Promise<StoredAccount[]>;
  /**
   * Inserts the account, or replaces it when `replace` is set (ALREADY_EXISTS otherwise), in one
   * transaction. A replaced Maildir account keeps its UIDs only when it still reads the same folder.
   */
  putAccount(account: Omit<StoredAccount, 'created_at' | 'updated_at'>, replace: boolean): Promise<StoredAccount>;
  /** Removes the account and its Maildir UIDs; false when there was none. */
  removeAccount(name: string): Promise<boolean>;
  /**
   * Gives UIDs to the keys that have none yet, ordered by `order` (delivery order, a pure
   * comparison), and forgets keys whose files are gone (their UIDs are never reused: `uidnext`
   * only grows). One transaction, so concurrent fetches of the same account agree.
   */
  assignMaildirUids(account: string, presentKeys: readonly string[], order: (a: string, b: string) => number): Promise<MaildirUids>;
  close(): Promise<void>;
}

interface AccountRow extends Omit<StoredAccount, 'secure'> {
  secure: number | null;
}

/** The synchronous database behind {@link SqliteMailStore}. */
class SqliteMailDb {
  readonly path: string;
  #db: Database.Database | undefined;
  #closed = false;

  constructor(dataDir: string) {
    this.path = join(dataDir, 'mail.db');
  }

  getAccount(name: string): StoredAccount | undefined {
    const row = this.#open().prepare('SELECT * FROM accounts WHERE name = ?').get(name) as AccountRow | undefined;
    return row && fromRow(row);
  }

  listAccounts(): StoredAccount[] {
    return (this.#open().prepare('SELECT * FROM accounts ORDER BY name').all() as AccountRow[]).map(fromRow);
  }

  /**
   * Inserts the account, or replaces it when `replace` is set (ALREADY_EXISTS otherwise). A
   * replaced Maildir account keeps its UIDs only when it still reads the same folder.
   */
  putAccount(a: Omit<StoredAccount, 'created_at' | 'updated_at'>, replace: boolean): StoredAccount {
    const db = this.#open();
    const now = Date.now();
    return db.transaction(() => {
      const existing = this.getAccount(a.name);
      if (existing && !replace) {
        throw new SpacedriveError(ErrorCode.ALREADY_EXISTS, `mail account '${a.name}' already exists; remove it first or add it again with replace`, { account: a.name });
      }
      if (existing && (existing.kind !== a.kind || existing.path !== a.path || existing.mailbox !== a.mailbox)) {
        db.prepare('DELETE FROM maildir_uids WHERE account = ?').run(a.name);
        db.prepare('DELETE FROM maildir_state WHERE account = ?').run(a.name);
      }
      const created = existing?.created_at ?? now;
      db.prepare(
        `INSERT INTO accounts (name, kind, host, port, secure, username, mailbox, path, created_at, updated_at)
         VALUES (@name, @kind, @host, @port, @secure, @username, @mailbox, @path, @created_at, @updated_at)
         ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, host = excluded.host, port = excluded.port, secure = excluded.secure,
           username = excluded.username, mailbox = excluded.mailbox, path = excluded.path, updated_at = excluded.updated_at`,
      ).run({ ...a, secure: a.secure === null ? null : a.secure ? 1 : 0, created_at: created, updated_at: now });
      return { ...a, created_at: created, updated_at: now };
    })();
  }

  /** Removes the account and its Maildir UIDs; false when there was none. */
  removeAccount(name: string): boolean {
    const db = this.#open();
    return db.transaction(() => {
      db.prepare('DELETE FROM maildir_uids WHERE account = ?').run(name);
      db.prepare('DELETE FROM maildir_state WHERE account = ?').run(name);
      return db.prepare('DELETE FROM accounts WHERE name = ?').run(name).changes > 0;
    })();
  }

  /**
   * Gives UIDs to the keys that have none yet, in `order` (delivery order), and forgets keys
   * whose files are gone (their UIDs are never reused: `uidnext` only grows). Only the new keys
   * are sorted, so a large folder with a few new files costs a few comparisons. One transaction,
   * so concurrent fetches of the same account agree.
   */
  assignMaildirUids(account: string, presentKeys: readonly string[], order: (a: string, b: string) => number): MaildirUids {
    const db = this.#open();
    return db.transaction(() => {
      let state = db.prepare('SELECT uidvalidity, uidnext FROM maildir_state WHERE account = ?').get(account) as { uidvalidity: number; uidnext: number } | undefined;
      if (!state) {
        // As dovecot does: the creation time in seconds, which differs from any earlier
        // uidvalidity of the same account unless two resets fall within one second.
        const previous = db.prepare('SELECT value FROM meta WHERE key = ?').get(`uidvalidity:${account}`) as { value: number } | undefined;
        const uidvalidity = Math.max(Math.floor(Date.now() / 1000), (previous?.value ?? 0) + 1);
        state = { uidvalidity, uidnext: 1 };
        db.prepare('INSERT INTO maildir_state (account, uidvalidity, uidnext) VALUES (?, ?, ?)').run(account, uidvalidity, 1);
        db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(`uidvalidity:${account}`, uidvalidity);
      }
      const uids = new Map<string, number>();
      for (const row of db.prepare('SELECT key, uid FROM maildir_uids WHERE account = ?').all(account) as Array<{ key: string; uid: number }>) {
        uids.set(row.key, row.uid);
      }
      const present = new Set(presentKeys);
      const drop = db.prepare('DELETE FROM maildir_uids WHERE account = ? AND key = ?');
      for (const key of [...uids.keys()]) {
        if (!present.has(key)) {
          drop.run(account, key);
          uids.delete(key);
        }
      }
      let uidnext = state.uidnext;
      const add = db.prepare('INSERT INTO maildir_uids (account, key, uid) VALUES (?, ?, ?)');
      for (const key of presentKeys.filter((k) => !uids.has(k)).sort(order)) {
        add.run(account, key, uidnext);
        uids.set(key, uidnext);
        uidnext++;
      }
      if (uidnext !== state.uidnext) db.prepare('UPDATE maildir_state SET uidnext = ? WHERE account = ?').run(uidnext, account);
      return { uidvalidity: state.uidvalidity, uidnext, uids };
    })();
  }

  close(): void {
    this.#closed = true;
    this.#db?.close();
    this.#db = undefined;
  }

  #open(): Database.Database {
    if (this.#closed) throw new SpacedriveError(ErrorCode.SHUTTING_DOWN, 'the mail store is closed');
    if (this.#db) return this.#db;
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const db = new Database(this.path);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('busy_timeout = 5000');
      db.exec(`
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS accounts (
          name TEXT PRIMARY KEY,
          kind TEXT NOT NULL CHECK (kind IN ('imap', 'maildir')),
          host TEXT,
          port INTEGER,
          secure INTEGER,
          username TEXT,
          mailbox TEXT NOT NULL,
          path TEXT,
          created_at INTEGER NOT NULL,
          updated_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS maildir_state (
          account TEXT PRIMARY KEY,
          uidvalidity INTEGER NOT NULL,
          uidnext INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS maildir_uids (
          account TEXT NOT NULL,
          key TEXT NOT NULL,
          uid INTEGER NOT NULL,
          PRIMARY KEY (account, key)
        ) WITHOUT ROWID;
      `);
    } catch (err) {
      db.close();
      throw err;
    }
    this.#db = db;
    return db;
  }
}

function fromRow(row: AccountRow): StoredAccount {
  return { ...row, secure: row.secure === null ? null : row.secure === 1 };
}

/** {@link MailStore} on `<dataDir>/mail.db`, opened on first use. */
export class SqliteMailStore implements MailStore {
  readonly #db: SqliteMailDb;

  constructor(dataDir: string) {
    this.#db = new SqliteMailDb(dataDir);
  }

  get path(): string {
    return this.#db.path;
  }
  async getAccount(name: string): Promise<StoredAccount | undefined> {
    return this.#db.getAccount(name);
  }
  async listAccounts(): Promise<StoredAccount[]> {
    return this.#db.listAccounts();
  }
  async putAccount(account: Omit<StoredAccount, 'created_at' | 'updated_at'>, replace: boolean): Promise<StoredAccount> {
    return this.#db.putAccount(account, replace);
  }
  async removeAccount(name: string): Promise<boolean> {
    return this.#db.removeAccount(name);
  }
  async assignMaildirUids(account: string, presentKeys: readonly string[], order: (a: string, b: string) => number): Promise<MaildirUids> {
    return this.#db.assignMaildirUids(account, presentKeys, order);
  }
  async close(): Promise<void> {
    this.#db.close();
  }
}
