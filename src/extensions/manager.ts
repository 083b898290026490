/**
 * The extension manager: installs packages into the data directory, keeps the installed list,
 * loads enabled extensions (each independently) into sandboxes, turns what their `plugin_init`
 * registered into runtime-registry operations and job types, and swaps versions on reload
 * without failing calls already running.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type { BaseServices } from '../modules/index.js';
import { ErrorCode, SpacedriveError, asSpacedriveError, toWireError, type WireError } from '../errors/index.js';
import type { JobTypeDefinition } from '../jobs/types.js';
import type { Logger } from '../logging/index.js';
import type { JsonSchema } from '../schema/index.js';
import { extensionMethod, type OperationDeclaration } from '../registry/index.js';
import { createHostBridge } from './bridge.js';
import { instrumentBridge, observeCall, type ExtensionHostHooks } from './instrument.js';
import {
  MANIFEST_FILE,
  effectiveLimits,
  readPackage,
  sandboxLimits,
  validateManifest,
  type EffectiveLimits,
  type ExtensionManifest,
  type ExtensionPackage,
  noPermissions,
  type ManifestPermissions,
} from './manifest.js';
import type { JobAccess } from '../jobs/operations.js';
import { checkCallChain, checkDispatchPermission, checkLibraryPermission, checkManageJob, mayManageJob, checkExtensionId, checkFilesystemAccess, extensionOfActor, reservedExtensionIds, type PathAccess } from './permissions.js';
import type { ExtensionSandbox, GuestRegistration, ImmediateAnswer, LoadSandboxOptions, SandboxCallOptions, SandboxStats } from './sandbox/types.js';
import { JsonFileExtensionStore, type InstalledExtension, type InstalledExtensionStore } from './store.js';
import { RunningJobs, wasmJobDefinition } from './wasm-job.js';

/** What the manager needs from the job system's type registry (`core.jobs.types`). */
export interface JobTypeRegistryLike {
  replaceOwner(owner: string, defs: JobTypeDefinition[]): unknown;
  unregisterOwner(owner: string): unknown;
  list(): ReadonlyArray<{ type: string; owner: string }>;
}

export type ExtensionState = 'disabled' | 'enabled' | 'loading' | 'loaded' | 'failed';

export interface ExtensionSummary {
  id: string;
  name: string;
  version: string;
  state: ExtensionState;
  enabled: boolean;
  operations: number;
  job_types: number;
  error?: WireError;
}

export interface ExtensionInfo {
  id: string;
  name: string;
  version: string;
  description: string;
  author: string;
  state: ExtensionState;
  enabled: boolean;
  /** Why the last load failed (state `failed`). */
  error?: WireError;
  installed_at: string;
  /** Installed package directory. */
  path: string;
  module: string;
  sha256: string;
  abi_version: number;
  /** What the extension is allowed to do (its manifest's permissions; nothing else is granted). */
  permissions: ManifestPermissions;
  /** Limits in effect: the manifest's, filled from host defaults, bounded by host ceilings. */
  limits: EffectiveLimits;
  config: unknown;
  operations: Array<{ method: string; kind: 'query' | 'action'; export_fn: string; description: string; library_scoped: boolean }>;
  job_types: Array<{ job_type: string; export_fn: string; resumable: boolean; description: string }>;
  stats: SandboxStats | null;
  /** Milliseconds the last load took (compile, instantiate, init), when loaded. */
  load_ms: number | null;
  loaded_at: string | null;
  running_jobs: number;
}

/** What the extension manager uses of core: configuration, logging, events, the registries, `execute`. */
export type ExtensionHostServices = Pick<BaseServices, 'options' | 'logger' | 'events' | 'coreRegistry' | 'runtimeRegistry' | 'executor' | 'execute'>;

export interface ExtensionManagerOptions {
  core: ExtensionHostServices;
  /** The job system's type registry, when there is one (looked up at each load). */
  jobTypes?: () => JobTypeRegistryLike | undefined;
  /** Creates sandboxes (src/extensions/sandbox's `loadSandbox`). */
  loadSandbox: (opts: LoadSandboxOptions) => Promise<ExtensionSandbox>;
  /** Default: a JSON file in `<dataDir>/extensions`. */
  store?: InstalledExtensionStore;
}

/**
 * One loaded version of an extension: its sandbox and the calls running on it, so that a reload
 * or unload can let them finish before the sandbox closes.
 */
class LoadedVersion {
  #inflight = 0;
  #idle: Array<() => void> = [];
  #closing = false;

  constructor(
    readonly id: string,
    readonly version: string,
    readonly sandbox: ExtensionSandbox,
    readonly limits: EffectiveLimits,
    readonly loadMs: number,
    readonly loadedAt: Date,
    /** Jobs inside a handler call on this version (the bridge routes their progress here). */
    readonly running: RunningJobs,
  ) {}

