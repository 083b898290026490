/**
 * Bench section `extensions`: the WebAssembly sandbox against its floors, in one run.
 *
 * - raw: the echo handler called directly on the main thread, JSON in and out (no isolation);
 * - thread round trip: a bare message to a worker thread and back, by the sandbox's own
 *   mechanism (MessagePort + Atomics.notify; the worker blocks in Atomics.wait, the main thread
 *   waits with Atomics.waitAsync), with no WebAssembly;
 * - the same echo query through the sandbox, one at a time and with many in flight;
 * - guest→host calls: one served inside the worker (extension.info) and one that crosses to
 *   the main thread's bridge;
 * - extension load: compile, instantiate, plugin_init, ready to serve.
 *
 * The module is the hand-written test fixture test/fixtures/wat/echo.wat, compiled with wabt.
 */
import { readFileSync } from 'node:fs';
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
import { silentLogger } from '../logging/index.js';
import { check, measure, measureSync, type BenchSection, type Measurement } from './harness.js';

const ECHO_WAT = fileURLToPath(new URL('../../test/fixtures/wat/echo.wat', import.meta.url));
const INPUT = { id: 42, name: 'receipt.pdf', tags: ['finance', 'q3'] };

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

/** (a) The floor: the handler called in this thread, JSON in and out. */
async function rawCall(bytes: Uint8Array): Promise<Measurement> {
  const noop = () => 0n;
  const inst = new wasm.Instance(await wasm.compile(bytes), {
    spacedrive: { sd_call: noop, sd_log: noop, sd_error: noop, sd_job_progress: () => -1, sd_job_interrupt: () => -1 },
  });
  const ex = inst.exports as {
    memory: { buffer: ArrayBuffer };
    sd_alloc(n: number): number;
    sd_free(p: number, n: number): void;
    echo(p: number, n: number): bigint;
  };
  const enc = new TextEncoder();
  const dec = new TextDecoder('utf-8', { fatal: true });
  return measureSync(
    'raw wasm call, JSON in/out (main thread)',
    () => {
      const text = JSON.stringify(INPUT);
      const n = Buffer.byteLength(text);
      const p = ex.sd_alloc(n);
      enc.encodeInto(text, new Uint8Array(ex.memory.buffer, p, n));
      const packed = ex.echo(p, n);
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
      'thread round trip (postMessage + Atomics.wait/waitAsync)',
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

function best(rounds: Measurement[], by: 'latency' | 'throughput' = 'latency'): Measurement {
  const sorted = [...rounds].sort((a, b) => (by === 'latency' ? a.p50Us - b.p50Us : b.opsPerSec - a.opsPerSec));
  return { ...sorted[0]!, note: [sorted[0]!.note, `best of ${rounds.length} rounds`].filter(Boolean).join('; ') };
}

export async function run(): Promise<BenchSection> {
  const bytes = await compileEcho();

  const sandbox = await loadSandbox({ id: 'bench', version: '1.0.0', wasm: bytes, limits: LIMITS, bridge, config: {}, logger: silentLogger() });
  try {
    // Let the second instance come up before measuring.
    while (sandbox.stats().instances < LIMITS.instances || sandbox.stats().busy > 0) await new Promise((r) => setTimeout(r, 5));
    await Promise.all(Array.from({ length: 4 }, () => sandbox.call('echo', INPUT, { chain: [] })));
    const rounds: Record<'raw' | 'rtt' | 'one' | 'many' | 'inWorker' | 'crossing', Measurement[]> = {
      raw: [],
      rtt: [],
      one: [],
      many: [],
      inWorker: [],
      crossing: [],
    };
    for (let r = 0; r < ROUNDS; r++) {
      rounds.raw.push(await rawCall(bytes));
      rounds.rtt.push(await threadRoundTrip());
      rounds.one.push(await measure('sandbox echo query, 1 in flight', () => sandbox.call('echo', INPUT, { chain: [] }), { ops: 30_000 }));
      rounds.many.push(
        await measure('sandbox echo query, 64 in flight (2 instances)', () => sandbox.call('echo', INPUT, { chain: [] }), {
          ops: 100_000,
          concurrency: 64,
        }),
      );
      rounds.inWorker.push(await guestToHost(sandbox, 'info_n', 'guest→host call served in the worker (extension.info)', 20_000));
      rounds.crossing.push(await guestToHost(sandbox, 'bridge_n', 'guest→host call crossing to the main thread (bridge)', 2_000));
    }
    const raw = best(rounds.raw);
    const rtt = best(rounds.rtt);
    const one = best(rounds.one);
    const many = best(rounds.many, 'throughput');
    const inWorker = best(rounds.inWorker);
    const crossing = best(rounds.crossing);
    const loadCold = await loadTime(bytes, false);
    const loadWarm = await loadTime(bytes, true);

    return {
      title: 'extensions: WebAssembly sandbox (worker threads, ABI v1)',
      rows: [raw, rtt, one, many, inWorker, crossing, loadCold, loadWarm],
      checks: [
        check('sandbox call p50 / (thread round trip p50 + raw call p50)', one.p50Us / (rtt.p50Us + raw.p50Us), '<=', 1.5),
        check('sandbox calls/s with 64 in flight on 2 instances', many.opsPerSec, '>=', 50_000),
        check('guest→host call served in the worker, µs', inWorker.p50Us, '<=', 5),
        check('guest→host call crossing threads / thread round trip', crossing.p50Us / rtt.p50Us, '<=', 1.5),
        check('extension load p50 (cold: starts its thread), ms', loadCold.p50Us / 1000, '<=', 100),
      ],
    };
  } finally {
    await sandbox.close();
  }
}
