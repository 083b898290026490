/**
 * Bench section `extensions`: the WebAssembly sandbox against its floors and its peer, in one run.
 *
 * The sandbox alone, on the hand-written fixture test/fixtures/wat/echo.wat (compiled with wabt):
 * - raw: the echo handler called directly on the main thread, JSON in and out (no isolation);
 * - thread round trip: a bare message to a worker thread and back, by the sandbox's own
 *   mechanism (MessagePort + Atomics.notify; the worker blocks in Atomics.wait, the main thread
 *   waits with Atomics.waitAsync), with no WebAssembly;
 * - the same echo query through the sandbox on its worker instances (option `inline: false`), one
 *   at a time and with many in flight, and one at a time as the host runs it by default (short
 *   calls answered by the metered instance on the main thread, src/extensions/sandbox/inline.ts);
 * - guest→host calls: one served inside the worker (extension.info) and one that crosses to
 *   the main thread's bridge;
 * - extension load: compile, instantiate, plugin_init, ready to serve.
 *
 * The real thing, on test-ext as the build compiles it (AssemblyScript + SDK), installed with
 * core.extensions.install:
 * - its `noop` export called raw on the main thread (the floor), and a core no-op query;
 * - `query:test-ext:noop.v1` through `execute` in an in-process core (registry, routing, pool,
 *   on the worker instances: sandboxed and preemptible), 1 and 64 in flight; and 1 in flight in a
 *   core with the default, where the main thread's metered instance answers it;
 * - the same through the Unix socket of a daemon in its own process, 1 in flight and 16
 *   pipelined, beside the core no-op query on the same socket;
 * - the peer: the Extism JavaScript host in worker mode running the same no-op (src/bench/extism-peer.ts);
 * - test-ext's load through the manager (disable → enable).
 *
 * Rust beside AssemblyScript: hello-rs (extensions/hello-rs, the Rust SDK) installed in the same
 * two cores; its `noop` query (serde decodes the input, encodes `{}`) through `execute` against
 * test-ext's, on a worker and on the main thread (target: within 1.2×), and the size of the
 * modules the build makes (hello-rs and finance-rs against test-ext and finance).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker, receiveMessageOnPort } from 'node:worker_threads';
import {
  closeSpareWorkers,
  loadSandbox,
  spareWorkersOnline,
  type ExtensionSandbox,
  type HostBridge,
  type SandboxLimits,
} from '../extensions/sandbox/index.js';
import { waitAsync, wasm } from '../extensions/sandbox/wasm-types.js';
import { SpacedriveClient } from '../client/index.js';
import { loadOptions, type PartialOptions } from '../config/index.js';
import { Core } from '../core/index.js';
import { silentLogger } from '../logging/index.js';
import { NOOP, noopQuery, startDaemonProcess, stopDaemonProcess } from './core-shared.js';
import { ExtismPool, measureExtism } from './extism-peer.js';
import { bestRound, check, measure, measureSync, type BenchSection, type Measurement } from './harness.js';

const ECHO_WAT = fileURLToPath(new URL('../../test/fixtures/wat/echo.wat', import.meta.url));
const INPUT = { id: 42, name: 'receipt.pdf', tags: ['finance', 'q3'] };
/** test-ext as `npm run build` builds it (a package directory: manifest + module). */
const TEST_EXT_ID = 'test-ext';
const TEST_EXT_DIR = fileURLToPath(new URL(`../../build/extensions/${TEST_EXT_ID}`, import.meta.url));
const EXT_NOOP = `query:${TEST_EXT_ID}:noop.v1`;
/** The Rust SDK's example, as `npm run build` builds it (needs Debian's Rust toolchain). */
const RUST_EXT_ID = 'hello-rs';
const RUST_EXT_DIR = fileURLToPath(new URL(`../../build/extensions/${RUST_EXT_ID}`, import.meta.url));
const RUST_NOOP = `query:${RUST_EXT_ID}:noop.v1`;
const builtModuleBytes = (id: string): number => statSync(fileURLToPath(new URL(`../../build/extensions/${id}/${id}.wasm`, import.meta.url))).size;
/** The bench's daemon process (also used by the `core` section). */

