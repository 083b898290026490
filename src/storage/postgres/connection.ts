/**
 * The one connection to PostgreSQL that every PostgreSQL store of a daemon shares: a pool for
 * queries and transactions, one dedicated connection for LISTEN, and the mapping of the driver's
 * connection failures to {@link ErrorCode.STORE_UNAVAILABLE}.
 *
 * Stores see only {@link PostgresDatabase} and {@link SqlExecutor} (plain rows, plain
 * parameters): no `pg` type crosses this module's boundary, so the driver could be swapped
 * without touching a store.
 *
 * Why `pg` (node-postgres) and not `postgres` (porsager): LISTEN on a dedicated client with our
 * own reconnect is simple and explicit with `pg`; its pool lets a transaction hold one client
 * across awaits without a callback-scoped API leaking into the store interfaces; it is what
 * graphile-worker and pg-boss run on. The bench's `postgres-driver` section measures both on
 * our query shapes.
 */
import pg from 'pg';
import { ErrorCode, SpacedriveError } from '../../errors/index.js';

export type SqlValue = string | number | bigint | boolean | null | Buffer | Date | readonly unknown[] | Record<string, unknown>;

/**
 * A statement a store runs on its hot path: parsed and planned once per connection instead of on
 * every call (planning alone cost as much as running the job store's batched completion). The
 * server re-plans it by itself when a table under it changes. Name its columns rather than
 * `SELECT *`: a prepared statement whose result shape changes under it (a migration applied by
 * another node) fails instead of re-planning.
 */
export interface PreparedSql {
  readonly name: string;
  readonly text: string;
}

/** Declares a {@link PreparedSql}; `name` is unique per daemon (prefix it with the store's name). */
export function prepared(name: string, text: string): PreparedSql {
  return { name, text };
}

/** SQL text, or a statement prepared once per connection. */
export type Sql = string | PreparedSql;

/** Runs statements: the pool outside a transaction, one connection inside one. */
export interface SqlExecutor {
  /** Rows as plain objects keyed by column name. */
  query<Row = Record<string, unknown>>(sql: Sql, params?: readonly unknown[]): Promise<Row[]>;
  /** The number of rows a statement changed (UPDATE/DELETE/INSERT). */
  execute(sql: Sql, params?: readonly unknown[]): Promise<number>;
}

/** The driver's query config for `sql`. */
function queryConfig(sql: Sql, params: readonly unknown[] | undefined): pg.QueryConfig {
  return typeof sql === 'string' ? { text: sql, values: params as unknown[] | undefined } : { name: sql.name, text: sql.text, values: params as unknown[] | undefined };
}

/**
 * Session settings of every connection. JIT compilation off: the planner turns it on by cost
 * estimate, and with a large backlog (200,000 queued jobs) the claim's estimate crosses the
 * threshold, after which every claim spent ~170 ms compiling a plan that runs in well under a
 * millisecond. Short OLTP statements never repay JIT.
 */
const SESSION_OPTIONS = '-c jit=off';

export interface PostgresOptions {
  /** `postgres://user@host:port/database` (any libpq URL the driver accepts). */
  url: string;
  /** Connections in the pool (default 10). LISTEN uses one more. */
  poolSize?: number;
  /** Shown in `pg_stat_activity.application_name`, so an operator can tell nodes apart. */
  applicationName?: string;
  /** How long to wait for a connection before STORE_UNAVAILABLE (default 5,000 ms). */
  connectTimeoutMs?: number;
  /** Server-side statement timeout in ms (default none). */
  statementTimeoutMs?: number;
  /** Called with each error of an idle connection or the listener (logged by the caller). */
  onError?: (err: SpacedriveError) => void;
}

export type NotificationHandler = (payload: string) => void;

export interface PostgresDatabase extends SqlExecutor {
  readonly url: string;
  /**
   * Runs `fn` in one transaction on one connection: COMMIT when it resolves, ROLLBACK when it
   * throws (the error is rethrown). Serialization failures and deadlocks are retried up to
   * `retries` times (default 3), so `fn` must be safe to run again.
   */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>, options?: { isolation?: 'read committed' | 'repeatable read' | 'serializable'; retries?: number }): Promise<T>;
  /**
   * Subscribes to a NOTIFY channel on the shared listening connection. `onReconnect` runs after
   * the listener reconnected (notifications sent meanwhile are lost: poll then).
   */
  listen(channel: string, handler: NotificationHandler, onReconnect?: () => void): Promise<() => Promise<void>>;
  /** `pg_notify(channel, payload)` (payload at most 8,000 bytes: PostgreSQL's limit). */
  notify(channel: string, payload: string): Promise<void>;
  /** Whether the last attempt to use the database succeeded. */
  readonly available: boolean;
  /** Resolves once a trivial query succeeds (or rejects with STORE_UNAVAILABLE after `timeoutMs`). */
  ping(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** SQLSTATE classes and driver messages that mean "the database is not reachable", not "your query is wrong". */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '08000', '08001', '08003', '08004', '08006', '08007']);
