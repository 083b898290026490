/**
 * The credentials store: named secrets per owner, encrypted at rest (SQLite `<dataDir>/credentials.db`
 * or the PostgreSQL store, behind {@link CredentialRows}) with AES-256-GCM, a random 96-bit nonce per secret and the owner and name as
 * associated data (so a ciphertext copied to another row does not decrypt). The key lives outside
 * the database: a key file (default `<dataDir>/keys/credentials.key`, mode 0600, created on first
 * use) or the `SPACEDRIVE_CREDENTIALS_KEY` environment variable.
 *
 * Owners: core capabilities and clients use plain names (`user`, `mail`); an extension's
 * credentials are owned by `ext:<extension-id>`, so no extension id can collide with a core owner.
 */
import { createCipheriv, createDecipheriv, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, openSync, readFileSync, writeSync, closeSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { ErrorCode, SpacedriveError } from '../errors/index.js';

/** A stored credential, secret included (what `get` returns). */
export interface Credential {
  owner: string;
  name: string;
  secret: string;
  metadata: Record<string, unknown>;
  /** ISO 8601. */
  created_at: string;
  updated_at: string;
}

/** What `list` returns: never the secret. */
export type CredentialSummary = Omit<Credential, 'secret'>;

/**
 * The service other core capabilities use (`core.credentials`). Bad input and a wrong key are
 * typed errors (rejections).
 *
 * @example
 * ```ts
 * await core.credentials.put('mail', 'alice@example.com', 'app-password', { host: 'imap.example.com' });
 * const { secret } = await core.credentials.get('mail', 'alice@example.com');
 * ```
 */
export interface CredentialStore {
  /** Stores (or replaces) `secret` under `owner`/`name`. Returns the record without the secret. */
  put(owner: string, name: string, secret: string, metadata?: Record<string, unknown>): Promise<CredentialSummary>;
  /** The credential, decrypted. NOT_FOUND when there is none. */
  get(owner: string, name: string): Promise<Credential>;
  /** Removes it. NOT_FOUND when there is none. */
  delete(owner: string, name: string): Promise<{ owner: string; name: string; deleted: true }>;
  /** The owner's credentials, by name, without secrets. */
  list(owner: string): Promise<CredentialSummary[]>;
  /** Deletes every credential of `owner` (an uninstalled extension's); returns how many. */
  deleteOwner(owner: string): Promise<number>;
  /** Closes the database. */
  close(): Promise<void>;
}

/** One stored credential: ciphertext and its AES-GCM nonce and tag, never the plaintext or the key. */
export interface CredentialRow {
  owner: string;
  name: string;
  nonce: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
  /** JSON text of the metadata object. */
  metadata: string;
  /** ms since the epoch. */
  created_at: number;
  updated_at: number;
}

export type CredentialRowSummary = Pick<CredentialRow, 'owner' | 'name' | 'metadata' | 'created_at' | 'updated_at'>;

/**
 * The storage port of credentials: rows of ciphertext and one key-check blob (the key check
 * encrypted under the key, so a wrong key is recognised before anything is read or written).
 * The key itself is never given to it. SQLite: `<dataDir>/credentials.db`; PostgreSQL: the
 * `credentials` tables shared by every node (./postgres-rows.ts).
 */
export interface CredentialRows {
  /** Where the rows are, for messages (`credentials.db`'s path, `PostgreSQL`). */
  readonly where: string;
  /** Opens (creating the tables when needed) and returns the key check, if the store has one. */
  open(): Promise<Buffer | undefined>;
  /** Stores the key check of a new store; the first writer wins, and its blob is returned. */
  initKeyCheck(blob: Buffer): Promise<Buffer>;
  /** Inserts or replaces a row (keeping its created_at). */
  upsert(row: CredentialRow): Promise<CredentialRowSummary>;
  get(owner: string, name: string): Promise<CredentialRow | undefined>;
  delete(owner: string, name: string): Promise<boolean>;
  list(owner: string): Promise<CredentialRowSummary[]>;
  deleteOwner(owner: string): Promise<number>;
  /** True when nothing was ever stored and opening would create the store just to find it empty. */
  neverUsed(): boolean;
  close(): Promise<void>;
}

/** `user`, `mail`, or `ext:<extension-id>`. */
export const OWNER_PATTERN = '^(ext:)?[a-z][a-z0-9_-]{0,63}$';
const OWNER_RE = new RegExp(OWNER_PATTERN);
/** Any printable text up to 256 characters (account names, e-mail addresses, URLs). */
export const NAME_PATTERN = '^[^\\u0000-\\u001f\\u007f]{1,256}$';
const NAME_RE = new RegExp(NAME_PATTERN, 'u');
/** Largest secret, in UTF-8 bytes. */
export const MAX_SECRET_BYTES = 64 * 1024;

/** The owner of extension `id`'s credentials. */
export function extensionOwner(id: string): string {
  return `ext:${id}`;
}

const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const ALGORITHM = 'aes-256-gcm';
/** Encrypted under the key and kept in `meta`, so a wrong key is recognised before anything is read or written. */
const KEY_CHECK_PLAINTEXT = 'spacedrive-credentials-key-check-v1';

export interface CredentialStoreOptions {
  dataDir: string;
  /** Key file; default `<dataDir>/keys/credentials.key`. */
  keyFile?: string | null;
  /** The key itself (base64 or hex of 32 bytes), e.g. from SPACEDRIVE_CREDENTIALS_KEY; wins over the file. */
  key?: string | undefined;
}

/** Parses a key given as text: 64 hex digits or base64 of 32 bytes. */
function parseKey(text: string, where: string): Buffer {
  const t = text.trim();
  let key: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(t)) key = Buffer.from(t, 'hex');
  else if (/^[A-Za-z0-9+/]{42,43}={0,2}$/.test(t)) key = Buffer.from(t, 'base64');
  if (!key || key.length !== KEY_BYTES) {
    throw new SpacedriveError(
      ErrorCode.CREDENTIALS_KEY_INVALID,
      `the credentials key in ${where} is not a 256-bit key (expected 64 hex digits or 44 base64 characters)`,
      { source: where },
    );
  }
  return key;
}