const LIMITS: SandboxLimits = {
  callTimeoutMs: 10_000,
  initTimeoutMs: 5_000,
  memoryMaxBytes: 16 * 1024 * 1024,
  maxInputBytes: 1024 * 1024,
  maxOutputBytes: 1024 * 1024,
  instances: 2,
  maxQueue: 10_000,
};

async function compileEcho(): Promise<Uint8Array> {
  const { default: wabtInit } = await import('wabt');
  const w = await wabtInit();
  const mod = w.parseWat('echo.wat', readFileSync(ECHO_WAT, 'utf8'), { bulk_memory: true });
  try {
    return Uint8Array.from(mod.toBinary({}).buffer);
  } finally {
    mod.destroy();
  }
}

const bridge: HostBridge = {
  call: async () => ({}),
  log: () => undefined,
  jobProgress: async () => 0,
  jobInterrupt: () => 0,
};

/**
 * (a) The floor: an export called in this thread, JSON in and out, no isolation. The host
 * imports are stubs: `noop` and `echo` make no host call.
 */
async function rawCall(bytes: Uint8Array, exportFn: string, input: unknown, name: string): Promise<Measurement> {
  const noop = () => 0n;
  const inst = new wasm.Instance(await wasm.compile(bytes), {
    spacedrive: { sd_call: noop, sd_log: noop, sd_error: noop, sd_job_progress: () => -1, sd_job_interrupt: () => -1 },
  });
  const ex = inst.exports as unknown as {
    memory: { buffer: ArrayBuffer };
    sd_alloc(n: number): number;
    sd_free(p: number, n: number): void;
  } & Record<string, (p: number, n: number) => bigint>;
  const handler = ex[exportFn]!;
  const enc = new TextEncoder();
  const dec = new TextDecoder('utf-8', { fatal: true });
  return measureSync(
    name,
    () => {
      const text = JSON.stringify(input);
      const n = Buffer.byteLength(text);
      const p = ex.sd_alloc(n);
      enc.encodeInto(text, new Uint8Array(ex.memory.buffer, p, n));
      const packed = handler(p, n);
      const outPtr = Number(packed & 0xffff_ffffn);
      const outLen = Number(packed >> 32n);
      const out = JSON.parse(dec.decode(new Uint8Array(ex.memory.buffer, outPtr, outLen))) as unknown;
      ex.sd_free(outPtr, outLen);
      ex.sd_free(p, n);
      return out;
    },
    { ops: 200_000 },
  );
}

/** The bare worker used for (b): echoes each message back by the sandbox's mechanism. */
function bareWorkerMain(): void {
  const wt = require('node:worker_threads') as typeof import('node:worker_threads');
  const { ctrl, inPort, outPort } = wt.workerData as { ctrl: Int32Array; inPort: import('node:worker_threads').MessagePort; outPort: import('node:worker_threads').MessagePort };
  for (;;) {
    const seen = Atomics.load(ctrl, 0);
    let r: { message: unknown } | undefined;
    while ((r = wt.receiveMessageOnPort(inPort)) !== undefined) {
      outPort.postMessage(r.message);
      Atomics.add(ctrl, 1, 1);
      Atomics.notify(ctrl, 1);
    }
    // The same bounded spin before sleeping as the sandbox's instances (worker-main.ts).
    const spinUntil = performance.now() + 0.1;
    while (Atomics.load(ctrl, 0) === seen && performance.now() < spinUntil);
    Atomics.wait(ctrl, 0, seen);
  }
}

/** (b) The sandbox mechanism's floor: a message to a worker thread and back. */
async function threadRoundTrip(): Promise<Measurement> {
  const ctrl = new Int32Array(new SharedArrayBuffer(16));
  const toWorker = new MessageChannel();
  const fromWorker = new MessageChannel();
  const worker = new Worker(`(${bareWorkerMain.toString()})();`, {
    eval: true,
    workerData: { ctrl, inPort: toWorker.port2, outPort: fromWorker.port1 },
    transferList: [toWorker.port2, fromWorker.port1],
  });
  let outSeen = 0;
  const text = JSON.stringify(INPUT);
  try {
    return await measure(
      'thread round trip (postMessage + spin, then Atomics.wait/waitAsync)',
      async () => {
        toWorker.port1.postMessage(text);
        Atomics.add(ctrl, 0, 1);
        Atomics.notify(ctrl, 0);
        for (;;) {
          const w = waitAsync(ctrl, 1, outSeen);
          if (w.async) await w.value;
          outSeen = Atomics.load(ctrl, 1);
          const r = receiveMessageOnPort(fromWorker.port2);
          if (r !== undefined) return r.message;
        }
      },
      { ops: 50_000 },
    );
  } finally {
    await worker.terminate();
  }
}

