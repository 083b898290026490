/**
 * `JsonObject` / `JsonArray`: build JSON text field by field, for values whose shape is decided
 * at run time (metadata that depends on what was found, answers that leave fields out) where a
 * `@json` class would have to say "absent" with nullable boxes. Strings are escaped; numbers that
 * are not finite become `null` (JSON has no NaN).
 *
 * @example
 * ```ts
 * const meta = new JsonObject()
 *   .string("merchant", merchant)
 *   .number("total", total)            // NaN → null
 *   .stringOrNull("currency", currency) // "" → null
 *   .value<Receipt>("receipt", receipt) // a @json class, through json-as
 *   .toString();
 * ```
 */
import { JSON } from "json-as";
import { quote } from "./raw-json";

function numberJson(value: f64): string {
  if (!isFinite(value)) return "null";
  // Integral values print without a fraction ("16", not "16.0").
  if (value == Math.floor(value) && Math.abs(value) < 9007199254740992) return (<i64>value).toString();
  return value.toString();
}

/** A JSON object built field by field, in insertion order. */
export class JsonObject {
  private parts: string[] = [];

  /** `"key": <json>` with `json` raw JSON text, left as it is (no check). */
  raw(key: string, json: string): JsonObject {
    this.parts.push(quote(key) + ":" + json);
    return this;
  }

  /** `"key": "value"`. */
  string(key: string, value: string): JsonObject {
    return this.raw(key, quote(value));
  }

  /** `"key": "value"`, or `null` when `value` is null or empty. */
  stringOrNull(key: string, value: string | null): JsonObject {
    return this.raw(key, value === null || value.length == 0 ? "null" : quote(value!));
  }

  /** `"key": "value"` only when `value` is neither null nor empty. */
  stringIfAny(key: string, value: string | null): JsonObject {
    if (value !== null && value.length > 0) this.raw(key, quote(value!));
    return this;
  }

  /** `"key": <number>`; `null` when `value` is NaN or infinite. */
  number(key: string, value: f64): JsonObject {
    return this.raw(key, numberJson(value));
  }

  /** `"key": <integer>`. */
  integer(key: string, value: i64): JsonObject {
    return this.raw(key, value.toString());
  }

  /** `"key": true|false`. */
  bool(key: string, value: bool): JsonObject {
    return this.raw(key, value ? "true" : "false");
  }

  /** `"key": null`. */
  nullField(key: string): JsonObject {
    return this.raw(key, "null");
  }

  /** `"key": [ "a", "b" ]`. */
  strings(key: string, values: string[]): JsonObject {
    const quoted = new Array<string>(values.length);
    for (let i = 0; i < values.length; i++) unchecked((quoted[i] = quote(unchecked(values[i]))));
    return this.raw(key, "[" + quoted.join(",") + "]");
  }

  /** `"key": <value>` serialised by json-as (a `@json` class, an array, a string, a number). */
  value<T>(key: string, value: T): JsonObject {
    return this.raw(key, JSON.stringify<T>(value));
  }

  /** `"key": { … }` from another builder. */
  object(key: string, value: JsonObject): JsonObject {
    return this.raw(key, value.toString());
  }

  /** `"key": [ … ]` from an array builder. */
  array(key: string, value: JsonArray): JsonObject {
    return this.raw(key, value.toString());
  }

  /** Whether a field was added. */
  get isEmpty(): bool {
    return this.parts.length == 0;
  }

  toString(): string {
    return "{" + this.parts.join(",") + "}";
  }
}

/** A JSON array built element by element. */
export class JsonArray {
  private parts: string[] = [];

  /** Adds raw JSON text. */
  raw(json: string): JsonArray {
    this.parts.push(json);
    return this;
  }

  /** Adds a string. */
  string(value: string): JsonArray {
    return this.raw(quote(value));
  }

  /** Adds a number (`null` when not finite). */
  number(value: f64): JsonArray {
    return this.raw(numberJson(value));
  }

  /** Adds an object. */
  object(value: JsonObject): JsonArray {
    return this.raw(value.toString());
  }

  /** Adds a value serialised by json-as. */
  value<T>(value: T): JsonArray {
    return this.raw(JSON.stringify<T>(value));
  }

  get length(): i32 {
    return this.parts.length;
  }

  toString(): string {
    return "[" + this.parts.join(",") + "]";
  }
}