  /** Calls into the sandbox. Starts synchronously so that a handler looked up before a swap still reaches this version. */
  call(exportFn: string, input: unknown, opts: SandboxCallOptions): Promise<unknown> {
    if (this.#closing) {
      return Promise.reject(new SpacedriveError(ErrorCode.EXTENSION_NOT_FOUND, `extension '${this.id}' ${this.version} is being unloaded`, { extension: this.id }));
    }
    this.#inflight++;
    let p: Promise<unknown>;
    try {
      p = this.sandbox.call(exportFn, input, opts);
    } catch (err) {
      p = Promise.reject(err);
    }
    return p.finally(() => {
      if (--this.#inflight === 0) for (const wake of this.#idle.splice(0)) wake();
    });
  }

  /** {@link ExtensionSandbox.callNow} on this version (undefined while it is being unloaded: call() then says so). */
  callNow(exportFn: string, input: unknown, opts: SandboxCallOptions): ImmediateAnswer | undefined {
    return this.#closing ? undefined : this.sandbox.callNow(exportFn, input, opts);
  }

  get inflight(): number {
    return this.#inflight;
  }

  /** Waits (at most `timeoutMs`) for running calls, then closes the sandbox. */
  async drainAndClose(timeoutMs: number, logger: Logger): Promise<void> {
    if (this.#inflight > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((r) => this.#idle.push(r)),
        new Promise<void>((r) => {
          timer = setTimeout(r, timeoutMs);
        }),
      ]);
      clearTimeout(timer);
      if (this.#inflight > 0) logger.warn({ extension: this.id, inflight: this.#inflight }, `closing extension '${this.id}' ${this.version} with calls still running after ${timeoutMs} ms`);
    }
    this.#closing = true;
    await this.sandbox.close();
  }
}

/** Sandbox failures of a call (timeout, trap, OOM, bad result, overload) name the wire method too. */
const SANDBOX_FAILURES = new Set<string>([
  ErrorCode.EXTENSION_TIMEOUT,
  ErrorCode.EXTENSION_TRAPPED,
  ErrorCode.EXTENSION_OUT_OF_MEMORY,
  ErrorCode.EXTENSION_BAD_RESULT,
  ErrorCode.OVERLOADED,
]);

function namingMethod(err: unknown, id: string, method: string): unknown {
  const typed = asSpacedriveError(err);
  if (!typed || !SANDBOX_FAILURES.has(typed.code) || typed.message.includes(method)) return err;
  return new SpacedriveError(typed.code, `${method}: ${typed.message}`, { ...typed.details, extension: id, method }, { cause: err });
}

/** Ceilings that never refuse: showing a manifest installed under higher ceilings than today's. */
const UNBOUNDED_LIMITS = {
  memoryMb: Number.MAX_SAFE_INTEGER,
  callTimeoutMs: Number.MAX_SAFE_INTEGER,
  instances: Number.MAX_SAFE_INTEGER,
  maxInputBytes: Number.MAX_SAFE_INTEGER,
  maxOutputBytes: Number.MAX_SAFE_INTEGER,
  concurrentJobs: Number.MAX_SAFE_INTEGER,
  requestsPerMinute: Number.MAX_SAFE_INTEGER,
  httpTimeoutMs: Number.MAX_SAFE_INTEGER,
  httpMaxResponseBytes: Number.MAX_SAFE_INTEGER,
  maxOperations: Number.MAX_SAFE_INTEGER,
  maxJobTypes: Number.MAX_SAFE_INTEGER,
  maxSchemaBytes: Number.MAX_SAFE_INTEGER,
  maxRegistrationBytes: Number.MAX_SAFE_INTEGER,
  jobProgressTimeoutMs: Number.MAX_SAFE_INTEGER,
  maxStateBytes: Number.MAX_SAFE_INTEGER,
};

interface Entry {
  record: InstalledExtension;
  manifest: ExtensionManifest | undefined;
  state: ExtensionState;
  error: WireError | undefined;
  loaded: LoadedVersion | undefined;
}

export class ExtensionManager {
  readonly #core: ExtensionHostServices;
  readonly #jobTypes: () => JobTypeRegistryLike | undefined;
  readonly #loadSandbox: (opts: LoadSandboxOptions) => Promise<ExtensionSandbox>;
  readonly #store: InstalledExtensionStore;
  readonly #logger: Logger;
  readonly #entries = new Map<string, Entry>();
  readonly #locks = new Map<string, Promise<unknown>>();
  #closed = false;
  #hooks: ExtensionHostHooks | undefined;
  /** Directory holding installed packages (`<id>/<version>/`) and the installed list. */
  readonly dir: string;

  constructor(o: ExtensionManagerOptions) {
    this.#core = o.core;
    this.#jobTypes = o.jobTypes ?? (() => undefined);
    this.#loadSandbox = o.loadSandbox;
    this.dir = join(o.core.options.dataDir, 'extensions');
    this.#store = o.store ?? new JsonFileExtensionStore(join(this.dir, 'installed.json'));
    this.#logger = o.core.logger.child({ component: 'extensions' });
    // Left behind by an install or reload that crashed half-way; never in use.
    for (const name of existsSync(this.dir) ? readdirSync(this.dir) : []) {
      if (name.startsWith('.staging-') || name.startsWith('.trash-')) rmSync(join(this.dir, name), { recursive: true, force: true });
    }
  }

