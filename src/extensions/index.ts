/**
 * The extension host's manager side: packages and manifests, the installed list, loading
 * extensions into sandboxes, runtime registration, permissions and call chains, the generic WASM
 * job wrapper, and the `extensions.*` core operations. The sandbox (src/extensions/sandbox) runs
 * the WebAssembly; docs/extension-abi.md is the contract with the guest.
 */
import type { CoreServices } from '../core/services.js';
import { ExtensionManager, type JobTypeRegistryLike } from './manager.js';
import { loadSandbox } from './sandbox/index.js';

export * from './manifest.js';
export * from './store.js';
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
export function makeExtensionManager(core: CoreServices, jobTypes?: () => JobTypeRegistryLike | undefined): ExtensionManager {
  return new ExtensionManager({ core, loadSandbox, ...(jobTypes ? { jobTypes } : {}) });
}
