/** The mail storage contract (accounts, Maildir UIDs), for every MailStore. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MailStore, StoredAccount } from '../../src/mail/store.js';

export interface MailStoreFactory {
  create(): Promise<MailStore>;
  reopen(): Promise<MailStore>;
  destroy?(): Promise<void>;
}

const imap: Omit<StoredAccount, 'created_at' | 'updated_at'> = { name: 'work', kind: 'imap', host: 'imap.example.com', port: 993, secure: true, username: 'ada', mailbox: 'INBOX', path: null };
const maildir: Omit<StoredAccount, 'created_at' | 'updated_at'> = { name: 'local', kind: 'maildir', host: null, port: null, secure: null, username: null, mailbox: 'INBOX', path: '/home/ada/Maildir' };
const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function mailStoreContract(name: string, factory: MailStoreFactory): void {
  describe(`MailStore contract: ${name}`, () => {
    let store: MailStore;
    beforeEach(async () => {
      store = await factory.create();
    });
    afterEach(async () => {
      await store.close();
      await factory.destroy?.();
    });

    it('adds accounts (ALREADY_EXISTS without replace), lists by name, replaces keeping created_at, removes', async () => {
      const a = await store.putAccount(imap, false);
      expect(a).toMatchObject({ ...imap });
      await store.putAccount(maildir, false);
      await expect(store.putAccount(imap, false)).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
      expect((await store.listAccounts()).map((x) => x.name)).toEqual(['local', 'work']);
      expect(await store.getAccount('work')).toEqual(a);
      const replaced = await store.putAccount({ ...imap, port: 143, secure: false }, true);
      expect(replaced).toMatchObject({ port: 143, secure: false, created_at: a.created_at });
      expect(await store.removeAccount('work')).toBe(true);
      expect(await store.removeAccount('work')).toBe(false);
      expect(await store.getAccount('work')).toBeUndefined();
    });

    it('gives Maildir UIDs in delivery order, keeps them, never reuses them; durable', async () => {
      await store.putAccount(maildir, false);
      const first = await store.assignMaildirUids('local', ['c', 'a', 'b'], byName);
      expect(first.uidvalidity).toBeGreaterThan(0);
      expect([...first.uids]).toEqual(expect.arrayContaining([['a', 1], ['b', 2], ['c', 3]]));
      expect(first.uidnext).toBe(4);
      const second = await store.assignMaildirUids('local', ['a', 'c', 'd'], byName);
      expect(Object.fromEntries(second.uids)).toEqual({ a: 1, c: 3, d: 4 });
      expect(second.uidvalidity).toBe(first.uidvalidity);
      await store.close();
      store = await factory.reopen();
      const third = await store.assignMaildirUids('local', ['a', 'c', 'd', 'b'], byName);
      expect(Object.fromEntries(third.uids)).toEqual({ a: 1, c: 3, d: 4, b: 5 });
      // Concurrent assignments agree.
      const [x, y] = await Promise.all([store.assignMaildirUids('local', ['a', 'e'], byName), store.assignMaildirUids('local', ['a', 'e'], byName)]);
      expect(x.uids.get('e')).toBe(y.uids.get('e'));
    });

    it('a Maildir account moved to another folder starts a new uidvalidity; removal forgets its UIDs', async () => {
      await store.putAccount(maildir, false);
      const first = await store.assignMaildirUids('local', ['a'], byName);
      await store.putAccount({ ...maildir, path: '/elsewhere' }, true);
      const moved = await store.assignMaildirUids('local', ['z'], byName);
      expect(moved.uidvalidity).toBeGreaterThan(first.uidvalidity);
      expect(Object.fromEntries(moved.uids)).toEqual({ z: 1 });
      await store.removeAccount('local');
      await store.putAccount(maildir, false);
      const again = await store.assignMaildirUids('local', ['a'], byName);
      expect(again.uidvalidity).toBeGreaterThan(moved.uidvalidity);
    });
  });
}
