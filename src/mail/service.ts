/**
 * The mail capability (`core.mail`): named accounts (IMAP or a local Maildir) and UID-based
 * fetching of their messages, parsed, with attachments. Passwords live in the credentials store
 * (owner `mail`, name = account name); everything else in `<dataDir>/mail.db`.
 */
import { isAbsolute } from 'node:path';
import type { ImapFlow } from 'imapflow';
import type { CredentialStore } from '../credentials/index.js';
import { ErrorCode, SpacedriveError, hasErrorCode } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import { withImap, type ImapTarget, type ImapTimeouts } from './imap.js';
import { MaildirListings, checkMaildir, listMaildir, maildirFolder, readMaildirMessage } from './maildir.js';
import { parseMessage } from './message.js';
import { SqliteMailStore, type MailStore, type StoredAccount } from './store.js';
import type { AddAccountInput, FetchSinceInput, FetchSinceResult, MailAccount, MailboxStatus, MailMessage } from './types.js';

/** Credentials owner of every mail account's password. */
export const CREDENTIALS_OWNER = 'mail';
/** Account names: a letter or digit, then letters, digits and `. _ @ + -` (an address works). */
export const ACCOUNT_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$';
const ACCOUNT_NAME_RE = new RegExp(ACCOUNT_NAME_PATTERN);
export const DEFAULT_FETCH_LIMIT = 10;
export const MAX_FETCH_LIMIT = 100;
export const DEFAULT_MAX_BYTES = 8 * 1024 * 1024;
/** IMAP UIDs are unsigned 32-bit numbers. */
export const MAX_UID = 0xffff_ffff;

export interface MailServiceOptions {
  dataDir: string;
  credentials: CredentialStore;
  logger: Logger;
  /** IMAP timeouts; defaults: connect 15 s, greeting 15 s, silence 60 s. */
  timeouts?: Partial<ImapTimeouts>;
  /**
   * IMAP connections one account may have open at once (further calls wait their turn);
   * default 4. Gmail allows 15 per account, shared with the user's other mail clients.
   */
  maxConnectionsPerAccount?: number;
  /** Where accounts and Maildir UIDs are kept (default: SQLite `<dataDir>/mail.db`). */
  store?: MailStore;
}

const DEFAULT_TIMEOUTS: ImapTimeouts = { connectMs: 15_000, greetingMs: 15_000, socketMs: 60_000 };

function invalid(message: string, field: string): SpacedriveError {
  return new SpacedriveError(ErrorCode.INVALID_INPUT, message, { field });
}

/** `last_uid` as a number: a non-negative integer or a string of digits; 0 when absent. */
export function parseLastUid(value: number | string | undefined): number {
  if (value === undefined) return 0;
  const n = typeof value === 'number' ? value : /^\d{1,10}$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
  if (!Number.isInteger(n) || n < 0 || n > MAX_UID) {
    throw invalid(`field 'last_uid': expected a UID (an integer from 0 to ${MAX_UID}, or the same as a string), got ${JSON.stringify(value)}`, 'last_uid');
  }
  return n;
}

/** A counting semaphore per account, so one busy account cannot open unbounded connections. */
class AccountGate {
  readonly #max: number;
  readonly #state = new Map<string, { active: number; waiting: Array<() => void> }>();

  constructor(max: number) {
    this.#max = max;
  }

  /** Runs `fn` once fewer than the maximum run for `account`; a call cancelled while it waits leaves the queue. */
  async run<T>(account: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    let s = this.#state.get(account);
    if (!s) {
      s = { active: 0, waiting: [] };
      this.#state.set(account, s);
    }
    if (s.active >= this.#max) {
      const state = s;
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          const i = state.waiting.indexOf(go);
          if (i >= 0) state.waiting.splice(i, 1);
          reject(new SpacedriveError(ErrorCode.CANCELLED, `mail account '${account}': cancelled while waiting for a connection`, { account }));
        };
        const go = (): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        if (signal?.aborted) return onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
        state.waiting.push(go);
      });
    }
    s.active++;
    try {
      return await fn();
    } finally {
      s.active--;
      const next = s.waiting.shift();
      if (next) next();
      else if (s.active === 0) this.#state.delete(account);
    }
  }

  get active(): number {
    let n = 0;
    for (const s of this.#state.values()) n += s.active;
    return n;
  }
}

