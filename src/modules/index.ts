/**
 * The module kernel: core is a composed list of capability modules. Each capability folder
 * (src/library, src/jobs, …) exports one module from its entry file declaring
 *  - `name`: the name its service is known by (`libraries`, `jobs`, …);
 *  - `dependsOn`: the services its `create`, `start` and `stop` need — base services the
 *    composition root provides (`options`, `events`, `logger`, the registries, `executor`, …) or
 *    other modules. It orders the modules: a module is created and started after what it
 *    depends on and stopped before it (so it may still use them while it stops);
 *  - `operationsUse`: further services only its operation handlers see. Handlers run after the
 *    whole core is up, so these name no order (library operations dispatch jobs, while the
 *    job runner must stop before the library databases close);
 *  - `create(deps)` → its service, `operations`, `jobTypes`, `counters`, and the lifecycle
 *    hooks `start` (in order), `ready` (in order, once every module started) and `stop`
 *    (in reverse order).
 * A handler's `ctx.core` is an object holding exactly the services its module declared (plus its
 * own service under the module's name), so a handler cannot reach a capability it did not name.
 *
 * This folder imports no capability: capabilities import it (types flow one way), and the
 * composition root (src/core) imports both.
 */
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import type { SpacedriveOptions } from '../config/index.js';
import type { EventBus } from '../events/index.js';
import type { Executor } from '../execute/index.js';
import type { Logger } from '../logging/index.js';
import type { Caller, CoreRegistry, OperationContext, OperationDeclaration, RuntimeRegistry } from '../registry/index.js';

export interface ExecuteOptions {
  libraryId?: string | null;
  caller?: Caller;
  signal?: AbortSignal;
}

/** A counter group's reader: `query:core.status.v1` shows each count as `<group>_<name>`. */
export type CountersReader = () => Record<string, number> | Promise<Record<string, number>>;

/**
 * Services every module may depend on, provided by the composition root (src/core) rather than
 * by a module: configuration, logging, events, the operation registries and `execute`.
 */
export interface BaseServices {
  readonly version: string;
  /** Milliseconds since the epoch. */
  readonly startedAt: number;
  readonly options: SpacedriveOptions;
  readonly logger: Logger;
  readonly events: EventBus;
  readonly coreRegistry: CoreRegistry;
  readonly runtimeRegistry: RuntimeRegistry;
  readonly executor: Executor;
  /**
   * Named counter groups shown by `query:core.status.v1`; modules add theirs with `counters`,
   * the daemon adds `connections`.
   */
  readonly counters: Map<string, CountersReader>;
  /** Runs any registered method, as core code (caller `internal` unless given). */
  execute(method: string, payload: unknown, opts?: ExecuteOptions): Promise<unknown>;
}

/** A module's operation: its handler sees the services `S` its module declared as `ctx.core`. */
export type ModuleOperation<S> = OperationDeclaration<any, any, S>;

/** The typed `defineOperation` of a module whose handlers see services `S`. */
export function operationsWith<S>(): <I, O>(decl: OperationDeclaration<I, O, S>) => OperationDeclaration<I, O, S> {
  return (decl) => decl;
}

/** What a handler of the module `N` with service `Svc` sees: its declared services and its own. */
export type HandlerServices<N extends string, Svc, Deps, Uses = {}> = Deps & Uses & { readonly [K in N]: Svc };

export interface ModuleDefinition<N extends string, Deps extends object, Svc, Uses extends object = {}, JobType = unknown> {
  name: N;
  /** Services `create`, `start`, `ready` and `stop` receive; they order the modules. */
  dependsOn: ReadonlyArray<keyof Deps & string>;
  /** Services only the handlers see (no order). */
  operationsUse?: ReadonlyArray<keyof Uses & string>;
  /** Makes the module's service; absent for a module that only declares operations. */
  create?: (deps: Deps) => Svc | Promise<Svc>;
  operations?: ReadonlyArray<ModuleOperation<HandlerServices<N, Svc, Deps, Uses>>>;
  /** Core job types this module runs, registered once every module is created (owner `core`). */
  jobTypes?: (service: Svc, deps: Deps) => readonly JobType[];
  /** Counters for `query:core.status.v1`; `group` defaults to the module's name. */
  counters?: { group?: string; read: (service: Svc) => Record<string, number> | Promise<Record<string, number>> };
  start?: (service: Svc, deps: Deps) => void | Promise<void>;
  /** After every module started (in order): work that may call any capability. */
  ready?: (service: Svc, deps: Deps) => void | Promise<void>;
  stop?: (service: Svc, deps: Deps) => void | Promise<void>;
}

