/**
 * The extension host's manager side: packages and manifests, the installed list, loading
 * extensions into sandboxes, runtime registration, permissions and call chains, the generic WASM
 * job wrapper, and the `extensions.*` core operations. The sandbox (src/extensions/sandbox) runs
 * the WebAssembly; docs/extension-abi.md is the contract with the guest.
 */
import { defineModule } from '../modules/index.js';
import { ExtensionManager, type ExtensionHostServices, type JobTypeRegistryLike } from './manager.js';
import { extensionsOperations, type ExtensionHandlerServices } from './operations.js';
import type { InstalledExtensionStore } from './store.js';
import { loadSandbox } from './sandbox/index.js';

export * from './manifest.js';
export * from './store.js';
export { PostgresExtensionStore, EXTENSIONS_PG_MIGRATIONS } from './postgres-store.js';
export * from './permissions.js';
export * from './wasm-job.js';
export { createHostBridge, type ExtensionBridgeOptions } from './bridge.js';
export * from './manager.js';
export { extensionsOperations } from './operations.js';
export type { InstallPreview } from './operations.js';

/**
 * Creates the manager core uses, with the real sandbox. `jobTypes` returns the job system's
 * type registry (`core.jobs.types`) when core has one.
 */
export function makeExtensionManager(core: ExtensionHostServices, jobTypes?: () => JobTypeRegistryLike | undefined, store?: InstalledExtensionStore): ExtensionManager {
  return new ExtensionManager({ core, loadSandbox, ...(jobTypes ? { jobTypes } : {}), ...(store ? { store } : {}) });
}

/**
 * The extensions module (`extensions`): installed extensions, their sandboxes and grants. It loads
 * the enabled extensions once every module is up (`ready`), since an extension's init may call
 * any capability; the job runner (a later module) stops before the sandboxes drain and close.
 */
export const extensionsModule = defineModule<ExtensionHostServices & { jobTypes: JobTypeRegistryLike; storage: { installedExtensions(): InstalledExtensionStore } }, ExtensionManager, Omit<ExtensionHandlerServices, 'extensions' | 'options'>>()({
  name: 'extensions',
  dependsOn: ['options', 'logger', 'events', 'coreRegistry', 'runtimeRegistry', 'executor', 'execute', 'jobTypes', 'storage'],
  create: async (deps) => {
    const manager = makeExtensionManager(deps, () => deps.jobTypes, deps.storage.installedExtensions());
    await manager.open();
    return manager;
  },
  operations: extensionsOperations,
  counters: { read: (manager) => manager.counters() },
  ready: async (manager, { options }) => {
    if (options.extensions.autoload) await manager.loadEnabled();
  },
  stop: (manager) => manager.close(),
});
