/**
 * Two registries, as the design has them:
 *  - {@link CoreRegistry}: core's operations, declared statically and frozen when core starts;
 *  - {@link RuntimeRegistry}: operations registered at run time by extensions, owned by the
 *    extension id so that unloading removes exactly that extension's operations.
 * `execute` (src/execute) looks a method up in the core registry first, then the runtime one.
 */
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import { compileSchema } from '../schema/index.js';
import { parseMethod } from './method-names.js';
import type { Caller, OperationDeclaration, OperationLookup, RegisteredOperation } from './types.js';

export * from './types.js';
export * from './method-names.js';

/**
 * Who a caller is, as the job store records a job's `dispatched_by`: `client` (a person, over
 * the wire), `core` (core code) or `extension:<id>`. Paths and jobs are checked against it.
 */
export function actorOf(caller: Caller): string {
  if (caller.kind === 'extension') return `extension:${caller.extensionId ?? 'unknown'}`;
  return caller.kind === 'client' ? 'client' : 'core';
}

/** Identity helper that keeps the handler's input/output types tied to the declaration. */
export function defineOperation<I, O>(decl: OperationDeclaration<I, O>): OperationDeclaration<I, O> {
  return decl;
}

function prepare(owner: string, decl: OperationDeclaration): RegisteredOperation {
  const parsed = parseMethod(decl.method);
  if (!parsed) {
    throw new SpacedriveError(
      ErrorCode.REGISTRATION_REJECTED,
      `'${decl.method}' is not a valid method name (expected query:<domain>.<name>.v1, action:<domain>.<name>.input.v1 or their <ext-id>: forms)`,
      { method: decl.method },
    );
  }
  if (parsed.kind !== decl.kind) {
    throw new SpacedriveError(ErrorCode.REGISTRATION_REJECTED, `'${decl.method}' is named as a ${parsed.kind} but declared as a ${decl.kind}`, {
      method: decl.method,
    });
  }
  return {
    ...decl,
    owner,
    validateInput: compileSchema(decl.input, { what: `input for ${decl.method}` }),
    validateOutput: compileSchema(decl.output, { code: ErrorCode.INVALID_OUTPUT, what: `output of ${decl.method}` }),
  };
}

export class CoreRegistry implements OperationLookup {
  readonly #ops: ReadonlyMap<string, RegisteredOperation>;

  constructor(declarations: readonly OperationDeclaration[]) {
    const ops = new Map<string, RegisteredOperation>();
    for (const decl of declarations) {
      const parsed = parseMethod(decl.method);
      if (parsed && parsed.namespace !== 'core') {
        throw new SpacedriveError(ErrorCode.REGISTRATION_REJECTED, `core operation '${decl.method}' uses an extension namespace`);
      }
      if (ops.has(decl.method)) {
        throw new SpacedriveError(ErrorCode.REGISTRATION_REJECTED, `core operation '${decl.method}' is declared twice`);
      }
      ops.set(decl.method, prepare('core', decl));
    }
    this.#ops = ops;
  }

  get(method: string): RegisteredOperation | undefined {
    return this.#ops.get(method);
  }

  list(): RegisteredOperation[] {
    return [...this.#ops.values()];
  }
}

export class RuntimeRegistry implements OperationLookup {
  #ops = new Map<string, RegisteredOperation>();
  readonly #isReserved: (method: string) => boolean;

  /** @param isReserved names that may never be registered at run time (core's). */
  constructor(isReserved: (method: string) => boolean = () => false) {
    this.#isReserved = isReserved;
  }

  /**
   * Registers one operation for `owner`. The method's namespace must be the owner's id: an
   * extension cannot register in core's or another extension's namespace.
   */
  register(owner: string, decl: OperationDeclaration): RegisteredOperation {
    const op = this.#check(owner, decl);
    if (this.#ops.has(decl.method)) {
      throw new SpacedriveError(ErrorCode.REGISTRATION_REJECTED, `'${decl.method}' is already registered`, { method: decl.method, owner });
    }
    this.#ops.set(decl.method, op);
    return op;
  }

  /**
   * Replaces everything `owner` registered with `decls` in one step, so that no call sees the
   * owner half-registered (used by reload). Calls already running keep the handler they got.
   */
  replaceOwner(owner: string, decls: readonly OperationDeclaration[]): RegisteredOperation[] {
    const prepared = new Map<string, RegisteredOperation>();
    for (const decl of decls) {
      if (prepared.has(decl.method)) {
        throw new SpacedriveError(ErrorCode.REGISTRATION_REJECTED, `'${decl.method}' is registered twice`, { method: decl.method, owner });
      }
      prepared.set(decl.method, this.#check(owner, decl));
    }
    const next = new Map([...this.#ops].filter(([, op]) => op.owner !== owner));
    for (const [method, op] of prepared) {
      if (next.has(method)) throw new SpacedriveError(ErrorCode.REGISTRATION_REJECTED, `'${method}' is already registered`, { method, owner });
      next.set(method, op);
    }
    this.#ops = next;
    return [...prepared.values()];
  }

  /** Removes exactly `owner`'s operations; returns how many were removed. */
  unregisterOwner(owner: string): number {
    let removed = 0;
    for (const [method, op] of this.#ops) {
      if (op.owner === owner) {
        this.#ops.delete(method);
        removed++;
      }
    }
    return removed;
  }

  get(method: string): RegisteredOperation | undefined {
    return this.#ops.get(method);
  }

  list(): RegisteredOperation[] {
    return [...this.#ops.values()];
  }

  listByOwner(owner: string): RegisteredOperation[] {
    return this.list().filter((op) => op.owner === owner);
  }

  #check(owner: string, decl: OperationDeclaration): RegisteredOperation {
    const parsed = parseMethod(decl.method);
    // Owner `core` is core's alone: at run time it would list as core's and claim `core:` names.
    if (owner === 'core' || this.#isReserved(decl.method) || (parsed && parsed.namespace !== owner)) {
      throw new SpacedriveError(
        ErrorCode.REGISTRATION_REJECTED,
        `'${owner}' may only register methods in its own namespace (query:${owner}:<name>.v1, action:${owner}:<name>.input.v1), not '${decl.method}'`,
        { method: decl.method, owner },
      );
    }
    return prepare(owner, decl);
  }
}
