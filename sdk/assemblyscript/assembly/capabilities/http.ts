/**
 * `http()`: HTTP(S) requests through the host (`action:http.fetch.input.v1`). Only the hosts in
 * the manifest's `permissions.network` are reachable (redirects included); a response over
 * `maxResponseBytes` fails with `HTTP_TOO_LARGE` rather than being cut short.
 */
import { JSON } from "json-as";
import { CallResult } from "../call";
import { quote } from "../raw-json";
import { ObjectBuilder, base64Decode, callFields, intOr, strOrNull } from "./common";
import { rawFields } from "../raw-json";

const M_FETCH = "action:http.fetch.input.v1";

/** A request. Chain the setters: `HttpRequest.get(url).header("accept", "application/json")`. */
export class HttpRequest {
  method: string = "GET";
  headerNames: string[] = [];
  headerValues: string[] = [];
  body: Uint8Array | null = null;
  bodyText: string | null = null;
  /** 0: the host's default. */
  timeoutMs: i32 = 0;
  /** -1: the host's default. */
  maxResponseBytes: i32 = -1;

  constructor(public url: string) {}

  static get(url: string): HttpRequest {
    return new HttpRequest(url);
  }

  /** A POST with a text body (JSON, form data…); set `content-type` with {@link header}. */
  static post(url: string, bodyText: string): HttpRequest {
    const r = new HttpRequest(url);
    r.method = "POST";
    r.bodyText = bodyText;
    return r;
  }

  withMethod(method: string): HttpRequest {
    this.method = method;
    return this;
  }

  header(name: string, value: string): HttpRequest {
    this.headerNames.push(name);
    this.headerValues.push(value);
    return this;
  }

  withBody(bytes: Uint8Array): HttpRequest {
    this.body = bytes;
    this.bodyText = null;
    return this;
  }

  withBodyText(text: string): HttpRequest {
    this.bodyText = text;
    this.body = null;
    return this;
  }

  timeout(ms: i32): HttpRequest {
    this.timeoutMs = ms;
    return this;
  }

  maxBytes(bytes: i32): HttpRequest {
    this.maxResponseBytes = bytes;
    return this;
  }

  toJson(): string {
    const b = new ObjectBuilder().str("url", this.url).str("method", this.method);
    if (this.headerNames.length > 0) {
      const parts = new Array<string>(this.headerNames.length);
      for (let i = 0; i < this.headerNames.length; i++) parts[i] = quote(unchecked(this.headerNames[i])) + ":" + quote(unchecked(this.headerValues[i]));
      b.raw("headers", "{" + parts.join(",") + "}");
    }
    b.bytes("body", this.body).str("body_text", this.bodyText);
    if (this.timeoutMs > 0) b.int("timeout_ms", this.timeoutMs);
    if (this.maxResponseBytes >= 0) b.int("max_response_bytes", this.maxResponseBytes);
    return b.toString();
  }
}

/** A response (any HTTP status: a 404 is a response, not an error). */
export class HttpResponse {
  status: i32 = 0;
  statusText: string = "";
  /** The URL that answered, after redirects. */
  url: string = "";
  redirects: i32 = 0;
  /** Raw JSON object of the headers (lower-case names); read one with {@link header}. */
  headersJson: string = "{}";
  body: Uint8Array = new Uint8Array(0);
  /** The body as text, for text, JSON and XML content types. */
  bodyText: string | null = null;

  /** A header's value (name in lower case), or null. */
  header(name: string): string | null {
    const f = rawFields(this.headersJson);
    if (f === null) return null;
    return strOrNull(f!, name.toLowerCase());
  }

  /** The body as UTF-8 text. */
  text(): string {
    const t = this.bodyText;
    if (t !== null) return t;
    return String.UTF8.decode(this.body.buffer);
  }

  /** The body parsed as JSON into `T`. */
  json<T>(): T {
    return JSON.parse<T>(this.text());
  }
}

/** HTTP through the host. */
export class Http {
  /**
   * Performs `req`.
   *
   * @example
   * ```ts
   * const r = http().fetch(HttpRequest.get("https://api.example.com/rates").header("accept", "application/json"));
   * if (!r.ok) return ctx.fail(r.error!.message, r.error!.code);
   * const rates = r.value.json<Rates>();
   * ```
   */
  fetch(req: HttpRequest): CallResult<HttpResponse> {
    const r = callFields(M_FETCH, req.toJson());
    if (!r.ok) return r.mapError<HttpResponse>();
    const f = r.value;
    const out = new HttpResponse();
    out.status = <i32>intOr(f, "status", 0);
    out.statusText = f.string("status_text");
    out.url = f.string("url");
    out.redirects = <i32>intOr(f, "redirects", 0);
    out.headersJson = f.getOr("headers", "{}");
    const body = base64Decode(f.string("body"));
    if (body !== null) out.body = body;
    out.bodyText = strOrNull(f, "body_text");
    return CallResult.success<HttpResponse>(out);
  }
}

const client = new Http();

/** HTTP through the host. */
export function http(): Http {
  return client;
}
