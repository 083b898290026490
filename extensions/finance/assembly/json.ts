/**
 * Small JSON helpers for the finance extension. The data it handles (mail messages with base64
 * attachments, OCR answers, model answers) is dynamic and large, so it is read with the SDK's
 * top-level scanner (`rawFields`) plus the array splitter below: a base64 attachment is never
 * decoded, only passed on to the host as the raw JSON text it arrived as.
 */
import { RawFields, rawFields, decodeJsonString, quote } from "spacedrive-sdk";

const QUOTE: i32 = 0x22;
const BACKSLASH: i32 = 0x5c;

function isSpace(c: i32): bool {
  return c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09;
}

/** The raw texts of the elements of a JSON array; an empty list when `json` is not an array. */
export function rawElements(json: string | null): string[] {
  const out = new Array<string>();
  if (json === null) return out;
  let i = 0;
  const n = json.length;
  while (i < n && isSpace(json.charCodeAt(i))) i++;
  if (i >= n || json.charCodeAt(i) != 0x5b) return out;
  i++;
  let depth = 0;
  let start = -1;
  while (i < n) {
    const c = json.charCodeAt(i);
    if (c == QUOTE) {
      if (start < 0) start = i;
      i++;
      while (i < n) {
        const d = json.charCodeAt(i);
        if (d == BACKSLASH) i += 2;
        else if (d == QUOTE) break;
        else i++;
      }
      i++;
      continue;
    }
    if (c == 0x7b || c == 0x5b) {
      if (start < 0) start = i;
      depth++;
    } else if (c == 0x7d || c == 0x5d) {
      if (depth == 0) {
        // the closing bracket of the array itself
        if (start >= 0) out.push(json.substring(start, i).trim());
        return out;
      }
      depth--;
    } else if (c == 0x2c && depth == 0) {
      if (start >= 0) out.push(json.substring(start, i).trim());
      start = -1;
    } else if (!isSpace(c) && start < 0) {
      start = i;
    }
    i++;
  }
  return out;
}

/** The top-level fields of an object, or an empty set when `json` is not an object. */
export function fieldsOf(json: string | null): RawFields {
  if (json === null) return new RawFields();
  const f = rawFields(json);
  return f === null ? new RawFields() : f;
}

/** A string field, or "" when absent, null or not a string. */
export function str(f: RawFields, key: string): string {
  return f.string(key, "");
}

/** `true` when the field is present and not `null`. */
export function has(f: RawFields, key: string): bool {
  const v = f.get(key);
  return v !== null && v != "null";
}

/** A number field, or NaN when absent or not a number. */
export function num(f: RawFields, key: string): f64 {
  const v = f.get(key);
  if (v === null || v.length == 0) return NaN;
  const c = v.charCodeAt(0);
  if (c == QUOTE) {
    // Models sometimes answer amounts as strings: "34.49".
    return F64.parseFloat(decodeJsonString(v).trim());
  }
  if ((c >= 0x30 && c <= 0x39) || c == 0x2d) return F64.parseFloat(v);
  return NaN;
}

/** A JSON number with at most two decimals (amounts), `null` for NaN. */
export function money(value: f64): string {
  if (isNaN(value) || !isFinite(value)) return "null";
  const cents = <i64>Math.round(value * 100);
  const abs = cents < 0 ? -cents : cents;
  let s = (cents < 0 ? "-" : "") + (abs / 100).toString();
  const frac = abs % 100;
  if (frac > 0) s += "." + (frac < 10 ? "0" : "") + frac.toString();
  return s;
}

/** A number rounded to three decimals, as JSON. */
export function ratio(value: f64): string {
  if (isNaN(value) || !isFinite(value)) return "0";
  const scaled = <i64>Math.round(value * 1000);
  if (scaled <= 0) return "0";
  if (scaled >= 1000) return "1";
  let frac = scaled.toString();
  while (frac.length < 3) frac = "0" + frac;
  return "0." + frac;
}

/** A JSON string, or `null` for an empty string. */
export function strOrNull(value: string): string {
  return value.length == 0 ? "null" : quote(value);
}

/** Builds a JSON object field by field. */
export class ObjectWriter {
  private parts: string[] = [];

  /** Adds `"key": <raw JSON>`. */
  raw(key: string, json: string): ObjectWriter {
    this.parts.push(quote(key) + ":" + json);
    return this;
  }

  /** Adds `"key": "<value>"`. */
  string(key: string, value: string): ObjectWriter {
    return this.raw(key, quote(value));
  }

  toString(): string {
    return "{" + this.parts.join(",") + "}";
  }
}