function aad(owner: string, name: string): Buffer {
  // JSON keeps the two fields apart unambiguously ("a:b" + "c" ≠ "a" + "b:c").
  return Buffer.from(JSON.stringify([owner, name]), 'utf8');
}

/**
 * Random nonces are drawn from a pool filled by the CSPRNG 1024 at a time: one randomBytes call
 * costs about as much as the AES-GCM encryption itself, and 96-bit random nonces stay unique with
 * overwhelming probability either way.
 */
let noncePool = Buffer.alloc(0);
let noncePoolOffset = 0;
function freshNonce(): Buffer {
  if (noncePoolOffset + NONCE_BYTES > noncePool.length) {
    noncePool = randomBytes(NONCE_BYTES * 1024);
    noncePoolOffset = 0;
  }
  const nonce = Buffer.from(noncePool.subarray(noncePoolOffset, noncePoolOffset + NONCE_BYTES));
  noncePool.fill(0, noncePoolOffset, noncePoolOffset + NONCE_BYTES);
  noncePoolOffset += NONCE_BYTES;
  return nonce;
}

/** AES-256-GCM (exported for the benchmark's baseline). */
export function encrypt(key: Buffer, plaintext: Buffer, associated: Buffer): { nonce: Buffer; ciphertext: Buffer; tag: Buffer } {
  const nonce = freshNonce();
  const cipher = createCipheriv(ALGORITHM, key, nonce);
  cipher.setAAD(associated);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { nonce, ciphertext, tag: cipher.getAuthTag() };
}

/** Returns undefined when authentication fails (wrong key, altered row). */
export function decrypt(key: Buffer, nonce: Buffer, ciphertext: Buffer, tag: Buffer, associated: Buffer): Buffer | undefined {
  try {
    const decipher = createDecipheriv(ALGORITHM, key, nonce);
    decipher.setAAD(associated);
    decipher.setAuthTag(tag);
    const plaintext = decipher.update(ciphertext);
    const rest = decipher.final();
    // GCM is a stream mode: final() checks the tag and adds no bytes, so no copy is needed.
    return rest.length === 0 ? plaintext : Buffer.concat([plaintext, rest]);
  } catch {
    return undefined;
  }
}

function checkOwner(owner: string): void {
  if (typeof owner !== 'string' || !OWNER_RE.test(owner)) {
    throw new SpacedriveError(ErrorCode.INVALID_INPUT, `credential owner '${String(owner)}' is not valid: use a lower-case name such as 'user' or 'mail', or 'ext:<extension-id>'`, {
      field: 'owner',
    });
  }
}

function checkName(name: string): void {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw new SpacedriveError(ErrorCode.INVALID_INPUT, 'credential name must be 1 to 256 characters with no control characters', { field: 'name' });
  }
}