export class MailService {
  readonly store: MailStore;
  readonly #credentials: CredentialStore;
  readonly #logger: Logger;
  readonly #timeouts: ImapTimeouts;
  readonly #gate: AccountGate;
  readonly #listings: MaildirListings;
  #fetches = 0;
  #messages = 0;
  #failures = 0;

  constructor(o: MailServiceOptions) {
    this.store = o.store ?? new SqliteMailStore(o.dataDir);
    this.#listings = new MaildirListings(this.store);
    this.#credentials = o.credentials;
    this.#logger = o.logger;
    this.#timeouts = { ...DEFAULT_TIMEOUTS, ...(o.timeouts ?? {}) };
    this.#gate = new AccountGate(o.maxConnectionsPerAccount ?? 4);
  }

  /**
   * Adds (or with `replace`, replaces) an account. For IMAP the password goes to the credentials
   * store; nothing secret is kept in mail.db. With `verify`, the account must connect and open
   * its mailbox first, and nothing is saved when it does not.
   */
  async addAccount(input: AddAccountInput, signal?: AbortSignal): Promise<MailAccount> {
    if (!ACCOUNT_NAME_RE.test(input.name)) {
      throw invalid(`account name '${input.name}' is not valid: use letters, digits and . _ @ + - (at most 128, starting with a letter or digit)`, 'name');
    }
    const mailbox = input.mailbox ?? 'INBOX';
    let row: Omit<StoredAccount, 'created_at' | 'updated_at'>;
    if (input.kind === 'imap') {
      for (const f of ['host', 'username', 'password'] as const) {
        if (input[f] === undefined || input[f] === '') throw invalid(`field '${f}': an imap account needs a ${f === 'host' ? 'server host name' : f === 'username' ? 'user name' : 'password'}`, f);
      }
      if (input.path !== undefined) throw invalid("field 'path': only maildir accounts have a path", 'path');
      // TLS unless the plain-text port is asked for; the port follows TLS.
      const secure = input.secure ?? input.port !== 143;
      const port = input.port ?? (secure ? 993 : 143);
      row = { name: input.name, kind: 'imap', host: input.host!, port, secure, username: input.username!, mailbox, path: null };
    } else {
      if (input.path === undefined || input.path === '') throw invalid("field 'path': a maildir account needs the Maildir directory", 'path');
      if (!isAbsolute(input.path)) throw invalid(`field 'path': '${input.path}' is not an absolute path (the daemon has no working directory of yours)`, 'path');
      for (const f of ['host', 'port', 'secure', 'username', 'password'] as const) {
        if (input[f] !== undefined) throw invalid(`field '${f}': only imap accounts have a ${f}`, f);
      }
      row = { name: input.name, kind: 'maildir', host: null, port: null, secure: null, username: null, mailbox, path: input.path };
    }
    const existing = await this.store.getAccount(input.name);
    if (existing && !input.replace) {
      throw new SpacedriveError(ErrorCode.ALREADY_EXISTS, `mail account '${input.name}' already exists; remove it first or add it again with replace`, { account: input.name });
    }
    if (input.verify) await this.#status(row, input.password, signal);
    if (row.kind === 'imap') {
      await this.#credentials.put(CREDENTIALS_OWNER, row.name, input.password!, { kind: 'imap', host: row.host, port: row.port, username: row.username });
    } else if (existing?.kind === 'imap') {
      await this.#deletePassword(row.name);
    }
    const saved = await this.store.putAccount(row, input.replace === true);
    this.#listings.forget(row.name);
    this.#logger.info({ account: saved.name, kind: saved.kind }, existing ? 'mail account replaced' : 'mail account added');
    return this.#present(saved, row.kind === 'imap');
  }

