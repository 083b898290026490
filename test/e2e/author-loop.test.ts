/**
 * The author's loop as a user runs it, outside the repository: `extension new` → `extension
 * test` → `extension build` → `extension pack` → `extensions install` the .sdext into a running
 * daemon → call the query, run the job → `extension dev` with an edit to the source: the new
 * behaviour answers while a job of the extension, running across the reload, continues from its
 * checkpoint. (How fast the edit gets reloaded is measured in src/bench/authoring.bench.ts.)
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, REPO_ROOT, makeTempDir, runCli, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';

describe('extension author loop (outside the repository)', () => {
  const work = makeTempDir('sd-author-');
  const project = join(work, 'greeter');
  let daemon: TestDaemon;

  beforeAll(async () => {
    daemon = await startTestDaemon({ env: { SPACEDRIVE_LOG_LEVEL: 'warn' } });
  });

  afterAll(async () => {
    await daemon?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('new → test → build → pack → install → call → dev with an edit while a job runs', async () => {
    const cli = (args: string[]) => runCli(args, { dataDir: daemon.dataDir, env: daemon.env });

    const created = await cli(['extension', 'new', 'greeter', '--dir', project]);
    expect(created.code, created.stderr).toBe(0);
    for (const file of ['manifest.json', 'src/index.ts', 'test/greeter.test.ts', 'package.json', 'README.md']) expect(existsSync(join(project, file))).toBe(true);
    const pkg = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8'));
    expect(pkg.devDependencies['spacedrive-sdk']).toMatch(/^file:.*sdk\/assemblyscript$/);

    // The generated tests pass as generated (they run in the harness: no daemon involved).
    const tested = await cli(['extension', 'test', project]);
    expect(tested.code, tested.stdout + tested.stderr).toBe(0);
    expect(tested.stdout).toMatch(/Tests\s+5 passed/);

    // --dev: the unoptimised build (the release build only adds binaryen's -O3 time here).
    const built = await cli(['--json', 'extension', 'build', project, '--dev']);
    expect(built.code, built.stderr).toBe(0);
    const build = JSON.parse(built.stdout);
    expect(build.registrations.map((r: { method?: string; job_type?: string }) => r.method ?? r.job_type)).toEqual(['query:greeter:greet.v1', 'action:greeter:note.input.v1', 'greeter:count']);
    const manifest = JSON.parse(readFileSync(join(project, 'build', 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ module: 'greeter.wasm', sha256: build.sha256 });

    const packed = await cli(['--json', 'extension', 'pack', project, '--no-build']);
    expect(packed.code, packed.stderr).toBe(0);
    const sdext = JSON.parse(packed.stdout).path as string;
    expect(sdext).toBe(join(project, 'greeter-0.1.0.sdext'));

    const installed = await cli(['extensions', 'install', sdext, '--yes']);
    expect(installed.code, installed.stderr).toBe(0);
    expect(installed.stdout).toContain('installed greeter 0.1.0');

    const client = await daemon.client();
    expect(await client.query('query:greeter:greet.v1' as never, { name: 'Ada' } as never)).toEqual({ greeting: 'Hello, Ada!' });
    const quick = await cli(['jobs', 'dispatch', 'greeter:count', '--to', '3', '--follow', '--json']);
    expect(quick.code, quick.stderr).toBe(0);
    expect(quick.stdout).toContain('"output":{"counted":3}');

    // A long job runs while dev mode reloads the extension under it.
    const { job_id: jobId } = (await client.action('action:jobs.dispatch.input.v1' as never, { job_type: 'greeter:count', params: { to: 100_000, delay_ms: 20 } } as never)) as { job_id: string };
    await waitFor(async () => ((await client.query('query:jobs.get_status.v1' as never, { job_id: jobId } as never)) as { state: { done: number } | null }).state !== null, 'the first checkpoint', 20_000);

    const dev = spawn(process.execPath, [BIN, '--data-dir', daemon.dataDir, 'extension', 'dev', project], { env: daemon.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    dev.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    dev.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    try {
      await waitFor(() => out.includes('watching'), 'dev mode to start', 60_000);
      expect(out).toMatch(/reloaded greeter 0\.1\.0 in \d+ ms/);

      const source = join(project, 'src', 'index.ts');
      writeFileSync(source, readFileSync(source, 'utf8').replace('"Hello, "', '"Welcome, "'));
      await waitFor(() => /after the edit/.test(out), 'the reload after the edit', 60_000);
      expect(await client.query('query:greeter:greet.v1' as never, { name: 'Ada' } as never)).toEqual({ greeting: 'Welcome, Ada!' });
      // Dev mode prints each call into the extension as it happens.
      await waitFor(() => out.includes('→ query:greeter:greet.v1'), 'the call printed', 10_000);

      // The job survived both reloads: it ran again from its checkpoint, not from zero.
      await waitFor(() => /log info resuming at [1-9]/.test(out), 'the job resuming', 20_000);
      const info = (await client.query('query:jobs.get_status.v1' as never, { job_id: jobId } as never)) as { status: string; runs: number; state: { done: number } };
      expect(['running', 'queued']).toContain(info.status);
      expect(info.runs).toBeGreaterThanOrEqual(2);
      const logs = (await client.query('query:jobs.logs.v1' as never, { job_id: jobId } as never)) as { logs: Array<{ message: string }> };
      const resumedAt = logs.logs.map((e) => /resuming at (\d+)/.exec(e.message)?.[1]).filter(Boolean).map(Number);
      expect(resumedAt.length).toBeGreaterThanOrEqual(1);
      expect(resumedAt.every((n) => n > 0)).toBe(true);
    } finally {
      dev.kill('SIGTERM');
      await new Promise((r) => dev.once('exit', r));
      await client.action('action:jobs.cancel.input.v1' as never, { job_id: jobId } as never).catch(() => undefined);
    }
  }, 300_000);
});

/** Debian's Rust toolchain with the wasm32 standard library (scripts/test-env.sh installs it). */
const RUST = existsSync('/usr/bin/cargo') && existsSync('/usr/lib/rustlib/wasm32-unknown-unknown');

