/**
 * The AssemblyScript SDK's guest side, on the real modules `npm run build` compiles
 * (extensions/hello, extensions/test-ext), run with plain WebAssembly against a minimal real host
 * (sdk-guest-host.ts).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultOptions } from '../../src/config/index.js';
import { readPackage } from '../../src/extensions/manifest.js';
import { GuestInstance, HostCallError, ROOT, builtModulePath } from './sdk-guest-host.js';

const NON_ASCII = 'Zoë — 日本語 — 😀 — ñandú — "quotes" \\ and \n newline';

beforeAll(() => {
  // Incremental: fast when the modules are up to date.
  execFileSync(process.execPath, [resolve(ROOT, 'scripts', 'build-extensions.mjs')], { cwd: ROOT, stdio: 'pipe' });
}, 120_000);

function loadHello(): GuestInstance {
  const g = GuestInstance.load(builtModulePath('hello'), { id: 'hello', version: '0.1.0' });
  expect(g.init()).toBe(0);
  return g;
}

function loadTestExt(methods: Record<string, (payload: any) => unknown> = {}, extra: Partial<Parameters<typeof GuestInstance.load>[1]> = {}): GuestInstance {
  const g = GuestInstance.load(builtModulePath('test-ext'), {
    id: 'test-ext',
    version: '0.1.0',
    config: { greeting_prefix: 'Hi', repeat: 2 },
    methods,
    ...extra,
  });
  expect(g.init()).toBe(0);
  return g;
}

describe('build output', () => {
  for (const id of ['hello', 'test-ext']) {
    it(`${id}: manifest carries the module's SHA-256 and the module imports only the spacedrive module`, () => {
      const dir = resolve(ROOT, 'build', 'extensions', id);
      const manifest = JSON.parse(readFileSync(resolve(dir, 'manifest.json'), 'utf8'));
      const wasm = readFileSync(resolve(dir, `${id}.wasm`));
      expect(manifest).toMatchObject({ id, module: `${id}.wasm`, abi_version: 1 });
      expect(manifest.sha256).toBe(createHash('sha256').update(wasm).digest('hex'));
      for (const key of ['name', 'version', 'description', 'author', 'permissions', 'limits', 'config_schema', 'config']) {
        expect(manifest).toHaveProperty(key);
      }
      const mod = new WebAssembly.Module(wasm);
      const imports = WebAssembly.Module.imports(mod);
      expect(imports.every((i) => i.module === 'spacedrive')).toBe(true);
      const exports = WebAssembly.Module.exports(mod).map((e) => e.name);
      expect(exports).toEqual(expect.arrayContaining(['memory', 'sd_abi_version', 'sd_alloc', 'sd_free', 'plugin_init']));
    });

    it(`${id}: the package passes the extension manager's checks (manifest schema, limits, SHA-256)`, async () => {
      const pkg = await readPackage(resolve(ROOT, 'build', 'extensions', id), defaultOptions(ROOT).extensions);
      expect(pkg.manifest.id).toBe(id);
    });
  }
});

describe('ABI exports', () => {
  it('sd_abi_version returns 1', () => {
    expect(GuestInstance.load(builtModulePath('hello'), { id: 'hello' }).exports.sd_abi_version()).toBe(1);
  });

  it('sd_alloc returns pinned buffers that sd_free releases, and 0 for an impossible size', () => {
    const g = GuestInstance.load(builtModulePath('test-ext'), { id: 'test-ext' });
    expect(g.exports.sd_alloc(-1)).toBe(0);
    expect(g.exports.sd_alloc(0x7fffffff)).toBe(0);
    const a = g.exports.sd_alloc(64) as number;
    const b = g.exports.sd_alloc(64) as number;
    expect(a).not.toBe(0);
    expect(b).not.toBe(a);
    // pinned buffers survive a collection triggered by heavy allocation in between
    new Uint8Array(g.memory.buffer, a, 64).fill(7);
    for (let i = 0; i < 200; i++) g.call('churn', { n: 50 });
    expect([...new Uint8Array(g.memory.buffer, a, 64)].every((x) => x === 7)).toBe(true);
    g.exports.sd_free(a, 64);
    g.exports.sd_free(b, 64);
    const before = g.memory.buffer.byteLength;
    for (let i = 0; i < 2_000; i++) {
      const p = g.exports.sd_alloc(1 << 20) as number;
      expect(p).not.toBe(0);
      g.exports.sd_free(p, 1 << 20);
    }
    // 2 GB allocated in total; freed buffers are reused
    expect(g.memory.buffer.byteLength).toBeLessThan(before + 8 * (1 << 20));
  });
});

describe('registration in plugin_init', () => {
  it('hello registers its query and its resumable job with the formed names and exports', () => {
    const g = loadHello();
    expect(g.registrations.map((r) => [r.kind, r.formed, r.exportFn])).toEqual([
      ['operation', 'query:hello:greet.v1', 'greet'],
      ['job', 'hello:countdown', 'countdown'],
    ]);
    const greet = g.registrations[0]!.payload;
    expect(greet).toMatchObject({ name: 'greet', operation_type: 'query', description: 'Greets someone by name' });
    expect(greet.input_schema).toMatchObject({ type: 'object', required: ['name'] });
    expect(greet.output_schema).toMatchObject({ required: ['greeting'] });
    const job = g.registrations[1]!.payload;
    expect(job).toMatchObject({ name: 'countdown', resumable: true });
    expect(job.params_schema).toMatchObject({ required: ['from'] });
  });

  it('test-ext registers queries, actions and a job', () => {
    const g = loadTestExt();
    const formed = g.registrations.map((r) => r.formed);
    expect(formed).toEqual(
      expect.arrayContaining([
        'query:test-ext:noop.v1',
        'query:test-ext:echo.v1',
        'query:test-ext:fail.v1',
        'query:test-ext:core_status.v1',
        'query:test-ext:greet_via_hello.v1',
        'action:test-ext:record.input.v1',
        'action:test-ext:dispatch_steps.input.v1',
        'test-ext:steps',
      ]),
    );
    for (const r of g.registrations) expect(typeof g.exports[r.exportFn]).toBe('function');
  });

  it('a rejected registration makes plugin_init fail and is logged with the host error', () => {
    const g = loadHello();
    // a second init registers the same names again: the host refuses the duplicates
    expect(g.init()).toBe(1);
    const errors = g.logs.filter((l) => l.level === 4).map((l) => l.message);
    expect(errors).toEqual([
      "registration failed: REGISTRATION_REJECTED: 'query:hello:greet.v1' is already registered",
      "registration failed: REGISTRATION_REJECTED: 'hello:countdown' is already registered",
    ]);
  });
});

describe('handler calls', () => {
  it('hello greets, non-ASCII included', () => {
    const g = loadHello();
    expect(g.call('greet', { name: 'Ada' })).toEqual({ greeting: 'Hello, Ada!' });
    expect(g.call('greet', { name: NON_ASCII })).toEqual({ greeting: `Hello, ${NON_ASCII}!` });
  });

  it('results are packed pointer and length, the length counting UTF-8 bytes', () => {
    const g = loadTestExt();
    const input = JSON.stringify({ text: NON_ASCII });
    const r = g.callRaw('echo', input);
    expect(r.ptr).not.toBe(0);
    expect(r.len).toBe(Buffer.byteLength(input, 'utf8'));
    expect(r.packed).toBe((BigInt(r.len) << 32n) | BigInt(r.ptr));
    expect(r.output!.toString('utf8')).toBe(input);
    expect(r.error).toBeNull();
  });

  it('typed JSON round trip of non-ASCII text (json-as), with lengths measured in the guest', () => {
    const g = loadTestExt();
    expect(g.call('echo_text', { text: NON_ASCII })).toEqual({
      text: NON_ASCII,
      utf16_length: NON_ASCII.length,
      utf8_bytes: Buffer.byteLength(NON_ASCII, 'utf8'),
    });
  });

  it('surrogate pairs at every alignment, and escaped input, serialise to valid UTF-8', () => {
    const g = loadHello();
    for (let pad = 0; pad < 8; pad++) {
      const name = 'x'.repeat(pad) + '😀' + 'y'.repeat(pad) + '🇫🇷';
      expect(g.call('greet', { name })).toEqual({ greeting: `Hello, ${name}!` });
    }
    const escaped = '{"name":"\\ud83d\\ude00 \\u00e9 \\" \\n"}';
    const r = g.callRaw('greet', escaped);
    expect(JSON.parse(r.output!.toString('utf8'))).toEqual({ greeting: 'Hello, 😀 é " \n!' });
  });

  it('noop returns {}', () => {
    expect(loadTestExt().call('noop', {})).toEqual({});
  });

  it('large outputs and inputs', () => {
    const g = loadTestExt();
    const n = 4 * 1024 * 1024;
    const r = g.callRaw('bytes', JSON.stringify({ n }));
    expect(r.len).toBe(n + '{"data":""}'.length);
    const out = JSON.parse(r.output!.toString('utf8'));
    expect(out.data.length).toBe(n);
    expect(/^x+$/.test(out.data)).toBe(true);
    const data = 'é'.repeat(1024 * 1024) + 'abc';
    expect(g.call('measure', { data })).toEqual({ chars: data.length, utf8_bytes: Buffer.byteLength(data, 'utf8') });
  });

  it('an action', () => {
    expect(loadTestExt().call('record', { items: ['a', 'ß', '😀'] })).toEqual({ count: 3, joined: 'a, ß, 😀' });
  });

  it('sd_error: the handler returns 0 and the error carries the code and message', () => {
    const g = loadTestExt();
    const r = g.callRaw('fail', JSON.stringify({ message: 'bad receipt: «total» missing', code: 'INVALID_INPUT' }));
    expect(r.packed).toBe(0n);
    expect(r.output).toBeNull();
    expect(JSON.parse(r.error!)).toEqual({ message: 'bad receipt: «total» missing', code: 'INVALID_INPUT' });
    const plain = g.callRaw('fail', JSON.stringify({}));
    expect(JSON.parse(plain.error!)).toEqual({ message: 'deliberate failure' });
  });

  it('abort reports its reason through sd_error, then traps', () => {
    const g = loadTestExt();
    expect(() => g.callRaw('panic', '{}')).toThrow(WebAssembly.RuntimeError);
    const reason = (g as unknown as { pendingError: string }).pendingError;
    expect(JSON.parse(reason)).toEqual({ message: 'abort: deliberate panic' });
  });

  it('logs at every level, as UTF-8', () => {
    const g = loadTestExt();
    expect(g.call('log_levels', {})).toEqual({ count: 5 });
    expect(g.logs).toEqual([
      { level: 0, message: 'trace line' },
      { level: 1, message: 'debug line' },
      { level: 2, message: 'info line ✓' },
      { level: 3, message: 'warn line' },
      { level: 4, message: 'error line' },
    ]);
  });

  it('reads its configuration and identity from the host', () => {
    const g = loadTestExt();
    expect(g.call('config', {})).toEqual({ greeting_prefix: 'Hi', repeat: 2 });
    expect(g.call('info', {})).toEqual({ id: 'test-ext', version: '0.1.0', abi_version: 1 });
  });
});

describe('calls into the host', () => {
  it('callQuery expands the short name and parses the typed result', () => {
    const g = loadTestExt({
      'query:core.status.v1': () => ({ version: '9.9.9', uptime_ms: 12, started_at: 'x', data_dir: '/d', pid: 4242, counts: { a: 1 } }),
    });
    expect(g.call('core_status', {})).toEqual({ core_version: '9.9.9', core_pid: 4242 });
    expect(g.hostCalls).toContain('query:core.status.v1');
  });

  it('a host error reaches the guest as a CallResult error, with its code', () => {
    const g = loadTestExt({
      'query:core.status.v1': () => {
        throw new HostCallError('PERMISSION_DENIED', "extension 'test-ext' may not call 'query:core.status.v1'");
      },
    });
    expect(() => g.call('core_status', {})).toThrow(
      expect.objectContaining({ code: 'PERMISSION_DENIED', message: "extension 'test-ext' may not call 'query:core.status.v1'" }),
    );
    // unknown methods too
    const bare = loadTestExt();
    expect(() => bare.call('core_status', {})).toThrow(expect.objectContaining({ code: 'UNKNOWN_METHOD' }));
  });

  it("calls another extension's query (a real hello instance)", () => {
    const hello = loadHello();
    const g = loadTestExt({ 'query:hello:greet.v1': (payload) => hello.call('greet', payload) });
    expect(g.call('greet_via_hello', { name: 'Grace ☕' })).toEqual({ greeting: 'Hello, Grace ☕!', via: 'query:hello:greet.v1' });
  });

  it('callAction and callQuery expand short names like the CLI (relay)', () => {
    const seen: [string, unknown][] = [];
    const record = (method: string) => (payload: unknown) => {
      seen.push([method, payload]);
      return { ok: method };
    };
    const g = loadTestExt({
      'action:files.copy.input.v1': record('action:files.copy.input.v1'),
      'action:finance:import_receipts.input.v1': record('action:finance:import_receipts.input.v1'),
      'query:core.status.v2': record('query:core.status.v2'),
      'query:finance:classify_receipt.v1': record('query:finance:classify_receipt.v1'),
    });
    const relay = (kind: string, method: string, input: unknown = { a: [1, 'é'] }) => g.call('relay', { kind, method, input }).result;
    expect(relay('action', 'files.copy')).toEqual({ ok: 'action:files.copy.input.v1' });
    expect(relay('action', 'files.copy.input')).toEqual({ ok: 'action:files.copy.input.v1' });
    expect(relay('action', 'finance:import_receipts')).toEqual({ ok: 'action:finance:import_receipts.input.v1' });
    expect(relay('action', 'action:finance:import_receipts.input.v1')).toEqual({ ok: 'action:finance:import_receipts.input.v1' });
    expect(relay('query', 'core.status.v2')).toEqual({ ok: 'query:core.status.v2' });
    expect(relay('query', 'finance:classify_receipt')).toEqual({ ok: 'query:finance:classify_receipt.v1' });
    expect(seen.every(([, payload]) => JSON.stringify(payload) === JSON.stringify({ a: [1, 'é'] }))).toBe(true);
    expect(() => relay('query', 'nope:missing')).toThrow(expect.objectContaining({ code: 'UNKNOWN_METHOD', message: "unknown method 'query:nope:missing.v1'" }));
  });

  it('jobs().dispatch sends {job_type, params} to action:jobs.dispatch.input.v1 and returns the job id', () => {
    const seen: unknown[] = [];
    const g = loadTestExt({
      'action:jobs.dispatch.input.v1': (payload) => {
        seen.push(payload);
        return { job_id: 'job-42', deduplicated: false };
      },
    });
    expect(g.call('dispatch_steps', { steps: 3 })).toEqual({ job_id: 'job-42' });
    expect(seen).toEqual([{ job_type: 'test-ext:steps', params: { steps: 3 } }]);
  });
});

describe('jobs', () => {
  const jobInput = (params: unknown, state: unknown = null, attempt = 1) => ({
    job_id: 'j1',
    job_type: 'hello:countdown',
    params,
    state,
    attempt,
  });

  it('hello:countdown reports progress with state, pauses when asked, and resumes from the state', () => {
    const answers = [0, 0, 1]; // continue, continue, pause
    const g = GuestInstance.load(builtModulePath('hello'), { id: 'hello', onProgress: () => answers.shift() ?? 0 });
    expect(g.init()).toBe(0);
    const first = g.call('countdown', jobInput({ from: 5 }), { job: true });
    expect(first).toEqual({ status: 'interrupted', state: { remaining: 2 } });
    expect(g.progress).toEqual([
      { fraction: 0.2, state: { remaining: 4 }, message: '4 to go' },
      { fraction: 0.4, state: { remaining: 3 }, message: '3 to go' },
      { fraction: 0.6, state: { remaining: 2 }, message: '2 to go' },
    ]);
    g.progress.length = 0;
    const resumed = g.call('countdown', jobInput({ from: 5 }, { remaining: 2 }, 1), { job: true });
    expect(resumed).toEqual({ status: 'completed', output: { counted: 5 } });
    expect(g.progress.map((p) => p.state)).toEqual([{ remaining: 1 }, { remaining: 0 }]);
    expect(g.progress.at(-1)!.fraction).toBe(1);
    expect(g.logs).toContainEqual({ level: 2, message: 'resuming countdown at 2' });
  });

  it('hello:countdown stops on cancel', () => {
    const g = GuestInstance.load(builtModulePath('hello'), { id: 'hello', onProgress: () => 2 });
    g.init();
    expect(g.call('countdown', jobInput({ from: 3 }), { job: true })).toEqual({ status: 'interrupted', state: { remaining: 2 } });
  });

  it('hello:countdown paces itself with delay_ms through extension.sleep', () => {
    const g = loadHello();
    const started = Date.now();
    expect(g.call('countdown', jobInput({ from: 3, delay_ms: 20 }), { job: true })).toEqual({ status: 'completed', output: { counted: 3 } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(55);
    expect(g.hostCalls.filter((m) => m === 'extension.sleep')).toHaveLength(3);
  });

  it('test-ext:steps: counters in progress, interrupt checks between steps, retryable failures', () => {
    let interruptAfter = 2;
    const g = loadTestExt({}, { onInterrupt: () => (interruptAfter-- > 0 ? 0 : 1) });
    const out = g.call('steps', { ...jobInput({ steps: 4 }), job_type: 'test-ext:steps' }, { job: true });
    expect(out).toEqual({ status: 'interrupted', state: { done: 2 } });
    expect(g.progress[0]).toEqual({ fraction: 0.25, message: 'step 1 of 4', state: { done: 1 }, items_done: 1, items_total: 4 });

    interruptAfter = 100;
    const done = g.call('steps', { ...jobInput({ steps: 4 }, { done: 2 }, 2), job_type: 'test-ext:steps' }, { job: true });
    expect(done).toEqual({ status: 'completed', output: { done: 4, attempt: 2, resumed: true } });

    const failed = g.call('steps', { ...jobInput({ steps: 4, fail_attempts: 1 }), job_type: 'test-ext:steps' }, { job: true });
    expect(failed).toEqual({
      status: 'failed',
      error: { message: 'failing attempt 1 on purpose', code: 'TEST_RETRY' },
      retryable: true,
    });
  });

  it('outside a job, progress and interrupt answer "not in a job" and the handler carries on', () => {
    const g = loadHello();
    expect(g.call('countdown', jobInput({ from: 2 }))).toEqual({ status: 'completed', output: { counted: 2 } });
    expect(g.progress).toEqual([]);
  });
});

describe('memory', () => {
  it('stays flat over 10,000 calls with allocation churn (the incremental runtime frees)', () => {
    const g = loadTestExt();
    const payload = JSON.stringify({ text: NON_ASCII.repeat(20) });
    for (let i = 0; i < 500; i++) {
      g.call('churn', { n: 40 });
      g.call('echo_text', JSON.parse(payload));
    }
    const warm = g.memory.buffer.byteLength;
    for (let i = 0; i < 10_000; i++) {
      expect(g.call('churn', { n: 40 })).toEqual({ count: 40 });
      g.callRaw('echo', payload);
    }
    // each churn call allocates ~20 KB: 200 MB in total, all of it garbage
    const after = g.memory.buffer.byteLength;
    expect(after).toBeLessThanOrEqual(warm + 2 * 65536);
    expect(after).toBeLessThan(8 * 1024 * 1024);
  });

  it('stays flat over 10,000 guest→host calls (answers written by the host through sd_alloc)', () => {
    const status = { version: '1.0.0', uptime_ms: 1, started_at: 'x'.repeat(4096), data_dir: '/d', pid: 1, counts: {} };
    const g = loadTestExt({ 'query:core.status.v1': () => status });
    for (let i = 0; i < 500; i++) g.call('core_status', {});
    const warm = g.memory.buffer.byteLength;
    for (let i = 0; i < 10_000; i++) g.call('core_status', {});
    expect(g.memory.buffer.byteLength).toBeLessThanOrEqual(warm + 2 * 65536);
  });

  it('plugin_cleanup runs and logs', () => {
    const g = loadTestExt();
    expect(g.exports.plugin_cleanup()).toBe(0);
    expect(g.logs).toContainEqual({ level: 2, message: 'test-ext: cleanup' });
  });

  it('empty input and empty blocks', () => {
    const g = loadTestExt();
    expect(g.exports.sd_alloc(0)).not.toBe(0);
    expect(g.callRaw('noop', '').output!.toString()).toBe('{}');
  });
});
