/**
 * `ExtensionContext`: the extension's view of the host, mirroring the design's SDK API.
 *
 * In `plugin_init`, `new ExtensionContext()` registers queries, actions and job types; in a
 * handler export, `ExtensionContext.fromParams(ptr, len)` reads the input and writes the output.
 */
import { JSON } from "json-as";
import { sd_error } from "./host";
import { handOver, readUtf8 } from "./abi";
import { CallResult, callQuery, callAction, callRaw } from "./call";
import { Jobs } from "./jobs";
import { Logger, log } from "./log";
import { rawFields, quote } from "./raw-json";
import { schemaOf } from "./schema";
import { E_CONFIG, E_INFO, E_NO_INPUT, E_REGISTRATION } from "./messages";

/** Description and JSON Schemas (as JSON text) of a query or action. */
export class OperationOptions {
  constructor(
    /** Shown by `spacedrive methods` and `query:core.methods.v1`. */
    public description: string = "",
    /** JSON Schema the host validates the input against before calling; `null` accepts any JSON. */
    public inputSchema: string | null = null,
    /** JSON Schema the host validates the output against; `null` accepts any JSON. */
    public outputSchema: string | null = null,
    /** Registered with `"library_scoped": true` (see `libraryScoped()`). */
    public isLibraryScoped: bool = false,
  ) {}

  /**
   * Declares the operation library-scoped: the host validates the caller's library (the default
   * library when none is named) and runs the handler in it, so `vdfs()` without an id uses it.
   * Without it, a call that names a library is refused.
   */
  libraryScoped(): OperationOptions {
    this.isLibraryScoped = true;
    return this;
  }

  /**
   * Options whose schemas are those of `I` and `O` (`schemaOf`): the host validates input and
   * output against what the handler's types say, and `spacedrive types generate` types the
   * method for clients from them.
   *
   * @example `ctx.registerQuery("greet", "greet", OperationOptions.typed<GreetInput, GreetOutput>("Greets someone by name"));`
   */
  static typed<I, O>(description: string = ""): OperationOptions {
    return new OperationOptions(description, schemaOf<I>(), schemaOf<O>());
  }
}

/** Description and params JSON Schema (as JSON text) of a job type. */
export class JobOptions {
  constructor(
    /** Shown by `spacedrive jobs types`. */
    public description: string = "",
    /** JSON Schema the params are validated against at dispatch; `null` accepts any JSON. */
    public paramsSchema: string | null = null,
    /** JSON Schema of the checkpoint state the job reports; the host refuses a report that does not fit. */
    public stateSchema: string | null = null,
    /** JSON Schema of the job's output; the host refuses a completion that does not fit. */
    public outputSchema: string | null = null,
  ) {}

  /**
   * Options whose params, state and output schemas are those of `P`, `S` and `O` (`schemaOf`).
   *
   * @example `ctx.registerJob("countdown", "countdown", true, JobOptions.typed<CountdownParams, CountdownState, CountdownOutput>("Counts down"));`
   */
  static typed<P, S, O>(description: string = ""): JobOptions {
    return new JobOptions(description, schemaOf<P>(), schemaOf<S>(), schemaOf<O>());
  }
}

/** The extension's identity, from `extension.info`. */
export class ExtensionInfo {
  constructor(
    /** The manifest's id, the namespace of every method the extension registers. */
    public id: string,
    /** The manifest's version. */
    public version: string,
    /** The ABI version the host runs the module under. */
    public abiVersion: i32,
  ) {}
}

/** Sets the current call's error through `sd_error` and returns the handler result `0`. */
export function fail(message: string, code: string | null = null): i64 {
  let json = '{"message":' + quote(message);
  if (code !== null) json += ',"code":' + quote(code);
  json += "}";
  const buf = String.UTF8.encode(json);
  sd_error(changetype<usize>(buf), buf.byteLength);
  return 0;
}

const jobsClient = new Jobs();

/**
 * The extension's handle on the host.
 *
 * @example
 * ```ts
 * export function plugin_init(): i32 {
 *   const ctx = new ExtensionContext();
 *   ctx.registerQuery("greet", "greet", new OperationOptions("Greets someone", GREET_INPUT));
 *   ctx.registerJob("countdown", "countdown", true);
 *   return ctx.initStatus();
 * }
 *
 * export function greet(ptr: i32, len: i32): i64 {
 *   const ctx = ExtensionContext.fromParams(ptr, len);
 *   const input = ctx.readInput<GreetInput>();
 *   return ctx.writeOutput<GreetOutput>(new GreetOutput("Hello, " + input.name + "!"));
 * }
 * ```
 */
export class ExtensionContext {
  private inputText: string | null = null;
  private failedRegistrations: i32 = 0;

  /** The context of a handler call, reading its input from `(ptr, len)`. */
  static fromParams(ptr: usize, len: i32): ExtensionContext {
    const ctx = new ExtensionContext();
    ctx.inputText = readUtf8(ptr, len);
    return ctx;
  }

  // ---- registration (plugin_init only) ----

  /**
   * Registers a query `query:<ext-id>:<name>.v1` served by the export `exportFn`.
   * The value is the method name the host formed. Failures are logged.
   */
  registerQuery(name: string, exportFn: string, opts: OperationOptions | null = null): CallResult<string> {
    return this.registerOperation("query", name, exportFn, opts);
  }

