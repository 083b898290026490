/**
 * `credentials()`: the extension's own secrets, encrypted at rest by the host
 * (`action:credentials.store.input.v1`, `query:credentials.get.v1`,
 * `action:credentials.delete.input.v1`, `query:credentials.list.v1`). An extension reads only its
 * own. Needs `permissions.call` prefixes `action:credentials.` and `query:credentials.`.
 */
import { JSON } from "json-as";
import { CallError, CallResult } from "../call";
import { rawFields } from "../raw-json";
import { E_BAD_ENVELOPE, E_HOST } from "../messages";
import { ObjectBuilder, callFields, rawItems } from "./common";

const M_STORE = "action:credentials.store.input.v1";
const M_GET = "query:credentials.get.v1";
const M_DELETE = "action:credentials.delete.input.v1";
const M_LIST = "query:credentials.list.v1";

/** A stored credential. */
export class Credential {
  name: string = "";
  secret: string = "";
  /** Raw JSON object (not secret). */
  metadataJson: string = "{}";
  createdAt: string = "";
  updatedAt: string = "";

  metadataAs<T>(): T {
    return JSON.parse<T>(this.metadataJson);
  }
}

/** The extension's credentials. */
export class Credentials {
  /** Stores `secret` under `name` (replacing any), with optional non-secret metadata (raw JSON object). */
  store(name: string, secret: string, metadataJson: string | null = null): CallResult<bool> {
    const r = callFields(M_STORE, new ObjectBuilder().str("name", name).str("secret", secret).raw("metadata", metadataJson).toString());
    if (!r.ok) return r.mapError<bool>();
    return CallResult.success<bool>(true);
  }

  /** Like {@link store}, with metadata from a `@json` object. */
  storeWith<T>(name: string, secret: string, metadata: T): CallResult<bool> {
    return this.store(name, secret, JSON.stringify<T>(metadata));
  }

  /** The credential; the error code is `NOT_FOUND` when there is none. */
  get(name: string): CallResult<Credential> {
    const r = callFields(M_GET, new ObjectBuilder().str("name", name).toString());
    if (!r.ok) return r.mapError<Credential>();
    const c = new Credential();
    c.name = r.value.string("name");
    c.secret = r.value.string("secret");
    c.metadataJson = r.value.getOr("metadata", "{}");
    c.createdAt = r.value.string("created_at");
    c.updatedAt = r.value.string("updated_at");
    return CallResult.success<Credential>(c);
  }

  /** Deletes it; `NOT_FOUND` when there is none. */
  delete(name: string): CallResult<bool> {
    const r = callFields(M_DELETE, new ObjectBuilder().str("name", name).toString());
    if (!r.ok) return r.mapError<bool>();
    return CallResult.success<bool>(true);
  }

  /** Names of the stored credentials. */
  list(): CallResult<string[]> {
    const r = callFields(M_LIST, "{}");
    if (!r.ok) return r.mapError<string[]>();
    const items = rawItems(r.value.getOr("credentials", "[]"));
    if (items === null) return CallResult.failure<string[]>(new CallError(E_HOST, E_BAD_ENVELOPE + M_LIST));
    const names = new Array<string>();
    for (let i = 0; i < items!.length; i++) {
      const f = rawFields(unchecked(items![i]));
      if (f !== null) names.push(f!.string("name"));
    }
    return CallResult.success<string[]>(names);
  }
}

const client = new Credentials();

/** The extension's credentials. */
export function credentials(): Credentials {
  return client;
}
