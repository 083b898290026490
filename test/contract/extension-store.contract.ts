/** The installed-extensions storage contract, for every InstalledExtensionStore. */
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InstalledExtension, InstalledExtensionStore } from '../../src/extensions/store.js';

export interface ExtensionStoreFactory {
  create(): Promise<InstalledExtensionStore>;
  reopen(): Promise<InstalledExtensionStore>;
  destroy?(): Promise<void>;
  /** Whether the store keeps packages (savePackage/loadPackage): the shared PostgreSQL store does. */
  keepsPackages: boolean;
}

function rec(id: string, over: Partial<InstalledExtension> = {}): InstalledExtension {
  return { id, version: '0.1.0', enabled: true, installed_at: '2026-01-01T00:00:00.000Z', path: `${id}/0.1.0`, sha256: 'ab'.repeat(32), ...over };
}

export function extensionStoreContract(name: string, factory: ExtensionStoreFactory): void {
  describe(`InstalledExtensionStore contract: ${name}`, () => {
    let store: InstalledExtensionStore;
    beforeEach(async () => {
      store = await factory.create();
    });
    afterEach(async () => {
      await factory.destroy?.();
    });

    it('puts, replaces, lists by id, gets and removes; durable', async () => {
      await store.put(rec('zeta'));
      await store.put(rec('alpha', { enabled: false }));
      await store.put(rec('zeta', { version: '0.2.0', path: 'zeta/0.2.0' }));
      expect((await store.list()).map((r) => [r.id, r.version, r.enabled])).toEqual([
        ['alpha', '0.1.0', false],
        ['zeta', '0.2.0', true],
      ]);
      expect(await store.get('alpha')).toEqual(rec('alpha', { enabled: false }));
      expect(await store.get('nope')).toBeUndefined();
      const again = await factory.reopen();
      expect(await again.get('zeta')).toEqual(rec('zeta', { version: '0.2.0', path: 'zeta/0.2.0' }));
      expect(await again.remove('zeta')).toBe(true);
      expect(await again.remove('zeta')).toBe(false);
      expect((await again.list()).map((r) => r.id)).toEqual(['alpha']);
    });

    it('keeps a package by its SHA-256 so that another node loads the same bytes', async (ctx) => {
      if (!factory.keepsPackages) {
        expect(store.savePackage).toBeUndefined();
        ctx.skip();
      }
      const module = Buffer.from('\0asm\x01\0\0\0 some module bytes');
      const sha256 = createHash('sha256').update(module).digest('hex');
      const r = rec('pkg', { sha256 });
      const manifest = { id: 'pkg', version: '0.1.0', module: 'pkg.wasm', sha256 };
      await store.savePackage!(r, manifest, module);
      await store.put(r);
      const other = await factory.reopen();
      const loaded = await other.loadPackage!((await other.get('pkg'))!);
      expect(loaded!.manifest).toEqual(manifest);
      expect(createHash('sha256').update(loaded!.module).digest('hex')).toBe(sha256);
      // Enabling (a put of the same module) keeps the package.
      await other.put({ ...r, enabled: false });
      expect(await other.loadPackage!((await other.get('pkg'))!)).toBeDefined();
      expect(await other.loadPackage!(rec('nope'))).toBeUndefined();
    });
  });
}
