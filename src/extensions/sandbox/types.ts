/**
 * The sandbox's contract: what the extension manager (src/extensions) needs from the
 * WebAssembly runtime (src/extensions/sandbox). The ABI itself is in docs/extension-abi.md.
 */
import type { SpacedriveError } from '../../errors/index.js';
import type { Logger } from '../../logging/index.js';

export interface SandboxLimits {
  /** Wall-clock time one call may run before the instance is terminated. */
  callTimeoutMs: number;
  /** Time `plugin_init` may take. */
  initTimeoutMs: number;
  /** Linear-memory maximum in bytes (applied also to modules that declare none). */
  memoryMaxBytes: number;
  maxInputBytes: number;
  maxOutputBytes: number;
  /** Instances (each on its own worker thread) serving concurrent calls. */
  instances: number;
  /** Calls that may wait for a free instance; past it calls fail with OVERLOADED. */
  maxQueue: number;
  /** What plugin_init may register; DEFAULT_REGISTRATION_LIMITS for what is left out. */
  registrations?: Partial<RegistrationLimits>;
}

/**
 * What one extension's plugin_init may register. Past any of them loading fails with
 * REGISTRATION_REJECTED, `details.limit` naming the limit (docs/extension-abi.md).
 */
export interface RegistrationLimits {
  /** Queries and actions. */
  maxOperations: number;
  maxJobTypes: number;
  /** JSON text of one input, output or params schema, in bytes. */
  maxSchemaBytes: number;
  /** JSON text of every registration payload together, in bytes. */
  maxRegistrationBytes: number;
}

/** What `plugin_init` registered, as reported by the guest through the host methods. */
export type GuestRegistration =
  | {
      kind: 'operation';
      operationType: 'query' | 'action';
      /** Short name (`classify_receipt`); the method is formed from the extension id. */
      name: string;
      /** Version (`.vN` of the method) when it is not 1. */
      version?: number;
      /** Full method name formed by the host. */
      method: string;
      /** Takes the caller's library (`library_scoped`): see docs/extension-abi.md, "Library context". */
      libraryScoped?: boolean;
      exportFn: string;
      description: string;
      inputSchema?: unknown;
      outputSchema?: unknown;
    }
  | {
      kind: 'job';
      name: string;
      /** `<ext-id>:<name>` */
      jobType: string;
      exportFn: string;
      resumable: boolean;
      description: string;
      paramsSchema?: unknown;
    };

/** Served on the main thread for guest requests the worker cannot answer itself. */
export interface HostBridge {
  /**
   * `sd_call` for wire methods. `chain` is the extension call chain including the calling
   * extension (outermost first). Permission checks happen here (in the manager).
   */
  call(method: string, payload: unknown, chain: readonly string[], context?: CallContext): Promise<unknown>;
  /** A guest's log line; `jobId` when the call that logged it runs a job (the line goes to its log too). */
  log(level: number, message: string, jobId?: string): void;
  /** `sd_job_progress`: durable before it resolves. Returns 0 continue, 1 pause, 2 cancel. */
  jobProgress(jobId: string, report: Record<string, unknown>): Promise<number>;
  /** `sd_job_interrupt`. */
  jobInterrupt(jobId: string): number;
}

/**
 * What a call is about, beyond its input: the library it runs against and the method it serves
 * (null for a job handler). The guest reads it with the host method `extension.context`, and the
 * bridge uses it as the default library of the guest's own calls.
 */
export interface CallContext {
  libraryId: string | null;
  method: string | null;
  /** Set by the sandbox from SandboxCallOptions.jobId when it hands the context to the bridge. */
  jobId?: string;
}

export interface SandboxCallOptions {
  /** Call chain of the caller (extension ids, outermost first); the sandbox appends its own id. */
  chain: readonly string[];
  /** The call's library and method, handed back to the bridge with the guest's host calls. */
  context?: CallContext;
  /** Set when the call runs a job handler, so sd_job_* imports reach that job. */
  jobId?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Another way to stop the call, cheaper than a signal (see CallCanceller). */
  canceller?: CallCanceller;
  /**
   * Called when the call starts running on an instance, not while it waits in the queue or
   * behind another call (it may be called again for the same call: it is idempotent for callers).
   */
  onStart?: () => void;
}

/**
 * Stops one sandbox call as aborting its signal would: answered CANCELLED if it has not started,
 * preempted (its instance replaced) if it runs. For callers on a hot path, where an
 * AbortController per call is measurable (the generic WASM job wrapper, on every job run).
 */
export class CallCanceller {
  #stop: (() => void) | undefined;
  #cancelled = false;

  get cancelled(): boolean {
    return this.#cancelled;
  }

  cancel(): void {
    if (this.#cancelled) return;
    this.#cancelled = true;
    this.#stop?.();
  }

  /** Used by the sandbox: what cancel() does while the call is in its hands. */
  bind(stop: (() => void) | undefined): void {
    this.#stop = stop;
  }
}

export interface SandboxStats {
  instances: number;
  busy: number;
  queued: number;
  /** Instances discarded after a trap, timeout, OOM or bad result. */
  replaced: number;
  calls: number;
  /** Of `calls`, those answered by the metered instance on the main thread (inline.ts). */
  inline: number;
}

export interface LoadSandboxOptions {
  id: string;
  version: string;
  wasm: Uint8Array;
  limits: SandboxLimits;
  bridge: HostBridge;
  /** The extension's configuration, served by `extension.config`. */
  config: unknown;
  logger: Logger;
  /**
   * Whether short, self-contained calls may run on a fuel-metered instance on the calling thread
   * (see inline.ts). Default true.
   */
  inline?: boolean;
}

/** A call's answer taken at once (ExtensionSandbox.callNow): its parsed output, or its typed error. */
export type ImmediateAnswer = { ok: true; value: unknown } | { ok: false; error: SpacedriveError };

export interface ExtensionSandbox {
  readonly id: string;
  /** Registrations from the first instance's `plugin_init`. */
  readonly registrations: readonly GuestRegistration[];
  /** Calls a handler export with JSON input; resolves to the parsed JSON output. */
  call(exportFn: string, input: unknown, opts: SandboxCallOptions): Promise<unknown>;
  /**
   * The same call answered at once, when the main thread's metered instance can answer it (a
   * short, self-contained call; see inline.ts): its output or its error. Undefined when it cannot,
   * having run nothing: call() then runs it. For callers on a hot path that would otherwise pay
   * for a promise and its bookkeeping on every short call (the generic WASM job wrapper).
   */
  callNow(exportFn: string, input: unknown, opts: SandboxCallOptions): ImmediateAnswer | undefined;
  stats(): SandboxStats;
  /** Calls plugin_cleanup on each instance (bounded in time) and stops the workers; in-flight calls finish first. */
  close(): Promise<void>;
}