  /** Reads the installed list (once, before anything else is asked of the manager). */
  async open(): Promise<void> {
    for (const record of await this.#store.list()) {
      this.#entries.set(record.id, { record, manifest: undefined, state: record.enabled ? 'enabled' : 'disabled', error: undefined, loaded: undefined });
    }
  }

  /**
   * Hooks around the host bridge of every extension loaded from now on (an in-process host's
   * instrumentation: the test harness in src/testing). Undefined removes them.
   */
  setHostHooks(hooks: ExtensionHostHooks | undefined): void {
    this.#hooks = hooks;
  }

  /** Counters for `query:core.status.v1` (`extensions_installed`, …). */
  counters(): Record<string, number> {
    const out = { installed: 0, enabled: 0, loaded: 0, failed: 0 };
    for (const e of this.#entries.values()) {
      out.installed++;
      if (e.record.enabled) out.enabled++;
      if (e.state === 'loaded') out.loaded++;
      if (e.state === 'failed') out.failed++;
    }
    return out;
  }

  /**
   * Why extension `id` is not loaded, as a hint naming the fix (for "unknown method" answers):
   * disabled, failed to load, or still loading. Undefined when it is not installed.
   */
  whyNotLoaded(id: string): string | undefined {
    const e = this.#entries.get(id);
    if (!e) return undefined;
    if (!e.record.enabled) return `extension '${id}' is installed but disabled; enable it with 'spacedrive extensions enable ${id}'`;
    if (e.state === 'failed') return `extension '${id}' failed to load${e.error ? ` (${e.error.message})` : ''}; see 'spacedrive extensions info ${id}'`;
    if (e.state === 'loading' || e.state === 'enabled') return `extension '${id}' is still loading; try again in a moment`;
    return undefined;
  }

