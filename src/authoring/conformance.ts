/**
 * The conformance runner (`spacedrive extension conformance <module>`): checks a module built by
 * any SDK, in any language, against ABI v1 by running it in the real host (the test harness: real
 * sandbox, job system and stores) under the contract of conformance/README.md, which the
 * hand-written conformance/reference.wat implements. Checks: the module's imports and exports,
 * loading and registration, input and output (byte-exact JSON round trip, Unicode included),
 * errors (sd_error's code reaching the caller), host calls (sd_call to a host method, to a
 * permitted wire method, and a refused one), logging, job progress and checkpoints, a pause
 * answered with the state and resumed from it, and a crash after a checkpoint resumed from it.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { ErrorCode, SpacedriveError, asSpacedriveError } from '../errors/index.js';
import { ExtensionHarness, type HarnessJob } from '../testing/index.js';
import { abiProblems } from './abi-check.js';

export const CONFORMANCE_ID = 'conformance';

export interface ConformanceCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface ConformanceReport {
  module: string;
  ok: boolean;
  checks: ConformanceCheck[];
}

/** The manifest the runner installs the module under. */
function manifest(wasm: Uint8Array): Record<string, unknown> {
  return {
    id: CONFORMANCE_ID,
    name: 'Conformance',
    version: '1.0.0',
    description: 'a module under conformance test',
    author: '',
    module: 'module.wasm',
    sha256: createHash('sha256').update(wasm).digest('hex'),
    abi_version: 1,
    // The `call` check calls query:core.status.v1 (granted) and query:core.methods.v1 (not granted: refused).
    permissions: { call: ['query:core.status'], dispatch: [], manage_jobs: [], filesystem: [], libraries: [], network: [] },
    limits: { memory_mb: 32, call_timeout_ms: 5000, instances: 1, concurrent_jobs: 1 },
  };
}

/** Compiles a .wat file with wabt (a development dependency) or reads a .wasm file. */
export async function readModule(path: string): Promise<Uint8Array> {
  const bytes = readFileSync(path);
  if (!path.endsWith('.wat')) return new Uint8Array(bytes);
  let wabtInit: () => Promise<{ parseWat(name: string, text: string, features: Record<string, boolean>): { resolveNames(): void; validate(): void; toBinary(o: Record<string, boolean>): { buffer: Uint8Array }; destroy(): void } }>;
  try {
    wabtInit = ((await import('wabt' as string)) as { default: typeof wabtInit }).default;
  } catch {
    throw new SpacedriveError(ErrorCode.USAGE, `${path} is WebAssembly text: compiling it needs the 'wabt' package (npm install wabt), or pass the .wasm`, { path });
  }
  const w = await wabtInit();
  const mod = w.parseWat(path, bytes.toString('utf8'), { bulk_memory: true, mutable_globals: true, sign_extension: true });
  try {
    mod.resolveNames();
    mod.validate();
    return Uint8Array.from(mod.toBinary({ write_debug_names: true }).buffer);
  } catch (err) {
    throw new SpacedriveError(ErrorCode.EXTENSION_INVALID, `${path}: ${(err as Error).message}`, { path });
  } finally {
    mod.destroy();
  }
}

const ECHO_INPUT = { text: 'Grüße, 世界 😀', list: [1, -2.5, true, null, { nested: 'x"y\\z' }], empty: {} };

