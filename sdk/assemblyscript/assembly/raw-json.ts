/**
 * A small scanner for the top level of a JSON object: finds each key and the raw text of its
 * value without building the value. The SDK uses it for the host's envelopes
 * (`{"ok":…,"result":…}`) and job inputs, so the part typed by the extension (`result`,
 * `params`, `state`) is parsed exactly once, into the extension's own type, by json-as.
 */
import { JSON } from "json-as";

const QUOTE: i32 = 0x22;
const BACKSLASH: i32 = 0x5c;
const OPEN_BRACE: i32 = 0x7b;
const CLOSE_BRACE: i32 = 0x7d;
const OPEN_BRACKET: i32 = 0x5b;
const CLOSE_BRACKET: i32 = 0x5d;
const COLON: i32 = 0x3a;
const COMMA: i32 = 0x2c;

/** The top-level fields of a JSON object: keys (decoded) and raw value texts, in order. */
export class RawFields {
  /** Keys, decoded, in document order. */
  keys: string[] = [];
  /** Raw JSON text of each key's value (same index as `keys`). */
  values: string[] = [];

  /** Raw JSON text of `key`'s value, or `null` when the key is absent. */
  get(key: string): string | null {
    for (let i = 0; i < this.keys.length; i++) {
      if (unchecked(this.keys[i]) == key) return unchecked(this.values[i]);
    }
    return null;
  }

  /** Raw JSON text of `key`'s value, `fallback` when absent. */
  getOr(key: string, fallback: string): string {
    const v = this.get(key);
    return v === null ? fallback : v;
  }

  /** A string field decoded, or `fallback` when absent or not a string. */
  string(key: string, fallback: string = ""): string {
    const v = this.get(key);
    if (v === null || v.length < 2 || v.charCodeAt(0) != QUOTE) return fallback;
    return decodeJsonString(v);
  }
}

function isSpace(c: i32): bool {
  return c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09;
}

function skipSpace(s: string, i: i32): i32 {
  while (i < s.length && isSpace(s.charCodeAt(i))) i++;
  return i;
}

/** Index just past the string starting at `i` (which is a quote); -1 when unterminated. */
function skipString(s: string, i: i32): i32 {
  i++;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c == BACKSLASH) i += 2;
    else if (c == QUOTE) return i + 1;
    else i++;
  }
  return -1;
}

/** Index just past the value starting at `i`; -1 when malformed. */
function skipValue(s: string, i: i32): i32 {
  const c = s.charCodeAt(i);
  if (c == QUOTE) return skipString(s, i);
  if (c == OPEN_BRACE || c == OPEN_BRACKET) {
    let depth = 0;
    while (i < s.length) {
      const d = s.charCodeAt(i);
      if (d == QUOTE) {
        i = skipString(s, i);
        if (i < 0) return -1;
        continue;
      }
      if (d == OPEN_BRACE || d == OPEN_BRACKET) depth++;
      else if (d == CLOSE_BRACE || d == CLOSE_BRACKET) {
        depth--;
        if (depth == 0) return i + 1;
      }
      i++;
    }
    return -1;
  }
  // number, true, false, null: up to the next delimiter
  const start = i;
  while (i < s.length) {
    const d = s.charCodeAt(i);
    if (d == COMMA || d == CLOSE_BRACE || d == CLOSE_BRACKET || isSpace(d)) break;
    i++;
  }
  return i > start ? i : -1;
}

/** Decodes a JSON string literal (with its quotes). */
export function decodeJsonString(raw: string): string {
  if (raw.indexOf("\\") < 0) return raw.substring(1, raw.length - 1);
  return JSON.parse<string>(raw);
}

/** Scans the top level of a JSON object; `null` when `json` is not a well-formed object. */
export function rawFields(json: string): RawFields | null {
  const out = new RawFields();
  let i = skipSpace(json, 0);
  if (i >= json.length || json.charCodeAt(i) != OPEN_BRACE) return null;
  i = skipSpace(json, i + 1);
  if (i < json.length && json.charCodeAt(i) == CLOSE_BRACE) return out;
  while (i < json.length) {
    if (json.charCodeAt(i) != QUOTE) return null;
    const keyEnd = skipString(json, i);
    if (keyEnd < 0) return null;
    const key = decodeJsonString(json.substring(i, keyEnd));
    i = skipSpace(json, keyEnd);
    if (i >= json.length || json.charCodeAt(i) != COLON) return null;
    i = skipSpace(json, i + 1);
    if (i >= json.length) return null;
    const valueEnd = skipValue(json, i);
    if (valueEnd < 0) return null;
    out.keys.push(key);
    out.values.push(json.substring(i, valueEnd));
    i = skipSpace(json, valueEnd);
    if (i >= json.length) return null;
    const c = json.charCodeAt(i);
    if (c == CLOSE_BRACE) return out;
    if (c != COMMA) return null;
    i = skipSpace(json, i + 1);
  }
  return null;
}

/** Quotes and escapes `text` as a JSON string literal. */
// @ts-ignore: decorator
@inline
export function quote(text: string): string {
  return JSON.stringify<string>(text);
}
