/**
 * A minimal, real implementation of the host half of extension ABI v1 (docs/extension-abi.md),
 * running a module in this thread with plain WebAssembly. The SDK tests use it to check the guest
 * side (what the SDK puts in the module); the daemon's sandbox is tested on its own.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');

export function builtModulePath(id: string): string {
  return resolve(ROOT, 'build', 'extensions', id, `${id}.wasm`);
}

export interface GuestLogLine {
  level: number;
  message: string;
}

export interface GuestRegistration {
  kind: 'operation' | 'job';
  name: string;
  exportFn: string;
  /** Method (operations) or job type (jobs), formed by the host from the extension id. */
  formed: string;
  payload: Record<string, unknown>;
}

/** A failure answered to the guest's sd_call. */
export class HostCallError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface GuestHostOptions {
  id: string;
  version?: string;
  config?: unknown;
  /** Wire methods the guest may call through sd_call. */
  methods?: Record<string, (payload: unknown) => unknown>;
  /** Answer of sd_job_progress inside a job (after recording the report). */
  onProgress?: (report: Record<string, unknown>) => number;
  /** Answer of sd_job_interrupt inside a job. */
  onInterrupt?: () => number;
}

/** A handler call's raw outcome. */
export interface RawCall {
  packed: bigint;
  ptr: number;
  len: number;
  /** Output bytes (copied before sd_free), `null` when the handler returned 0. */
  output: Buffer | null;
  /** The guest's sd_error text, if it called it. */
  error: string | null;
}