/** A module of any shape, as a composed list holds it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyModule = ModuleDefinition<string, any, any, any, any>;

/** Identity helper that keeps a module's dependency, service and handler types tied together. */
export function defineModule<Deps extends object, Svc = undefined, Uses extends object = {}, JobType = unknown>() {
  return <N extends string>(def: ModuleDefinition<N, Deps, Svc, Uses, JobType>): ModuleDefinition<N, Deps, Svc, Uses, JobType> => def;
}

/**
 * Orders modules so that each comes after what it depends on; modules that do not depend on
 * each other keep their order in the list. Throws INTERNAL naming a missing
 * dependency (and who needs it), a duplicate name, or the modules of a cycle.
 */
export function orderModules(modules: readonly AnyModule[], baseNames?: ReadonlySet<string>): AnyModule[] {
  const byName = new Map<string, AnyModule>();
  for (const m of modules) {
    if (byName.has(m.name) || baseNames?.has(m.name)) throw graphError(`module '${m.name}' is declared twice (or shadows a base service)`, { module: m.name });
    byName.set(m.name, m);
  }
  for (const m of baseNames ? modules : []) {
    for (const dep of [...m.dependsOn, ...(m.operationsUse ?? [])]) {
      if (!byName.has(dep) && !baseNames!.has(dep)) {
        throw graphError(`module '${m.name}' depends on '${dep}', which no module provides (modules: ${[...byName.keys()].join(', ')})`, { module: m.name, missing: dep });
      }
    }
  }
  const ordered: AnyModule[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (m: AnyModule, path: string[]): void => {
    const s = state.get(m.name);
    if (s === 'done') return;
    if (s === 'visiting') {
      const cycle = [...path.slice(path.indexOf(m.name)), m.name];
      throw graphError(`modules depend on each other in a cycle: ${cycle.join(' → ')}`, { cycle });
    }
    state.set(m.name, 'visiting');
    for (const dep of m.dependsOn) {
      const d = byName.get(dep);
      if (d) visit(d, [...path, m.name]);
    }
    state.set(m.name, 'done');
    ordered.push(m);
  };
  for (const m of modules) visit(m, []);
  return ordered;
}

function graphError(message: string, details: Record<string, unknown>): SpacedriveError {
  return new SpacedriveError(ErrorCode.INTERNAL, message, details);
}

export interface ComposeOptions {
  modules: readonly AnyModule[];
  /** Registers a module's core job type (the composition root hands it to the job registry). */
  registerJobType?: (def: unknown) => void;
  logger: Logger;
}

/**
 * A composed set of modules: created with {@link Composition.create}, started with
 * {@link Composition.start}, stopped (in reverse) with {@link Composition.stop}.
 */
export class Composition<Base extends object> {
  #base: Base | undefined;
  readonly #order: AnyModule[];
  readonly #services = new Map<string, unknown>();
  /** Handler views per module, built once every module exists. */
  readonly #views = new Map<string, object>();
  readonly #registerJobType: (def: unknown) => void;
  readonly #logger: Logger;
  /** Modules created so far, in order (stop walks it backwards, also after a failed start). */
  readonly #created: AnyModule[] = [];
  #stopped = false;

  /** Orders the modules (a cycle throws here); names not among them must be base services. */
  constructor(o: ComposeOptions) {
    this.#order = orderModules(o.modules);
    this.#logger = o.logger;
    this.#registerJobType =
      o.registerJobType ??
      (() => {
        throw new SpacedriveError(ErrorCode.INTERNAL, 'a module declares job types but nothing registers them');
      });
  }

  /** Module names in start order. */
  get order(): string[] {
    return this.#order.map((m) => m.name);
  }

  /**
   * Every module's operations with their handlers bound to that module's services; collected
   * before any module exists (the core registry is built first), resolved when called.
   */
  operations(): OperationDeclaration[] {
    return this.#order.flatMap((m) =>
      (m.operations ?? []).map((decl): OperationDeclaration => ({
        ...decl,
        handler: (input: unknown, ctx: OperationContext) => decl.handler(input, { ...ctx, core: this.#view(m) }),
      })),
    );
  }

  /** The service of module (or base service) `name`. */
  get<T = unknown>(name: string): T {
    if (this.#services.has(name)) return this.#services.get(name) as T;
    if (this.#base && Object.hasOwn(this.#base, name)) return (this.#base as Record<string, unknown>)[name] as T;
    throw new SpacedriveError(ErrorCode.INTERNAL, `no service '${name}' (modules: ${this.order.join(', ')})`, { service: name });
  }

  /**
   * Checks that every dependency is a module or one of `base`'s services, then creates every
   * module in order, then registers every module's job types; counters are registered as created.
   */
  async create(base: Base): Promise<void> {
    orderModules(this.#order, new Set(Object.keys(base)));
    this.#base = base;
    const counters = (base as Partial<BaseServices>).counters;
    for (const m of this.#order) {
      const service = m.create ? await m.create(this.#deps(m, m.dependsOn)) : undefined;
      this.#services.set(m.name, service);
      this.#created.push(m);
      if (m.counters && counters) counters.set(m.counters.group ?? m.name, () => m.counters!.read(service));
    }
    // Once every module exists: the job system that checks and runs them may come later in order.
    for (const m of this.#order) {
      for (const def of m.jobTypes?.(this.#services.get(m.name), this.#deps(m, m.dependsOn)) ?? []) this.#registerJobType(def);
    }
  }

  /** Starts every module in order, then runs their `ready` hooks in order. */
  async start(): Promise<void> {
    for (const m of this.#order) await m.start?.(this.#services.get(m.name), this.#deps(m, m.dependsOn));
    for (const m of this.#order) await m.ready?.(this.#services.get(m.name), this.#deps(m, m.dependsOn));
  }

  /** Stops every created module in reverse order; one failing stop does not keep the others running. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const m of [...this.#created].reverse()) {
      try {
        await m.stop?.(this.#services.get(m.name), this.#deps(m, m.dependsOn));
      } catch (err) {
        this.#logger.error({ err, module: m.name }, 'error while stopping a module');
      }
    }
  }

  #deps(m: AnyModule, names: readonly string[]): Record<string, unknown> {
    const deps: Record<string, unknown> = {};
    for (const name of names) {
      if (name === m.name) continue;
      deps[name] = this.get(name);
    }
    return declaredOnly(m.name, Object.freeze(deps));
  }

  #view(m: AnyModule): object {
    let view = this.#views.get(m.name);
    if (!view) {
      if (!this.#services.has(m.name)) throw new SpacedriveError(ErrorCode.SHUTTING_DOWN, `the '${m.name}' capability is not running`, { module: m.name });
      view = declaredOnly(m.name, Object.freeze({ ...this.#deps(m, [...m.dependsOn, ...(m.operationsUse ?? [])]), [m.name]: this.#services.get(m.name) }));
      this.#views.set(m.name, view);
    }
    return view;
  }
}

/**
 * `services`, refusing to hand out one its module did not declare: reading an undeclared name is
 * a bug in the module (a missing `dependsOn` or `operationsUse` entry), reported by name instead
 * of surfacing later as `undefined`.
 */
function declaredOnly<T extends object>(module: string, services: T): T {
  return new Proxy(services, {
    get(target, prop, receiver) {
      if (typeof prop === 'string' && !Object.hasOwn(target, prop) && prop !== 'then' && prop !== 'toJSON') {
        throw new SpacedriveError(ErrorCode.INTERNAL, `module '${module}' used the service '${prop}' without declaring it (dependsOn or operationsUse)`, { module, service: prop });
      }
      return Reflect.get(target, prop, receiver);
    },
  });
}
