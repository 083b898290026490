/**
 * Calling the host: wire methods (core's and other extensions' queries and actions) and host
 * methods (`extension.*`), through the one generic import `sd_call`.
 *
 * AssemblyScript has no exceptions, so a call returns a {@link CallResult}: check `ok`, then
 * read `value`, or read `error`.
 */
import { JSON } from "json-as";
import { sd_call } from "./host";
import { takeFromHost } from "./abi";
import { RawFields, rawFields } from "./raw-json";
import { E_BAD_ENVELOPE, E_FAILED_CALL_VALUE, E_HOST, E_NO_ENVELOPE } from "./messages";

/** Why a call failed: a stable error code (`PERMISSION_DENIED`, `UNKNOWN_METHOD`, …) and a message. */
export class CallError {
  constructor(
    /** Stable error code, e.g. `INVALID_INPUT`, `PERMISSION_DENIED`, `UNKNOWN_METHOD`. */
    public code: string,
    /** A message a person can act on. */
    public message: string,
  ) {}

  /** `CODE: message` */
  toString(): string {
    return this.code + ": " + this.message;
  }
}

// A zero value of T, held by failed results (never handed out: `value` checks `ok` first).
function zero<T>(): T {
  if (isReference<T>()) return changetype<T>(0);
  // @ts-ignore: value types only
  return <T>0;
}

/** The outcome of a host call: `ok` with a `value`, or not `ok` with an `error`. */
export class CallResult<T> {
  private constructor(
    /** `true` when the call succeeded. */
    public readonly ok: bool,
    private readonly _value: T,
    /** Set when the call failed. */
    public readonly error: CallError | null,
  ) {}

  /** A successful result holding `value`. */
  static success<T>(value: T): CallResult<T> {
    return new CallResult<T>(true, value, null);
  }

  /** A failed result. */
  static failure<T>(error: CallError): CallResult<T> {
    return new CallResult<T>(false, zero<T>(), error);
  }

  /** The value; aborts (trapping the call, with the error as the reason) when the call failed. Check `ok` first. */
  get value(): T {
    if (!this.ok) abort(E_FAILED_CALL_VALUE + this.error!.toString());
    return this._value;
  }

  /** The value, or `fallback` when the call failed. */
  valueOr(fallback: T): T {
    return this.ok ? this._value : fallback;
  }

  /** The same failure with another value type (to pass an error on). */
  mapError<U>(): CallResult<U> {
    return CallResult.failure<U>(this.error!);
  }
}

/** Parses an `sd_call` envelope into the raw result JSON or an error. */
function readEnvelope(method: string, packed: i64): CallResult<string> {
  const text = takeFromHost(packed);
  if (text === null) return CallResult.failure<string>(new CallError(E_HOST, E_NO_ENVELOPE + method));
  const fields = rawFields(text);
  if (fields === null) return CallResult.failure<string>(new CallError(E_HOST, E_BAD_ENVELOPE + method));
  if (fields.getOr("ok", "false") == "true") return CallResult.success<string>(fields.getOr("result", "null"));
  const errorRaw = fields.get("error");
  let error: RawFields | null = null;
  if (errorRaw !== null) error = rawFields(errorRaw);
  if (error === null) return CallResult.failure<string>(new CallError(E_HOST, E_BAD_ENVELOPE + method));
  return CallResult.failure<string>(new CallError(error.string("code", E_HOST), error.string("message", "")));
}

/**
 * Calls `method` with a raw JSON payload; on success the value is the raw JSON result.
 * `method` is a full wire method (`query:core.status.v1`) or a host method (`extension.config`).
 */
export function callRaw(method: string, payloadJson: string): CallResult<string> {
  const m = String.UTF8.encode(method);
  const p = String.UTF8.encode(payloadJson);
  const packed = sd_call(changetype<usize>(m), m.byteLength, changetype<usize>(p), p.byteLength);
  return readEnvelope(method, packed);
}

/** Calls `method` with `input` serialised by json-as and parses the result into `O`. */
export function callTyped<I, O>(method: string, input: I): CallResult<O> {
  const raw = callRaw(method, JSON.stringify<I>(input));
  if (!raw.ok) return raw.mapError<O>();
  return CallResult.success<O>(JSON.parse<O>(raw.value));
}

const V_SUFFIX_DIGITS_MAX = 6;

/**
 * Expands a short method name the way the CLI does:
 * `finance:classify_receipt` → `query:finance:classify_receipt.v1` (query) or
 * `action:finance:classify_receipt.input.v1` (action); `core.status.v2` → `query:core.status.v2`;
 * full names are kept.
 */
export function expandMethodName(isQuery: bool, name: string): string {
  if (name.startsWith("query:") || name.startsWith("action:")) return name;
  let base = name;
  let version = "1";
  const dot = base.lastIndexOf(".v");
  if (dot >= 0 && dot + 2 < base.length && base.length - dot - 2 <= V_SUFFIX_DIGITS_MAX) {
    let digits = true;
    for (let i = dot + 2; i < base.length; i++) {
      const c = base.charCodeAt(i);
      if (c < 0x30 || c > 0x39) digits = false;
    }
    if (digits) {
      version = base.substring(dot + 2);
      base = base.substring(0, dot);
    }
  }
  if (isQuery) return "query:" + base + ".v" + version;
  if (base.endsWith(".input")) base = base.substring(0, base.length - 6);
  return "action:" + base + ".input.v" + version;
}

/** Calls a query (`finance:classify_receipt` or a full name) with a typed input and output. */
export function callQuery<I, O>(method: string, input: I): CallResult<O> {
  return callTyped<I, O>(expandMethodName(true, method), input);
}

/** Calls an action (`finance:import_receipts` or a full name) with a typed input and output. */
export function callAction<I, O>(method: string, input: I): CallResult<O> {
  return callTyped<I, O>(expandMethodName(false, method), input);
}
