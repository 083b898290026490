import type { AiService } from '../ai/index.js';
import type { SpacedriveOptions } from '../config/index.js';
import type { CredentialStore } from '../credentials/index.js';
import type { EventBus } from '../events/index.js';
import type { Executor } from '../execute/index.js';
import type { ExtensionManager } from '../extensions/manager.js';
import type { JobSystem } from '../jobs/index.js';
import type { LibraryService } from '../library/index.js';
import type { SidecarService } from '../sidecars/index.js';
import type { Logger } from '../logging/index.js';
import type { MailService } from '../mail/index.js';
import type { Caller, CoreRegistry, RuntimeRegistry } from '../registry/index.js';

export interface ExecuteOptions {
  libraryId?: string | null;
  caller?: Caller;
  signal?: AbortSignal;
}

/**
 * What operation handlers and capabilities see of core. Capabilities (jobs, extensions, …)
 * are added here as they land; handlers reach them through `ctx.core`.
 */
export interface CoreServices {
  readonly version: string;
  /** Milliseconds since the epoch. */
  readonly startedAt: number;
  readonly options: SpacedriveOptions;
  readonly logger: Logger;
  readonly events: EventBus;
  readonly coreRegistry: CoreRegistry;
  readonly runtimeRegistry: RuntimeRegistry;
  readonly executor: Executor;
  /** Durable jobs (src/jobs): job types, dispatch, control, observation. */
  readonly jobs: JobSystem;
  /**
   * Named counters shown by `query:core.status.v1`. Each capability adds a function returning
   * its counts (`connections`, `jobs`, `extensions`, …), or a promise of them when reading them
   * is I/O (the job counts per status are a query of the job store).
   */
  readonly counters: Map<string, () => Record<string, number> | Promise<Record<string, number>>>;
  /** OCR (offline) and text/embedding models (src/ai). */
  readonly ai: AiService;
  /** Installed WebAssembly extensions: install, enable, load, reload (src/extensions). */
  readonly extensions: ExtensionManager;
  /** Secrets per owner, encrypted at rest (src/credentials): `put`, `get`, `delete`, `list`. */
  readonly credentials: CredentialStore;
  /** Mail accounts and UID-based fetching (src/mail): `addAccount`, `fetchSince`, … */
  readonly mail: MailService;
  /** Libraries, entries and locations (src/library): `resolve`, `store`, `createEntry`, … */
  readonly libraries: LibraryService;
  /** Sidecars: derived data of entries' content as checksummed files (src/sidecars). */
  readonly sidecars: SidecarService;
  /** Runs any registered method, as core code (caller `internal` unless given). */
  execute(method: string, payload: unknown, opts?: ExecuteOptions): Promise<unknown>;
}
