/**
 * The credentials storage contract: every CredentialRows implementation (SQLite, PostgreSQL),
 * used through the CredentialVault that encrypts for it, must pass this suite unchanged.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CredentialVault, type CredentialRows } from '../../src/credentials/store.js';

export interface CredentialRowsFactory {
  /** Fresh, empty rows. */
  create(): Promise<CredentialRows>;
  /** The same rows opened again (another process, another node). */
  reopen(): Promise<CredentialRows>;
  /** Reads the raw stored row, to check nothing is plaintext. */
  raw(owner: string, name: string): Promise<{ ciphertext: Buffer; metadata: string } | undefined>;
  destroy?(): Promise<void>;
}

export function credentialRowsContract(name: string, factory: CredentialRowsFactory, dataDir: () => string): void {
  describe(`CredentialRows contract: ${name}`, () => {
    const key = randomBytes(32).toString('base64');
    let rows: CredentialRows;
    let vault: CredentialVault;
    beforeEach(async () => {
      rows = await factory.create();
      vault = new CredentialVault(rows, { dataDir: dataDir(), key });
    });
    afterEach(async () => {
      await vault.close();
      await factory.destroy?.();
    });

    it('puts, gets, lists by name (no secrets), replaces, deletes; owners are apart', async () => {
      const put = await vault.put('user', 'b', 'secret-b', { host: 'h' });
      expect(put).toMatchObject({ owner: 'user', name: 'b', metadata: { host: 'h' } });
      await vault.put('user', 'a', 'secret-a');
      await vault.put('mail', 'a', 'mail-a');
      expect(await vault.get('user', 'b')).toMatchObject({ secret: 'secret-b', metadata: { host: 'h' } });
      expect((await vault.list('user')).map((c) => c.name)).toEqual(['a', 'b']);
      expect(JSON.stringify(await vault.list('user'))).not.toContain('secret');
      const before = await vault.get('user', 'a');
      await new Promise((r) => setTimeout(r, 5));
      const replaced = await vault.put('user', 'a', 'again');
      expect(replaced.created_at).toBe(before.created_at);
      expect(replaced.updated_at > before.updated_at).toBe(true);
      expect((await vault.get('user', 'a')).secret).toBe('again');
      await expect(vault.delete('user', 'a')).resolves.toEqual({ owner: 'user', name: 'a', deleted: true });
      await expect(vault.get('user', 'a')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(vault.delete('user', 'a')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect((await vault.get('mail', 'a')).secret).toBe('mail-a');
    });

    it('stores ciphertext only, and refuses bad input with typed errors', async () => {
      await vault.put('user', 'k', 'plain-text-secret', { note: 'meta' });
      const raw = await factory.raw('user', 'k');
      expect(raw!.ciphertext.toString('latin1')).not.toContain('plain-text-secret');
      expect(raw!.metadata).toContain('meta');
      await expect(vault.put('User!', 'k', 'v')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      await expect(vault.put('user', '', 'v')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      await expect(vault.put('user', 'k', 'x'.repeat(65 * 1024))).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      expect((await vault.get('user', 'k')).secret).toBe('plain-text-secret');
    });

    it('deletes every credential of an owner', async () => {
      await vault.put('ext:gone', 'a', '1');
      await vault.put('ext:gone', 'b', '2');
      await vault.put('ext:kept', 'a', '3');
      expect(await vault.deleteOwner('ext:gone')).toBe(2);
      expect(await vault.list('ext:gone')).toEqual([]);
      expect(await vault.list('ext:kept')).toHaveLength(1);
    });

    it('another vault on the same rows reads with the same key and refuses a different one', async () => {
      await vault.put('user', 'k', 'v');
      const same = new CredentialVault(await factory.reopen(), { dataDir: dataDir(), key });
      expect((await same.get('user', 'k')).secret).toBe('v');
      await same.close();
      const wrong = new CredentialVault(await factory.reopen(), { dataDir: dataDir(), key: randomBytes(32).toString('hex') });
      await expect(wrong.get('user', 'k')).rejects.toMatchObject({ code: 'CREDENTIALS_KEY_INVALID' });
      await expect(wrong.put('user', 'k2', 'x')).rejects.toMatchObject({ code: 'CREDENTIALS_KEY_INVALID' });
      await wrong.close();
      expect((await vault.list('user')).map((c) => c.name)).toEqual(['k']);
    });
  });
}
