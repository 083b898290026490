/**
 * Core: the composition root. It makes the base services (configuration, logging, events, the
 * operation and job-type registries, `execute`) and composes the capability modules over them
 * (src/modules): each module declares what it depends on, and the kernel creates and starts them
 * in that order and stops them in reverse. The daemon (src/daemon) puts a wire server in front
 * of it; tests and benches can use it in-process.
 */
import { mkdirSync } from 'node:fs';
import type { SpacedriveOptions } from '../config/index.js';
import { EventBus } from '../events/index.js';
import { Executor } from '../execute/index.js';
import { createLogger, logLinesDropped, type Logger } from '../logging/index.js';
import { CoreRegistry, RuntimeRegistry, type OperationDeclaration } from '../registry/index.js';
import { Composition, type AnyModule, type BaseServices, type CountersReader, type ExecuteOptions } from '../modules/index.js';
import { filesModule } from '../files/index.js';
import { JobTypeRegistry, jobsModule, type JobSystem, type JobTypeDefinition } from '../jobs/index.js';
import { aiModule, type AiService } from '../ai/index.js';
import { extensionsModule, type ExtensionManager } from '../extensions/index.js';
import { libraryModule, type LibraryService } from '../library/index.js';
import { sidecarsModule, type SidecarService } from '../sidecars/index.js';
import { credentialsModule, type CredentialStore } from '../credentials/index.js';
import { httpModule } from '../http/index.js';
import { mailModule, type MailService } from '../mail/index.js';
import { coreModule } from './operations.js';
import { openStorage, type StorageBackend } from './storage.js';
import { VERSION } from './version.js';

export type { ExecuteOptions } from '../modules/index.js';
export { VERSION } from './version.js';
export { openStorage, SqliteStorage, PostgresStorage, type StorageBackend } from './storage.js';

/**
 * Core's modules. The order matters only between modules that do not depend on each other:
 * they start in this order and stop in reverse. Credentials come first (closed last: extensions
 * and jobs may use them while they stop); the jobs module comes after the libraries and the
 * extensions, so the runner stops before the library databases and the sandboxes close.
 */
export const CORE_MODULES: readonly AnyModule[] = [credentialsModule, mailModule, libraryModule, sidecarsModule, extensionsModule, jobsModule, aiModule, coreModule, filesModule, httpModule];

/** Every core operation, declared statically in its capability's module. */
export const CORE_OPERATIONS: readonly OperationDeclaration[] = CORE_MODULES.flatMap((m) => m.operations ?? []);

export interface CreateCoreOptions {
  logger?: Logger;
  /** Extra core operations (tests); their handlers see the whole core as `ctx.core`. */
  extraOperations?: readonly OperationDeclaration[];
}

/** What a running core offers: the base services and every capability's service. */
export interface CoreServices extends BaseServices {
  /** Shared by the job system and the extensions (which register their job types in it). */
  readonly jobTypes: JobTypeRegistry;
  /** Durable jobs (src/jobs): job types, dispatch, control, observation. */
  readonly jobs: JobSystem;
  /** OCR (offline) and text/embedding models (src/ai). */
  readonly ai: AiService;
  /** Installed WebAssembly extensions: install, enable, load, reload (src/extensions). */
  readonly extensions: ExtensionManager;
  /** Secrets per owner, encrypted at rest (src/credentials): `put`, `get`, `delete`, `list`. */
  readonly credentials: CredentialStore;
  /** Mail accounts and UID-based fetching (src/mail). */
  readonly mail: MailService;
  /** Libraries, entries and locations (src/library). */
  readonly libraries: LibraryService;
  /** Sidecars: derived data of entries' content as checksummed files (src/sidecars). */
  readonly sidecars: SidecarService;
}