describe.skipIf(!RUST)('extension author loop in Rust', () => {
  const work = makeTempDir('sd-author-rs-');
  const project = join(work, 'greeter_rs');
  let daemon: TestDaemon;

  beforeAll(async () => {
    daemon = await startTestDaemon({ env: { SPACEDRIVE_LOG_LEVEL: 'warn' } });
  });

  afterAll(async () => {
    await daemon?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('new --lang rust → test → build → pack → install → call → job', async () => {
    // The repository's build compiled the SDK's dependencies for the same profile already.
    const env = { ...daemon.env, CARGO_TARGET_DIR: join(REPO_ROOT, 'build', 'rust-target') };
    const cli = (args: string[]) => runCli(args, { dataDir: daemon.dataDir, env });
    const created = await cli(['extension', 'new', 'greeter_rs', '--lang', 'rust', '--dir', project]);
    expect(created.code, created.stderr).toBe(0);
    expect(readFileSync(join(project, 'Cargo.toml'), 'utf8')).toMatch(/spacedrive-sdk = \{ path = ".*sdk\/rust\/spacedrive-sdk" \}/);

    const tested = await cli(['extension', 'test', project]);
    expect(tested.code, tested.stdout + tested.stderr).toBe(0);
    expect(tested.stdout).toMatch(/Tests\s+5 passed/);

    const packed = await cli(['--json', 'extension', 'pack', project]);
    expect(packed.code, packed.stderr).toBe(0);
    const installed = await cli(['extensions', 'install', JSON.parse(packed.stdout).path, '--yes']);
    expect(installed.code, installed.stderr).toBe(0);

    const client = await daemon.client();
    expect(await client.query('query:greeter_rs:greet.v1' as never, { name: 'Ada' } as never)).toEqual({ greeting: 'Hello, Ada!' });
    const job = await cli(['jobs', 'dispatch', 'greeter_rs:count', '--to', '3', '--follow', '--json']);
    expect(job.code, job.stderr).toBe(0);
    expect(job.stdout).toContain('"output":{"counted":3}');
  }, 600_000);
});