  /** Every account, by name; never a password. */
  async listAccounts(): Promise<MailAccount[]> {
    const rows = await this.store.listAccounts();
    if (rows.length === 0) return [];
    const withPassword = rows.some((r) => r.kind === 'imap') ? new Set((await this.#credentials.list(CREDENTIALS_OWNER)).map((c) => c.name)) : new Set<string>();
    return rows.map((r) => this.#present(r, withPassword.has(r.name)));
  }

  /** One account; NOT_FOUND when there is none. */
  async getAccount(name: string): Promise<MailAccount> {
    const row = await this.#account(name);
    return this.#present(row, row.kind === 'imap' && (await this.#credentials.list(CREDENTIALS_OWNER)).some((c) => c.name === name));
  }

  /** Removes the account, its password and its Maildir UIDs. NOT_FOUND when there is none. */
  async removeAccount(name: string): Promise<{ name: string; removed: true }> {
    const row = await this.#account(name);
    if (row.kind === 'imap') await this.#deletePassword(name);
    await this.store.removeAccount(name);
    this.#listings.forget(name);
    this.#logger.info({ account: name }, 'mail account removed');
    return { name, removed: true };
  }

  /** Connects (or scans the Maildir) and returns the mailbox's status. */
  async testAccount(name: string, signal?: AbortSignal): Promise<MailboxStatus> {
    const row = await this.#account(name);
    return this.#status(row, row.kind === 'imap' ? await this.#password(row.name) : undefined, signal);
  }

  /** Messages with a UID strictly above `last_uid`, ascending, parsed. */
  async fetchSince(input: FetchSinceInput, signal?: AbortSignal): Promise<FetchSinceResult> {
    const row = await this.#account(input.account);
    const lastUid = parseLastUid(input.last_uid);
    const limit = input.limit ?? DEFAULT_FETCH_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_FETCH_LIMIT) throw invalid(`field 'limit': expected an integer from 1 to ${MAX_FETCH_LIMIT}`, 'limit');
    const budget = input.max_bytes ?? DEFAULT_MAX_BYTES;
    const includeRaw = input.include_raw === true;
    this.#fetches++;
    try {
      const result =
        row.kind === 'imap'
          ? await this.#gate.run(row.name, () => this.#fetchImap(row, lastUid, limit, budget, includeRaw, signal), signal)
          : await this.#fetchMaildir(row, lastUid, limit, budget, includeRaw);
      this.#messages += result.messages.length;
      return result;
    } catch (err) {
      this.#failures++;
      throw err;
    }
  }

  /** For `query:core.status.v1`. */
  counters(): Record<string, number> {
    return { fetches: this.#fetches, messages_fetched: this.#messages, fetch_failures: this.#failures, imap_connections: this.#gate.active, maildir_scans: this.#listings.scans };
  }

  async close(): Promise<void> {
    await this.store.close();
  }

  async #account(name: string): Promise<StoredAccount> {
    const row = await this.store.getAccount(name);
    if (!row) {
      const known = (await this.store.listAccounts()).map((a) => a.name);
      throw new SpacedriveError(
        ErrorCode.NOT_FOUND,
        `mail account '${name}' not found; ${known.length > 0 ? `configured: ${known.join(', ')}` : "none is configured (add one with 'spacedrive mail add-account')"}`,
        { account: name },
      );
    }
    return row;
  }

  async #password(name: string): Promise<string> {
    try {
      return (await this.#credentials.get(CREDENTIALS_OWNER, name)).secret;
    } catch (err) {
      if (!hasErrorCode(err, ErrorCode.NOT_FOUND)) throw err;
      throw new SpacedriveError(ErrorCode.MAIL_AUTH_FAILED, `mail account '${name}' has no password in the credentials store; add the account again with replace to set one`, {
        account: name,
      });
    }
  }

  async #deletePassword(name: string): Promise<void> {
    try {
      await this.#credentials.delete(CREDENTIALS_OWNER, name);
    } catch (err) {
      if (!hasErrorCode(err, ErrorCode.NOT_FOUND)) throw err;
    }
  }

  #present(r: StoredAccount, hasPassword: boolean): MailAccount {
    const a: MailAccount = { name: r.name, kind: r.kind, mailbox: r.mailbox, has_password: hasPassword, created_at: new Date(r.created_at).toISOString(), updated_at: new Date(r.updated_at).toISOString() };
    if (r.kind === 'imap') {
      a.host = r.host!;
      a.port = r.port!;
      a.secure = r.secure!;
      a.username = r.username!;
    } else {
      a.path = r.path!;
    }
    return a;
  }