  /**
   * Loads every enabled extension, concurrently and independently: one that fails is logged and
   * shown by `info` with its error; the others load. Never throws.
   */
  async loadEnabled(): Promise<void> {
    const ids = [...this.#entries.values()].filter((e) => e.record.enabled && !e.loaded).map((e) => e.record.id);
    await Promise.all(ids.map((id) => this.#withLock(id, () => this.#load(this.#entries.get(id)!).catch(() => undefined))));
  }

  list(): ExtensionSummary[] {
    return [...this.#entries.values()]
      .sort((a, b) => a.record.id.localeCompare(b.record.id))
      .map((e) => {
        const regs = e.loaded?.sandbox.registrations ?? [];
        const s: ExtensionSummary = {
          id: e.record.id,
          name: e.manifest?.name ?? e.record.id,
          version: e.record.version,
          state: e.state,
          enabled: e.record.enabled,
          operations: regs.filter((r) => r.kind === 'operation').length,
          job_types: regs.filter((r) => r.kind === 'job').length,
        };
        if (e.error) s.error = e.error;
        return s;
      });
  }

  /**
   * What loaded extension `id` is granted: its manifest's permissions and the limits in effect
   * (capabilities such as HTTP check their part of it). `undefined` when it is not loaded.
   */
  grants(id: string): { permissions: ManifestPermissions; limits: EffectiveLimits } | undefined {
    const e = this.#entries.get(id);
    if (!e?.loaded || !e.manifest) return undefined;
    return { permissions: e.manifest.permissions, limits: e.loaded.limits };
  }

  /**
   * Throws EXTENSION_INVALID when `id` is reserved for core: `core`, or a domain of core's
   * methods or job types. An extension under such an id could not be told apart from core
   * (`owner: core` in listings, `core:`-namespaced methods, core's job-type owner).
   */
  checkId(id: string): void {
    const coreJobTypes = (this.#jobTypes()?.list() ?? []).filter((t) => t.owner === 'core').map((t) => t.type);
    checkExtensionId(id, reservedExtensionIds(this.#core.coreRegistry.list().map((op) => op.method), coreJobTypes));
  }

  /**
   * What installed extension `id` is granted, loaded or not (a job it dispatched may resume
   * before it loads, or while it is disabled); undefined when it is not installed.
   */
  async permissionsOf(id: string): Promise<ManifestPermissions | undefined> {
    const e = this.#entries.get(id);
    return e ? (await this.#manifestOf(e)).permissions : undefined;
  }

  /** What extension `id` may do with jobs (an extension not installed: nothing but its own). */
  async jobAccessOf(id: string): Promise<JobAccess> {
    const permissions = (await this.permissionsOf(id)) ?? noPermissions();
    return {
      checkDispatch: (type, libraryId) => {
        checkDispatchPermission(id, permissions, type);
        if (libraryId !== undefined) checkLibraryPermission(id, permissions, type, libraryId);
      },
      mayManage: (job) => mayManageJob(id, permissions, job),
      checkManage: (job, what) => checkManageJob(id, permissions, job, what),
    };
  }

  /**
   * Throws PERMISSION_DENIED unless `actor` (a job's `dispatched_by`, or a caller: `client`,
   * `core`, `extension:<id>`) may touch these paths: people and core may; an extension only
   * inside its `permissions.filesystem` grants; an extension no longer installed nowhere.
   */
  async checkPaths(actor: string, requests: readonly PathAccess[]): Promise<void> {
    const id = extensionOfActor(actor);
    if (id === undefined || requests.length === 0) return;
    const permissions = await this.permissionsOf(id);
    await checkFilesystemAccess(id, permissions?.filesystem ?? [], requests);
  }

  async info(id: string): Promise<ExtensionInfo> {
    const e = this.#get(id);
    const manifest = await this.#manifestOf(e);
    const regs = e.loaded?.sandbox.registrations ?? [];
    const info: ExtensionInfo = {
      id,
      name: manifest.name,
      version: e.record.version,
      description: manifest.description,
      author: manifest.author,
      state: e.state,
      enabled: e.record.enabled,
      installed_at: e.record.installed_at,
      path: join(this.dir, e.record.path),
      module: manifest.module,
      sha256: e.record.sha256,
      abi_version: manifest.abi_version,
      permissions: manifest.permissions,
      limits: e.loaded?.limits ?? effectiveLimits(manifest, this.#core.options.extensions, false).limits,
      config: manifest.config,
      operations: regs.flatMap((r) =>
        r.kind === 'operation' ? [{ method: r.method, kind: r.operationType, export_fn: r.exportFn, description: r.description, library_scoped: r.libraryScoped === true }] : [],
      ),
      job_types: regs.flatMap((r) => (r.kind === 'job' ? [{ job_type: r.jobType, export_fn: r.exportFn, resumable: r.resumable, description: r.description }] : [])),
      stats: e.loaded ? e.loaded.sandbox.stats() : null,
      load_ms: e.loaded ? e.loaded.loadMs : null,
      loaded_at: e.loaded ? e.loaded.loadedAt.toISOString() : null,
      running_jobs: e.loaded?.running.size ?? 0,
    };
    if (e.error) info.error = e.error;
    return info;
  }

  /**
   * Validates the package at `path`, copies it to `<dataDir>/extensions/<id>/<version>/` and
   * records it; loads it unless `enabled` is false. A load failure does not undo the install:
   * the returned info has state `failed` and the error.
   */
  async install(path: string, opts: { enabled?: boolean } = {}): Promise<ExtensionInfo> {
    this.#assertOpen();
    const pkg = await readPackage(path, this.#core.options.extensions);
    const id = pkg.manifest.id;
    this.checkId(id);
    return this.#withLock(id, async () => {
      const existing = this.#entries.get(id);
      if (existing) {
        throw new SpacedriveError(
          ErrorCode.ALREADY_EXISTS,
          `extension '${id}' is already installed (version ${existing.record.version}); to replace it run 'spacedrive extensions reload ${id} --from <path>', or uninstall it first`,
          { id, installed_version: existing.record.version },
        );
      }
      const record = await this.#stage(pkg, opts.enabled ?? true);
      await this.#store.savePackage?.(record, pkg.manifest, pkg.wasm);
      await this.#store.put(record);
      const entry: Entry = { record, manifest: pkg.manifest, state: record.enabled ? 'enabled' : 'disabled', error: undefined, loaded: undefined };
      this.#entries.set(id, entry);
      this.#logger.info({ extension: id, version: record.version, enabled: record.enabled }, `installed extension '${id}' ${record.version}`);
      this.#core.events.emit('extension:installed', { id, version: record.version });
      if (record.enabled) await this.#load(entry, pkg).catch(() => undefined);
      return this.info(id);
    });
  }

  /** Marks the extension enabled and loads it (no-op when already loaded). */
  async enable(id: string): Promise<ExtensionInfo> {
    this.#assertOpen();
    return this.#withLock(id, async () => {
      const e = this.#get(id);
      if (!e.record.enabled) {
        e.record = { ...e.record, enabled: true };
        await this.#store.put(e.record);
      }
      if (!e.loaded) await this.#load(e).catch(() => undefined);
      this.#core.events.emit('extension:enabled', { id, version: e.record.version });
      return this.info(id);
    });
  }

  /** Marks the extension disabled and unloads it: its methods and job types go away. */
  async disable(id: string): Promise<ExtensionInfo> {
    return this.#withLock(id, async () => {
      const e = this.#get(id);
      if (e.record.enabled) {
        e.record = { ...e.record, enabled: false };
        await this.#store.put(e.record);
      }
      await this.#unload(e, 'disabled');
      e.state = 'disabled';
      e.error = undefined;
      this.#core.events.emit('extension:disabled', { id, version: e.record.version });
      return this.info(id);
    });
  }

  /**
   * Brings extension `id` in line with what the installed-extension store says now, after
   * another node of the cluster installed, enabled, disabled, reloaded or uninstalled it
   * (ClusterBus.onExtensionChange): loaded from the stored package when enabled and new or
   * changed, unloaded when disabled, dropped when gone. Emits no extension event (the change
   * was announced where it was made).
   */
  async refreshFromStore(id: string): Promise<void> {
    if (this.#closed) return;
    await this.#withLock(id, async () => {
      const record = await this.#store.get(id);
      const e = this.#entries.get(id);
      if (!record) {
        if (!e) return;
        await this.#unload(e, 'uninstalled on another node');
        this.#entries.delete(id);
        this.#logger.info({ extension: id }, `extension '${id}' was uninstalled on another node; unloaded here`);
        return;
      }
      const changed = !e || e.record.path !== record.path || e.record.version !== record.version || e.record.sha256 !== record.sha256;
      const entry: Entry = e ?? { record, manifest: undefined, state: record.enabled ? 'enabled' : 'disabled', error: undefined, loaded: undefined };
      entry.record = record;
      this.#entries.set(id, entry);
      if (!record.enabled) {
        if (entry.loaded) await this.#unload(entry, 'disabled on another node');
        entry.state = 'disabled';
        entry.error = undefined;
      } else if (changed || !entry.loaded) {
        await this.#load(entry).catch(() => undefined);
      }
      this.#logger.info({ extension: id, version: record.version, enabled: record.enabled }, `extension '${id}' changed on another node; now ${entry.state} here`);
    });
  }

  /** Unloads the extension and removes its files and record. */
  async uninstall(id: string): Promise<{ id: string; version: string }> {
    return this.#withLock(id, async () => {
      const e = this.#get(id);
      await this.#unload(e, 'uninstalled');
      await this.#store.remove(id);
      this.#entries.delete(id);
      await rm(join(this.dir, id), { recursive: true, force: true });
      this.#logger.info({ extension: id }, `uninstalled extension '${id}'`);
      this.#core.events.emit('extension:uninstalled', { id, version: e.record.version });
      return { id, version: e.record.version };
    });
  }

  /**
   * Loads the extension again — from the installed package, or from the package at `from` (a
   * new version) — and swaps to it in one step; calls running on the old version finish there,
   * then the old sandbox closes. If the new version fails to load, the old one keeps serving
   * and the error is thrown.
   */
  async reload(id: string, opts: { from?: string } = {}): Promise<ExtensionInfo> {
    this.#assertOpen();
    const pkg = opts.from ? await readPackage(opts.from, this.#core.options.extensions) : undefined;
    if (pkg && pkg.manifest.id !== id) {
      throw new SpacedriveError(ErrorCode.EXTENSION_INVALID, `the package at ${pkg.dir} is extension '${pkg.manifest.id}', not '${id}'`, { id, package_id: pkg.manifest.id });
    }
    return this.#withLock(id, async () => {
      const e = this.#get(id);
      const previous = e.record;
      const source = pkg ?? (await this.#readInstalled(previous));
      // Load before touching the installed files: if the new version fails, the old one keeps
      // serving and stays what is installed (also when both carry the same version number).
      if (previous.enabled) await this.#load(e, source);
      else e.manifest = source.manifest;
      if (pkg) {
        let record: InstalledExtension;
        try {
          record = await this.#stage(pkg, previous.enabled);
        } catch (err) {
          this.#logger.error({ extension: id, err }, `extension '${id}' ${pkg.manifest.version} is running but could not be saved; the installed version loads at the next start`);
          throw err;
        }
        await this.#store.savePackage?.(record, pkg.manifest, pkg.wasm);
        await this.#store.put(record);
        e.record = record;
        if (record.path !== previous.path) await rm(join(this.dir, previous.path), { recursive: true, force: true });
      }
      this.#core.events.emit('extension:reloaded', { id, version: e.record.version });
      return this.info(id);
    });
  }

  /** Unloads everything (daemon shutdown). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#entries.values()].map((e) => this.#withLock(e.record.id, () => this.#unload(e))));
  }

  // ---------------------------------------------------------------------------------------------

  #assertOpen(): void {
    if (this.#closed) throw new SpacedriveError(ErrorCode.SHUTTING_DOWN, 'the extension manager is shutting down');
  }

  #get(id: string): Entry {
    const e = this.#entries.get(id);
    if (!e) {
      throw new SpacedriveError(ErrorCode.EXTENSION_NOT_FOUND, `no extension '${id}' is installed; run 'spacedrive extensions list'`, { id });
    }
    return e;
  }

  /** Management operations on one extension run one at a time. */
  #withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.catch(() => undefined);
    this.#locks.set(id, settled);
    void settled.then(() => {
      if (this.#locks.get(id) === settled) this.#locks.delete(id);
    });
    return next;
  }

  /**
   * The manifest to show for `e`: the loaded one, else the installed manifest.json read on its
   * own (so `info` still works for a package whose module is missing or fails its checksum).
   */
  async #manifestOf(e: Entry): Promise<ExtensionManifest> {
    if (e.manifest) return e.manifest;
    try {
      const raw = JSON.parse(await readFile(join(this.dir, e.record.path, MANIFEST_FILE), 'utf8')) as unknown;
      e.manifest = validateManifest(raw, { ...this.#core.options.extensions, ceilings: UNBOUNDED_LIMITS });
      return e.manifest;
    } catch {
      // Nothing readable on disk: show what the installed list knows.
      return {
        id: e.record.id,
        name: e.record.id,
        version: e.record.version,
        description: '',
        author: '',
        module: '',
        sha256: e.record.sha256,
        abi_version: 0,
        permissions: noPermissions(),
        limits: {},
        config_schema: true,
        config: {},
      };
    }
  }

  async #readInstalled(record: InstalledExtension): Promise<ExtensionPackage> {
    const dir = join(this.dir, record.path);
    // Installed on another node of the cluster: write the stored bytes here first (readPackage
    // checks them against the manifest's SHA-256 as for any package).
    if (this.#store.loadPackage && !(await stat(join(dir, MANIFEST_FILE)).catch(() => undefined))) {
      const saved = await this.#store.loadPackage(record);
      if (saved) {
        const manifest = saved.manifest as { module: string };
        const tmp = join(this.dir, `.staging-${record.id}-${randomBytes(6).toString('hex')}`);
        await mkdir(tmp, { recursive: true, mode: 0o700 });
        try {
          await writeFile(join(tmp, MANIFEST_FILE), `${JSON.stringify(saved.manifest, null, 2)}\n`, { mode: 0o600 });
          await writeFile(join(tmp, manifest.module), saved.module, { mode: 0o600 });
          await mkdir(dirname(dir), { recursive: true, mode: 0o700 });
          await rename(tmp, dir).catch(async (err: NodeJS.ErrnoException) => {
            // Another load wrote it meanwhile.
            if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
            await rm(tmp, { recursive: true, force: true });
          });
        } catch (err) {
          await rm(tmp, { recursive: true, force: true });
          throw err;
        }
      }
    }
    return readPackage(dir, this.#core.options.extensions);
  }

  /**
   * Copies the package's manifest and module to `<id>/<version>/` through a temporary directory
   * and a rename, so a crash never leaves a half-copied package in place.
   */
  async #stage(pkg: ExtensionPackage, enabled: boolean): Promise<InstalledExtension> {
    const { id, version, module } = pkg.manifest;
    const target = join(this.dir, id, version);
    const tmp = join(this.dir, `.staging-${id}-${randomBytes(6).toString('hex')}`);
    await mkdir(tmp, { recursive: true, mode: 0o700 });
    try {
      // Write the bytes that were verified, not the files again: what is installed is exactly what
      // was checked, even if the source changes (or is a symlink) in between.
      await writeFile(join(tmp, MANIFEST_FILE), `${JSON.stringify(pkg.manifest, null, 2)}\n`, { mode: 0o600 });
      await writeFile(join(tmp, module), pkg.wasm, { mode: 0o600 });
      await mkdir(join(this.dir, id), { recursive: true, mode: 0o700 });
      if (await stat(target).catch(() => undefined)) {
        // Same version installed again (a rebuilt module): a loaded sandbox holds its bytes in
        // memory, so the files can be swapped under it.
        const trash = join(this.dir, `.trash-${id}-${randomBytes(6).toString('hex')}`);
        await rename(target, trash);
        await rename(tmp, target);
        await rm(trash, { recursive: true, force: true });
      } else {
        await rename(tmp, target);
      }
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
    return {
      id,
      version,
      enabled,
      installed_at: new Date().toISOString(),
      path: relative(this.dir, target),
      sha256: pkg.manifest.sha256.toLowerCase(),
    };
  }

  /**
   * Loads (or reloads) `e`: a new sandbox from `source` (default: the installed package), its
   * registrations checked and swapped in for whatever `e` had, then the previous version drained
   * and closed. On failure `e` keeps its previous version if it had one, else becomes `failed`.
   */
  async #load(e: Entry, source?: ExtensionPackage): Promise<void> {
    const record = e.record;
    const id = record.id;
    const host = this.#core.options.extensions;
    const logger = this.#logger.child({ extension: id });
    const previous = e.loaded;
    if (!previous) e.state = 'loading';
    let sandbox: ExtensionSandbox | undefined;
    try {
      // Also here: an extension installed under a reserved id before ids were checked never loads.
      this.checkId(id);
      const pkg = source ?? (await this.#readInstalled(record));
      const { limits, clamped } = effectiveLimits(pkg.manifest, host, false);
      if (clamped.length > 0) logger.warn({ clamped }, `extension '${id}' asks for more than this host's ceilings allow; clamped: ${clamped.join(', ')}`);
      const running = new RunningJobs();
      const started = performance.now();
      sandbox = await this.#loadSandbox({
        id,
        version: pkg.manifest.version,
        wasm: pkg.wasm,
        limits: sandboxLimits(limits, host),
        bridge: instrumentBridge(
          id,
          createHostBridge({ id, permissions: pkg.manifest.permissions, core: this.#core, logger: logger.child({ source: 'guest' }), running, requestsPerMinute: limits.requests_per_minute }),
          this.#core.events,
          () => this.#hooks,
        ),
        config: pkg.manifest.config,
        logger,
        inline: host.inlineCalls,
      });
      const loadMs = Math.round((performance.now() - started) * 10) / 10;
      const version = new LoadedVersion(id, pkg.manifest.version, sandbox, limits, loadMs, new Date(), running);
      const { operations, jobs } = this.#declarations(id, sandbox.registrations, version);

      this.#core.runtimeRegistry.replaceOwner(id, operations);
      const jobTypes = this.#jobTypes();
      if (jobTypes) {
        try {
          jobTypes.replaceOwner(id, jobs);
        } catch (err) {
          // Put the registry back as it was before failing the load.
          if (previous) this.#core.runtimeRegistry.replaceOwner(id, this.#declarations(id, previous.sandbox.registrations, previous).operations);
          else this.#core.runtimeRegistry.unregisterOwner(id);
          throw err;
        }
      } else if (jobs.length > 0) {
        logger.warn(`extension '${id}' registered ${jobs.length} job type(s) but this core has no job system; they are not available`);
      }
      e.loaded = version;
      e.manifest = pkg.manifest;
      e.state = 'loaded';
      e.error = undefined;
      logger.info({ version: version.version, load_ms: loadMs, operations: operations.length, job_types: jobs.length }, `loaded extension '${id}' ${version.version}`);
      this.#core.events.emit('extension:loaded', { id, version: version.version, load_ms: loadMs });
    } catch (caught) {
      if (sandbox) await sandbox.close().catch(() => undefined);
      const err = this.#loadError(id, caught);
      if (!previous) {
        e.state = 'failed';
        e.error = toWireError(err);
      }
      logger.error({ err: e.error ?? toWireError(err) }, `extension '${id}' failed to load: ${err.message}`);
      this.#core.events.emit('extension:failed', { id, code: err.code, message: err.message });
      throw err;
    }
    if (previous) await this.#retire(previous, 'reloaded', logger);
  }

  /**
   * Closes a version that no longer receives calls: its running job handlers are stopped at once
   * and their jobs go back to the queue, to continue from their last checkpoint (on the new
   * version after a reload); other calls finish.
   */
  async #retire(version: LoadedVersion, reason: string, logger: Logger): Promise<void> {
    version.running.startUnloading(reason);
    await version.drainAndClose(this.#core.options.extensions.drainTimeoutMs, logger);
  }

  #loadError(id: string, caught: unknown): SpacedriveError {
    let typed = asSpacedriveError(caught);
    if (typed && !typed.message.includes(`'${id}'`)) {
      typed = new SpacedriveError(typed.code, `extension '${id}': ${typed.message}`, { extension: id, ...typed.details }, { cause: caught });
    }
    if (!typed) {
      return new SpacedriveError(ErrorCode.EXTENSION_LOAD_FAILED, `extension '${id}' failed to load: ${(caught as Error)?.message ?? String(caught)}`, { extension: id }, { cause: caught });
    }
    // A registration whose schema does not compile is the extension's fault, not the caller's input.
    if (typed.code === ErrorCode.INVALID_INPUT) return new SpacedriveError(ErrorCode.REGISTRATION_REJECTED, `extension '${id}': ${typed.message}`, { extension: id, ...typed.details });
    return typed;
  }

  /**
   * Warns, once per load, about registrations without schemas: the host accepts any input for
   * them and `spacedrive types generate` can only type them `unknown`. Loading goes on (modules
   * built before schemas were derived keep working); the SDKs always send them
   * (docs/extension-abi.md, "Schemas").
   */
  #warnUntyped(id: string, registrations: readonly GuestRegistration[]): void {
    const untyped: string[] = [];
    for (const reg of registrations) {
      if (reg.kind === 'operation') {
        const missing = [reg.inputSchema === undefined ? 'input_schema' : '', reg.outputSchema === undefined ? 'output_schema' : ''].filter(Boolean);
        if (missing.length > 0) untyped.push(`${reg.method} (no ${missing.join(', ')})`);
      } else if (reg.paramsSchema === undefined) {
        untyped.push(`job ${reg.jobType} (no params_schema)`);
      }
    }
    if (untyped.length === 0) return;
    this.#logger.warn(
      { extension: id, untyped },
      `extension '${id}' registers ${untyped.length} operation(s) or job type(s) without schemas, which accept any JSON and are typed unknown for clients: ${untyped.slice(0, 5).join('; ')}${untyped.length > 5 ? '; …' : ''}`,
    );
  }

  /** Checks the guest's registrations and turns them into operations and job-type definitions. */
  #declarations(
    id: string,
    registrations: readonly GuestRegistration[],
    version: LoadedVersion,
  ): { operations: OperationDeclaration[]; jobs: JobTypeDefinition[] } {
    const host = this.#core.options.extensions;
    const operations: OperationDeclaration[] = [];
    const jobs: JobTypeDefinition[] = [];
    const seen = new Set<string>();
    const reject = (message: string, details: Record<string, unknown>) => {
      throw new SpacedriveError(ErrorCode.REGISTRATION_REJECTED, `extension '${id}': ${message}`, { extension: id, ...details });
    };
    for (const reg of registrations) {
      if (reg.kind === 'operation') {
        const expected = extensionMethod(reg.operationType, id, reg.name, reg.version ?? 1);
        if (reg.method !== expected) reject(`may only register in its own namespace: '${reg.method}' is not '${expected}'`, { method: reg.method });
        if (seen.has(reg.method)) reject(`registers '${reg.method}' twice`, { method: reg.method });
        seen.add(reg.method);
        const method = reg.method;
        const exportFn = reg.exportFn;
        const libraryScoped = reg.libraryScoped === true;
        operations.push({
          method,
          kind: reg.operationType,
          // A library-scoped operation gets the caller's library, checked and defaulted by execute;
          // any other refuses a call that names one rather than dropping it (docs/extension-abi.md).
          scope: libraryScoped ? 'library' : 'core',
          description: reg.description,
          input: (reg.inputSchema ?? true) as OperationDeclaration['input'],
          output: (reg.outputSchema ?? true) as OperationDeclaration['output'],
          // Synchronous up to the sandbox call: a handler looked up before a reload swap runs on the version it came from.
          handler: (input, ctx) => {
            if (!libraryScoped && ctx.libraryId !== null && ctx.libraryId !== undefined) {
              throw new SpacedriveError(
                ErrorCode.INVALID_INPUT,
                `${method} does not take a library (extension '${id}' registered it without library_scoped); call it without --library / library_id`,
                { method, extension: id, library_id: ctx.libraryId },
              );
            }
            checkCallChain(id, method, ctx.caller.chain, host.maxCallDepth);
            const context = { libraryId: ctx.libraryId ?? null, method };
            const events = this.#core.events;
            const call = () => version.call(exportFn, input, { chain: ctx.caller.chain, context, ...(ctx.signal ? { signal: ctx.signal } : {}) });
            return (events.wants('guest:call') ? observeCall(events, { id, export: exportFn, method }, call) : call()).catch((err: unknown) => {
              throw namingMethod(err, id, method);
            });
          },
        });
      } else {
        const expected = `${id}:${reg.name}`;
        if (reg.jobType !== expected) reject(`may only register job types in its own namespace: '${reg.jobType}' is not '${expected}'`, { job_type: reg.jobType });
        if (seen.has(reg.jobType)) reject(`registers job type '${reg.jobType}' twice`, { job_type: reg.jobType });
        seen.add(reg.jobType);
        jobs.push(
          wasmJobDefinition({
            extensionId: id,
            jobType: reg.jobType,
            exportFn: reg.exportFn,
            resumable: reg.resumable,
            description: reg.description,
            paramsSchema: (reg.paramsSchema ?? true) as JobTypeDefinition['paramsSchema'],
            ...(reg.stateSchema !== undefined ? { stateSchema: reg.stateSchema as JsonSchema } : {}),
            ...(reg.outputSchema !== undefined ? { outputSchema: reg.outputSchema as JsonSchema } : {}),
            maxConcurrency: version.limits.concurrent_jobs,
            call: (fn, input, opts) =>
              this.#core.events.wants('guest:call')
                ? observeCall(this.#core.events, { id, export: fn, ...(opts.jobId ? { job_id: opts.jobId } : {}) }, () => version.call(fn, input, opts))
                : version.call(fn, input, opts),
            // Observed job runs go through call(), which reports them.
            callNow: (fn, input, opts) => (this.#core.events.wants('guest:call') ? undefined : version.callNow(fn, input, opts)),
            running: version.running,
            progressTimeoutMs: version.limits.job_progress_timeout_ms,
            maxStateBytes: version.limits.max_state_bytes,
            interruptGraceMs: host.jobInterruptGraceMs,
          }),
        );
      }
    }
    this.#warnUntyped(id, registrations);
    return { operations, jobs };
  }

  /** Removes the extension's operations and job types, then lets running calls finish and closes its sandbox. */
  async #unload(e: Entry, reason = 'unloaded'): Promise<void> {
    const id = e.record.id;
    const loaded = e.loaded;
    this.#core.runtimeRegistry.unregisterOwner(id);
    this.#jobTypes()?.unregisterOwner(id);
    e.loaded = undefined;
    e.state = e.record.enabled ? 'enabled' : 'disabled';
    if (!loaded) return;
    // Running jobs are stopped rather than waited for.
    await this.#retire(loaded, reason, this.#logger.child({ extension: id }));
    this.#logger.info({ extension: id }, `unloaded extension '${id}'`);
    this.#core.events.emit('extension:unloaded', { id, version: loaded.version });
  }
}