export class Core implements CoreServices {
  readonly version = VERSION;
  readonly startedAt = Date.now();
  readonly options: SpacedriveOptions;
  readonly logger: Logger;
  readonly events = new EventBus();
  readonly coreRegistry: CoreRegistry;
  readonly runtimeRegistry: RuntimeRegistry;
  readonly executor: Executor;
  readonly jobTypes = new JobTypeRegistry();
  readonly counters = new Map<string, CountersReader>();
  readonly #modules: Composition<BaseServices & { jobTypes: JobTypeRegistry; storage: StorageBackend }>;
  #storage: StorageBackend | undefined;
  #closed = false;

  private constructor(options: SpacedriveOptions, extra: CreateCoreOptions, modules: readonly AnyModule[]) {
    this.options = options;
    this.logger = extra.logger ?? createLogger({ level: options.log.level, format: options.log.format });
    this.#modules = new Composition({ modules, logger: this.logger, registerJobType: (def) => this.jobs.registerCoreType(def as JobTypeDefinition) });
    const bindToCore = (decl: OperationDeclaration): OperationDeclaration => ({ ...decl, handler: (input, ctx) => decl.handler(input, { ...ctx, core: this }) });
    this.coreRegistry = new CoreRegistry([...this.#modules.operations(), ...(extra.extraOperations ?? []).map(bindToCore)]);
    this.runtimeRegistry = new RuntimeRegistry((method) => this.coreRegistry.get(method) !== undefined);
    // Library-scoped calls that name no library run against the default one; an unknown id is NOT_FOUND.
    this.executor = new Executor({
      core: this.coreRegistry,
      runtime: this.runtimeRegistry,
      resolveLibrary: (id) => this.libraries.resolve(id),
      whyNotLoaded: (id) => this.extensions.whyNotLoaded(id),
    });
  }

  /** Creates and starts core's modules (or `modules`, for tests composing a smaller core). */
  static async create(options: SpacedriveOptions, extra: CreateCoreOptions = {}, modules: readonly AnyModule[] = CORE_MODULES): Promise<Core> {
    mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
    const core = new Core(options, extra, modules);
    try {
      core.#storage = await openStorage(options.store, options.dataDir, core.logger.child({ component: 'storage' }));
      await core.#modules.create(core.#baseServices(core.#storage));
      core.counters.set('log', () => ({ lines_dropped: logLinesDropped() }));
      await core.#modules.start();
    } catch (err) {
      await core.close();
      throw err;
    }
    return core;
  }

  get jobs(): JobSystem {
    return this.#modules.get('jobs');
  }
  get ai(): AiService {
    return this.#modules.get('ai');
  }
  get extensions(): ExtensionManager {
    return this.#modules.get('extensions');
  }
  get credentials(): CredentialStore {
    return this.#modules.get('credentials');
  }
  get mail(): MailService {
    return this.#modules.get('mail');
  }
  get libraries(): LibraryService {
    return this.#modules.get('libraries');
  }
  get sidecars(): SidecarService {
    return this.#modules.get('sidecars');
  }

  /** The storage backend the modules' ports come from (`sqlite` or `postgres`). */
  get storage(): StorageBackend | undefined {
    return this.#storage;
  }

  /** Module names in start order. */
  get moduleOrder(): string[] {
    return this.#modules.order;
  }

  execute(method: string, payload: unknown, opts: ExecuteOptions = {}): Promise<unknown> {
    return this.executor.execute(method, payload, {
      core: this,
      libraryId: opts.libraryId ?? null,
      caller: opts.caller ?? { kind: 'internal', chain: [] },
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  }

  /** Stops the modules in reverse order. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#modules.stop();
    await this.#storage?.close();
  }

  /** The services the root provides to modules (a plain object: a module sees only what it names). */
  #baseServices(storage: StorageBackend): BaseServices & { jobTypes: JobTypeRegistry; storage: StorageBackend } {
    return {
      storage,
      version: this.version,
      startedAt: this.startedAt,
      options: this.options,
      logger: this.logger,
      events: this.events,
      coreRegistry: this.coreRegistry,
      runtimeRegistry: this.runtimeRegistry,
      executor: this.executor,
      counters: this.counters,
      jobTypes: this.jobTypes,
      execute: (method, payload, opts) => this.execute(method, payload, opts),
    };
  }
}
