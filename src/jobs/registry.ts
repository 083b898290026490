/**
 * Job types by name, owned like runtime operations: core's static list under owner `core`, each
 * extension's under its id, so that unloading an extension removes exactly its job types. A
 * change wakes the runner, so persisted jobs waiting for their type start once it appears.
 */
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import { compileSchema, type Validator } from '../schema/index.js';
import type { JobTypeDefinition } from './types.js';

export interface RegisteredJobType extends JobTypeDefinition {
  /** `core` or the extension id. */
  owner: string;
  validateParams: Validator;
}

/** Owner of core's job types. */
const CORE_OWNER = 'core';
const NAME = '[a-z][a-z0-9_]*';
const CORE_TYPE = new RegExp(`^${NAME}(\\.${NAME})+$`);
const EXT_TYPE = new RegExp(`^([a-z][a-z0-9_-]*):(${NAME}(\\.${NAME})*)$`);

function rejected(message: string, type: string): SpacedriveError {
  return new SpacedriveError(ErrorCode.REGISTRATION_REJECTED, message, { job_type: type });
}

export class JobTypeRegistry {
  readonly #types = new Map<string, RegisteredJobType>();
  readonly #listeners = new Set<() => void>();

  /** Checks a definition and compiles its params schema; throws REGISTRATION_REJECTED. */
  #prepare(owner: string, def: JobTypeDefinition): RegisteredJobType {
    const type = def.type;
    if (typeof type !== 'string') throw rejected('a job type needs a name', String(type));
    if (owner === 'core') {
      if (!CORE_TYPE.test(type)) throw rejected(`'${type}' is not a valid core job type name (expected <domain>.<name>, lower case)`, type);
    } else {
      const m = EXT_TYPE.exec(type);
      if (!m) throw rejected(`'${type}' is not a valid extension job type name (expected <ext-id>:<name>)`, type);
      if (m[1] !== owner) throw rejected(`extension '${owner}' cannot register job type '${type}' outside its namespace '${owner}:'`, type);
    }
    if (typeof def.run !== 'function') throw rejected(`job type '${type}' has no run function`, type);
    if (!Number.isInteger(def.version) || def.version < 1) throw rejected(`job type '${type}' needs an integer version >= 1`, type);
    for (const k of ['maxConcurrency', 'ownerMaxConcurrency', 'maxAttempts', 'stallTimeoutMs'] as const) {
      const v = def[k];
      if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw rejected(`job type '${type}': ${k} must be a positive integer`, type);
    }
    let validateParams: Validator;
    try {
      validateParams = compileSchema(def.paramsSchema, { what: `params for job type '${type}'` });
    } catch (err) {
      throw rejected(`job type '${type}': ${(err as Error).message}`, type);
    }
    return { ...def, owner, validateParams };
  }

  /** Adds one job type for `owner`. A name taken by another owner is refused. */
  register(owner: string, def: JobTypeDefinition): void {
    const prepared = this.#prepare(owner, def);
    const existing = this.#types.get(prepared.type);
    if (existing && existing.owner !== owner) {
      throw rejected(`job type '${prepared.type}' is already registered by '${existing.owner}'`, prepared.type);
    }
    this.#types.set(prepared.type, prepared);
    this.#changed();
  }

  /**
   * Replaces everything `owner` registered with `defs`, all or nothing (a reload). Core's types
   * are registered one by one at start and never replaced: refused for owner `core`.
   */
  replaceOwner(owner: string, defs: JobTypeDefinition[]): void {
    if (owner === CORE_OWNER) throw rejected("core's job types cannot be replaced at run time", `${CORE_OWNER}:*`);
    const prepared = defs.map((d) => this.#prepare(owner, d));
    const names = new Set<string>();
    for (const p of prepared) {
      if (names.has(p.type)) throw rejected(`job type '${p.type}' is registered twice`, p.type);
      names.add(p.type);
      const existing = this.#types.get(p.type);
      if (existing && existing.owner !== owner) throw rejected(`job type '${p.type}' is already registered by '${existing.owner}'`, p.type);
    }
    for (const [name, t] of this.#types) if (t.owner === owner) this.#types.delete(name);
    for (const p of prepared) this.#types.set(p.type, p);
    this.#changed();
  }

  /**
   * Removes every job type of `owner`; returns how many. Their persisted jobs wait until the
   * types come back. Core's types are never removed (0 for owner `core`).
   */
  unregisterOwner(owner: string): number {
    if (owner === CORE_OWNER) return 0;
    let n = 0;
    for (const [name, t] of this.#types) {
      if (t.owner === owner) {
        this.#types.delete(name);
        n++;
      }
    }
    if (n > 0) this.#changed();
    return n;
  }

  get(type: string): RegisteredJobType | undefined {
    return this.#types.get(type);
  }

  list(): RegisteredJobType[] {
    return [...this.#types.values()].sort((a, b) => a.type.localeCompare(b.type));
  }

  /** Called after every change. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #changed(): void {
    for (const l of this.#listeners) l();
  }
}
