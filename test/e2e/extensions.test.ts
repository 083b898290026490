/**
 * The extension manager against a real daemon process, with the extensions the build compiled
 * (build/extensions/hello, build/extensions/test-ext) and modules compiled from .wat here.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpacedriveClient } from '../../src/client/index.js';
import { REPO_ROOT, makeTempDir, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';
import { wasmPackage } from '../helpers/packages.js';

const HELLO = join(REPO_ROOT, 'build', 'extensions', 'hello');
const TEST_EXT = join(REPO_ROOT, 'build', 'extensions', 'test-ext');

async function compileWatText(text: string): Promise<Uint8Array> {
  const wabt = await (await import('wabt')).default();
  const mod = wabt.parseWat('module.wat', text);
  try {
    return mod.toBinary({}).buffer;
  } finally {
    mod.destroy();
  }
}

/** Writes a package directory for `wasm` under id `id`. */
/** A package for a test module: the defaults these tests share under `manifest`'s fields. */
function writePackage(root: string, id: string, wasm: Uint8Array, manifest: Record<string, unknown> = {}): string {
  return wasmPackage(root, id, wasm, {
    description: `${id} (test package)`,
    author: 'tests',
    limits: { instances: 1, memory_mb: 16, call_timeout_ms: 2000 },
    ...manifest,
  });
}

interface Info {
  id: string;
  version: string;
  state: string;
  enabled: boolean;
  error?: { code: string; message: string };
  operations: Array<{ method: string }>;
  job_types: Array<{ job_type: string }>;
  permissions: { call: string[]; dispatch: string[]; filesystem: Array<{ path: string; access: string }> };
  limits: Record<string, number>;
  path: string;
  loaded_at: string | null;
  stats: { calls: number; instances: number } | null;
}

