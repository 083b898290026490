/**
 * The Rust SDK (sdk/rust) through a real core and real modules built from source by
 * scripts/build-extensions.mjs (extensions/hello-rs, and hello for a call between extensions):
 * registrations carry the JSON Schemas derived from the handlers' Rust types (the host validates
 * with them), a handler's Err reaches the caller with its code, a panic's message reaches it in
 * EXTENSION_TRAPPED, a library-scoped query sees its library, a job checkpoints and completes, and
 * ctx.call_query reaches another extension.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOptions } from '../../src/config/index.js';
import { Core } from '../../src/core/index.js';
import { silentLogger } from '../../src/logging/index.js';
import { rejectionOf } from '../helpers/errors.js';
import { builtExtension } from '../helpers/packages.js';
import { waitFor } from '../helpers/wait.js';

let dir: string;
let core: Core;
const client = { caller: { kind: 'client', chain: [] } } as const;

beforeAll(async () => {
  // Fails (does not skip) when the Rust toolchain is missing: scripts/test-env.sh installs it.
  expect(existsSync(join(builtExtension('hello-rs'), 'manifest.json')), 'npm run build compiles extensions/hello-rs (needs the Rust toolchain)').toBe(true);
  dir = mkdtempSync(join(tmpdir(), 'sd-rust-sdk-'));
  core = await Core.create(loadOptions({ overrides: { dataDir: dir, extensions: { autoload: false } }, env: {} }), { logger: silentLogger() });
  await core.extensions.install(builtExtension('hello'));
  await core.extensions.install(builtExtension('hello-rs'));
});

afterAll(async () => {
  await core?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('registration', () => {
  it('registers what plugin_init names, with schemas derived from the Rust types', async () => {
    const info = await core.extensions.info('hello-rs');
    expect(info.state).toBe('loaded');
    expect(info.operations.map((o) => o.method).sort()).toEqual([
      'query:hello-rs:fail.v1',
      'query:hello-rs:greet.v1',
      'query:hello-rs:greet_via_hello.v1',
      'query:hello-rs:library.v1',
      'query:hello-rs:noop.v1',
      'query:hello-rs:panic.v1',
    ]);
    expect(info.operations.find((o) => o.method === 'query:hello-rs:library.v1')!.library_scoped).toBe(true);
    expect(info.job_types).toEqual([expect.objectContaining({ job_type: 'hello-rs:countdown', resumable: true, description: 'Counts down to zero, one checkpoint per step' })]);
    const greet = core.runtimeRegistry.get('query:hello-rs:greet.v1')!;
    expect(greet.description).toBe('Greets someone by name');
    expect(greet.input).toEqual({
      type: 'object',
      description: 'Who to greet.',
      additionalProperties: false,
      required: ['name'],
      properties: {
        name: { type: 'string', description: 'A name', minLength: 1, maxLength: 100 },
        loud: { type: 'boolean', description: 'Shout it' },
      },
    });
    expect(greet.output).toEqual({ type: 'object', required: ['greeting'], properties: { greeting: { type: 'string' } } });
  });

  it('the host validates input with the derived schema before the guest runs', async () => {
    expect(await core.execute('query:hello-rs:greet.v1', { name: 'Ada', loud: true }, client)).toEqual({ greeting: 'HELLO, ADA!' });
    const missing = await rejectionOf(core.execute('query:hello-rs:greet.v1', {}, client));
    expect(missing.code).toBe('INVALID_INPUT');
    expect(missing.message).toMatch(/name/);
    const extra = await rejectionOf(core.execute('query:hello-rs:greet.v1', { name: 'Ada', shout: 1 }, client));
    expect(extra.code).toBe('INVALID_INPUT');
  });
});

describe('errors', () => {
  it("a handler's Err reaches the caller with its code, message and details", async () => {
    const err = await rejectionOf(core.execute('query:hello-rs:fail.v1', {}, client));
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toContain('no such greeting');
  });

  it("a panic traps the instance and its message reaches the caller", async () => {
    const err = await rejectionOf(core.execute('query:hello-rs:panic.v1', {}, client));
    expect(err.code).toBe('EXTENSION_TRAPPED');
    expect(err.message).toMatch(/panicked at 'no greetings left', src\/lib\.rs:\d+:\d+/);
    // The instance was replaced: the next call works.
    expect(await core.execute('query:hello-rs:noop.v1', {}, client)).toEqual({});
  });
});

describe('context', () => {
  it('a library-scoped query sees the library it runs against', async () => {
    const second = core.libraries.create('Second').id;
    expect(await core.execute('query:hello-rs:library.v1', {}, { ...client, libraryId: second })).toEqual({ library_id: second });
    expect(await core.execute('query:hello-rs:library.v1', {}, client)).toEqual({ library_id: core.libraries.resolve(null) });
  });

  it('ctx.call_query reaches another extension', async () => {
    expect(await core.execute('query:hello-rs:greet_via_hello.v1', { name: 'Grace' }, client)).toEqual({ greeting: 'Hello, Grace!' });
  });

  it('a job checkpoints each step and completes with its output', async () => {
    const { jobId } = await core.jobs.dispatch('hello-rs:countdown', { from: 3 });
    await waitFor(async () => (await core.jobs.get(jobId)).status === 'completed', 'the countdown to complete');
    const job = await core.jobs.get(jobId);
    expect(job.output).toEqual({ counted: 3 });
    expect(job.state).toEqual({ remaining: 0 });
    const bad = await rejectionOf(core.jobs.dispatch('hello-rs:countdown', { from: -1 }));
    expect(bad.code).toBe('INVALID_INPUT');
  });
});