/** (d) Per-call cost of a guest→host call, from a handler that makes `n` of them. */
async function guestToHost(sandbox: ExtensionSandbox, exportFn: string, name: string, n: number): Promise<Measurement> {
  const runs = 7;
  const perCall: number[] = [];
  await sandbox.call(exportFn, 100, { chain: [] });
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await sandbox.call(exportFn, 0, { chain: [] });
    const t1 = performance.now();
    await sandbox.call(exportFn, n, { chain: [] });
    const t2 = performance.now();
    perCall.push((((t2 - t1) - (t1 - t0)) * 1000) / n);
  }
  perCall.sort((a, b) => a - b);
  const p50 = perCall[Math.floor(runs / 2)]!;
  return {
    name,
    ops: n * runs,
    seconds: (p50 * n * runs) / 1e6,
    opsPerSec: 1e6 / p50,
    p50Us: p50,
    p99Us: perCall[runs - 1]!,
    note: `${n} calls per handler run, ${runs} runs`,
  };
}

/**
 * (e) Load: compile (with the memory rewrite), instantiate, plugin_init, ready to serve.
 * Cold: no spare worker, so the load starts its thread (what a daemon start pays). Warm: a spare
 * worker is up (enable, install, reload, and the replacement of a failed instance).
 */
async function loadTime(bytes: Uint8Array, warm: boolean): Promise<Measurement> {
  const runs = 15;
  const lat: number[] = [];
  let total = 0;
  for (let i = 0; i < runs + 2; i++) {
    if (warm) await spareWorkersOnline();
    else await closeSpareWorkers();
    const t0 = performance.now();
    const s = await loadSandbox({ id: 'bench', version: '1.0.0', wasm: bytes, limits: { ...LIMITS, instances: 1 }, bridge, config: {}, logger: silentLogger() });
    const t1 = performance.now();
    await s.close();
    if (i >= 2) {
      lat.push((t1 - t0) * 1000);
      total += (t1 - t0) / 1000;
    }
  }
  lat.sort((a, b) => a - b);
  return {
    name: `extension load, ${warm ? 'warm (a spare worker is up)' : 'cold (starts its thread)'}`,
    ops: runs,
    seconds: total,
    opsPerSec: runs / total,
    p50Us: lat[Math.floor(runs / 2)]!,
    p99Us: lat[runs - 1]!,
    note: 'compile, instantiate, init, ready; one instance',
  };
}

/**
 * The machine is shared, so a single measurement can land on a burst of someone else's work.
 * The floors and the sandbox rows they are compared with are measured in interleaved rounds and
 * each keeps its best round (lowest p50; highest ops/s for the throughput row): the same rule for
 * both sides of every ratio.
 */
const ROUNDS = 3;

