/**
 * The guest side of one instance: the host half of ABI v1 (docs/extension-abi.md) around one
 * instantiation of an extension's module. It instantiates the module, runs `plugin_init` and
 * handler calls, serves the host imports, and hands back plain messages (see protocol.ts).
 *
 * Two places run it: an instance's worker thread (worker-main.ts), where the host methods that
 * need the main thread block the worker until the main thread answers; and the main thread's
 * metered instance for short calls (inline.ts), where they end the attempt instead ("bail": the
 * call then runs on a worker). {@link GuestIo} is the difference between the two.
 *
 * This function is handed to the worker as source text (`Function.prototype.toString`), so it
 * must not refer to anything outside its own body; types are imported with `import()` type
 * expressions only, which erase.
 */
export function createGuestRuntime(init: import('./protocol.js').SharedInit, io: import('./protocol.js').GuestIo): import('./protocol.js').GuestRuntime {
  type WorkerError = import('./protocol.js').WorkerError;
  type LogLine = import('./protocol.js').LogLine;
  type Registration = import('./types.js').GuestRegistration;
  type StartResult = import('./protocol.js').StartResult;
  type CallRequest = import('./protocol.js').CallRequest;
  type CallResult = import('./protocol.js').CallResult;
  type CleanupResult = import('./protocol.js').CleanupResult;
  type Fault = { sdFault: true; code: string; cause: string; details?: Record<string, unknown> };
  type WasmMemory = import('./wasm-types.js').WasmMemory;
  const WebAssembly = (globalThis as unknown as { WebAssembly: import('./wasm-types.js').WasmApi }).WebAssembly;
  const { id } = init;

  const HOST_METHODS = 'extension.register_operation, extension.register_job, extension.config, extension.info, extension.context, extension.sleep';
  /** The most an import reads from guest memory, per argument (docs/extension-abi.md, "Guest pointers"). */
  const MAX_METHOD_BYTES = 1024;
  const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;
  const MAX_ERROR_BYTES = 64 * 1024;
  /** A registration's description, at most (characters), as a manifest's. */
  const MAX_DESCRIPTION = 2000;
  const RESERVED_EXPORTS = new Set(['memory', 'sd_abi_version', 'sd_alloc', 'sd_free', 'plugin_init', 'plugin_cleanup']);
  // EXTENSION_NAME_PATTERN of src/registry/method-names.ts (this function cannot import it): dotted
  // parts of letters, digits, '_' and '-', none looking like a version ('v2').
  const NAME_RE = /^(?!v\d+(?:\.|$))[A-Za-z_][A-Za-z0-9_-]*(?:\.(?!v\d+(?:\.|$))[A-Za-z0-9_-]+)*$/;
  /** A method as the design writes it in a registration: `query:<id>:<name>.vN`, `action:<id>:<name>.input.vN`. */
  const METHOD_RE = /^(query|action):([^:]*):(.+?)(\.input)?\.v(\d+)$/;

  const enc = new TextEncoder();
  const dec = new TextDecoder('utf-8', { fatal: true });
  const lenient = new TextDecoder('utf-8');
  // Encoded once: a guest may ask for them in a loop, and the config may be large.
  const infoEnvelope = enc.encode(JSON.stringify({ ok: true, result: { id, version: init.version, abi_version: 1 } }));
  const configEnvelope = init.configEnvelope ?? enc.encode(JSON.stringify({ ok: true, result: init.config ?? null }));

  let memory: WasmMemory | undefined;
  let ex: Record<string, unknown> & { sd_alloc: (n: number) => number; sd_free: (p: number, n: number) => void };
  let sharedMemory = false;
  let initializing = false;
  let currentJob: string | null = null;
  let guestError: string | null = null;
  /** Set after a failure that discards this instance: it runs no further call. */
  let poisoned = false;
  /** When the current call's (or init's) time runs out, by performance.now(); bounds extension.sleep. */
  let deadline = 0;
  let callTimeoutMs = 0;
  let logs: LogLine[] = [];
  const MAX_LOG_LINES = 1000;
  const MAX_LOG_LINE = 16 * 1024;
  let linesThisCall = 0;
  let droppedLines = 0;
  const registrations: Registration[] = [];
  /** JSON bytes of every registration payload so far (limits.max_registration_bytes). */
  let registeredBytes = 0;
  /** Registration calls so far, refused ones included (limits.max_operations, limits.max_job_types). */
  let operationCalls = 0;
  let jobCalls = 0;
  const rejected: string[] = [];
  const operationNames = new Set<string>();
  const jobNames = new Set<string>();

  /** A host method the io cannot serve here ended the attempt (see GuestIo): passed through untouched. */
  function isBail(e: unknown): boolean {
    return typeof e === 'object' && e !== null && (e as { sdBail?: unknown }).sdBail === true;
  }

  function fault(code: string, cause: string, details?: Record<string, unknown>): Fault {
    return details === undefined ? { sdFault: true, code, cause } : { sdFault: true, code, cause, details };
  }

  /** Called when a call (or init, or cleanup) ends: reports dropped lines, resets the budget. */
  function endLogBudget(): void {
    if (droppedLines > 0) logs.push([3, `${droppedLines} more log line(s) dropped (at most ${MAX_LOG_LINES} per call)`]);
    droppedLines = 0;
    linesThisCall = 0;
  }

  function takeLogs(): LogLine[] {
    if (logs.length === 0) return logs;
    const l = logs;
    logs = [];
    return l;
  }

  /**
   * The one way the host reaches guest memory: a view of `len` bytes at `ptr`, as the guest
   * passed them (signed i32s, read as unsigned), checked to lie inside linear memory and, for
   * what an import reads, to be at most `maxLen` bytes. Anything else ends the call with
   * EXTENSION_BAD_RESULT.
   */
  function view(ptr: number, len: number, what: string, maxLen = Infinity): Uint8Array {
    ptr >>>= 0;
    len >>>= 0;
    if (len > maxLen) throw fault('EXTENSION_BAD_RESULT', `${what}: ${len} bytes, over the limit of ${maxLen} bytes`);
    const buf = memory!.buffer;
    // Written so that nothing can overflow, whatever the arithmetic: ptr first, then what is left.
    if (ptr > buf.byteLength || len > buf.byteLength - ptr) {
      throw fault('EXTENSION_BAD_RESULT', `${what}: bytes ${ptr}..${ptr + len} lie outside linear memory (${buf.byteLength} bytes)`);
    }
    return new Uint8Array(buf, ptr, len);
  }

  function text(ptr: number, len: number, what: string, maxLen = Infinity): string {
    const v = view(ptr, len, what, maxLen);
    try {
      return dec.decode(sharedMemory ? v.slice() : v);
    } catch {
      throw fault('EXTENSION_BAD_RESULT', `${what} is not valid UTF-8`);
    }
  }

  /** Copies a string into a fresh guest buffer from sd_alloc; returns it packed. */
  function toGuest(s: string): bigint {
    return bytesToGuest(enc.encode(s));
  }

  function envelopeError(code: string, message: string): string {
    return JSON.stringify({ ok: false, error: { code, message } });
  }

  /** Copies bytes into a fresh guest buffer from sd_alloc; returns it packed. */
  function bytesToGuest(bytes: Uint8Array): bigint {
    const n = bytes.length;
    io.hostWork(n);
    const p = ex.sd_alloc(n) >>> 0;
    if (p === 0) throw fault('EXTENSION_OUT_OF_MEMORY', `sd_alloc(${n}) returned 0`);
    view(p, n, `sd_alloc(${n}) result`).set(bytes);
    return BigInt(p) | (BigInt(n) << 32n);
  }

  function isSchema(v: unknown): boolean {
    return v === undefined || typeof v === 'boolean' || (typeof v === 'object' && v !== null && !Array.isArray(v));
  }

  /**
   * Refuses a registration past one of the extension's registration limits. It stops
   * plugin_init right there (the fault ends the guest's call) rather than answering: a guest
   * registering in a loop would otherwise go on to its last iteration, and loading fails anyway.
   */
  function overLimit(limit: string, value: number, why: string): never {
    throw fault('REGISTRATION_REJECTED', why, { limit, value });
  }

  /**
   * Whether a schema's JSON text is over `max` bytes. Measured only when the payload holding it
   * is over `max` too: a payload that fits cannot hold a schema that does not.
   */
  function schemaOver(schema: unknown, payloadBytes: number, max: number): boolean {
    return schema !== undefined && payloadBytes > max && enc.encode(JSON.stringify(schema)).length > max;
  }

  function register(kind: 'operation' | 'job', payloadText: string, payloadBytes: number): string {
    const fn = kind === 'operation' ? 'extension.register_operation' : 'extension.register_job';
    const reject = (why: string): string => {
      const message = `${fn}: ${why}`;
      rejected.push(message);
      return envelopeError('REGISTRATION_REJECTED', message);
    };
    if (!initializing) return envelopeError('REGISTRATION_REJECTED', `${fn}: registration is allowed only during plugin_init`);
    // Counted as they arrive, refused or not, before anything is parsed: a guest registering in
    // a loop is stopped at the first registration past a limit (see overLimit).
    const limits = init.registrationLimits;
    registeredBytes += payloadBytes;
    if (registeredBytes > limits.maxRegistrationBytes) {
      overLimit('max_registration_bytes', limits.maxRegistrationBytes, `${fn}: registrations take more than ${limits.maxRegistrationBytes} bytes of JSON (limits.max_registration_bytes)`);
    }
    const count = kind === 'operation' ? operationCalls++ : jobCalls++;
    const most = kind === 'operation' ? limits.maxOperations : limits.maxJobTypes;
    if (count >= most) {
      const limit = kind === 'operation' ? 'max_operations' : 'max_job_types';
      overLimit(limit, most, `${fn}: more than ${most} ${kind === 'operation' ? 'operations' : 'job types'} registered (limits.${limit})`);
    }
    let p: unknown;
    try {
      p = JSON.parse(payloadText);
    } catch (e) {
      return reject(`the payload is not valid JSON: ${(e as Error).message}`);
    }
    if (typeof p !== 'object' || p === null || Array.isArray(p)) return reject('expects a JSON object');
    const o = p as Record<string, unknown>;
    // The name is `name`, or derived from the design's `method` (operations: the full method,
    // whose `.vN` is the version) or `job_name` (jobs: `<id>:<name>` or the bare name). When both
    // are given they must agree.
    let name: unknown = o.name;
    let version = 1;
    let derivedType: 'query' | 'action' | undefined;
    if (kind === 'operation' && o.method !== undefined) {
      const m = typeof o.method === 'string' ? METHOD_RE.exec(o.method) : null;
      const forms = `query:${id}:<name>.vN or action:${id}:<name>.input.vN`;
      if (m && m[2] !== id) return reject(`method ${JSON.stringify(o.method)} is outside this extension's namespace '${id}:' (its methods are ${forms})`);
      if (!m || (m[1] === 'query') !== (m[4] === undefined)) {
        const coreForm = typeof o.method === 'string' && /^(query|action):[^:]*$/.test(o.method);
        return reject(`method ${JSON.stringify(o.method)} ${coreForm ? "is outside this extension's namespace (that is core's form)" : 'is not a method name'}; its methods are ${forms}`);
      }
      if (name !== undefined && name !== m[3]) return reject(`name ${JSON.stringify(name)} does not match method ${JSON.stringify(o.method)}`);
      name = m[3];
      version = Number(m[5]);
      derivedType = m[1] as 'query' | 'action';
    } else if (kind === 'job' && o.job_name !== undefined) {
      const jn = o.job_name;
      const colon = typeof jn === 'string' ? jn.indexOf(':') : -1;
      if (typeof jn !== 'string') return reject(`job_name ${JSON.stringify(jn)} must be a string`);
      if (colon >= 0 && jn.slice(0, colon) !== id) return reject(`job_name ${JSON.stringify(jn)} is outside this extension's namespace (its job types are '${id}:<name>')`);
      const bare = colon >= 0 ? jn.slice(colon + 1) : jn;
      if (name !== undefined && name !== bare) return reject(`name ${JSON.stringify(name)} does not match job_name ${JSON.stringify(jn)}`);
      name = bare;
    }
    if (typeof name !== 'string' || name.length === 0 || name.length > 128 || !NAME_RE.test(name)) {
      return reject(
        `invalid name ${JSON.stringify(name)}: use letters, digits, '_', '-' and dot-separated parts, none of them a version like 'v2' (no ':'; the host adds the '${id}:' namespace)`,
      );
    }
    if (o.version !== undefined) {
      if (kind !== 'operation' || typeof o.version !== 'number' || !Number.isInteger(o.version) || o.version < 1 || o.version > 1_000_000) {
        return reject(`'${name}': version must be a whole number from 1${kind === 'job' ? ' (and only operations have one)' : ''}`);
      }
      if (o.method !== undefined && o.version !== version) return reject(`'${name}': version ${o.version} does not match method ${JSON.stringify(o.method)}`);
      version = o.version;
    }
    if (version < 1) return reject(`'${name}': versions start at 1 (.v1)`);
    if (o.library_scoped !== undefined && (kind !== 'operation' || typeof o.library_scoped !== 'boolean')) {
      return reject(`'${name}': library_scoped must be a boolean${kind === 'job' ? ' (and only operations have it: a job runs against the library it was dispatched with)' : ''}`);
    }
    const exportFn = o.export_fn;
    if (typeof exportFn !== 'string' || RESERVED_EXPORTS.has(exportFn) || typeof ex[exportFn] !== 'function') {
      return reject(`'${name}': export_fn ${JSON.stringify(exportFn)} is not a handler function exported by the module`);
    }
    if (o.description !== undefined && typeof o.description !== 'string') return reject(`'${name}': description must be a string`);
    const description = (o.description as string | undefined) ?? '';
    if (description.length > MAX_DESCRIPTION) return reject(`'${name}': description is ${description.length} characters, over the limit of ${MAX_DESCRIPTION}`);
    for (const field of ['input_schema', 'output_schema', 'params_schema']) {
      if (schemaOver(o[field], payloadBytes, limits.maxSchemaBytes)) {
        return reject(`'${name}': ${field} is over the limit of ${limits.maxSchemaBytes} bytes of JSON (limits.max_schema_bytes)`);
      }
    }
    if (kind === 'operation') {
      const type = o.operation_type ?? derivedType;
      if (type !== 'query' && type !== 'action') return reject(`'${name}': operation_type must be "query" or "action"`);
      if (derivedType !== undefined && type !== derivedType) return reject(`'${name}': operation_type "${String(type)}" does not match method ${JSON.stringify(o.method)}`);
      const method = type === 'query' ? `query:${id}:${name}.v${version}` : `action:${id}:${name}.input.v${version}`;
      // Queries and actions share one set of names; each version is its own method.
      const key = `${name}.v${version}`;
      if (operationNames.has(key)) return reject(`'${name}' is already registered${version === 1 ? '' : ` in version ${version}`}`);
      if (!isSchema(o.input_schema) || !isSchema(o.output_schema)) return reject(`'${name}': input_schema and output_schema must be JSON Schemas`);
      operationNames.add(key);
      const reg: Registration = { kind: 'operation', operationType: type, name, method, exportFn, description };
      if (version !== 1) reg.version = version;
      if (o.library_scoped === true) reg.libraryScoped = true;
      if (o.input_schema !== undefined) reg.inputSchema = o.input_schema;
      if (o.output_schema !== undefined) reg.outputSchema = o.output_schema;
      registrations.push(reg);
      return JSON.stringify({ ok: true, result: { method } });
    }
    const jobType = `${id}:${name}`;
    if (jobNames.has(name)) return reject(`job '${name}' is already registered`);
    if (o.resumable !== undefined && typeof o.resumable !== 'boolean') return reject(`'${name}': resumable must be a boolean`);
    if (!isSchema(o.params_schema)) return reject(`'${name}': params_schema must be a JSON Schema`);
    jobNames.add(name);
    const reg: Registration = { kind: 'job', name, jobType, exportFn, resumable: (o.resumable as boolean | undefined) ?? true, description };
    if (o.params_schema !== undefined) reg.paramsSchema = o.params_schema;
    registrations.push(reg);
    return JSON.stringify({ ok: true, result: { job_type: jobType } });
  }

  // The imports of host-imports.ts's table, with its signatures (this function cannot import it:
  // see the top); loadSandbox refuses any other import before these are called.
  const host = {
    sd_call(mp: number, ml: number, pp: number, pl: number): bigint {
      io.hostWork((ml >>> 0) + (pl >>> 0));
      const method = text(mp, ml, 'sd_call method', MAX_METHOD_BYTES);
      // The fast path: answered from a string built once, without reading the payload (its
      // bounds are checked all the same: every pointer a guest passes is).
      if (method === 'extension.info' || method === 'extension.config') {
        view(pp, pl, 'sd_call payload', MAX_PAYLOAD_BYTES);
        return bytesToGuest(method === 'extension.info' ? infoEnvelope : configEnvelope);
      }
      const payloadText = text(pp, pl, 'sd_call payload', MAX_PAYLOAD_BYTES);
      // extension.context is the calling call's context, which the main thread keeps (HostBridge).
      if (!method.startsWith('extension.') || method === 'extension.context') {
        // A wire method: the main thread parses the payload (it needs the value anyway), so
        // the text crosses as a string, the cheapest thing to post.
        if (logs.length > 0) io.flushLogs(takeLogs());
        return io.callHost(method, payloadText);
      }
      if (method === 'extension.register_operation') return toGuest(register('operation', payloadText, pl >>> 0));
      if (method === 'extension.register_job') return toGuest(register('job', payloadText, pl >>> 0));
      let payload: unknown = null;
      if (payloadText.length > 0) {
        try {
          payload = JSON.parse(payloadText);
        } catch (e) {
          return toGuest(envelopeError('INVALID_INPUT', `sd_call payload for '${method}' is not valid JSON: ${(e as Error).message}`));
        }
      }
      if (method === 'extension.sleep') {
        const ms = (payload as { ms?: unknown } | null)?.ms;
        if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
          return toGuest(envelopeError('INVALID_INPUT', "extension.sleep expects {\"ms\": <milliseconds >= 0>}"));
        }
        // Blocks this thread only. A sleep that would end past the deadline fails the call now
        // rather than at the deadline: the outcome is the same, sooner and without a race.
        const remaining = deadline - performance.now();
        if (ms >= remaining) {
          throw fault('EXTENSION_TIMEOUT', `extension.sleep(${ms} ms) would run past the call's deadline (${Math.max(0, Math.floor(remaining))} ms left)`);
        }
        if (ms > 0) io.sleep(ms);
        return toGuest('{"ok":true,"result":{}}');
      }
      return toGuest(envelopeError('UNKNOWN_METHOD', `unknown host method '${method}' (host methods: ${HOST_METHODS})`));
    },
    sd_log(level: number, p: number, l: number): void {
      // The whole line must lie in memory, though only its first MAX_LOG_LINE bytes are read.
      const all = view(p, l, 'sd_log message');
      // A guest that logs in a tight loop must not flood the daemon's log: lines are cut at
      // MAX_LOG_LINE bytes and at most MAX_LOG_LINES go out per call; the rest are counted.
      io.hostWork(linesThisCall >= MAX_LOG_LINES ? 0 : Math.min(l >>> 0, MAX_LOG_LINE));
      if (linesThisCall >= MAX_LOG_LINES) {
        droppedLines++;
        return;
      }
      linesThisCall++;
      let line = lenient.decode(all.slice(0, MAX_LOG_LINE));
      if (all.length > MAX_LOG_LINE) line += ` … (${all.length - MAX_LOG_LINE} more bytes cut)`;
      logs.push([Math.max(0, Math.min(4, level | 0)), line]);
      if (logs.length >= 64) io.flushLogs(takeLogs());
    },
    sd_error(p: number, l: number): void {
      io.hostWork(l >>> 0);
      guestError = lenient.decode(view(p, l, 'sd_error message', MAX_ERROR_BYTES).slice());
    },
    sd_job_progress(p: number, l: number): number {
      io.hostWork(l >>> 0);
      if (currentJob === null) return -1;
      const t = text(p, l, 'sd_job_progress report', MAX_PAYLOAD_BYTES);
      let report: unknown;
      try {
        report = JSON.parse(t);
      } catch {
        report = undefined;
      }
      if (typeof report !== 'object' || report === null || Array.isArray(report)) {
        throw fault('EXTENSION_BAD_RESULT', 'sd_job_progress report is not a JSON object');
      }
      const reply = io.bridge({ kind: 'progress', report: report as Record<string, unknown> }, takeLogs());
      // The host starts a fresh period after each report (job deadlines follow progress).
      deadline = performance.now() + callTimeoutMs;
      if (typeof reply === 'number') return reply;
      const err = typeof reply === 'object' ? reply.error : { code: 'INTERNAL', message: 'bad reply' };
      throw fault(err.code, `job progress could not be recorded: ${err.message}`);
    },
    sd_job_interrupt(): number {
      io.hostWork(0);
      if (currentJob === null) return -1;
      const reply = io.bridge({ kind: 'interrupt' }, takeLogs());
      return typeof reply === 'number' ? reply : 0;
    },
  };

  function classify(e: unknown, exportName: string): WorkerError {
    if (typeof e === 'object' && e !== null && (e as Fault).sdFault === true) {
      const f = e as Fault;
      const out: WorkerError = { code: f.code, cause: f.cause, export: exportName };
      if (f.details !== undefined) out.details = f.details;
      return out;
    }
    const msg = e instanceof Error ? e.message : String(e);
    const wasmStack =
      e instanceof Error && typeof e.stack === 'string'
        ? e.stack
            .split('\n')
            .map((s) => s.trim())
            .filter((s) => s.includes('wasm://') || s.includes('wasm-function'))
        : [];
    const bytes = memory ? memory.buffer.byteLength : 0;
    const max = init.memoryMaxBytes;
    // A guest whose memory.grow fails usually traps next (unreachable, or a null-pointer
    // access). A trap with memory at (or within one eighth of) its maximum is reported as memory
    // exhaustion, which is what the extension's author needs to know.
    const nearMax = memory !== undefined && bytes >= max - Math.max(65_536, max / 8);
    let out: WorkerError;
    if (e instanceof RangeError && /call stack/i.test(msg)) {
      out = { code: 'EXTENSION_TRAPPED', cause: `stack overflow (${msg})` };
    } else if (e instanceof RangeError) {
      out = { code: 'EXTENSION_OUT_OF_MEMORY', cause: msg };
    } else if (e instanceof WebAssembly.RuntimeError) {
      out = nearMax
        ? { code: 'EXTENSION_OUT_OF_MEMORY', cause: `ran out of memory: trapped (${msg}) with linear memory at its maximum of ${max} bytes` }
        : { code: 'EXTENSION_TRAPPED', cause: `trapped: ${msg}` };
    } else if (e instanceof WebAssembly.LinkError || e instanceof WebAssembly.CompileError) {
      out = { code: 'EXTENSION_INVALID', cause: msg };
    } else {
      out = { code: 'EXTENSION_TRAPPED', cause: `failed in the host: ${msg}` };
    }
    out.export = exportName;
    if (wasmStack.length > 0) out.wasmStack = wasmStack;
    return out;
  }

  /** Attaches what the guest passed to sd_error before it trapped, if anything. */
  function withReason(err: WorkerError): WorkerError {
    if (guestError !== null) err.guestReason = guestError;
    guestError = null;
    return err;
  }

  function fail(error: WorkerError): StartResult {
    endLogBudget();
    return { t: 'fail', error, logs: takeLogs() };
  }

  function start(): StartResult {
    const imports: Record<string, Record<string, unknown>> = { spacedrive: { ...host } };
    for (const u of init.refusedImports) {
      (imports[u.module] ??= {})[u.name] = () => {
        throw fault('EXTENSION_INVALID', u.why);
      };
    }
    if (init.importedMemory) {
      const m = init.importedMemory;
      memory = new WebAssembly.Memory({ initial: m.initialPages, maximum: m.maxPages, shared: m.shared });
      (imports[m.module] ??= {})[m.name] = memory;
    }
    let instance: import('./wasm-types.js').WasmInstance;
    try {
      instance = new WebAssembly.Instance(init.module, imports);
    } catch (e) {
      return fail(classify(e, '(instantiate)'));
    }
    ex = instance.exports as typeof ex;
    if (typeof ex.sd_abi_version !== 'function') {
      return fail({
        code: 'EXTENSION_INVALID',
        export: 'sd_abi_version',
        cause: `does not export sd_abi_version, the ABI version marker (this host supports ABI version ${init.supportedAbi.join(', ')})`,
      });
    }
    let version: unknown;
    try {
      version = (ex.sd_abi_version as () => number)();
    } catch (e) {
      return fail(classify(e, 'sd_abi_version'));
    }
    if (!init.supportedAbi.includes(version as number)) {
      return fail({
        code: 'ABI_UNSUPPORTED',
        export: 'sd_abi_version',
        cause: `declares ABI version ${String(version)}; this host supports ABI version ${init.supportedAbi.join(', ')}`,
      });
    }
    if (init.refusedImports.length > 0) {
      return fail({ code: 'EXTENSION_INVALID', export: '(imports)', cause: init.refusedImports.map((u) => u.why).join('; ') });
    }
    if (memory === undefined) {
      if (!(ex.memory instanceof WebAssembly.Memory)) {
        return fail({ code: 'EXTENSION_INVALID', export: 'memory', cause: "does not export its linear memory as 'memory'" });
      }
      memory = ex.memory as WasmMemory;
    }
    sharedMemory = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
    const missing = ['sd_alloc', 'sd_free', 'plugin_init'].filter((n) => typeof ex[n] !== 'function');
    if (missing.length > 0) {
      return fail({ code: 'EXTENSION_INVALID', export: missing[0]!, cause: `does not export the required function(s) ${missing.join(', ')}` });
    }
    initializing = true;
    deadline = performance.now() + init.initTimeoutMs;
    let r: unknown;
    try {
      r = (ex.plugin_init as () => number)();
    } catch (e) {
      initializing = false;
      if (isBail(e)) throw e;
      return fail(withReason(classify(e, 'plugin_init')));
    }
    initializing = false;
    if (rejected.length > 0) {
      return fail({ code: 'REGISTRATION_REJECTED', export: 'plugin_init', cause: rejected.join('; ') });
    }
    if (r !== 0) {
      const why = guestError !== null ? `: ${guestError}` : '';
      return fail({ code: 'EXTENSION_LOAD_FAILED', export: 'plugin_init', cause: `plugin_init returned ${String(r)}${why}` });
    }
    guestError = null;
    endLogBudget();
    return { t: 'ready', registrations, logs: takeLogs() };
  }

  function call(m: CallRequest): CallResult {
    currentJob = m.jobId;
    guestError = null;
    callTimeoutMs = m.timeoutMs;
    deadline = performance.now() + m.timeoutMs;
    const fn = ex[m.exportFn];
    try {
      if (typeof fn !== 'function') throw fault('EXTENSION_INVALID', 'is not an exported function');
      const n = m.inputBytes;
      io.hostWork(n);
      const inPtr = ex.sd_alloc(n) >>> 0;
      if (inPtr === 0) throw fault('EXTENSION_OUT_OF_MEMORY', `sd_alloc(${n}) returned 0 for the call's input`);
      const dst = view(inPtr, n, `sd_alloc(${n}) result`);
      enc.encodeInto(m.input, dst);
      const packed = (fn as (p: number, n: number) => unknown)(inPtr, n);
      if (typeof packed !== 'bigint') {
        throw fault('EXTENSION_BAD_RESULT', `returned ${typeof packed}; a handler must return an i64 (ptr | len << 32)`);
      }
      const u = BigInt.asUintN(64, packed);
      const outPtr = Number(u & 0xffff_ffffn);
      const outLen = Number(u >> 32n);
      if (guestError !== null) {
        if (u !== 0n && outPtr !== inPtr) ex.sd_free(outPtr, outLen);
        ex.sd_free(inPtr, n);
        const error: WorkerError = { code: 'EXTENSION_ERROR', cause: 'failed', export: m.exportFn, guestError };
        guestError = null;
        endLogBudget();
        return { t: 'result', ok: false, error, discard: false, logs: takeLogs() };
      }
      let output = 'null';
      let value: unknown = null;
      if (u !== 0n) {
        if (outLen > m.maxOutputBytes) {
          throw fault('EXTENSION_BAD_RESULT', `returned ${outLen} bytes, over the output limit of ${m.maxOutputBytes} bytes`);
        }
        io.hostWork(outLen);
        output = text(outPtr, outLen, 'result');
        try {
          value = JSON.parse(output);
        } catch (e) {
          throw fault('EXTENSION_BAD_RESULT', `returned invalid JSON (${(e as Error).message})`);
        }
        // Free the output before the input: a stack-like allocator then returns to its base.
        // A handler that hands back its input buffer gets it freed once, not twice.
        if (outPtr !== inPtr) ex.sd_free(outPtr, outLen);
      }
      ex.sd_free(inPtr, n);
      endLogBudget();
      const result: CallResult = { t: 'result', ok: true, output, logs: takeLogs() };
      if (init.keepOutputValue === true) result.value = value;
      return result;
    } catch (e) {
      if (isBail(e)) throw e;
      poisoned = true;
      endLogBudget();
      return { t: 'result', ok: false, error: withReason(classify(e, m.exportFn)), discard: true, logs: takeLogs() };
    } finally {
      currentJob = null;
    }
  }

  function cleanup(): CleanupResult {
    if (ex !== undefined && typeof ex.plugin_cleanup === 'function') {
      try {
        (ex.plugin_cleanup as () => number)();
      } catch (e) {
        logs.push([4, `plugin_cleanup failed: ${classify(e, 'plugin_cleanup').cause}`]);
      }
    }
    endLogBudget();
    return { t: 'cleaned', logs: takeLogs() };
  }

  return {
    start,
    call,
    cleanup,
    get poisoned() {
      return poisoned;
    },
    get exports() {
      return ex;
    },
    fault,
    toGuest,
    bytesToGuest,
  };
}