/**
 * {@link CredentialStore} over a {@link CredentialRows} port: validation, AES-256-GCM and the key
 * (from the environment or a key file, never from the rows' store). The rows and the key are
 * opened on first use, so a core that never touches credentials creates neither.
 */
export class CredentialVault implements CredentialStore {
  readonly #rows: CredentialRows;
  readonly #keyFile: string;
  readonly #envKey: string | undefined;
  #key: Promise<Buffer> | undefined;
  #closed = false;

  constructor(rows: CredentialRows, o: Pick<CredentialStoreOptions, 'dataDir' | 'keyFile' | 'key'>) {
    this.#rows = rows;
    this.#keyFile = o.keyFile ?? join(o.dataDir, 'keys', 'credentials.key');
    this.#envKey = o.key !== undefined && o.key !== '' ? o.key : undefined;
  }

  /** Where the key file is (unused when the key comes from the environment). */
  get keyFile(): string {
    return this.#keyFile;
  }

  async put(owner: string, name: string, secret: string, metadata: Record<string, unknown> = {}): Promise<CredentialSummary> {
    checkOwner(owner);
    checkName(name);
    if (typeof secret !== 'string') throw new SpacedriveError(ErrorCode.INVALID_INPUT, 'the secret must be a string', { field: 'secret' });
    const plaintext = Buffer.from(secret, 'utf8');
    if (plaintext.length > MAX_SECRET_BYTES) {
      throw new SpacedriveError(ErrorCode.INVALID_INPUT, `the secret is ${plaintext.length} bytes, more than the limit of ${MAX_SECRET_BYTES}`, { field: 'secret', limit: MAX_SECRET_BYTES });
    }
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
      throw new SpacedriveError(ErrorCode.INVALID_INPUT, 'metadata must be a JSON object', { field: 'metadata' });
    }
    const key = await this.#open();
    const { nonce, ciphertext, tag } = encrypt(key, plaintext, aad(owner, name));
    plaintext.fill(0);
    const now = Date.now();
    const row = await this.#rows.upsert({ owner, name, nonce, ciphertext, tag, metadata: JSON.stringify(metadata), created_at: now, updated_at: now });
    return summary(row.owner, row.name, row);
  }

  async get(owner: string, name: string): Promise<Credential> {
    checkOwner(owner);
    checkName(name);
    const key = await this.#open();
    const row = await this.#rows.get(owner, name);
    if (!row) throw notFound(owner, name);
    const plaintext = decrypt(key, row.nonce, row.ciphertext, row.tag, aad(owner, name));
    if (!plaintext) {
      throw new SpacedriveError(
        ErrorCode.CREDENTIALS_CORRUPT,
        `credential '${name}' of '${owner}' failed its integrity check: the row in ${this.#rows.where} was altered or copied from elsewhere; store it again`,
        { owner, name },
      );
    }
    const secret = plaintext.toString('utf8');
    plaintext.fill(0);
    // The summary object itself, completed: a spread into a new one was a measurable part of a read.
    const credential = summary(owner, name, row) as Credential;
    credential.secret = secret;
    return credential;
  }

  async delete(owner: string, name: string): Promise<{ owner: string; name: string; deleted: true }> {
    checkOwner(owner);
    checkName(name);
    await this.#open();
    if (!(await this.#rows.delete(owner, name))) throw notFound(owner, name);
    return { owner, name, deleted: true };
  }

  async list(owner: string): Promise<CredentialSummary[]> {
    checkOwner(owner);
    await this.#open();
    return (await this.#rows.list(owner)).map((r) => summary(r.owner, r.name, r));
  }

  async deleteOwner(owner: string): Promise<number> {
    checkOwner(owner);
    // Nothing stored yet: do not create the database and key just to find it empty.
    if (this.#key === undefined && this.#rows.neverUsed()) return 0;
    await this.#open();
    return this.#rows.deleteOwner(owner);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const key = this.#key;
    this.#key = undefined;
    await this.#rows.close();
    try {
      (await key)?.fill(0);
    } catch {
      // it never opened
    }
  }

  /** Opens the rows and loads the key (once), checking that the key is the store's. */
  #open(): Promise<Buffer> {
    if (this.#closed) return Promise.reject(new SpacedriveError(ErrorCode.SHUTTING_DOWN, 'the credentials store is closed'));
    if (!this.#key) {
      this.#key = this.#load();
      // A failed open (wrong key, database down) is tried again by the next call.
      this.#key.catch(() => (this.#key = undefined));
    }
    return this.#key;
  }

  async #load(): Promise<Buffer> {
    let check = await this.#rows.open();
    const key = this.#loadKey(check !== undefined);
    if (!check) {
      const { nonce, ciphertext, tag } = encrypt(key, Buffer.from(KEY_CHECK_PLAINTEXT), Buffer.from('key_check'));
      check = await this.#rows.initKeyCheck(Buffer.concat([nonce, tag, ciphertext]));
    }
    const plain = decrypt(key, check.subarray(0, NONCE_BYTES), check.subarray(NONCE_BYTES + 16), check.subarray(NONCE_BYTES, NONCE_BYTES + 16), Buffer.from('key_check'));
    const expected = Buffer.from(KEY_CHECK_PLAINTEXT);
    if (!plain || plain.length !== expected.length || !timingSafeEqual(plain, expected)) {
      throw new SpacedriveError(
        ErrorCode.CREDENTIALS_KEY_INVALID,
        `the credentials key (${this.#keySource()}) is not the key ${this.#rows.where} was encrypted with: restore the original key file, or move the stored credentials away to start an empty store`,
        { database: this.#rows.where, key_source: this.#keySource() },
      );
    }
    return key;
  }

  #keySource(): string {
    return this.#envKey !== undefined ? 'SPACEDRIVE_CREDENTIALS_KEY' : this.#keyFile;
  }

  /**
   * The key from the environment, else the key file. A missing key file is created only for a
   * store that has never held a key: creating a new key for an existing store would make every
   * secret in it unreadable without saying why.
   */
  #loadKey(storeHasKey: boolean): Buffer {
    if (this.#envKey !== undefined) return parseKey(this.#envKey, 'SPACEDRIVE_CREDENTIALS_KEY');
    if (existsSync(this.#keyFile)) {
      const st = statSync(this.#keyFile);
      if ((st.mode & 0o077) !== 0) {
        // Tighten rather than refuse: the file is ours, and refusing would lock the user out.
        chmodSync(this.#keyFile, 0o600);
      }
      return parseKey(readFileSync(this.#keyFile, 'utf8'), this.#keyFile);
    }
    if (storeHasKey) {
      throw new SpacedriveError(
        ErrorCode.CREDENTIALS_KEY_INVALID,
        `the credentials key file ${this.#keyFile} is missing but ${this.#rows.where} holds secrets encrypted with a key: restore the key file (or set SPACEDRIVE_CREDENTIALS_KEY)`,
        { database: this.#rows.where, key_file: this.#keyFile },
      );
    }
    mkdirSync(dirname(this.#keyFile), { recursive: true, mode: 0o700 });
    const key = randomBytes(KEY_BYTES);
    // 'wx': never overwrite a key another process created meanwhile.
    let fd: number;
    try {
      fd = openSync(this.#keyFile, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return parseKey(readFileSync(this.#keyFile, 'utf8'), this.#keyFile);
      throw err;
    }
    try {
      writeSync(fd, `${key.toString('base64')}\n`);
    } finally {
      closeSync(fd);
    }
    return key;
  }
}

/** Credential rows in `<dataDir>/credentials.db` (SQLite, WAL, secure_delete). */
export class SqliteCredentialRows implements CredentialRows {
  readonly where: string;
  #db: Database.Database | undefined;
  #stmts: Statements | undefined;

  constructor(dbPath: string) {
    this.where = dbPath;
  }

  async open(): Promise<Buffer | undefined> {
    await this.close();
    mkdirSync(dirname(this.where), { recursive: true, mode: 0o700 });
    const db = new Database(this.where);
    try {
      chmodSync(this.where, 0o600);
      db.pragma('journal_mode = WAL');
      db.pragma('secure_delete = ON');
      db.exec(`
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
        CREATE TABLE IF NOT EXISTS credentials (
          owner TEXT NOT NULL,
          name TEXT NOT NULL,
          nonce BLOB NOT NULL,
          ciphertext BLOB NOT NULL,
          tag BLOB NOT NULL,
          metadata TEXT NOT NULL DEFAULT '{}',
          created_at INTEGER NOT NULL,
          updated_at INTEGER NOT NULL,
          PRIMARY KEY (owner, name)
        ) WITHOUT ROWID;
      `);
      this.#stmts = {
        keyCheck: db.prepare("SELECT value FROM meta WHERE key = 'key_check'"),
        initKeyCheck: db.prepare("INSERT INTO meta (key, value) VALUES ('key_check', ?) ON CONFLICT (key) DO NOTHING"),
        upsert: db.prepare(
          `INSERT INTO credentials (owner, name, nonce, ciphertext, tag, metadata, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (owner, name) DO UPDATE SET nonce = excluded.nonce, ciphertext = excluded.ciphertext, tag = excluded.tag,
             metadata = excluded.metadata, updated_at = excluded.updated_at
           RETURNING owner, name, metadata, created_at, updated_at`,
        ),
        // Only what the caller does not already have: each column read is a value to build.
        get: db.prepare('SELECT nonce, ciphertext, tag, metadata, created_at, updated_at FROM credentials WHERE owner = ? AND name = ?'),
        delete: db.prepare('DELETE FROM credentials WHERE owner = ? AND name = ?'),
        list: db.prepare('SELECT owner, name, metadata, created_at, updated_at FROM credentials WHERE owner = ? ORDER BY name'),
        deleteOwner: db.prepare('DELETE FROM credentials WHERE owner = ?'),
      };
      this.#db = db;
      return (this.#stmts.keyCheck.get() as { value: Buffer } | undefined)?.value;
    } catch (err) {
      db.close();
      throw err;
    }
  }

  async initKeyCheck(blob: Buffer): Promise<Buffer> {
    this.#s().initKeyCheck.run(blob);
    return (this.#s().keyCheck.get() as { value: Buffer }).value;
  }

  async upsert(r: CredentialRow): Promise<CredentialRowSummary> {
    return this.#s().upsert.get(r.owner, r.name, r.nonce, r.ciphertext, r.tag, r.metadata, r.created_at, r.updated_at) as CredentialRowSummary;
  }

  async get(owner: string, name: string): Promise<CredentialRow | undefined> {
    const row = this.#s().get.get(owner, name) as Omit<CredentialRow, 'owner' | 'name'> | undefined;
    if (!row) return undefined;
    (row as CredentialRow).owner = owner;
    (row as CredentialRow).name = name;
    return row as CredentialRow;
  }

  async delete(owner: string, name: string): Promise<boolean> {
    return this.#s().delete.run(owner, name).changes > 0;
  }

  async list(owner: string): Promise<CredentialRowSummary[]> {
    return this.#s().list.all(owner) as CredentialRowSummary[];
  }

  async deleteOwner(owner: string): Promise<number> {
    return this.#s().deleteOwner.run(owner).changes;
  }

  neverUsed(): boolean {
    return !this.#db && !existsSync(this.where);
  }

  async close(): Promise<void> {
    this.#db?.close();
    this.#db = undefined;
    this.#stmts = undefined;
  }

  #s(): Statements {
    if (!this.#stmts) throw new SpacedriveError(ErrorCode.SHUTTING_DOWN, 'the credentials store is closed');
    return this.#stmts;
  }
}

/** Statements prepared once per open database (preparing costs more than running them). */
interface Statements {
  keyCheck: Database.Statement;
  initKeyCheck: Database.Statement;
  upsert: Database.Statement;
  get: Database.Statement;
  delete: Database.Statement;
  list: Database.Statement;
  deleteOwner: Database.Statement;
}

/** The SQLite credentials store of a data directory (`<dataDir>/credentials.db`). */
export class SqliteCredentialStore extends CredentialVault {
  readonly path: string;

  constructor(o: CredentialStoreOptions) {
    const path = join(o.dataDir, 'credentials.db');
    super(new SqliteCredentialRows(path), o);
    this.path = path;
  }
}

function summary(owner: string, name: string, row: Pick<CredentialRow, 'metadata' | 'created_at' | 'updated_at'>): CredentialSummary {
  return {
    owner,
    name,
    metadata: JSON.parse(row.metadata) as Record<string, unknown>,
    created_at: isoTime(row.created_at),
    updated_at: isoTime(row.updated_at),
  };
}

/**
 * ISO 8601 text of a stored time. A credential's two times repeat on every read of it, and
 * formatting them cost as much as the rest of a read besides the SQLite lookup and AES: the last
 * few hundred are kept.
 */
const isoTimes = new Map<number, string>();
function isoTime(ms: number): string {
  let text = isoTimes.get(ms);
  if (text === undefined) {
    if (isoTimes.size >= 512) isoTimes.clear();
    text = new Date(ms).toISOString();
    isoTimes.set(ms, text);
  }
  return text;
}

function notFound(owner: string, name: string): SpacedriveError {
  return new SpacedriveError(ErrorCode.NOT_FOUND, `no credential '${name}' for '${owner}'`, { owner, name });
}