/** Runs every check; never throws for a failing module (each failure is a check that failed). */
export async function runConformance(modulePath: string): Promise<ConformanceReport> {
  const checks: ConformanceCheck[] = [];
  const add = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });
  const attempt = async (name: string, fn: () => Promise<string>) => {
    try {
      add(name, true, await fn());
    } catch (err) {
      const typed = asSpacedriveError(err);
      add(name, false, typed ? `[${typed.code}] ${typed.message}` : (err as Error).message);
    }
  };
  const expectEq = (what: string, actual: unknown, expected: unknown) => {
    if (!isDeepStrictEqual(actual, expected)) throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  };

  const wasm = await readModule(modulePath);
  const problems = abiProblems(wasm);
  add('abi: imports and exports', problems.length === 0, problems.length === 0 ? 'imports only spacedrive.* with the host\'s signatures; exports memory, sd_abi_version, sd_alloc, sd_free, plugin_init' : `the module ${problems.join('; ')}`);
  if (problems.length > 0) return { module: modulePath, ok: false, checks };

  const dir = mkdtempSync(join(tmpdir(), 'sd-conformance-'));
  writeFileSync(join(dir, 'module.wasm'), wasm);
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest(wasm), null, 2));
  let harness: ExtensionHarness | undefined;
  try {
    try {
      harness = await ExtensionHarness.start({ package: dir, options: { jobs: { backoffBaseMs: 10, backoffMaxMs: 50 } } as never });
      add('load: instantiate and plugin_init', true, 'loaded in the real sandbox');
    } catch (err) {
      const typed = asSpacedriveError(err);
      add('load: instantiate and plugin_init', false, typed ? `[${typed.code}] ${typed.message}` : String(err));
      return { module: modulePath, ok: false, checks };
    }
    const h = harness;

    await attempt('registration: query echo, query fail, action call, action log, resumable job steps', async () => {
      const info = await h.info();
      const ops = info.operations.map((o) => o.method).sort();
      expectEq('operations', ops, ['action:conformance:call.input.v1', 'action:conformance:log.input.v1', 'query:conformance:echo.v1', 'query:conformance:fail.v1']);
      expectEq('job types', info.job_types.map((j) => [j.job_type, j.resumable]), [['conformance:steps', true]]);
      return `${ops.length} operations, 1 job type`;
    });

    await attempt('input/output: echo returns its input exactly (Unicode, escapes, nesting)', async () => {
      expectEq('echo', await h.query('echo', ECHO_INPUT), ECHO_INPUT);
      expectEq('echo of a string', await h.query('echo', 'plain'), 'plain');
      return 'round trip exact';
    });

    await attempt('errors: sd_error code and message reach the caller', async () => {
      try {
        await h.query('fail', {});
      } catch (err) {
        const typed = asSpacedriveError(err);
        if (typed?.code !== ErrorCode.NOT_FOUND) throw new Error(`expected NOT_FOUND, got ${typed?.code}: ${typed?.message}`);
        if (!typed.message.includes('conformance: not found')) throw new Error(`the guest's message is missing from '${typed.message}'`);
        return `NOT_FOUND: ${typed.message}`;
      }
      throw new Error('fail answered without an error');
    });

    await attempt('host calls: a host method, a permitted wire method, a refused one', async () => {
      const info = (await h.action('call', ['extension.info', {}])) as { ok: boolean; result?: { id?: string } };
      expectEq('extension.info envelope', { ok: info.ok, id: info.result?.id }, { ok: true, id: CONFORMANCE_ID });
      const status = (await h.action('call', ['query:core.status.v1', {}])) as { ok: boolean; result?: { version?: string } };
      if (status.ok !== true || typeof status.result?.version !== 'string') throw new Error(`query:core.status.v1 envelope ${JSON.stringify(status).slice(0, 200)}`);
      const refused = (await h.action('call', ['query:core.methods.v1', {}])) as { ok: boolean; error?: { code?: string } };
      expectEq('refused call envelope', { ok: refused.ok, code: refused.error?.code }, { ok: false, code: ErrorCode.PERMISSION_DENIED });
      const seen = h.hostCalls.map((c) => c.method);
      if (!seen.includes('query:core.status.v1')) throw new Error(`the host saw ${JSON.stringify(seen)}`);
      return 'envelopes {"ok":true,…} and {"ok":false,"error":{"code":"PERMISSION_DENIED"}}';
    });

    await attempt('logging: sd_log lines reach the host', async () => {
      const before = h.logs.length;
      const out = await h.action('log', 'conformance says hi');
      expectEq('log output', out, null);
      const line = h.logs.slice(before).find((l) => l.message.includes('conformance says hi'));
      if (!line) throw new Error(`no log line; saw ${JSON.stringify(h.logs.slice(before))}`);
      expectEq('level', line.level, 'info');
      return `info: ${line.message}`;
    });

    await attempt('jobs: progress reports, durable checkpoints, output', async () => {
      const job = await h.startJob('steps', { steps: 3 }, { stepwise: true });
      const first = await job.step();
      expectEq('first report state', first.state, { done: 1 });
      expectEq('checkpoint in the store', (await job.view()).state, { done: 1 });
      const done = await job.finished();
      expectEq('status', done.status, 'completed');
      expectEq('output', done.output, { done: 3 });
      expectEq('checkpoints', job.checkpoints, [{ done: 1 }, { done: 2 }, { done: 3 }]);
      return '3 checkpoints, completed with {"done":3}';
    });

    await attempt('jobs: a pause is answered with the state, and resume continues from it', async () => {
      const job: HarnessJob = await h.startJob('steps', { steps: 5 }, { stepwise: true });
      await job.step();
      await job.step();
      await h.core.jobs.pause(job.id);
      job.release();
      const paused = await waitStatus(job, 'paused');
      const at = (paused.state as { done?: number } | null)?.done;
      if (typeof at !== 'number' || at < 2 || at >= 5) throw new Error(`paused with state ${JSON.stringify(paused.state)}`);
      await h.core.jobs.resume(job.id);
      const done = await job.finished();
      expectEq('output', done.output, { done: 5 });
      const after = job.checkpoints.slice(job.checkpoints.findIndex((c) => isDeepStrictEqual(c, { done: at })) + 1);
      expectEq('checkpoints after the resume', after[0], { done: at + 1 });
      return `paused at {"done":${at}}, resumed from it, completed`;
    });

    await attempt('jobs: after a crash right after a checkpoint, the job resumes from it', async () => {
      h.crashAfterCheckpoint(2);
      const job = await h.startJob('steps', { steps: 4 });
      await job.crashed;
      await h.restart();
      const done = await job.finished();
      expectEq('output', done.output, { done: 4 });
      expectEq('checkpoints', job.checkpoints, [{ done: 1 }, { done: 2 }, { done: 3 }, { done: 4 }]);
      return 'checkpoint 2 kept; steps 3 and 4 ran after the restart';
    });
  } finally {
    await harness?.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return { module: modulePath, ok: checks.every((c) => c.ok), checks };
}

async function waitStatus(job: HarnessJob, status: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const view = await job.view();
    if (view.status === status) return view;
    if (Date.now() > deadline) throw new Error(`job is ${view.status}, not ${status}, after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