describe('extensions in a real daemon', () => {
  let d: TestDaemon;
  let client: SpacedriveClient;
  let pkgs: string;
  let relayWasm: Uint8Array;

  const info = (id: string) => client.query('query:extensions.info.v1', { id }) as Promise<Info>;
  const relay = (from: string, chain: Array<{ m: string }>, last: { m: string; p: unknown }) => {
    // Builds {"m":…,"p":{"m":…,"p":…}} from the inside out; key order matters to the relay module.
    let payload: unknown = { m: last.m, p: last.p };
    for (let i = chain.length - 1; i >= 0; i--) payload = { m: chain[i]!.m, p: payload };
    return client.query(`query:${from}:relay.v1`, payload) as Promise<any>;
  };

  beforeAll(async () => {
    expect(existsSync(join(HELLO, 'manifest.json')), 'build/extensions/hello is built by npm run build').toBe(true);
    pkgs = makeTempDir('sd-pk-');
    relayWasm = await compileWatText(readFileSync(join(REPO_ROOT, 'test', 'e2e', 'extensions-relay.wat'), 'utf8'));
    // relay-a may call relay-b only (not core); b, c, d may call any relay and core's queries.
    writePackage(pkgs, 'relay-a', relayWasm, { permissions: { call: ['query:relay-b:'] } });
    for (const id of ['relay-b', 'relay-c', 'relay-d']) writePackage(pkgs, id, relayWasm, { permissions: { call: ['query:relay-', 'query:core.'] } });
    d = await startTestDaemon({
      // A shallow depth limit so that four relays exceed it.
      setup: (dataDir) => writeFileSync(join(dataDir, 'config.json'), JSON.stringify({ extensions: { maxCallDepth: 3 } })),
    });
    client = await d.client();
  }, 60_000);

  afterAll(async () => {
    await d?.stop();
    if (pkgs) rmSync(pkgs, { recursive: true, force: true });
  });

  it('install from the CLI shows the permissions, refuses without --yes off a terminal, installs with --yes', async () => {
    const refused = await d.cli(['extensions', 'install', HELLO]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("not installing 'hello' without confirmation");
    expect(refused.stderr).toContain('--yes');
    expect((await client.query('query:extensions.list.v1', {})) as unknown).toEqual({ extensions: [] });

    const hello = await d.cli(['extensions', 'install', HELLO, '--yes']);
    expect(hello.stderr).toBe('');
    expect(hello.code).toBe(0);
    expect(hello.stdout).toContain('installed hello 0.1.0');
    expect(hello.stdout).toContain('query:hello:greet.v1');
    expect(hello.stdout).toContain('hello:countdown');

    const testExt = await d.cli(['--json', 'extensions', 'install', TEST_EXT, '--yes']);
    expect(testExt.code).toBe(0);
    const parsed = JSON.parse(testExt.stdout) as Info;
    expect(parsed).toMatchObject({ id: 'test-ext', state: 'loaded', enabled: true, permissions: { call: ['query:core.', 'query:hello:'], dispatch: [], filesystem: [] } });
    expect(parsed.path).toBe(join(d.dataDir, 'extensions', 'test-ext', '0.1.0'));
    expect(existsSync(join(parsed.path, 'test-ext.wasm'))).toBe(true);

    const again = await d.cli(['extensions', 'install', HELLO, '--yes']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('ALREADY_EXISTS');

    const list = await d.cli(['extensions', 'list']);
    expect(list.stdout).toMatch(/hello\s+0\.1\.0\s+loaded/);
    expect(list.stdout).toMatch(/test-ext\s+0\.1\.0\s+loaded/);

    const shown = await d.cli(['extensions', 'info', 'hello']);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('permissions granted:');
    expect(shown.stdout).toContain('limits in effect:');
    expect(shown.stdout).toContain('memory 16 MiB');
    const status = (await client.query('query:core.status.v1', {})) as { counts: Record<string, number> };
    expect(status.counts).toMatchObject({ extensions_installed: 2, extensions_loaded: 2, extensions_failed: 0 });
  });

  it('serves extension queries over the wire, from the CLI and from another extension, and lists them with their owner', async () => {
    await expect(client.query('query:hello:greet.v1', { name: 'Ada' })).resolves.toEqual({ greeting: 'Hello, Ada!' });
    await expect(client.query('query:hello:greet.v1', { name: '' })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    const cli = await d.cli(['query', 'hello:greet', '--name', 'Ada']);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain('Hello, Ada!');
    await expect(client.query('query:test-ext:greet_via_hello.v1', { name: 'Bob' })).resolves.toMatchObject({ greeting: 'Hello, Bob!' });
    await expect(client.query('query:test-ext:core_status.v1', {})).resolves.toMatchObject({ core_pid: d.pid });

    const { methods } = (await client.query('query:core.methods.v1', { owner: 'hello' })) as { methods: Array<{ method: string; owner: string }> };
    expect(methods.map((m) => m.method)).toEqual(['query:hello:greet.v1']);
    const listed = await d.cli(['methods', 'test-ext:']);
    expect(listed.stdout).toMatch(/query:test-ext:echo\.v1\s+query\s+test-ext/);
  });

  it('denies a call outside the manifest’s permissions, naming the missing permission', async () => {
    await d.cli(['extensions', 'install', join(pkgs, 'relay-a'), '--yes']);
    await d.cli(['extensions', 'install', join(pkgs, 'relay-b'), '--yes']);
    const out = await relay('relay-a', [], { m: 'query:core.status.v1', p: {} });
    expect(out).toEqual({
      ok: false,
      error: expect.objectContaining({
        code: 'PERMISSION_DENIED',
        message: "extension 'relay-a' may not call 'query:core.status.v1': add a permissions.call prefix such as 'query:core.'",
      }),
    });
    // Dispatching another extension's jobs needs permissions.dispatch naming them, which relay-b does not have.
    const dispatch = await relay('relay-b', [], { m: 'action:jobs.dispatch.input.v1', p: { job_type: 'hello:countdown', params: { from: 1 } } });
    expect(dispatch).toMatchObject({ ok: false, error: { code: 'PERMISSION_DENIED', message: expect.stringContaining("add 'hello:countdown' to permissions.dispatch") } });
    // Allowed: relay-a → relay-b → core.
    await expect(relay('relay-a', [{ m: 'query:relay-b:relay.v1' }], { m: 'query:core.status.v1', p: {} })).resolves.toMatchObject({
      ok: true,
      result: { ok: true, result: { pid: d.pid } },
    });
  });

  it('on a terminal, install shows what the package asks for and installs only when confirmed', async () => {
    // `script` gives the CLI a pseudo-terminal; the answer is typed on it.
    const viaTty = (answer: string) =>
      new Promise<{ code: number; out: string }>((resolvePromise, reject) => {
        const cmd = [process.execPath, join(REPO_ROOT, 'bin', 'spacedrive.js'), '--data-dir', d.dataDir, 'extensions', 'install', join(pkgs, 'relay-c')]
          .map((a) => `'${a}'`)
          .join(' ');
        const child = spawn('script', ['-qefc', cmd, '/dev/null'], { env: { ...d.env, NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.setEncoding('utf8').on('data', (t: string) => {
          out += t;
          if (out.includes('[y/N]') && !child.stdin.writableEnded) child.stdin.end(`${answer}\n`);
        });
        child.stderr.setEncoding('utf8').on('data', (t: string) => (out += t));
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        child.on('error', reject);
        child.on('close', (code) => {
          clearTimeout(timer);
          resolvePromise({ code: code ?? 1, out });
        });
      });
    const declined = await viaTty('n');
    expect(declined.out).toContain('relay-c (relay-c) 1.0.0');
    expect(declined.out).toMatch(/call:\s+query:relay-, query:core\./);
    expect(declined.out).toMatch(/dispatch jobs:\s+\(none: only its own job types\)/);
    expect(declined.out).toMatch(/filesystem:\s+\(none\)/);
    expect(declined.out).toContain('memory 16 MiB, 2000 ms per call, 1 instance(s)');
    expect(declined.out).toContain('not installed');
    expect(declined.code).toBe(1);
    await expect(info('relay-c')).rejects.toMatchObject({ code: 'EXTENSION_NOT_FOUND' });
    const accepted = await viaTty('y');
    expect(accepted.out).toContain('installed relay-c 1.0.0');
    expect(accepted.code).toBe(0);
    expect((await info('relay-c')).state).toBe('loaded');
  });

  it('refuses a call that loops back (A → B → A) with CALL_CYCLE, and chains past the depth limit', async () => {
    const cycle = await relay('relay-a', [{ m: 'query:relay-b:relay.v1' }], { m: 'query:relay-a:relay.v1', p: { m: 'query:core.status.v1', p: {} } });
    expect(cycle).toMatchObject({ ok: true, result: { ok: false, error: { code: 'CALL_CYCLE', message: expect.stringContaining('relay-a → relay-b → relay-a') } } });

    await d.cli(['extensions', 'install', join(pkgs, 'relay-d'), '--yes']);
    // b → c → d is three deep: allowed with maxCallDepth 3 (d calls core, which is not an extension).
    await expect(relay('relay-b', [{ m: 'query:relay-c:relay.v1' }, { m: 'query:relay-d:relay.v1' }], { m: 'query:core.status.v1', p: {} })).resolves.toMatchObject({
      ok: true,
      result: { ok: true, result: { ok: true, result: { pid: d.pid } } },
    });
    // a → b → c → d is four deep.
    const deep = await relay('relay-a', [{ m: 'query:relay-b:relay.v1' }, { m: 'query:relay-c:relay.v1' }], { m: 'query:relay-d:relay.v1', p: { m: 'query:core.status.v1', p: {} } });
    expect(deep).toMatchObject({ ok: true, result: { ok: true, result: { ok: false, error: { code: 'CALL_DEPTH_EXCEEDED' } } } });
    // The daemon and the relays still answer.
    await expect(relay('relay-b', [], { m: 'query:hello:greet.v1', p: { name: 'x' } })).resolves.toMatchObject({ ok: false, error: { code: 'PERMISSION_DENIED' } });
  });

  it('reload swaps versions while calls run: none fail', async () => {
    const before = await info('test-ext');
    let stop = false;
    let done = 0;
    const failures: unknown[] = [];
    const stream = async () => {
      while (!stop) {
        try {
          await client.query('query:test-ext:sleep.v1', { ms: 50 });
          await client.query('query:test-ext:echo.v1', { n: done });
          done++;
        } catch (err) {
          failures.push(err);
        }
      }
    };
    const streams = Array.from({ length: 4 }, stream);
    await new Promise((r) => setTimeout(r, 150));
    const r1 = await d.cli(['extensions', 'reload', 'test-ext']);
    expect(r1.stderr).toBe('');
    expect(r1.code).toBe(0);
    const r2 = await d.cli(['extensions', 'reload', 'test-ext', '--from', TEST_EXT]);
    expect(r2.code).toBe(0);
    await new Promise((r) => setTimeout(r, 150));
    stop = true;
    await Promise.all(streams);
    expect(failures).toEqual([]);
    expect(done).toBeGreaterThan(4);
    const after = await info('test-ext');
    expect(after.state).toBe('loaded');
    expect(after.loaded_at).not.toBe(before.loaded_at);
    // A reload from another extension's package is refused and the old version keeps serving.
    const wrong = await d.cli(['extensions', 'reload', 'test-ext', '--from', HELLO]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("is extension 'hello', not 'test-ext'");
    await expect(client.query('query:test-ext:echo.v1', { ok: 1 })).resolves.toEqual({ ok: 1 });
  });

  it('disable removes its methods, enable brings them back, uninstall removes its files', async () => {
    const off = await d.cli(['extensions', 'disable', 'relay-d']);
    expect(off.code).toBe(0);
    await expect(client.query('query:relay-d:relay.v1', { m: 'query:core.status.v1', p: {} })).rejects.toMatchObject({ code: 'UNKNOWN_METHOD' });
    expect(await info('relay-d')).toMatchObject({ state: 'disabled', enabled: false, operations: [], stats: null });
    const on = await d.cli(['extensions', 'enable', 'relay-d']);
    expect(on.code).toBe(0);
    await expect(client.query('query:relay-d:relay.v1', { m: 'query:core.status.v1', p: {} })).resolves.toMatchObject({ ok: true });
    const gone = await d.cli(['extensions', 'uninstall', 'relay-d']);
    expect(gone.code).toBe(0);
    expect(existsSync(join(d.dataDir, 'extensions', 'relay-d'))).toBe(false);
    await expect(info('relay-d')).rejects.toMatchObject({ code: 'EXTENSION_NOT_FOUND' });
    const missing = await d.cli(['extensions', 'enable', 'relay-d']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no extension 'relay-d' is installed");
  });

  it('a restart loads enabled extensions again; one that fails does not stop the others', async () => {
    // A module that does not compile (its checksum is right, so it installs), and relay-c
    // disabled: after the restart hello, test-ext, relay-a and relay-b load, broken fails.
    writePackage(pkgs, 'broken', new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0xff, 0xff]));
    const installed = await d.cli(['--json', 'extensions', 'install', join(pkgs, 'broken'), '--yes']);
    expect(installed.code).toBe(1);
    expect(JSON.parse(installed.stdout)).toMatchObject({ id: 'broken', state: 'failed', error: { code: expect.stringMatching(/^EXTENSION_/) } });
    await d.cli(['extensions', 'disable', 'relay-c']);
    await d.restart();
    client = await d.client();
    const { extensions } = (await client.query('query:extensions.list.v1', {})) as { extensions: Array<{ id: string; state: string }> };
    expect(Object.fromEntries(extensions.map((e) => [e.id, e.state]))).toEqual({
      broken: 'failed',
      hello: 'loaded',
      'relay-a': 'loaded',
      'relay-b': 'loaded',
      'relay-c': 'disabled',
      'test-ext': 'loaded',
    });
    expect((await info('broken')).error?.message).toContain('broken');
    expect(d.logs()).toContain("extension 'broken' failed to load");
    await expect(client.query('query:hello:greet.v1', { name: 'again' })).resolves.toEqual({ greeting: 'Hello, again!' });
    await expect(client.query('query:test-ext:greet_via_hello.v1', { name: 'again' })).resolves.toMatchObject({ greeting: 'Hello, again!' });
  });

  it('a package changed on disk after install fails its checksum at the next start', async () => {
    const path = (await info('relay-a')).path;
    const wasmFile = join(path, 'relay-a.wasm');
    const bytes = readFileSync(wasmFile);
    bytes[bytes.length - 1] ^= 0xff;
    writeFileSync(wasmFile, bytes);
    await d.restart();
    client = await d.client();
    expect(await info('relay-a')).toMatchObject({ state: 'failed', error: { code: 'EXTENSION_INVALID', message: expect.stringContaining('SHA-256') } });
    await expect(client.query('query:hello:greet.v1', { name: 'x' })).resolves.toEqual({ greeting: 'Hello, x!' });
    // Reinstalling the good package through reload --from repairs it.
    const repaired = await d.cli(['extensions', 'reload', 'relay-a', '--from', join(pkgs, 'relay-a')]);
    expect(repaired.code).toBe(0);
    expect((await info('relay-a')).state).toBe('loaded');
  });

  it('an extension job survives kill -9 of the daemon and resumes from its checkpoint', async () => {
    const STEPS = 4000;
    const status = (id: string) => client.query('query:jobs.get_status.v1', { job_id: id }) as Promise<{ status: string; state: { done?: number } | null; output: any; runs: number }>;
    const until = async (id: string, ok: (s: Awaited<ReturnType<typeof status>>) => boolean, timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const s = await status(id);
        if (ok(s)) return s;
        if (Date.now() > deadline) throw new Error(`job ${id}: gave up waiting; last ${JSON.stringify(s)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    const { job_id } = (await client.action('action:jobs.dispatch.input.v1', { job_type: 'test-ext:steps', params: { steps: STEPS } })) as { job_id: string };
    const before = await until(job_id, (s) => (s.state?.done ?? 0) >= 20);
    await d.kill('SIGKILL');
    await d.restart();
    client = await d.client();
    const after = await status(job_id);
    // No acknowledged checkpoint is lost.
    expect(after.state?.done ?? 0).toBeGreaterThanOrEqual(before.state!.done!);
    const done = await until(job_id, (s) => s.status === 'completed' || s.status === 'failed', 60_000);
    expect(done).toMatchObject({ status: 'completed', output: { done: STEPS, resumed: true } });
    expect(done.runs).toBeGreaterThanOrEqual(2);
  });

  it('a job of a disabled extension waits, visibly, across a restart, and runs once it is enabled', async () => {
    await d.cli(['extensions', 'disable', 'hello']);
    await expect(client.action('action:jobs.dispatch.input.v1', { job_type: 'hello:countdown', params: { from: 3 } })).rejects.toMatchObject({
      code: 'UNKNOWN_JOB_TYPE',
    });
    await d.cli(['extensions', 'enable', 'hello']);
    // Delayed, then paused at once (a queued job pauses without running), so that it is still
    // waiting when the extension goes away however long the CLI below takes to start.
    const runAt = new Date(Date.now() + 5000).toISOString();
    const { job_id } = (await client.action('action:jobs.dispatch.input.v1', { job_type: 'hello:countdown', params: { from: 3 }, run_at: runAt })) as { job_id: string };
    await client.action('action:jobs.pause.input.v1', { job_id });
    await d.cli(['extensions', 'disable', 'hello']);
    await d.restart();
    client = await d.client();
    await client.action('action:jobs.resume.input.v1', { job_id });
    const waiting = (await client.query('query:jobs.get_status.v1', { job_id })) as { status: string; waiting_for: string | null };
    expect(waiting.status).toBe('queued');
    expect(waiting.waiting_for).toContain('hello:countdown');
    const enabled = await d.cli(['extensions', 'enable', 'hello']);
    expect(enabled.code).toBe(0);
    const last = await waitFor(async () => {
      const st = (await client.query('query:jobs.get_status.v1', { job_id })) as { status: string; output: unknown };
      return ['completed', 'failed', 'cancelled'].includes(st.status) ? st : null;
    }, 'the job to finish', 30_000);
    expect(last).toMatchObject({ status: 'completed', output: { counted: 3 } });
  });
});

/**
 * Every hostile .wat fixture (test/fixtures/wat) packaged as an extension and installed into a
 * running daemon: each gets its typed error — at load, or when its method is called — while a
 * steady stream of calls to a healthy extension keeps succeeding.
 */
describe('hostile extensions in a real daemon', () => {
  const AT_LOAD: Array<[fixture: string, code: string]> = [
    ['loop-init', 'EXTENSION_TIMEOUT'],
    ['no-abi', 'EXTENSION_INVALID'],
    ['wrong-abi', 'ABI_UNSUPPORTED'],
    ['unknown-import', 'EXTENSION_INVALID'],
    ['hijack', 'REGISTRATION_REJECTED'],
    ['hijack-other', 'REGISTRATION_REJECTED'],
    ['duplicate', 'REGISTRATION_REJECTED'],
    ['import-bad-signature', 'EXTENSION_INVALID'],
    ['register-bad-json', 'REGISTRATION_REJECTED'],
    ['register-flood', 'REGISTRATION_REJECTED'],
    ['register-oversized', 'REGISTRATION_REJECTED'],
  ];
  const AT_CALL: Array<[fixture: string, query: string, code: string]> = [
    ['loop-handler', 'spin', 'EXTENSION_TIMEOUT'],
    ['trap', 'boom', 'EXTENSION_TRAPPED'],
    ['recursion', 'recurse', 'EXTENSION_TRAPPED'],
    ['oob-result', 'oob', 'EXTENSION_BAD_RESULT'],
    ['huge-result', 'huge', 'EXTENSION_BAD_RESULT'],
    ['grow-bomb', 'bomb', 'EXTENSION_OUT_OF_MEMORY'],
    ['bad-output', 'bad_json', 'EXTENSION_BAD_RESULT'],
    ['bad-output', 'bad_utf8', 'EXTENSION_BAD_RESULT'],
    ['oob-import-args', 'log_huge', 'EXTENSION_BAD_RESULT'],
    ['oob-import-args', 'info_bad_payload', 'EXTENSION_BAD_RESULT'],
  ];
  let d: TestDaemon;
  let client: SpacedriveClient;
  let pkgs: string;
  let stop = false;
  let healthyOk = 0;
  const healthyFailures: unknown[] = [];
  let healthy: Promise<void>[] = [];

  beforeAll(async () => {
    const { compileWat } = await import('../helpers/wat.js');
    pkgs = makeTempDir('sd-hx-');
    const fixtures = new Set([...AT_LOAD.map(([f]) => f), ...AT_CALL.map(([f]) => f), 'register-late', 'guest-codes']);
    for (const f of fixtures) writePackage(pkgs, f, await compileWat(f), { limits: { instances: 1, memory_mb: 16, call_timeout_ms: 500 } });
    d = await startTestDaemon({
      setup: (dataDir) => writeFileSync(join(dataDir, 'config.json'), JSON.stringify({ extensions: { initTimeoutMs: 1000 } })),
    });
    client = await d.client();
    const hello = await d.cli(['extensions', 'install', HELLO, '--yes']);
    expect(hello.code).toBe(0);
    const loop = async () => {
      while (!stop) {
        try {
          const r = (await client.query('query:hello:greet.v1', { name: `n${healthyOk}` })) as { greeting: string };
          if (!r.greeting.startsWith('Hello, n')) throw new Error(`unexpected ${JSON.stringify(r)}`);
          healthyOk++;
        } catch (err) {
          healthyFailures.push(err);
        }
      }
    };
    healthy = [loop(), loop()];
  }, 60_000);

  afterAll(async () => {
    stop = true;
    await Promise.all(healthy);
    await d?.stop();
    if (pkgs) rmSync(pkgs, { recursive: true, force: true });
  });

  it.each(AT_LOAD)('%s fails to load with %s and is reported', async (fixture, code) => {
    const res = await d.cli(['--json', 'extensions', 'install', join(pkgs, fixture), '--yes']);
    expect(res.code).toBe(1);
    const info = JSON.parse(res.stdout) as Info;
    expect(info).toMatchObject({ id: fixture, state: 'failed', error: { code } });
    expect(info.error!.message).toContain(fixture);
    const { methods } = (await client.query('query:core.methods.v1', { owner: fixture })) as { methods: unknown[] };
    expect(methods).toEqual([]);
    if (fixture.startsWith('hijack')) {
      // Core's and other namespaces are untouched.
      await expect(client.query('query:core.status.v1', {})).resolves.toMatchObject({ pid: d.pid });
    }
  });

  it.each(AT_CALL)('%s: calling %s fails with %s naming the extension and method; a fresh instance takes the next call', async (fixture, query, code) => {
    const installed = await d.cli(['extensions', 'install', join(pkgs, fixture), '--yes']);
    expect([0, 1]).toContain(installed.code); // bad-output is installed once for both of its queries
    const method = `query:${fixture}:${query}.v1`;
    const err = await client.query(method, {}).then(
      (v) => ({ resolved: v }),
      (e: { code: string; message: string }) => e,
    );
    expect(err).toMatchObject({ code, message: expect.stringContaining(fixture) });
    expect((err as { message: string }).message).toContain(method);
    // The broken instance was replaced: the next call runs (and fails the same way) rather than hanging.
    await expect(client.query(method, {})).rejects.toMatchObject({ code });
    const info = (await client.query('query:extensions.info.v1', { id: fixture })) as Info & { stats: { replaced: number } };
    expect(info.state).toBe('loaded');
    expect(info.stats.replaced).toBeGreaterThanOrEqual(1);
  });

  it('refuses a registration outside plugin_init', async () => {
    await d.cli(['extensions', 'install', join(pkgs, 'register-late'), '--yes']);
    const answer = await client.query('query:register-late:late.v1', {});
    expect(answer).toMatchObject({ ok: false, error: { code: 'REGISTRATION_REJECTED' } });
    const { methods } = (await client.query('query:core.methods.v1', { owner: 'register-late' })) as { methods: Array<{ method: string }> };
    expect(methods.map((m) => m.method)).toEqual(['query:register-late:late.v1']);
  });

  it("a guest's code for the daemon or the connection reaches the client as EXTENSION_ERROR; a code about the request as it is", async () => {
    await d.cli(['extensions', 'install', join(pkgs, 'guest-codes'), '--yes']);
    const method = 'query:guest-codes:fail_as.v1';
    for (const code of ['SHUTTING_DOWN', 'INTERNAL', 'CONNECTION_CLOSED', 'DAEMON_NOT_RUNNING']) {
      await expect(client.query(method, { code, message: 'going away' })).rejects.toMatchObject({
        code: 'EXTENSION_ERROR',
        message: expect.stringContaining('going away'),
        details: { extension: 'guest-codes', guest_code: code },
      });
    }
    await expect(client.query(method, { code: 'NOT_FOUND', message: 'no such receipt' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // The client is still connected and the daemon still serving: nothing the guest said was believed.
    await expect(client.query('query:core.status.v1', {})).resolves.toMatchObject({ pid: d.pid });
  });

  it('the healthy extension kept serving throughout, and the daemon reports every failure', async () => {
    expect(healthyFailures).toEqual([]);
    expect(healthyOk).toBeGreaterThan(20);
    const { extensions } = (await client.query('query:extensions.list.v1', {})) as { extensions: Array<{ id: string; state: string }> };
    const failed = extensions.filter((e) => e.state === 'failed').map((e) => e.id).sort();
    expect(failed).toEqual(AT_LOAD.map(([f]) => f).sort());
    const status = (await client.query('query:core.status.v1', {})) as { counts: Record<string, number> };
    expect(status.counts.extensions_failed).toBe(AT_LOAD.length);
  });
});