  /** Registers an action `action:<ext-id>:<name>.input.v1` served by the export `exportFn`. */
  registerAction(name: string, exportFn: string, opts: OperationOptions | null = null): CallResult<string> {
    return this.registerOperation("action", name, exportFn, opts);
  }

  /**
   * Registers a job type `<ext-id>:<name>` run by the export `exportFn`. A `resumable` job is
   * resumed from its last checkpoint after a pause, a retry or a restart.
   */
  registerJob(name: string, exportFn: string, resumable: bool, opts: JobOptions | null = null): CallResult<string> {
    let payload = '{"name":' + quote(name) + ',"export_fn":' + quote(exportFn) + ',"resumable":' + (resumable ? "true" : "false");
    if (opts !== null) {
      payload += ',"description":' + quote(opts.description);
      const schema = opts.paramsSchema;
      if (schema !== null) payload += ',"params_schema":' + schema;
      const state = opts.stateSchema;
      if (state !== null) payload += ',"state_schema":' + state;
      const output = opts.outputSchema;
      if (output !== null) payload += ',"output_schema":' + output;
    }
    return this.registered(callRaw("extension.register_job", payload + "}"), "job_type");
  }

  /** `0` when every registration through this context succeeded, else `1`: return it from `plugin_init`. */
  initStatus(): i32 {
    return this.failedRegistrations == 0 ? 0 : 1;
  }

  private registerOperation(kind: string, name: string, exportFn: string, opts: OperationOptions | null): CallResult<string> {
    let payload = '{"name":' + quote(name) + ',"export_fn":' + quote(exportFn) + ',"operation_type":"' + kind + '"';
    if (opts !== null) {
      payload += ',"description":' + quote(opts.description);
      const input = opts.inputSchema;
      if (input !== null) payload += ',"input_schema":' + input;
      const output = opts.outputSchema;
      if (output !== null) payload += ',"output_schema":' + output;
      if (opts.isLibraryScoped) payload += ',"library_scoped":true';
    }
    return this.registered(callRaw("extension.register_operation", payload + "}"), "method");
  }

  private registered(r: CallResult<string>, field: string): CallResult<string> {
    if (!r.ok) {
      this.failedRegistrations++;
      log.error(E_REGISTRATION + r.error!.toString());
      return r;
    }
    const fields = rawFields(r.value);
    return CallResult.success<string>(fields === null ? r.value : fields.string(field, r.value));
  }

  // ---- input and output (handlers) ----

  /** The call's input as JSON text. Aborts in a context without input. */
  readInputString(): string {
    const text = this.inputText;
    if (text === null) abort(E_NO_INPUT);
    return text!;
  }

  /**
   * The call's input parsed into `T` (a `@json` class). The host has validated it against the
   * registered input schema; input that does not fit `T` aborts the call.
   */
  readInput<T>(): T {
    return JSON.parse<T>(this.readInputString());
  }

  /** Serialises `value` as the handler's output; return the result from the handler. */
  writeOutput<T>(value: T): i64 {
    return handOver(JSON.stringify<T>(value));
  }

  /** Hands raw JSON text over as the handler's output. */
  writeOutputString(json: string): i64 {
    return handOver(json);
  }

  /**
   * Fails the call with `message` and an optional stable `code` (`INVALID_INPUT`, `NOT_FOUND`, …);
   * return the result from the handler.
   */
  fail(message: string, code: string | null = null): i64 {
    return fail(message, code);
  }

  // ---- calls into the host ----

  /** Calls a query by short (`hello:greet`) or full name (`query:hello:greet.v1`). */
  callQuery<I, O>(method: string, input: I): CallResult<O> {
    return callQuery<I, O>(method, input);
  }

  /** Calls an action by short (`finance:import_receipts`) or full name. */
  callAction<I, O>(method: string, input: I): CallResult<O> {
    return callAction<I, O>(method, input);
  }

  /** Calls any method with raw JSON in and out. */
  callRaw(method: string, payloadJson: string): CallResult<string> {
    return callRaw(method, payloadJson);
  }

  /** Dispatching jobs. */
  jobs(): Jobs {
    return jobsClient;
  }

  /** The extension's logger. */
  get log(): Logger {
    return log;
  }

  /**
   * The extension's configuration (manifest defaults merged with the user's settings, validated
   * against the manifest's `config_schema`) parsed into `T`. Aborts if the host cannot serve it.
   */
  config<T>(): T {
    return JSON.parse<T>(this.configJson());
  }

  /** The configuration as raw JSON. */
  configJson(): string {
    const r = callRaw("extension.config", "{}");
    if (!r.ok) abort(E_CONFIG + r.error!.toString());
    return r.value;
  }

  /** The extension's id, version and ABI version. */
  info(): ExtensionInfo {
    const r = callRaw("extension.info", "{}");
    if (!r.ok) abort(E_INFO + r.error!.toString());
    const f = rawFields(r.value);
    if (f === null) abort(E_INFO + r.value);
    return new ExtensionInfo(f!.string("id"), f!.string("version"), I32.parseInt(f!.getOr("abi_version", "0")));
  }

  /**
   * Blocks this instance for `ms` milliseconds (host method `extension.sleep`), bounded by the
   * call's time limit. For jobs that pace themselves; the daemon keeps serving meanwhile.
   */
  sleep(ms: i32): CallResult<string> {
    return callRaw("extension.sleep", '{"ms":' + ms.toString() + "}");
  }
}