  #target(r: Omit<StoredAccount, 'created_at' | 'updated_at'>, password: string): ImapTarget {
    return { account: r.name, host: r.host!, port: r.port!, secure: r.secure!, username: r.username!, password };
  }

  async #status(r: Omit<StoredAccount, 'created_at' | 'updated_at'>, password: string | undefined, signal?: AbortSignal): Promise<MailboxStatus> {
    const started = performance.now();
    if (r.kind === 'maildir') {
      const folder = maildirFolder(r.path!, r.mailbox);
      await checkMaildir(folder, r.name);
      // A candidate account being verified has no UIDs yet: report what it would start with.
      const stored = await this.store.getAccount(r.name);
      if (!stored || stored.path !== r.path || stored.mailbox !== r.mailbox) {
        const count = (await listMaildir(folder)).size;
        return { account: r.name, kind: 'maildir', mailbox: r.mailbox, uidvalidity: 0, uidnext: count + 1, messages: count, elapsed_ms: Math.round(performance.now() - started) };
      }
      const { entries, uids } = await this.#listings.sync(r.name, folder);
      return { account: r.name, kind: 'maildir', mailbox: r.mailbox, uidvalidity: uids.uidvalidity, uidnext: uids.uidnext, messages: entries.size, elapsed_ms: Math.round(performance.now() - started) };
    }
    return this.#gate.run(
      r.name,
      () =>
        withImap(this.#target(r, password!), this.#timeouts, this.#logger, signal, async (client, step) => {
          step(`reading the status of mailbox '${r.mailbox}'`);
          const st = await client.status(r.mailbox, { uidValidity: true, uidNext: true, messages: true }).catch((err) => {
            throw this.#mailboxError(err, r);
          });
          if (!st) throw this.#mailboxError(undefined, r);
          return {
            account: r.name,
            kind: 'imap' as const,
            mailbox: r.mailbox,
            uidvalidity: Number(st.uidValidity ?? 0),
            uidnext: st.uidNext ?? 0,
            messages: st.messages ?? 0,
            elapsed_ms: Math.round(performance.now() - started),
          };
        }),
      signal,
    );
  }

  /** A mailbox the server says NO to is NOT_FOUND (the usual reason); other failures stay as they are. */
  #mailboxError(err: unknown, r: Pick<StoredAccount, 'name' | 'mailbox'>): unknown {
    // imapflow's status() reports a NO as code NotFound with the server's answer in `response`.
    const e = err as { code?: string; responseStatus?: string; responseText?: string; response?: { responseStatus?: string; responseText?: string } } | undefined;
    const status = e?.responseStatus ?? e?.response?.responseStatus;
    if (err === undefined || status === 'NO' || e?.code === 'NotFound') {
      const said = e?.responseText ?? e?.response?.responseText;
      return new SpacedriveError(ErrorCode.NOT_FOUND, `mail account '${r.name}': mailbox '${r.mailbox}' not found on the server${said ? ` (${said})` : ''}`, {
        account: r.name,
        mailbox: r.mailbox,
      });
    }
    return err;
  }

  async #fetchImap(r: StoredAccount, lastUid: number, limit: number, budget: number, includeRaw: boolean, signal?: AbortSignal): Promise<FetchSinceResult> {
    const password = await this.#password(r.name);
    return withImap(this.#target(r, password), this.#timeouts, this.#logger, signal, async (client: ImapFlow, step) => {
      step(`opening mailbox '${r.mailbox}'`);
      // Read-only (EXAMINE): fetching must not mark messages \Seen in the user's mailbox.
      const mailbox = await client.mailboxOpen(r.mailbox, { readOnly: true }).catch((err) => {
        throw this.#mailboxError(err, r);
      });
      const uidvalidity = Number(mailbox.uidValidity);
      const empty: FetchSinceResult = { account: r.name, mailbox: r.mailbox, messages: [], uidvalidity, highest_uid: 0, available: 0, has_more: false };
      if (mailbox.exists === 0) return empty;
      step('searching for new messages');
      // `UID SEARCH UID *` answers the highest UID in use. (The same `*` is why `N:*` always
      // matches the highest UID even when it is not above N: RFC 3501 reads `N:*` as the range
      // between the two, in either order. Every search result is filtered by UID for that.)
      const top = (await client.search({ uid: '*' }, { uid: true })) || [];
      const highest = top.reduce((a, b) => Math.max(a, b), 0);
      // The UIDs above last_uid, searched in growing windows rather than as `last_uid+1:*`:
      // a scan that pages through a mailbox of 100,000 messages ten at a time would otherwise
      // receive every remaining UID on every call. Windows grow fourfold, so sparse UIDs (Gmail's
      // INBOX shares UIDs with All Mail) cost a few round trips, not one per gap.
      const above: number[] = [];
      let lo = lastUid + 1;
      let width = Math.max(64, limit * 4);
      while (lo <= highest && above.length <= limit) {
        const hi = Math.min(highest, lo + width - 1);
        const got = (await client.search({ uid: `${lo}:${hi}` }, { uid: true })) || [];
        for (const uid of got) if (uid >= lo && uid <= hi) above.push(uid);
        lo = hi + 1;
        width *= 4;
      }
      above.sort((a, b) => a - b);
      if (above.length === 0) return { ...empty, highest_uid: highest };
      const candidates = above.slice(0, limit);
      step('reading message sizes');
      const sizes = new Map<number, number>();
      // Sequence numbers follow UID order, so the first candidate's tells how many messages
      // there are from it to the end: those above last_uid.
      let firstSeq = 0;
      for await (const m of client.fetch(candidates.join(','), { uid: true, size: true }, { uid: true })) {
        sizes.set(m.uid, m.size ?? 0);
        if (m.uid === candidates[0]) firstSeq = m.seq;
      }
      // Messages expunged since the search are no longer there; the byte budget takes whole
      // messages, at least one.
      const chosen: number[] = [];
      let total = 0;
      for (const uid of candidates) {
        if (!sizes.has(uid)) continue;
        const size = sizes.get(uid)!;
        if (chosen.length > 0 && total + size > budget) break;
        chosen.push(uid);
        total += size;
      }
      const exists = client.mailbox ? client.mailbox.exists : mailbox.exists;
      const available = firstSeq > 0 ? Math.max(0, exists - firstSeq + 1) : above.length;
      const messages: MailMessage[] = [];
      if (chosen.length > 0) {
        step('fetching messages');
        const raws = new Map<number, { raw: Buffer; date: Date }>();
        for await (const m of client.fetch(chosen.join(','), { uid: true, source: true, internalDate: true }, { uid: true })) {
          if (m.source) raws.set(m.uid, { raw: m.source, date: m.internalDate instanceof Date ? m.internalDate : new Date(m.internalDate ?? Date.now()) });
        }
        for (const uid of chosen) {
          const got = raws.get(uid);
          if (got) messages.push(await parseMessage(uid, got.raw, { includeRaw, fallbackDate: got.date }));
        }
      }
      const lastChosen = chosen.length > 0 ? chosen[chosen.length - 1]! : lastUid;
      // The highest UID is a message that exists: anything returned below it leaves more.
      return { ...empty, messages, highest_uid: highest, available, has_more: highest > lastChosen };
    });
  }

  async #fetchMaildir(r: StoredAccount, lastUid: number, limit: number, budget: number, includeRaw: boolean): Promise<FetchSinceResult> {
    const folder = maildirFolder(r.path!, r.mailbox);
    await checkMaildir(folder, r.name);
    const { entries, uids } = await this.#listings.sync(r.name, folder);
    let highest = 0;
    const above: Array<{ uid: number; key: string }> = [];
    for (const [key, uid] of uids.uids) {
      if (uid > highest) highest = uid;
      if (uid > lastUid) above.push({ uid, key });
    }
    above.sort((a, b) => a.uid - b.uid);
    const messages: MailMessage[] = [];
    let total = 0;
    let lastTaken = lastUid;
    for (const { uid, key } of above) {
      if (messages.length >= limit) break;
      const got = await readMaildirMessage(folder, entries.get(key)!);
      if (!got) {
        lastTaken = uid; // deleted since the listing: nothing to return for it
        continue;
      }
      if (messages.length > 0 && total + got.raw.length > budget) break;
      total += got.raw.length;
      messages.push(await parseMessage(uid, got.raw, { includeRaw, fallbackDate: got.mtime }));
      lastTaken = uid;
    }
    return {
      account: r.name,
      mailbox: r.mailbox,
      messages,
      uidvalidity: uids.uidvalidity,
      highest_uid: highest,
      available: above.length,
      has_more: above.some((a) => a.uid > lastTaken),
    };
  }
}
