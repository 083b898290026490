import type { JsonSchema, Validator } from '../schema/index.js';

export type OperationKind = 'query' | 'action';
/** `core` operations need no library; `library` operations run against one library. */
export type OperationScope = 'core' | 'library';

/** Who is calling: a wire client, an extension (through the host call) or core code. */
export interface Caller {
  kind: 'client' | 'extension' | 'internal';
  /** Set when an extension makes the call. */
  extensionId?: string;
  /**
   * Extension ids along the current call chain, outermost first (A called B called …). Used to
   * refuse cycles and bound depth; see docs/extension-abi.md.
   */
  chain: readonly string[];
}

/**
 * A call as a handler sees it. `core` holds the services the handler may use: for a core
 * operation, exactly those its module declared (src/modules binds them); `S` types them.
 */
export interface OperationContext<S = unknown> {
  core: S;
  /** The library the call runs against (resolved to the default for library-scoped calls). */
  libraryId: string | null;
  caller: Caller;
  /** Aborted when the caller goes away or the daemon shuts down. */
  signal?: AbortSignal;
}

/** One statically declared (or runtime-registered) query or action. */
export interface OperationDeclaration<I = any, O = any, S = any> {
  method: string;
  kind: OperationKind;
  scope: OperationScope;
  description: string;
  input: JsonSchema;
  output: JsonSchema;
  handler: (input: I, ctx: OperationContext<S>) => O | Promise<O>;
}

export interface RegisteredOperation<I = any, O = any> extends OperationDeclaration<I, O> {
  /** `core`, or the id of the extension that registered it. */
  owner: string;
  validateInput: Validator<I>;
  validateOutput: Validator<O>;
}

/** What `execute` needs from a registry: lookup and listing. */
export interface OperationLookup {
  get(method: string): RegisteredOperation | undefined;
  list(): RegisteredOperation[];
}