const OPERATION_NAME = /^[a-z][a-z0-9_]*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export class GuestInstance {
  readonly logs: GuestLogLine[] = [];
  readonly registrations: GuestRegistration[] = [];
  readonly progress: Record<string, unknown>[] = [];
  readonly hostCalls: string[] = [];
  private inInit = false;
  private inJob = false;
  private pendingError: string | null = null;
  private readonly sleeper = new Int32Array(new SharedArrayBuffer(4));

  private constructor(
    readonly instance: WebAssembly.Instance,
    private readonly opts: GuestHostOptions,
  ) {}

  static load(wasm: Uint8Array | string, opts: GuestHostOptions): GuestInstance {
    const bytes = typeof wasm === 'string' ? readFileSync(wasm) : wasm;
    const module = new WebAssembly.Module(bytes);
    let self: GuestInstance | undefined;
    const host = () => self!;
    const imports = {
      spacedrive: {
        sd_call: (mp: number, ml: number, pp: number, pl: number) => host().sdCall(mp, ml, pp, pl),
        sd_log: (level: number, p: number, l: number) => {
          host().logs.push({ level, message: host().readText(p, l) });
        },
        sd_error: (p: number, l: number) => {
          host().pendingError = host().readText(p, l);
        },
        sd_job_progress: (p: number, l: number) => host().jobProgress(p, l),
        sd_job_interrupt: () => (host().inJob ? (host().opts.onInterrupt?.() ?? 0) : -1),
      },
    };
    const instance = new WebAssembly.Instance(module, imports);
    self = new GuestInstance(instance, opts);
    return self;
  }

  get exports(): Record<string, any> {
    return this.instance.exports as Record<string, any>;
  }

  get memory(): WebAssembly.Memory {
    return this.exports.memory as WebAssembly.Memory;
  }

  /** Runs plugin_init (registrations allowed only here). */
  init(): number {
    this.inInit = true;
    try {
      return this.exports.plugin_init() as number;
    } finally {
      this.inInit = false;
    }
  }

  readText(ptr: number, len: number): string {
    return utf8.decode(new Uint8Array(this.memory.buffer, ptr, len));
  }

  /** Copies bytes into guest memory through sd_alloc (the guest frees them). */
  private give(bytes: Uint8Array): bigint {
    const ptr = this.exports.sd_alloc(bytes.length) as number;
    if (ptr === 0 && bytes.length > 0) throw new Error('sd_alloc failed');
    // read memory.buffer after sd_alloc: the allocation may have grown (and detached) it
    new Uint8Array(this.memory.buffer, ptr, bytes.length).set(bytes);
    return (BigInt(bytes.length) << 32n) | BigInt(ptr >>> 0);
  }

  private sdCall(mp: number, ml: number, pp: number, pl: number): bigint {
    const method = this.readText(mp, ml);
    this.hostCalls.push(method);
    let envelope: unknown;
    try {
      const payload = JSON.parse(this.readText(pp, pl)) as unknown;
      envelope = { ok: true, result: this.serve(method, payload) };
    } catch (err) {
      const e = err as { code?: string; message: string };
      envelope = { ok: false, error: { code: e.code ?? 'OPERATION_FAILED', message: e.message } };
    }
    return this.give(Buffer.from(JSON.stringify(envelope), 'utf8'));
  }

  private serve(method: string, payload: any): unknown {
    switch (method) {
      case 'extension.register_operation':
      case 'extension.register_job': {
        if (!this.inInit) throw new HostCallError('REGISTRATION_REJECTED', `${method} is allowed only in plugin_init`);
        const isJob = method === 'extension.register_job';
        const name = String(payload.name);
        const exportFn = String(payload.export_fn);
        if (!OPERATION_NAME.test(name)) throw new HostCallError('REGISTRATION_REJECTED', `invalid name '${name}'`);
        if (typeof this.exports[exportFn] !== 'function') {
          throw new HostCallError('REGISTRATION_REJECTED', `the module has no export '${exportFn}'`);
        }
        const kind = isJob ? 'job' : 'operation';
        const formed = isJob
          ? `${this.opts.id}:${name}`
          : payload.operation_type === 'action'
            ? `action:${this.opts.id}:${name}.input.v1`
            : `query:${this.opts.id}:${name}.v1`;
        if (this.registrations.some((r) => r.formed === formed)) {
          throw new HostCallError('REGISTRATION_REJECTED', `'${formed}' is already registered`);
        }
        this.registrations.push({ kind, name, exportFn, formed, payload });
        return isJob ? { job_type: formed } : { method: formed };
      }
      case 'extension.config':
        return this.opts.config ?? {};
      case 'extension.info':
        return { id: this.opts.id, version: this.opts.version ?? '0.0.0', abi_version: 1 };
      case 'extension.sleep':
        Atomics.wait(this.sleeper, 0, 0, Number(payload.ms));
        return {};
      default: {
        const handler = this.opts.methods?.[method];
        if (!handler) throw new HostCallError('UNKNOWN_METHOD', `unknown method '${method}'`);
        return handler(payload);
      }
    }
  }

  private jobProgress(p: number, l: number): number {
    if (!this.inJob) return -1;
    const report = JSON.parse(this.readText(p, l)) as Record<string, unknown>;
    this.progress.push(report);
    return this.opts.onProgress?.(report) ?? 0;
  }

  /** Calls a handler export the way the host does: input through sd_alloc, result freed after copying. */
  callRaw(exportFn: string, input: string | Uint8Array, opts: { job?: boolean } = {}): RawCall {
    const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
    const packedIn = this.give(bytes);
    const inPtr = Number(packedIn & 0xffffffffn);
    this.pendingError = null;
    this.inJob = opts.job ?? false;
    let packed: bigint;
    try {
      packed = this.exports[exportFn](inPtr, bytes.length) as bigint;
    } finally {
      this.inJob = false;
    }
    this.exports.sd_free(inPtr, bytes.length);
    const unsigned = BigInt.asUintN(64, packed);
    const ptr = Number(unsigned & 0xffffffffn);
    const len = Number(unsigned >> 32n);
    let output: Buffer | null = null;
    if (unsigned !== 0n) {
      if (ptr + len > this.memory.buffer.byteLength) throw new Error(`result outside memory: ptr ${ptr} len ${len}`);
      output = Buffer.from(new Uint8Array(this.memory.buffer, ptr, len));
      this.exports.sd_free(ptr, len);
    }
    return { packed: unsigned, ptr, len, output, error: this.pendingError };
  }

  /** Calls a handler with JSON input; returns its parsed output or throws the guest's error. */
  call(exportFn: string, input: unknown, opts: { job?: boolean } = {}): any {
    const r = this.callRaw(exportFn, JSON.stringify(input), opts);
    if (r.output === null) {
      const err = r.error === null ? { message: 'no result and no error' } : (JSON.parse(r.error) as { code?: string; message: string });
      throw new HostCallError(err.code ?? 'OPERATION_FAILED', err.message);
    }
    return JSON.parse(utf8.decode(r.output));
  }
}