const UNAVAILABLE_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
const UNAVAILABLE_MESSAGES = [/Connection terminated/i, /timeout exceeded when trying to connect/i, /Client has encountered a connection error/i, /Connection ended unexpectedly/i, /not queryable/i];
const RETRYABLE_SQLSTATES = new Set(['40001', '40P01']);

function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Whether `err` means the store is unreachable (rather than a bad statement or a constraint). */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof SpacedriveError) return err.code === ErrorCode.STORE_UNAVAILABLE;
  const code = sqlState(err);
  if (code !== undefined && (UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_ERRNOS.has(code))) return true;
  const message = err instanceof Error ? err.message : String(err);
  return UNAVAILABLE_MESSAGES.some((re) => re.test(message));
}

/** A driver error as a typed one: STORE_UNAVAILABLE for connection failures, else unchanged. */
export function storeError(err: unknown): unknown {
  if (!isUnavailable(err) || err instanceof SpacedriveError) return err;
  const cause = sqlState(err);
  return new SpacedriveError(
    ErrorCode.STORE_UNAVAILABLE,
    `the shared store (PostgreSQL) is unavailable: ${err instanceof Error ? err.message : String(err)}`,
    cause !== undefined ? { cause } : undefined,
    { cause: err },
  );
}

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable url)';
  }
}

// BIGINT (int8) and NUMERIC come back as strings by default; our counters and times fit in a double.
pg.types.setTypeParser(20, (v) => Number(v));

const NOTIFY = prepared('sd_notify', 'SELECT pg_notify($1, $2)');

class ClientExecutor implements SqlExecutor {
  constructor(private readonly client: pg.PoolClient) {}
  async query<Row>(sql: Sql, params?: readonly unknown[]): Promise<Row[]> {
    const r = await this.client.query(queryConfig(sql, params));
    return r.rows as Row[];
  }
  async execute(sql: Sql, params?: readonly unknown[]): Promise<number> {
    const r = await this.client.query(queryConfig(sql, params));
    return r.rowCount ?? 0;
  }
}

class PgDatabase implements PostgresDatabase {
  readonly url: string;
  #pool: pg.Pool;
  #options: PostgresOptions;
  #available = true;
  #listener: pg.Client | undefined;
  #listenerConnecting: Promise<pg.Client> | undefined;
  #channels = new Map<string, Set<{ handler: NotificationHandler; onReconnect?: () => void }>>();
  #closed = false;
  #reconnectTimer: NodeJS.Timeout | undefined;

