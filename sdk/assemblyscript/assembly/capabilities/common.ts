/**
 * Shared by the capability wrappers: base64 (binary fields cross the wire base64-encoded), a
 * JSON object builder that leaves out absent fields, and readers for the fields of a result.
 */
import { CallError, CallResult, callRaw } from "../call";
import { RawFields, rawFields, quote } from "../raw-json";
import { E_BAD_ENVELOPE, E_HOST } from "../messages";

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Standard base64 (with padding) of `bytes`. */
export function base64Encode(bytes: Uint8Array): string {
  const n = bytes.length;
  const out = new Array<string>();
  let chunk = "";
  for (let i = 0; i < n; i += 3) {
    const b0 = <u32>unchecked(bytes[i]);
    const b1 = i + 1 < n ? <u32>unchecked(bytes[i + 1]) : 0;
    const b2 = i + 2 < n ? <u32>unchecked(bytes[i + 2]) : 0;
    const t = (b0 << 16) | (b1 << 8) | b2;
    chunk += B64.charAt((t >> 18) & 63) + B64.charAt((t >> 12) & 63);
    chunk += i + 1 < n ? B64.charAt((t >> 6) & 63) : "=";
    chunk += i + 2 < n ? B64.charAt(t & 63) : "=";
    // Joining in pieces keeps string concatenation linear.
    if (chunk.length >= 4096) {
      out.push(chunk);
      chunk = "";
    }
  }
  out.push(chunk);
  return out.join("");
}

function b64Value(c: i32): i32 {
  if (c >= 65 && c <= 90) return c - 65;
  if (c >= 97 && c <= 122) return c - 71;
  if (c >= 48 && c <= 57) return c + 4;
  if (c == 43 || c == 45) return 62; // + or - (url-safe)
  if (c == 47 || c == 95) return 63; // / or _ (url-safe)
  return -1;
}

/** Decodes base64 (standard or url-safe, padding optional); `null` when it is not base64. */
export function base64Decode(text: string): Uint8Array | null {
  let len = text.length;
  while (len > 0 && text.charCodeAt(len - 1) == 61) len--;
  if (len % 4 == 1) return null;
  const out = new Uint8Array(<i32>((<i64>len * 3) >> 2));
  let acc: u32 = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < len; i++) {
    const v = b64Value(text.charCodeAt(i));
    if (v < 0) return null;
    acc = (acc << 6) | <u32>v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = <u8>((acc >> bits) & 0xff);
    }
  }
  return o == out.length ? out : out.subarray(0, o);
}

/** Builds a JSON object; `null` values are left out so the host applies its defaults. */
export class ObjectBuilder {
  private parts: string[] = [];

  /** Adds a string field (left out when `value` is null). */
  str(key: string, value: string | null): ObjectBuilder {
    if (value !== null) this.parts.push(quote(key) + ":" + quote(value));
    return this;
  }

  /** Adds a field whose value is raw JSON text (left out when null). */
  raw(key: string, json: string | null): ObjectBuilder {
    if (json !== null) this.parts.push(quote(key) + ":" + json);
    return this;
  }

  /** Adds an integer field. */
  int(key: string, value: i64): ObjectBuilder {
    this.parts.push(quote(key) + ":" + value.toString());
    return this;
  }

  /** Adds a boolean field. */
  bool(key: string, value: bool): ObjectBuilder {
    this.parts.push(quote(key) + ":" + (value ? "true" : "false"));
    return this;
  }

  /** Adds a base64 field (left out when null). */
  bytes(key: string, value: Uint8Array | null): ObjectBuilder {
    if (value !== null) this.parts.push(quote(key) + ":" + quote(base64Encode(value)));
    return this;
  }

  toString(): string {
    return "{" + this.parts.join(",") + "}";
  }
}

/** Calls `method` and scans the result object's fields. */
export function callFields(method: string, payload: string): CallResult<RawFields> {
  const r = callRaw(method, payload);
  if (!r.ok) return r.mapError<RawFields>();
  const f = rawFields(r.value);
  if (f === null) return CallResult.failure<RawFields>(new CallError(E_HOST, E_BAD_ENVELOPE + method));
  return CallResult.success<RawFields>(f);
}

/** A string field that may be `null`. */
export function strOrNull(f: RawFields, key: string): string | null {
  const v = f.get(key);
  if (v === null || v == "null") return null;
  return f.string(key);
}

/** An integer field; `fallback` when absent or null. */
export function intOr(f: RawFields, key: string, fallback: i64): i64 {
  const v = f.get(key);
  if (v === null || v == "null") return fallback;
  return I64.parseInt(v);
}

/** A number field; `fallback` when absent or null. */
export function numOr(f: RawFields, key: string, fallback: f64): f64 {
  const v = f.get(key);
  if (v === null || v == "null") return fallback;
  return F64.parseFloat(v);
}

/** A boolean field. */
export function boolOr(f: RawFields, key: string, fallback: bool): bool {
  const v = f.get(key);
  if (v === null) return fallback;
  return v == "true";
}

/** A base64 field decoded; `null` when absent. */
export function bytesOrNull(f: RawFields, key: string): Uint8Array | null {
  const v = strOrNull(f, key);
  if (v === null) return null;
  return base64Decode(v);
}

const QUOTE: i32 = 0x22;
const BACKSLASH: i32 = 0x5c;

/**
 * The raw JSON texts of the items of a JSON array (`[{…},{…}]`); `null` when `json` is not an
 * array. Strings and nesting are skipped correctly.
 */
export function rawItems(json: string): string[] | null {
  const out = new Array<string>();
  let i = 0;
  const n = json.length;
  while (i < n && isSpace(json.charCodeAt(i))) i++;
  if (i >= n || json.charCodeAt(i) != 0x5b) return null;
  i++;
  let depth = 0;
  let start = -1;
  for (; i < n; i++) {
    const c = json.charCodeAt(i);
    if (c == QUOTE) {
      if (start < 0) start = i;
      i++;
      while (i < n && json.charCodeAt(i) != QUOTE) {
        if (json.charCodeAt(i) == BACKSLASH) i++;
        i++;
      }
      continue;
    }
    if (isSpace(c)) continue;
    if (c == 0x7b || c == 0x5b) {
      if (start < 0) start = i;
      depth++;
    } else if (c == 0x7d || (c == 0x5d && depth > 0)) {
      depth--;
    } else if (depth == 0 && (c == 0x2c || c == 0x5d)) {
      if (start >= 0) out.push(json.substring(start, i).trim());
      start = -1;
      if (c == 0x5d) return out;
    } else if (start < 0) {
      start = i;
    }
  }
  return null;
}

function isSpace(c: i32): bool {
  return c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09;
}

/** A JSON array of strings. */
export function stringArray(items: string[]): string {
  const parts = new Array<string>(items.length);
  for (let i = 0; i < items.length; i++) parts[i] = quote(unchecked(items[i]));
  return "[" + parts.join(",") + "]";
}
