/**
 * Core: the registries, `execute`, events and (as they land) the capabilities, wired together.
 * The daemon (src/daemon) puts a wire server in front of it; tests and benches can use it
 * in-process.
 */
import { mkdirSync } from 'node:fs';
import type { SpacedriveOptions } from '../config/index.js';
import { EventBus } from '../events/index.js';
import { Executor } from '../execute/index.js';
import { createLogger, logLinesDropped, type Logger } from '../logging/index.js';
import { CoreRegistry, RuntimeRegistry, type OperationDeclaration } from '../registry/index.js';
import { filesOperations } from '../files/operations.js';
import { CORE_JOB_TYPES, JobSystem, jobsOperations } from '../jobs/index.js';
import { aiOperations, makeAiService, type AiService } from '../ai/index.js';
import { extensionsOperations, makeExtensionManager, type ExtensionManager } from '../extensions/index.js';
import { libraryOperations, makeLibraryService, makeLocationsIndexJob, type LibraryService } from '../library/index.js';
import { makeSidecarService, sidecarOperations, type SidecarService } from '../sidecars/index.js';
import { credentialsOperations, makeCredentialStore, purgeOnUninstall, type CredentialStore } from '../credentials/index.js';
import { httpOperations } from '../http/index.js';
import { mailOperations, makeMailService, type MailService } from '../mail/index.js';
import { coreOperations } from './operations.js';
import type { CoreServices, ExecuteOptions } from './services.js';
import { VERSION } from './version.js';

export type { CoreServices, ExecuteOptions } from './services.js';
export { VERSION } from './version.js';

/** Every core operation, declared statically in its capability's folder and collected here. */
export const CORE_OPERATIONS: readonly OperationDeclaration[] = [...coreOperations, ...filesOperations, ...jobsOperations, ...aiOperations, ...extensionsOperations, ...libraryOperations, ...sidecarOperations, ...credentialsOperations, ...httpOperations, ...mailOperations];

export interface CreateCoreOptions {
  logger?: Logger;
  /** Extra core operations (tests). */
  extraOperations?: readonly OperationDeclaration[];
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
  readonly jobs: JobSystem;
  readonly counters = new Map<string, () => Record<string, number> | Promise<Record<string, number>>>();
  /** OCR and text models (src/ai). Starts nothing until first used. */
  readonly ai: AiService;
  /** Installed WebAssembly extensions and their sandboxes (src/extensions). */
  readonly extensions: ExtensionManager;
  /** Libraries, their entries and locations (src/library). */
  readonly libraries: LibraryService;
  /** Derived data attached to entries' content (src/sidecars). */
  readonly sidecars: SidecarService;
  /** Secrets per owner, encrypted at rest (src/credentials); opened on first use. */
  readonly credentials: CredentialStore;
  /** Mail accounts (IMAP, Maildir) and UID-based fetching (src/mail); mail.db opened on first use. */
  readonly mail: MailService;
  /** Run in reverse order by {@link close}. */
  readonly #releasers: Array<() => Promise<void> | void> = [];
  #closed = false;

  private constructor(options: SpacedriveOptions, extra: CreateCoreOptions) {
    this.options = options;
    this.logger = extra.logger ?? createLogger({ level: options.log.level, format: options.log.format });
    this.coreRegistry = new CoreRegistry([...CORE_OPERATIONS, ...(extra.extraOperations ?? [])]);
    this.runtimeRegistry = new RuntimeRegistry((method) => this.coreRegistry.get(method) !== undefined);
    this.libraries = makeLibraryService({ dataDir: options.dataDir, events: this.events, logger: this.logger.child({ capability: 'library' }) });
    this.sidecars = makeSidecarService({ dataDir: options.dataDir, libraries: this.libraries, events: this.events });
    // Library-scoped calls that name no library run against the default one; an unknown id is NOT_FOUND.
    this.executor = new Executor({ core: this.coreRegistry, runtime: this.runtimeRegistry, resolveLibrary: (id) => this.libraries.resolve(id), whyNotLoaded: (id) => this.extensions.whyNotLoaded(id) });
    this.jobs = new JobSystem({
      dataDir: options.dataDir,
      options: options.jobs,
      storeUrl: options.store,
      version: VERSION,
      events: this.events,
      logger: this.logger.child({ capability: 'jobs' }),
      // Paths a job touches are checked with its dispatcher's grants (the manager is made below).
      checkPaths: (actor, requests) => this.extensions.checkPaths(actor, requests),
    });
    for (const def of CORE_JOB_TYPES) this.jobs.registerCoreType(def);
    this.jobs.registerCoreType(makeLocationsIndexJob(this.libraries));
    this.extensions = makeExtensionManager(this, () => this.jobs.types);
    this.credentials = makeCredentialStore(options);
    this.mail = makeMailService({ dataDir: options.dataDir, credentials: this.credentials, logger: this.logger.child({ capability: 'mail' }) });
    this.ai = makeAiService({ ai: options.ai, dataDir: options.dataDir, logger: this.logger.child({ capability: 'ai' }) });
  }

  static async create(options: SpacedriveOptions, extra: CreateCoreOptions = {}): Promise<Core> {
    mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
    const core = new Core(options, extra);
    // Capabilities start here, each registering its releaser with core.onClose().
    // Extensions are released last (registered first): the job system stops their running jobs
    // before the sandboxes drain and close.
    // Closed after everything else: extensions and jobs may use credentials while they stop.
    core.onClose(() => core.credentials.close());
    const purge = purgeOnUninstall(core.credentials, core.events, core.logger.child({ capability: 'credentials' }));
    core.onClose(() => purge.unsubscribe());
    core.onClose(() => core.mail.close());
    core.counters.set('mail', () => core.mail.counters());
    // Closed after the job system stopped (indexing jobs write to the library databases).
    core.libraries.ensureDefault();
    core.onClose(() => core.libraries.close());
    core.counters.set('libraries', () => ({ ...core.libraries.counters(), ...prefixed('sidecars', core.sidecars.counters()) }));
    core.onClose(() => core.extensions.close());
    // In a cluster, an extension installed, enabled, disabled, reloaded or uninstalled on another
    // node is loaded or unloaded here from the shared store.
    const stopHearing = core.jobs.bus.onExtensionChange((change) => void core.extensions.refreshFromStore(change.extensionId));
    core.onClose(stopHearing);
    core.counters.set('extensions', () => core.extensions.counters());
    core.onClose(() => core.jobs.close());
    await core.jobs.start();
    core.counters.set('jobs', () => core.jobs.counters());
    core.counters.set('ai', () => core.ai.stats());
    core.counters.set('log', () => ({ lines_dropped: logLinesDropped() }));
    core.onClose(() => core.ai.close());
    // Last, so that every capability an extension may call is up; each loads independently.
    if (options.extensions.autoload) await core.extensions.loadEnabled();
    return core;
  }

  execute(method: string, payload: unknown, opts: ExecuteOptions = {}): Promise<unknown> {
    return this.executor.execute(method, payload, {
      core: this,
      libraryId: opts.libraryId ?? null,
      caller: opts.caller ?? { kind: 'internal', chain: [] },
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  }

  /** Registers cleanup to run when core closes (last registered runs first). */
  onClose(release: () => Promise<void> | void): void {
    this.#releasers.push(release);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    while (this.#releasers.length > 0) {
      const release = this.#releasers.pop()!;
      try {
        await release();
      } catch (err) {
        this.logger.error({ err }, 'error while shutting down');
      }
    }
  }
}

function prefixed(prefix: string, counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).map(([k, v]) => [`${prefix}_${k}`, v]));
}