/** Waits until every instance of an extension's pool is up and idle. */
async function poolReady(core: Core, id: string): Promise<void> {
  for (;;) {
    const info = await core.extensions.info(id);
    const stats = info.stats;
    if (stats && stats.instances >= info.limits.instances && stats.busy === 0) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Load of the real test-ext (AssemblyScript, ~100 KB) through the extension manager: `enable`
 * after `disable` reads the installed package, checks its SHA-256, compiles, instantiates, runs
 * plugin_init, registers its operations and job types and resolves ready to serve.
 */
async function managerLoadTime(core: Core): Promise<Measurement> {
  const runs = 10;
  const lat: number[] = [];
  for (let i = 0; i < runs + 1; i++) {
    await core.extensions.disable(TEST_EXT_ID);
    const t0 = performance.now();
    const info = await core.extensions.enable(TEST_EXT_ID);
    const t1 = performance.now();
    if (info.state !== 'loaded') throw new Error(`test-ext did not load: ${JSON.stringify(info.error)}`);
    if (i >= 1) lat.push((t1 - t0) * 1000);
    await poolReady(core, TEST_EXT_ID);
  }
  lat.sort((a, b) => a - b);
  const total = lat.reduce((a, b) => a + b, 0) / 1e6;
  return {
    name: 'test-ext load through the manager (disable → enable)',
    ops: runs,
    seconds: total,
    opsPerSec: runs / total,
    p50Us: lat[Math.floor(runs / 2)]!,
    p99Us: lat[runs - 1]!,
    note: 'read + SHA-256 check, compile, instantiate, init, register',
  };
}

export async function run(): Promise<BenchSection> {
  const bytes = await compileEcho();
  const testExtBytes = readFileSync(join(TEST_EXT_DIR, `${TEST_EXT_ID}.wasm`));
  // Unix socket paths are limited to ~100 bytes.
  const dir = mkdtempSync(join(tmpdir().length <= 40 ? tmpdir() : '/tmp', 'sd-bench-ext-'));
  const releasers: Array<() => Promise<void>> = [];
  try {
    // The worker path, which the floors below are about: every call crosses to a worker thread.
    const sandbox = await loadSandbox({ id: 'bench', version: '1.0.0', wasm: bytes, limits: LIMITS, bridge, config: {}, logger: silentLogger(), inline: false });
    releasers.push(() => sandbox.close());
    // The default: short calls answered by the metered instance on the main thread.
    const inlineSandbox = await loadSandbox({ id: 'bench', version: '1.0.0', wasm: bytes, limits: LIMITS, bridge, config: {}, logger: silentLogger() });
    releasers.push(() => inlineSandbox.close());

    // test-ext installed in an in-process core, beside a core no-op query; its calls run on its
    // worker instances only (sandboxed and preemptible, as the floors and the peer compare).
    const core = await Core.create(
      loadOptions({ overrides: { dataDir: join(dir, 'core'), extensions: { autoload: false, inlineCalls: false } } as PartialOptions, env: {} }),
      { logger: silentLogger(), extraOperations: [noopQuery] },
    );
    releasers.push(() => core.close());
    const installed = await core.extensions.install(TEST_EXT_DIR);
    if (installed.state !== 'loaded') throw new Error(`test-ext did not load: ${JSON.stringify(installed.error)}`);
    const instances = installed.limits.instances;
    // The same with the host's default: short calls on the main thread's metered instance.
    const inlineCore = await Core.create(loadOptions({ overrides: { dataDir: join(dir, 'core-inline'), extensions: { autoload: false } } as PartialOptions, env: {} }), {
      logger: silentLogger(),
    });
    releasers.push(() => inlineCore.close());
    if ((await inlineCore.extensions.install(TEST_EXT_DIR)).state !== 'loaded') throw new Error('test-ext did not load in the second core');
    // Without Debian's Rust toolchain the build skips hello-rs: the Rust rows are left out, saying so.
    const rustBuilt = existsSync(join(RUST_EXT_DIR, 'manifest.json'));
    if (!rustBuilt) console.warn(`extensions bench: ${RUST_EXT_ID} is not built (it needs Debian's Rust toolchain, sdk/rust/README.md); the Rust rows are left out`);
    for (const c of rustBuilt ? [core, inlineCore] : []) {
      const rs = await c.extensions.install(RUST_EXT_DIR);
      if (rs.state !== 'loaded') throw new Error(`${RUST_EXT_ID} did not load: ${JSON.stringify(rs.error)}`);
    }

    // The same, installed in a daemon in its own process, called over its Unix socket.
    const socketPath = join(dir, 'd.sock');
    const daemon = await startDaemonProcess(socketPath, join(dir, 'daemon'));
    releasers.push(() => stopDaemonProcess(daemon));
    const client = await SpacedriveClient.connect({ socketPath, reconnect: false });
    releasers.push(() => client.close());
    await client.action('action:extensions.install.input.v1', { path: TEST_EXT_DIR });

    // The peer: as many Extism plugins as test-ext has instances.
    const extism = await ExtismPool.start(instances);
    releasers.push(() => extism.close());

    // Let every pool come up before measuring.
    while (sandbox.stats().instances < LIMITS.instances || sandbox.stats().busy > 0) await new Promise((r) => setTimeout(r, 5));
    await poolReady(core, TEST_EXT_ID);
    await poolReady(inlineCore, TEST_EXT_ID);
    if (rustBuilt) {
      await poolReady(core, RUST_EXT_ID);
      await poolReady(inlineCore, RUST_EXT_ID);
    }
    await Promise.all(Array.from({ length: 4 }, () => sandbox.call('echo', INPUT, { chain: [] })));

    const keys = [
      'raw', 'rtt', 'one', 'inlineOne', 'many', 'inWorker', 'crossing',
      'rawNoop', 'coreExec', 'extOne', 'extInlineOne', 'extMany', 'extismOne', 'extismMany', 'sockCore', 'sockOne', 'sockSixteen',
      'rustOne', 'rustInlineOne',
    ] as const;
    const rounds = Object.fromEntries(keys.map((k) => [k, [] as Measurement[]])) as Record<(typeof keys)[number], Measurement[]>;
    for (let r = 0; r < ROUNDS; r++) {
      rounds.raw.push(await rawCall(bytes, 'echo', INPUT, 'raw wasm call, JSON in/out (main thread)'));
      rounds.rtt.push(await threadRoundTrip());
      rounds.one.push(await measure('sandbox echo query on a worker, 1 in flight', () => sandbox.call('echo', INPUT, { chain: [] }), { ops: 30_000 }));
      rounds.inlineOne.push(
        await measure('sandbox echo query, short calls on the main thread (default), 1 in flight', () => inlineSandbox.call('echo', INPUT, { chain: [] }), { ops: 30_000 }),
      );
      rounds.many.push(
        await measure('sandbox echo query on workers, 64 in flight (2 instances)', () => sandbox.call('echo', INPUT, { chain: [] }), {
          ops: 100_000,
          concurrency: 64,
        }),
      );
      rounds.inWorker.push(await guestToHost(sandbox, 'info_n', 'guest→host call served in the worker (extension.info)', 20_000));
      rounds.crossing.push(await guestToHost(sandbox, 'bridge_n', 'guest→host call crossing to the main thread (bridge)', 2_000));

      rounds.rawNoop.push(await rawCall(testExtBytes, 'noop', {}, 'raw test-ext noop, JSON in/out (main thread)'));
      rounds.coreExec.push(await measure('core no-op query via execute, 1 in flight', () => core.execute(NOOP, {}), { ops: 100_000 }));
      rounds.extOne.push(await measure('test-ext noop query via execute, on a worker, 1 in flight', () => core.execute(EXT_NOOP, {}), { ops: 30_000 }));
      rounds.extInlineOne.push(
        await measure('test-ext noop query via execute, on the main thread (default), 1 in flight', () => inlineCore.execute(EXT_NOOP, {}), { ops: 30_000 }),
      );
      if (rustBuilt) {
        rounds.rustOne.push(await measure('hello-rs (Rust) noop query via execute, on a worker, 1 in flight', () => core.execute(RUST_NOOP, {}), { ops: 30_000 }));
        rounds.rustInlineOne.push(
          await measure('hello-rs (Rust) noop query via execute, on the main thread (default), 1 in flight', () => inlineCore.execute(RUST_NOOP, {}), { ops: 30_000 }),
        );
      }
      rounds.extMany.push(
        await measure(`test-ext noop query via execute, on workers, 64 in flight (${instances} instances)`, () => core.execute(EXT_NOOP, {}), {
          ops: 100_000,
          concurrency: 64,
        }),
      );
      rounds.extismOne.push(await measureExtism('Extism worker mode noop, 1 in flight', extism, 'noop', {}, { ops: 20_000 }));
      rounds.extismMany.push(
        await measureExtism(`Extism worker mode noop, 64 in flight (${instances} plugins)`, extism, 'noop', {}, { ops: 30_000, concurrency: 64 }),
      );
      rounds.sockCore.push(await measure('core no-op query via socket (daemon process), 1 in flight', () => client.query(NOOP, {}), { ops: 10_000 }));
      rounds.sockOne.push(await measure('test-ext noop query via socket (daemon process), 1 in flight', () => client.query(EXT_NOOP, {}), { ops: 10_000 }));
      rounds.sockSixteen.push(
        await measure('test-ext noop query via socket (daemon process), 16 pipelined', () => client.query(EXT_NOOP, {}), {
          ops: 30_000,
          concurrency: 16,
        }),
      );
    }
    const raw = bestRound(rounds.raw);
    const rtt = bestRound(rounds.rtt);
    const one = bestRound(rounds.one);
    const inlineOne = bestRound(rounds.inlineOne);
    const extInlineOne = bestRound(rounds.extInlineOne);
    const many = bestRound(rounds.many, 'throughput');
    const inWorker = bestRound(rounds.inWorker);
    const crossing = bestRound(rounds.crossing);
    const rawNoop = bestRound(rounds.rawNoop);
    const coreExec = bestRound(rounds.coreExec);
    const extOne = bestRound(rounds.extOne);
    const extMany = bestRound(rounds.extMany, 'throughput');
    const extismOne = bestRound(rounds.extismOne);
    const extismMany = bestRound(rounds.extismMany, 'throughput');
    const sockCore = bestRound(rounds.sockCore);
    const sockOne = bestRound(rounds.sockOne);
    const sockSixteen = bestRound(rounds.sockSixteen, 'throughput');
    const rust = rustBuilt ? { one: bestRound(rounds.rustOne), inlineOne: bestRound(rounds.rustInlineOne) } : undefined;
    const kib = (id: string) => builtModuleBytes(id) / 1024;
    const loadCold = await loadTime(bytes, false);
    const loadWarm = await loadTime(bytes, true);
    const loadManager = await managerLoadTime(core);

    return {
      title: 'extensions: WebAssembly sandbox (worker threads, and short calls on the main thread; ABI v1), test-ext through execute and the socket, peer: Extism worker mode',
      rows: [
        raw, rtt, one, inlineOne, many, inWorker, crossing, loadCold, loadWarm,
        rawNoop, coreExec, extOne, extInlineOne, extMany, sockCore, sockOne, sockSixteen, extismOne, extismMany, loadManager,
        ...(rust ? [rust.one, rust.inlineOne] : []),
      ],
      checks: [
        check('sandbox call on a worker p50 / (thread round trip p50 + raw call p50)', one.p50Us / (rtt.p50Us + raw.p50Us), '<=', 1.5),
        check('sandbox call on the main thread p50 / on a worker p50', inlineOne.p50Us / one.p50Us, '<=', 1),
        check('sandbox calls/s with 64 in flight on 2 instances', many.opsPerSec, '>=', 50_000),
        check('guest→host call served in the worker, µs', inWorker.p50Us, '<=', 5),
        check('guest→host call crossing threads / thread round trip', crossing.p50Us / rtt.p50Us, '<=', 1.5),
        check('extension load p50 (cold: starts its thread), ms', loadCold.p50Us / 1000, '<=', 100),
        check('test-ext noop via execute p50 / (thread round trip p50 + raw test-ext noop p50)', extOne.p50Us / (rtt.p50Us + rawNoop.p50Us), '<=', 1.5),
        check('Extism worker mode p50 / test-ext noop via execute p50, 1 in flight', extismOne.p50Us / extOne.p50Us, '>=', 5),
        check(`test-ext noop via execute ops/s / Extism ops/s, 64 in flight on ${instances} instances each`, extMany.opsPerSec / extismMany.opsPerSec, '>=', 5),
        check('test-ext noop queries/s via execute, 64 in flight', extMany.opsPerSec, '>=', 50_000),
        check('test-ext load through the manager p50, ms', loadManager.p50Us / 1000, '<=', 100),
        ...(rust
          ? [
              check('Rust noop (hello-rs) / AssemblyScript noop (test-ext) via execute p50, on a worker', rust.one.p50Us / extOne.p50Us, '<=', 1.2),
              check('Rust noop (hello-rs) / AssemblyScript noop (test-ext) via execute p50, on the main thread', rust.inlineOne.p50Us / extInlineOne.p50Us, '<=', 1.2),
              // Sizes are reported against a loose bound: a Rust module carries serde and its allocator.
              check(`module size KiB: hello-rs (Rust) ${kib('hello-rs').toFixed(0)} / test-ext (AssemblyScript) ${kib('test-ext').toFixed(0)}`, kib('hello-rs') / kib('test-ext'), '<=', 4),
              check(`module size KiB: finance-rs (Rust) ${kib('finance-rs').toFixed(0)} / finance (AssemblyScript) ${kib('finance').toFixed(0)}`, kib('finance-rs') / kib('finance'), '<=', 4),
            ]
          : []),
      ],
    };
  } finally {
    for (const release of releasers.reverse()) await release().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}
