/**
 * Short calls on the main thread (src/extensions/sandbox/inline.ts) and the fuel metering that
 * makes them safe (metering.ts): a call answered there answers exactly as a worker would; one
 * that needs the host asynchronously, runs out of fuel or fails leaves no trace and runs on a
 * worker, and its export stays on the workers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ExtensionSandbox } from '../../src/extensions/sandbox/index.js';
import { INLINE_MAX_COPY, INLINE_MAX_STARTS } from '../../src/extensions/sandbox/inline.js';
import { FUEL_EXPORT, meterModule, UnmeterableModule } from '../../src/extensions/sandbox/metering.js';
import { rejectionOf } from '../helpers/errors.js';
import { loadSandbox } from '../../src/extensions/sandbox/index.js';
import { silentLogger } from '../../src/logging/index.js';
import { loadFixture, recordingBridge, TEST_LIMITS } from '../helpers/sandbox.js';
import { compileWat, compileWatText } from '../helpers/wat.js';

type Fuel = { value: number };

async function metered(text: string, initialFuel = 1_000_000): Promise<Record<string, unknown>> {
  const bytes = meterModule(await compileWatText(text), initialFuel).bytes;
  const { instance } = (await WebAssembly.instantiate(bytes, {})) as unknown as { instance: { exports: Record<string, unknown> } };
  return instance.exports;
}

describe('fuel metering', () => {
  it('charges at least one unit per instruction run, and traps once the fuel is gone', async () => {
    const ex = await metered(`(module
      (func (export "count") (param $n i32) (result i32)
        (local $i i32)
        (loop $l
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
        (local.get $i))
      (func (export "spin") (loop $forever (br $forever))))`);
    const fuel = ex[FUEL_EXPORT] as Fuel;
    const count = ex.count as (n: number) => number;
    fuel.value = 1_000_000;
    expect(count(1000)).toBe(1000);
    // Each of the 1,000 iterations runs the loop body's 8 instructions.
    expect(1_000_000 - fuel.value).toBeGreaterThanOrEqual(8000);
    fuel.value = 1_000_000;
    expect(() => (ex.spin as () => void)()).toThrow(WebAssembly.RuntimeError);
    expect(fuel.value).toBeLessThan(0);
    // The same loop with fuel to spare runs to its end: the check is the only change.
    fuel.value = 1_000_000;
    expect(count(10)).toBe(10);
  });

  it('keeps every function, global and export of the module, and counts calls as well as loops', async () => {
    const ex = await metered(`(module
      (global $g (export "g") (mut i32) (i32.const 7))
      (func $inc (result i32) (global.set $g (i32.add (global.get $g) (i32.const 1))) (global.get $g))
      (func (export "twice") (result i32) (drop (call $inc)) (call $inc)))`);
    const fuel = ex[FUEL_EXPORT] as Fuel;
    fuel.value = 100;
    expect((ex.twice as () => number)()).toBe(9);
    expect((ex.g as Fuel).value).toBe(9);
    expect(fuel.value).toBeLessThan(100 - 3 * 1);
  });

  it('charges a bulk instruction by its length before it runs', async () => {
    const ex = await metered(`(module
      (memory (export "memory") 16)
      (func (export "fill") (param $n i32) (param $v i32)
        (local $kept i64)
        (local.set $kept (i64.const 7))
        (memory.fill (i32.const 0) (local.get $v) (local.get $n)))
      (func (export "copy") (param $n i32) (memory.copy (i32.const 0) (i32.const 16) (local.get $n))))`);
    const fuel = ex[FUEL_EXPORT] as Fuel;
    const memory = ex.memory as WebAssembly.Memory;
    fuel.value = 1_000_000;
    (ex.fill as (n: number, v: number) => void)(400_000, 9);
    expect(new Uint8Array(memory.buffer)[399_999]).toBe(9);
    expect(1_000_000 - fuel.value).toBeGreaterThanOrEqual(100_000);
    // A whole megabyte on a budget of a hundred thousand units: stopped before it writes a byte.
    fuel.value = 100_000;
    expect(() => (ex.fill as (n: number, v: number) => void)(1 << 20, 5)).toThrow(WebAssembly.RuntimeError);
    expect(new Uint8Array(memory.buffer)[0]).toBe(9);
    fuel.value = 100_000;
    expect(() => (ex.copy as (n: number) => void)(1 << 20)).toThrow(WebAssembly.RuntimeError);
    fuel.value = 100_000;
    (ex.copy as (n: number) => void)(1000);
  });

  it('starts with the initial fuel, which bounds a start function', async () => {
    const bytes = meterModule(await compileWatText(`(module (func $s (loop $l (br $l))) (start $s))`), 10_000).bytes;
    await expect(WebAssembly.instantiate(bytes, {})).rejects.toThrow(WebAssembly.RuntimeError);
  });

  it('meters every fixture and extension module the project builds into a module that compiles', async () => {
    for (const name of ['echo', 'loop-handler', 'recursion', 'grow-bomb', 'imported-memory']) {
      const out = meterModule(await compileWat(name), 1000);
      const module = await WebAssembly.compile(out.bytes);
      expect(WebAssembly.Module.exports(module).some((e) => e.name === FUEL_EXPORT && e.kind === 'global')).toBe(true);
      expect(out.checks).toBeGreaterThanOrEqual(out.functions);
    }
  });

  it('refuses an instruction it does not know rather than guess its length', async () => {
    // A function body with the GC proposal's prefix (0xfb), which the decoder does not handle.
    const bytes = Uint8Array.from([
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
      0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type section: () -> ()
      0x03, 0x02, 0x01, 0x00, // function section
      0x0a, 0x06, 0x01, 0x04, 0x00, 0xfb, 0x00, 0x0b, // code: one body, no locals, 0xfb 0x00, end
    ]);
    expect(() => meterModule(bytes, 1000)).toThrow(UnmeterableModule);
  });
});

describe('sandbox: short calls on the main thread', () => {
  const open: ExtensionSandbox[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });
  async function load(...args: Parameters<typeof loadFixture>) {
    const s = await loadFixture(...args);
    open.push(s);
    return s;
  }

  it('answers self-contained calls there, as a worker would', async () => {
    const bridge = recordingBridge();
    const s = await load('echo', { bridge });
    expect(await s.call('echo', { text: 'grüße', n: [1, 2] }, { chain: [] })).toEqual({ text: 'grüße', n: [1, 2] });
    expect(await s.call('info', {}, { chain: [] })).toEqual({ ok: true, result: { id: 'echo', version: '1.0.0', abi_version: 1 } });
    const err = await rejectionOf(s.call('fail', {}, { chain: [] }));
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toBe("extension 'echo': no such receipt");
    await s.call('log', {}, { chain: [] });
    expect(bridge.logs.map((l) => l.message)).toContain('hello from echo');
    expect(s.stats()).toMatchObject({ calls: 4, inline: 4, replaced: 0 });
  });

  it('sends a call that needs the host asynchronously to a worker, without running the host call twice', async () => {
    const bridge = recordingBridge();
    const s = await load('echo', { bridge });
    expect(await s.call('host_call', ['query:x.v1', { a: 1 }], { chain: [] })).toEqual({ ok: true, result: { method: 'query:x.v1', payload: { a: 1 } } });
    expect(bridge.calls).toHaveLength(1);
    expect(await s.call('host_call', ['query:y.v1', {}], { chain: [] })).toMatchObject({ ok: true });
    expect(bridge.calls).toHaveLength(2);
    expect(s.stats()).toMatchObject({ calls: 2, inline: 0 });
    // Other exports still run there.
    expect(await s.call('noop', {}, { chain: [] })).toBeNull();
    expect(s.stats().inline).toBe(1);
  });

  it('drops the lines an attempt logged before it went to a worker: each line is logged once', async () => {
    const bridge = recordingBridge();
    const wasm = await compileWatText(`(module
      (import "spacedrive" "sd_call" (func $sd_call (param i32 i32 i32 i32) (result i64)))
      (import "spacedrive" "sd_log" (func $sd_log (param i32 i32 i32)))
      (memory (export "memory") 1)
      (global $top (mut i32) (i32.const 8192))
      (data (i32.const 1024) "extension.register_operation")
      (data (i32.const 1088) "{\\"name\\":\\"go\\",\\"export_fn\\":\\"go\\",\\"operation_type\\":\\"action\\"}")
      (data (i32.const 1200) "before the host call")
      (data (i32.const 1300) "query:x.v1")
      (data (i32.const 1400) "{}")
      (func (export "sd_abi_version") (result i32) (i32.const 1))
      (func (export "sd_alloc") (param $n i32) (result i32) (local $p i32)
        (local.set $p (global.get $top)) (global.set $top (i32.add (local.get $p) (local.get $n))) (local.get $p))
      (func (export "sd_free") (param i32 i32))
      (func (export "plugin_init") (result i32)
        (drop (call $sd_call (i32.const 1024) (i32.const 28) (i32.const 1088) (i32.const 56))) (i32.const 0))
      (func (export "go") (param i32 i32) (result i64)
        (call $sd_log (i32.const 2) (i32.const 1200) (i32.const 20))
        (call $sd_call (i32.const 1300) (i32.const 10) (i32.const 1400) (i32.const 2))))`);
    const s = await loadSandbox({ id: 'logger', version: '1.0.0', wasm, limits: TEST_LIMITS, bridge, config: {}, logger: silentLogger() });
    open.push(s);
    expect(await s.call('go', {}, { chain: [] })).toMatchObject({ ok: true });
    expect(bridge.logs.filter((l) => l.message === 'before the host call')).toHaveLength(1);
    expect(bridge.calls).toHaveLength(1);
  });

  it('sends a job that reports progress to a worker, where its report is written once', async () => {
    const bridge = recordingBridge();
    const s = await load('echo', { bridge });
    expect(await s.call('job', { fraction: 0.5 }, { chain: [], jobId: 'job-1' })).toEqual([0, 0]);
    expect(bridge.progress).toEqual([{ jobId: 'job-1', report: { fraction: 0.5 } }]);
    expect(s.stats().inline).toBe(0);
  });

  it('stops a runaway call there by its fuel; the worker then gives the usual timeout', async () => {
    const s = await load('loop-handler', { limits: { instances: 1, callTimeoutMs: 300 } });
    const started = performance.now();
    let held = 0;
    setImmediate(() => (held = performance.now() - started));
    const err = await rejectionOf(s.call('spin', {}, { chain: [] }));
    expect(err.code).toBe('EXTENSION_TIMEOUT');
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    // The main thread was held only for the fuel's worth of the loop, not for the call.
    expect(held).toBeLessThan(250);
    expect(s.stats()).toMatchObject({ replaced: 1, inline: 0 });
    expect(await s.call('ok', {}, { chain: [] })).toBe(true);
    expect(s.stats().inline).toBe(1);
  });

  it('sends a trapping call to a worker, whose error and replacement are the usual ones', async () => {
    const s = await load('trap', { limits: { instances: 1 } });
    const err = await rejectionOf(s.call('boom', {}, { chain: [] }));
    expect(err.code).toBe('EXTENSION_TRAPPED');
    expect(err.details?.cause).toMatch(/trapped: unreachable/);
    expect(s.stats()).toMatchObject({ replaced: 1, inline: 0 });
  });

  it('lets the event loop turn between calls answered there', async () => {
    const s = await load('echo');
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const until = performance.now() + 50;
    while (performance.now() < until) await s.call('noop', {}, { chain: [] });
    clearInterval(timer);
    expect(s.stats().inline).toBeGreaterThan(0);
    expect(ticks).toBeGreaterThan(5);
  });

  it('callNow answers a short call at once, and runs nothing for one it cannot answer', async () => {
    const bridge = recordingBridge();
    const s = await load('echo', { bridge });
    expect(s.callNow('echo', { a: 1 }, { chain: [] })).toEqual({ ok: true, value: { a: 1 } });
    expect(s.callNow('fail', {}, { chain: [] })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(s.callNow('host_call', ['query:x.v1', {}], { chain: [] })).toBeUndefined();
    expect(bridge.calls).toHaveLength(0);
    // …and from then on that export is not even tried there.
    expect(s.callNow('host_call', ['query:x.v1', {}], { chain: [] })).toBeUndefined();
    expect(s.stats()).toMatchObject({ calls: 2, inline: 2 });
    const off = await load('echo', { inline: false });
    expect(off.callNow('echo', 1, { chain: [] })).toBeUndefined();
  });

  it('charges host work: a storm of cheap-looking host calls is given up there, and its export moves to the workers', async () => {
    const s = await load('host-storm', { config: { blob: 'x'.repeat(1 << 20) }, limits: { instances: 1, callTimeoutMs: 10_000 } });
    // Each storm is a few guest instructions per host call: fuel for instructions alone let
    // hundreds of thousands of them run on the main thread.
    for (const storm of ['config_storm', 'info_storm', 'log_storm']) {
      expect(s.callNow(storm, {}, { chain: [] }), storm).toBeUndefined();
      expect(s.callNow(storm, {}, { chain: [] }), `${storm}, again`).toBeUndefined();
    }
    expect(s.stats()).toMatchObject({ calls: 0, inline: 0 });
    expect(s.callNow('noop', {}, { chain: [] })).toEqual({ ok: true, value: null });
    // On a worker the same storm runs to its end.
    expect(await s.call('info_storm', {}, { chain: [] })).toBeNull();
    expect(s.stats()).toMatchObject({ calls: 2, inline: 1 });
  });

  it('never runs a plugin_init that storms the host there: the extension runs on workers only', async () => {
    const s = await load('init-storm', { limits: { instances: 1, callTimeoutMs: 10_000 } });
    expect(s.callNow('noop', {}, { chain: [] })).toBeUndefined();
    expect(await rejectionOf(s.call('trap', {}, { chain: [] }))).toMatchObject({ code: 'EXTENSION_TRAPPED' });
    expect(s.callNow('noop', {}, { chain: [] })).toBeUndefined();
    expect(await s.call('noop', {}, { chain: [] })).toBeNull();
    expect(s.stats().inline).toBe(0);
  });

  it('makes its instance at most INLINE_MAX_STARTS times, however many exports are given up there', async () => {
    // Each export bails (a wire call), which discards the instance; the next call makes it again.
    const exports = Array.from({ length: INLINE_MAX_STARTS }, (_, i) => `b${i}`);
    const register = [...exports, 'noop'].map((name, i) => {
      const json = `{"name":"${name}","export_fn":"${name}","operation_type":"query"}`;
      return { data: `(data (i32.const ${2048 + i * 64}) "${json.replaceAll('"', '\\"')}")`, call: `(drop (call $sd_call (i32.const 1024) (i32.const 28) (i32.const ${2048 + i * 64}) (i32.const ${json.length})))` };
    });
    const wasm = await compileWatText(`(module
      (import "spacedrive" "sd_call" (func $sd_call (param i32 i32 i32 i32) (result i64)))
      (memory (export "memory") 1)
      (global $top (mut i32) (i32.const 8192))
      (data (i32.const 1024) "extension.register_operation")
      (data (i32.const 1300) "query:x.v1")
      ${register.map((r) => r.data).join('\n')}
      (func (export "sd_abi_version") (result i32) (i32.const 1))
      (func (export "sd_alloc") (param $n i32) (result i32) (local $p i32)
        (local.set $p (global.get $top)) (global.set $top (i32.add (local.get $p) (local.get $n))) (local.get $p))
      (func (export "sd_free") (param i32 i32))
      (func (export "plugin_init") (result i32) ${register.map((r) => r.call).join(' ')} (i32.const 0))
      (func $wire (param i32 i32) (result i64) (call $sd_call (i32.const 1300) (i32.const 10) (i32.const 1300) (i32.const 0)))
      (func (export "noop") (param i32 i32) (result i64) (i64.const 0))
      ${exports.map((name) => `(export "${name}" (func $wire))`).join('\n')})`);
    const s = await loadSandbox({ id: 'bails', version: '1.0.0', wasm, limits: { ...TEST_LIMITS, instances: 1 }, bridge: recordingBridge(), config: {}, logger: silentLogger() });
    open.push(s);
    const answered = exports.map((name) => s.callNow(name, {}, { chain: [] }));
    expect(answered).toEqual(exports.map(() => undefined));
    // A short export is not tried there any more: the instance was made INLINE_MAX_STARTS times.
    expect(s.callNow('noop', {}, { chain: [] })).toBeUndefined();
    expect(await s.call('noop', {}, { chain: [] })).toBeNull();
    expect(s.stats()).toMatchObject({ calls: 1, inline: 0 });
  });

  it('drops an attempt whose guest catches the host giving it up, whatever it answers next', async () => {
    const bridge = recordingBridge();
    const s = await load('catch-bail', { bridge });
    // On the main thread the wire call cannot be answered: the guest catches that and answers
    // "caught". That answer is not the one a worker gives, so the call runs on a worker.
    expect(await s.call('sneaky', {}, { chain: [] })).toBe('called');
    expect(bridge.calls).toHaveLength(1);
    expect(s.stats()).toMatchObject({ calls: 1, inline: 0 });
  });

  it('does not try a call with a large input there, nor hold it against the export', async () => {
    const s = await load('echo', { limits: { maxInputBytes: 1 << 20, maxOutputBytes: 1 << 20 } });
    const big = { text: 'x'.repeat(INLINE_MAX_COPY) };
    expect(s.callNow('echo', big, { chain: [] })).toBeUndefined();
    expect(await s.call('echo', big, { chain: [] })).toEqual(big);
    expect(s.callNow('echo', { a: 1 }, { chain: [] })).toEqual({ ok: true, value: { a: 1 } });
  });

  it('can be switched off: every call then goes to a worker', async () => {
    const s = await load('echo', { inline: false });
    expect(await s.call('echo', 1, { chain: [] })).toBe(1);
    expect(s.stats()).toMatchObject({ calls: 1, inline: 0 });
  });
});
