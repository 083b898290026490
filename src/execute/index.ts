/**
 * The one entry point for running an operation, whoever calls it (wire, CLI, an extension, core
 * code): look the method up in the core registry, then the runtime registry; validate the
 * input; run the handler; validate the output. This is the design's `execute_json_operation`.
 */
import { ErrorCode, SpacedriveError, asSpacedriveError } from '../errors/index.js';
import { closestNames } from '../registry/closest-names.js';
import { parseMethod, type OperationContext, type OperationKind, type OperationLookup, type RegisteredOperation } from '../registry/index.js';

export interface ExecutorOptions {
  /** Core's statically declared operations (looked up first). */
  core: OperationLookup;
  /** Operations registered at run time by extensions. */
  runtime: OperationLookup;
  /**
   * Resolves the library a library-scoped call runs against (null: the caller named none).
   * Returns the id to use, or throws. Defaults to requiring an explicit id.
   */
  resolveLibrary?: (libraryId: string | null) => string | Promise<string>;
  /**
   * Why an extension that owns no operation is not loaded (installed but disabled, failed to
   * load), as a hint naming the fix; undefined when it is not installed at all.
   */
  whyNotLoaded?: (extensionId: string) => string | undefined;
}

export class Executor {
  readonly #core: OperationLookup;
  readonly #runtime: OperationLookup;
  readonly #resolveLibrary: (libraryId: string | null) => string | Promise<string>;
  readonly #whyNotLoaded: (extensionId: string) => string | undefined;

  constructor(opts: ExecutorOptions) {
    this.#core = opts.core;
    this.#runtime = opts.runtime;
    this.#whyNotLoaded = opts.whyNotLoaded ?? (() => undefined);
    this.#resolveLibrary =
      opts.resolveLibrary ??
      ((id) => {
        if (id === null) throw new SpacedriveError(ErrorCode.LIBRARY_REQUIRED, 'this operation runs against a library: pass library_id');
        return id;
      });
  }

  /** Core first, then extensions: core's names can never be shadowed. */
  lookup(method: string): RegisteredOperation | undefined {
    return this.#core.get(method) ?? this.#runtime.get(method);
  }

  list(): RegisteredOperation[] {
    return [...this.#core.list(), ...this.#runtime.list()];
  }

  /**
   * Runs `method` with `payload`. `expectedKind`, when given (the wire's Query/Action), must
   * match the method's kind.
   */
  async execute(method: string, payload: unknown, ctx: OperationContext, expectedKind?: OperationKind): Promise<unknown> {
    const op = this.lookup(method);
    if (!op) throw this.#unknown(method);
    if (expectedKind && op.kind !== expectedKind) {
      throw new SpacedriveError(ErrorCode.UNKNOWN_METHOD, `'${method}' is ${op.kind === 'query' ? 'a query' : 'an action'}; send it as ${op.kind === 'query' ? 'Query' : 'Action'}`, {
        method,
        kind: op.kind,
      });
    }
    const input = op.validateInput(payload === undefined ? {} : payload);
    const libraryId = op.scope === 'library' ? await this.#resolveLibrary(ctx.libraryId) : ctx.libraryId;
    const callCtx = libraryId === ctx.libraryId ? ctx : { ...ctx, libraryId };
    let output: unknown;
    try {
      output = await op.handler(input, callCtx);
    } catch (err) {
      const typed = asSpacedriveError(err);
      if (typed) throw typed;
      throw new SpacedriveError(ErrorCode.OPERATION_FAILED, `${method} failed: ${err instanceof Error ? err.message : String(err)}`, { method }, { cause: err });
    }
    return op.validateOutput(output === undefined ? null : output);
  }

  #unknown(method: string): SpacedriveError {
    const parsed = parseMethod(method);
    let hint = "run 'spacedrive methods' to list the registered methods";
    if (!parsed) {
      hint = `method names look like query:<domain>.<name>.v1 or action:<domain>.<name>.input.v1 (extensions: query:<ext>:<name>.v1); ${hint}`;
    } else if (parsed.namespace !== 'core' && !this.list().some((op) => op.owner === parsed.namespace)) {
      hint = this.#whyNotLoaded(parsed.namespace) ?? `no extension '${parsed.namespace}' is loaded; run 'spacedrive extensions list'`;
    }
    // Near names of the same kind first: `query:core.stauts.v1` should suggest the query.
    const known = this.list().map((op) => op.method);
    const sameKind = parsed ? known.filter((m) => m.startsWith(`${parsed.kind}:`)) : known;
    const suggestions = closestNames(method, sameKind.length > 0 ? sameKind : known, {
      key: (m) => {
        const p = parseMethod(m);
        return p ? `${p.namespace}:${p.name}` : m;
      },
    });
    const didYouMean = suggestions.length > 0 ? `; did you mean ${suggestions.join(' or ')}?` : '';
    return new SpacedriveError(ErrorCode.UNKNOWN_METHOD, `unknown method '${method}'; ${hint}${didYouMean}`, {
      method,
      ...(suggestions.length > 0 ? { suggestions } : {}),
    });
  }
}
