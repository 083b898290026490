/**
 * A local Maildir folder as a mail source. Maildir has no UIDs, so the store gives each message
 * file one the first time it is seen (in delivery order, as dovecot does) and keeps it: a file
 * that moves from new/ to cur/ or changes flags keeps its UID, because the key is the file name
 * without the `:2,<flags>` suffix.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import type { MaildirUids, MailStore } from './store.js';

/** One message file found in cur/ or new/. */
export interface MaildirEntry {
  key: string;
  file: string;
}

/** The folder a Maildir account reads: the root for INBOX, else the Maildir++ folder `.<name>`. */
export function maildirFolder(path: string, mailbox: string): string {
  if (mailbox.toUpperCase() === 'INBOX') return path;
  return join(path, `.${mailbox.replaceAll('/', '.')}`);
}

/** Throws a clear error unless `folder` is a Maildir (a directory with cur/ and new/). */
export async function checkMaildir(folder: string, account: string): Promise<void> {
  for (const sub of ['', 'cur', 'new']) {
    const dir = join(folder, sub);
    let isDir = false;
    try {
      isDir = (await stat(dir)).isDirectory();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES') throw new SpacedriveError(ErrorCode.PERMISSION_DENIED, `mail account '${account}': cannot read ${dir}`, { account, path: dir });
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
    }
    if (!isDir) {
      throw sub === ''
        ? new SpacedriveError(ErrorCode.NOT_FOUND, `mail account '${account}': Maildir ${folder} does not exist`, { account, path: folder })
        : new SpacedriveError(ErrorCode.INVALID_INPUT, `mail account '${account}': ${folder} is not a Maildir (it has no ${sub}/ directory)`, { account, path: folder });
    }
  }
}

/** Leading delivery time in seconds of a Maildir file name (`1751364000.M1P42.host`), or Infinity. */
function deliverySeconds(name: string): number {
  const m = /^(\d+)\./.exec(name);
  return m ? Number(m[1]) : Number.POSITIVE_INFINITY;
}

const collator = new Intl.Collator('en', { numeric: true });

/** Delivery order: by the time in the name, then the name (numeric parts compared as numbers). */
export function compareDelivery(a: string, b: string): number {
  return deliverySeconds(a) - deliverySeconds(b) || collator.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
}

/** The message files in cur/ and new/, by key (a file caught mid-move in both keeps the cur/ one). */
export async function listMaildir(folder: string): Promise<Map<string, MaildirEntry>> {
  const entries = new Map<string, MaildirEntry>();
  for (const sub of ['new', 'cur']) {
    const dir = join(folder, sub);
    for (const d of await readdir(dir, { withFileTypes: true })) {
      // Dot files are not messages (.keep, editors' temporaries).
      if (d.name.startsWith('.') || !(d.isFile() || d.isSymbolicLink())) continue;
      const key = d.name.split(':')[0]!;
      entries.set(key, { key, file: join(dir, d.name) });
    }
  }
  return entries;
}

/** Lists the folder and gives UIDs to new files. */
export async function syncMaildir(store: MailStore, account: string, folder: string): Promise<{ entries: Map<string, MaildirEntry>; uids: MaildirUids }> {
  const entries = await listMaildir(folder);
  return { entries, uids: await store.assignMaildirUids(account, [...entries.keys()], compareDelivery) };
}

/** How long a directory's mtime must be unchanged before a listing of it is trusted as final. */
const SETTLED_NS = 2_000_000_000n;

interface CachedListing {
  folder: string;
  curMtimeNs: bigint;
  newMtimeNs: bigint;
  entries: Map<string, MaildirEntry>;
  uids: MaildirUids;
}

/**
 * Remembers each account's last listing, so a scan that fetches a large Maildir ten messages at
 * a time does not list every file and load every UID on every call. Any delivery, move, flag
 * change or deletion changes the mtime of cur/ or new/, which invalidates the listing. A
 * listing is only reused when those mtimes were already 2 s old when it was made: on a file
 * system with coarse timestamps, a change in the same tick as the listing would not change the
 * mtime again (dovecot guards its own uidlist the same way).
 */
export class MaildirListings {
  readonly #cache = new Map<string, CachedListing>();
  readonly #store: MailStore;
  /** Directory listings made (cache misses), for the counters. */
  scans = 0;

  constructor(store: MailStore) {
    this.#store = store;
  }

  async sync(account: string, folder: string): Promise<{ entries: Map<string, MaildirEntry>; uids: MaildirUids }> {
    const [cur, nw] = await Promise.all([stat(join(folder, 'cur'), { bigint: true }), stat(join(folder, 'new'), { bigint: true })]);
    const cached = this.#cache.get(account);
    if (cached && cached.folder === folder && cached.curMtimeNs === cur.mtimeNs && cached.newMtimeNs === nw.mtimeNs) return cached;
    this.#cache.delete(account);
    this.scans++;
    const listed = await syncMaildir(this.#store, account, folder);
    const now = BigInt(Date.now()) * 1_000_000n;
    const newest = cur.mtimeNs > nw.mtimeNs ? cur.mtimeNs : nw.mtimeNs;
    if (now - newest > SETTLED_NS) this.#cache.set(account, { folder, curMtimeNs: cur.mtimeNs, newMtimeNs: nw.mtimeNs, ...listed });
    return listed;
  }

  /** Forgets an account's listing (it was replaced or removed). */
  forget(account: string): void {
    this.#cache.delete(account);
  }
}

/**
 * Reads one message file. If it moved meanwhile (a mail client marked it read: new/ → cur/, or
 * changed its flags), it is found again by key; undefined when it was deleted.
 */
export async function readMaildirMessage(folder: string, entry: MaildirEntry): Promise<{ raw: Buffer; mtime: Date } | undefined> {
  for (let attempt = 0; attempt < 3; attempt++) {
    let file = entry.file;
    if (attempt > 0) {
      const again = (await listMaildir(folder)).get(entry.key);
      if (!again) return undefined;
      file = again.file;
    }
    try {
      const [raw, st] = await Promise.all([readFile(file), stat(file)]);
      return { raw, mtime: st.mtime };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return undefined;
}