  constructor(options: PostgresOptions) {
    this.url = options.url;
    this.#options = options;
    this.#pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      application_name: options.applicationName ?? 'spacedrive',
      options: SESSION_OPTIONS,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
      ...(options.statementTimeoutMs !== undefined ? { statement_timeout: options.statementTimeoutMs } : {}),
      keepAlive: true,
    });
    // An idle client's error (the server restarted, the connection was cut) must not crash the
    // process: the pool drops that client and the next query opens a new one.
    this.#pool.on('error', (err) => {
      this.#available = false;
      this.#options.onError?.(storeError(err) as SpacedriveError);
    });
  }

  get available(): boolean {
    return this.#available;
  }

  async #run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      const result = await fn();
      this.#available = true;
      return result;
    } catch (err) {
      if (isUnavailable(err)) this.#available = false;
      throw storeError(err);
    }
  }

  query<Row = Record<string, unknown>>(sql: Sql, params?: readonly unknown[]): Promise<Row[]> {
    return this.#run(async () => (await this.#pool.query(queryConfig(sql, params))).rows as Row[]);
  }

  execute(sql: Sql, params?: readonly unknown[]): Promise<number> {
    return this.#run(async () => (await this.#pool.query(queryConfig(sql, params))).rowCount ?? 0);
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>, options: { isolation?: 'read committed' | 'repeatable read' | 'serializable'; retries?: number } = {}): Promise<T> {
    const retries = options.retries ?? 3;
    for (let attempt = 0; ; attempt++) {
      const client = await this.#run(() => this.#pool.connect());
      let broken = false;
      // While checked out, a client whose connection dies emits 'error' (the pool listens only
      // to idle ones): unheard, that would crash the process. The statement running on it fails
      // too, and that failure is what this transaction reports.
      const onClientError = (err: Error) => {
        broken = true;
        this.#available = false;
        this.#options.onError?.(storeError(err) as SpacedriveError);
      };
      client.on('error', onClientError);
      try {
        await client.query(options.isolation ? `BEGIN ISOLATION LEVEL ${options.isolation.toUpperCase()}` : 'BEGIN');
        const result = await fn(new ClientExecutor(client));
        await client.query('COMMIT');
        this.#available = true;
        return result;
      } catch (err) {
        broken = isUnavailable(err);
        if (!broken) await client.query('ROLLBACK').catch(() => { broken = true; });
        if (broken) this.#available = false;
        const state = sqlState(err);
        if (!broken && state !== undefined && RETRYABLE_SQLSTATES.has(state) && attempt < retries) continue;
        throw storeError(err);
      } finally {
        client.removeListener('error', onClientError);
        // A client whose connection broke goes back destroyed, so the pool opens a fresh one.
        client.release(broken ? true : undefined);
      }
    }
  }

  async ping(timeoutMs = 2_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SpacedriveError(ErrorCode.STORE_UNAVAILABLE, `the shared store (PostgreSQL) did not answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([this.query('SELECT 1'), timeout]);
    } catch (err) {
      this.#available = false;
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  async notify(channel: string, payload: string): Promise<void> {
    await this.execute(NOTIFY, [channel, payload]);
  }

  async listen(channel: string, handler: NotificationHandler, onReconnect?: () => void): Promise<() => Promise<void>> {
    let subscribers = this.#channels.get(channel);
    const first = subscribers === undefined;
    if (!subscribers) this.#channels.set(channel, (subscribers = new Set()));
    const entry = { handler, ...(onReconnect ? { onReconnect } : {}) };
    subscribers.add(entry);
    const client = await this.#listenerClient();
    if (first) await this.#run(() => client.query(`LISTEN ${pg.escapeIdentifier(channel)}`));
    return async () => {
      const set = this.#channels.get(channel);
      set?.delete(entry);
      if (set && set.size === 0) {
        this.#channels.delete(channel);
        if (this.#listener) await this.#listener.query(`UNLISTEN ${pg.escapeIdentifier(channel)}`).catch(() => undefined);
      }
    };
  }

  #listenerClient(): Promise<pg.Client> {
    if (this.#listener) return Promise.resolve(this.#listener);
    if (this.#listenerConnecting) return this.#listenerConnecting;
    this.#listenerConnecting = (async () => {
      const client = new pg.Client({
        connectionString: this.url,
        application_name: `${this.#options.applicationName ?? 'spacedrive'}:listen`,
        options: SESSION_OPTIONS,
        connectionTimeoutMillis: this.#options.connectTimeoutMs ?? 5_000,
        keepAlive: true,
      });
      client.on('notification', (msg) => {
        const subs = this.#channels.get(msg.channel);
        if (!subs) return;
        for (const s of subs) {
          try {
            s.handler(msg.payload ?? '');
          } catch (err) {
            this.#options.onError?.(new SpacedriveError(ErrorCode.INTERNAL, `a notification handler for ${msg.channel} failed: ${String(err)}`));
          }
        }
      });
      client.on('error', (err) => {
        this.#available = false;
        this.#options.onError?.(storeError(err) as SpacedriveError);
      });
      client.on('end', () => {
        if (this.#listener === client) this.#listener = undefined;
        this.#scheduleListenerReconnect();
      });
      try {
        await this.#run(() => client.connect());
      } catch (err) {
        this.#listenerConnecting = undefined;
        throw err;
      }
      this.#listener = client;
      this.#listenerConnecting = undefined;
      return client;
    })();
    return this.#listenerConnecting;
  }

  /** After the listening connection ended: reconnect with back-off, re-LISTEN, tell subscribers to poll. */
  #scheduleListenerReconnect(delayMs = 250): void {
    if (this.#closed || this.#channels.size === 0 || this.#reconnectTimer) return;
    this.#reconnectTimer = setTimeout(async () => {
      this.#reconnectTimer = undefined;
      if (this.#closed) return;
      try {
        const client = await this.#listenerClient();
        for (const channel of this.#channels.keys()) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
        for (const subs of this.#channels.values()) for (const s of subs) s.onReconnect?.();
      } catch {
        this.#scheduleListenerReconnect(Math.min(delayMs * 2, 5_000));
      }
    }, delayMs);
    this.#reconnectTimer.unref?.();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    const listener = this.#listener;
    this.#listener = undefined;
    this.#channels.clear();
    if (listener) await listener.end().catch(() => undefined);
    await this.#pool.end().catch(() => undefined);
  }
}

/** Opens a pool on `url` (connections are made lazily; call {@link PostgresDatabase.ping} to check). */
export function openPostgres(options: PostgresOptions): PostgresDatabase {
  return new PgDatabase(options);
}
