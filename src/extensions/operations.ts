/** Core operations managing extensions (`spacedrive extensions …` is a thin layer over these). */
import { resolve } from 'node:path';
import { actorOf, type OperationContext as CallContext } from '../registry/index.js';
import { operationsWith, type BaseServices } from '../modules/index.js';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import { effectiveLimits, readPackage, type EffectiveLimits, type ManifestPermissions } from './manifest.js';
import type { ExtensionInfo, ExtensionManager, ExtensionSummary } from './manager.js';

/** The services extension handlers see as `ctx.core` (the extensions module declares them). */
export interface ExtensionHandlerServices {
  extensions: ExtensionManager;
  options: BaseServices['options'];
}
type OperationContext = CallContext<ExtensionHandlerServices>;
const defineOperation = operationsWith<ExtensionHandlerServices>();

function manager(ctx: OperationContext): ExtensionManager {
  return ctx.core.extensions;
}

const idInput = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,63}$', description: 'Extension id.' } },
} as const;

const infoOutput = {
  type: 'object',
  required: ['id', 'version', 'state', 'enabled', 'permissions', 'limits', 'operations', 'job_types'],
  properties: {
    id: { type: 'string' },
    version: { type: 'string' },
    state: { enum: ['disabled', 'enabled', 'loading', 'loaded', 'failed'] },
    enabled: { type: 'boolean' },
    permissions: { type: 'object' },
    limits: { type: 'object' },
    operations: { type: 'array' },
    job_types: { type: 'array' },
  },
} as const;

export const extensionsList = defineOperation<Record<string, never>, { extensions: ExtensionSummary[] }>({
  method: 'query:extensions.list.v1',
  kind: 'query',
  scope: 'core',
  description: 'Installed extensions with their version and state (disabled, enabled, loading, loaded, failed).',
  input: { type: 'object', additionalProperties: false, properties: {} },
  output: { type: 'object', required: ['extensions'], properties: { extensions: { type: 'array', items: { type: 'object', required: ['id', 'version', 'state'] } } } },
  handler: (_input, ctx) => ({ extensions: manager(ctx).list() }),
});

export const extensionsInfo = defineOperation<{ id: string }, ExtensionInfo>({
  method: 'query:extensions.info.v1',
  kind: 'query',
  scope: 'core',
  description: "One extension: manifest, permissions granted, limits in effect, state (with the error of a failed load), registered operations and job types, sandbox statistics.",
  input: idInput,
  output: infoOutput,
  handler: (input, ctx) => manager(ctx).info(input.id),
});

/** What `install` with `dry_run` returns: what the package asks for, before anything is installed. */
export interface InstallPreview {
  dry_run: true;
  id: string;
  name: string;
  version: string;
  description: string;
  author: string;
  permissions: ManifestPermissions;
  limits: EffectiveLimits;
  installed_version: string | null;
}

export const extensionsInstall = defineOperation<{ path: string; enabled?: boolean; dry_run?: boolean }, ExtensionInfo | InstallPreview>({
  method: 'action:extensions.install.input.v1',
  kind: 'action',
  scope: 'core',
  description:
    'Validates the extension package at `path` (a directory with manifest.json and its module, on the daemon\'s machine), copies it into the data directory and loads it unless `enabled` is false. With `dry_run`, only validates and returns the permissions and limits it asks for.',
  input: {
    type: 'object',
    additionalProperties: false,
    required: ['path'],
    properties: {
      path: { type: 'string', minLength: 1, description: 'Package directory (absolute, or relative to the daemon\'s working directory).' },
      enabled: { type: 'boolean', default: true, description: 'Enable (and load) it now.' },
      dry_run: { type: 'boolean', default: false, description: 'Validate only; return what it asks for.' },
    },
  },
  output: { type: 'object', required: ['id', 'version', 'permissions', 'limits'] },
  handler: async (input, ctx) => {
    const m = manager(ctx);
    await m.checkPaths(actorOf(ctx.caller), [{ path: resolve(input.path), access: 'read', what: 'extensions.install path' }]);
    if (input.dry_run) {
      const pkg = await readPackage(resolve(input.path), ctx.core.options.extensions);
      m.checkId(pkg.manifest.id);
      const installed = m.list().find((e) => e.id === pkg.manifest.id);
      return {
        dry_run: true as const,
        id: pkg.manifest.id,
        name: pkg.manifest.name,
        version: pkg.manifest.version,
        description: pkg.manifest.description,
        author: pkg.manifest.author,
        permissions: pkg.manifest.permissions,
        limits: effectiveLimits(pkg.manifest, ctx.core.options.extensions, true).limits,
        installed_version: installed?.version ?? null,
      };
    }
    return m.install(resolve(input.path), { enabled: input.enabled ?? true });
  },
});

export const extensionsEnable = defineOperation<{ id: string }, ExtensionInfo>({
  method: 'action:extensions.enable.input.v1',
  kind: 'action',
  scope: 'core',
  description: 'Enables an installed extension and loads it; it then loads at every daemon start.',
  input: idInput,
  output: infoOutput,
  handler: (input, ctx) => manager(ctx).enable(input.id),
});

export const extensionsDisable = defineOperation<{ id: string }, ExtensionInfo>({
  method: 'action:extensions.disable.input.v1',
  kind: 'action',
  scope: 'core',
  description: 'Disables an extension and unloads it (running calls finish first); its methods and job types go away.',
  input: idInput,
  output: infoOutput,
  handler: (input, ctx) => manager(ctx).disable(input.id),
});

export const extensionsUninstall = defineOperation<{ id: string }, { id: string; version: string }>({
  method: 'action:extensions.uninstall.input.v1',
  kind: 'action',
  scope: 'core',
  description: 'Unloads an extension and removes its files from the data directory.',
  input: idInput,
  output: { type: 'object', required: ['id', 'version'], properties: { id: { type: 'string' }, version: { type: 'string' } } },
  handler: (input, ctx) => manager(ctx).uninstall(input.id),
});

export const extensionsReload = defineOperation<{ id: string; from?: string }, ExtensionInfo>({
  method: 'action:extensions.reload.input.v1',
  kind: 'action',
  scope: 'core',
  description:
    'Loads the extension again (from the package at `from`, a new version, or the installed one) and swaps to it; calls running on the old version finish. If the new one fails to load, the old one keeps serving.',
  input: {
    type: 'object',
    additionalProperties: false,
    required: ['id'],
    properties: {
      id: idInput.properties.id,
      from: { type: 'string', minLength: 1, description: 'Package directory of the new version.' },
    },
  },
  output: infoOutput,
  handler: async (input, ctx) => {
    if (input.from) await manager(ctx).checkPaths(actorOf(ctx.caller), [{ path: resolve(input.from), access: 'read', what: 'extensions.reload from' }]);
    return manager(ctx).reload(input.id, input.from ? { from: resolve(input.from) } : {});
  },
});

export const extensionsOperations = [extensionsList, extensionsInfo, extensionsInstall, extensionsEnable, extensionsDisable, extensionsUninstall, extensionsReload];
