/**
 * Schemas as the single source of types, on the host side: the AssemblyScript SDK derives the
 * schemas hello and test-ext register from their `@json` classes (the SDK's transform), the host
 * validates job state and output against a job type's `state_schema` / `output_schema`, and an
 * extension registering without schemas is warned about at load.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpacedriveClient } from '../../src/client/index.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';
import { installExtensions } from './finance-helpers.js';

describe('schemas derived from types, enforced for job state and output', { timeout: 120_000 }, () => {
  let d: TestDaemon;
  let client: SpacedriveClient;
  beforeAll(async () => {
    d = await startTestDaemon();
    await installExtensions(d, ['hello', 'test-ext']);
    client = await d.client();
  });
  afterAll(async () => {
    await d?.stop();
  });

  it("registers the schemas of hello's classes, with what @describe, @schema and @optional add", async () => {
    const { methods } = await client.query('query:core.methods.v1', { owner: 'hello' });
    expect(methods.map((m) => [m.method, m.input_schema, m.output_schema])).toEqual([
      [
        'query:hello:greet.v1',
        {
          type: 'object',
          required: ['name'],
          properties: { name: { type: 'string', description: 'Who to greet', minLength: 1, maxLength: 200 } },
          additionalProperties: false,
        },
        { type: 'object', required: ['greeting'], properties: { greeting: { type: 'string' } }, additionalProperties: false },
      ],
    ]);
    const { types } = await client.query('query:jobs.types.v1', { owner: 'hello' });
    expect(types[0]).toMatchObject({
      job_type: 'hello:countdown',
      params_schema: {
        required: ['from'],
        properties: {
          from: { type: 'integer', minimum: 0, maximum: 1000000, description: 'Number to count down from' },
          delay_ms: { type: 'integer', minimum: 0, maximum: 60000 },
        },
        additionalProperties: false,
      },
      state_schema: { type: 'object', required: ['remaining'], properties: { remaining: { type: 'integer', minimum: -2147483648, maximum: 2147483647 } } },
      output_schema: { type: 'object', required: ['counted'] },
    });
    // The derived schema is what the host validates: an unknown field is refused.
    await expect(client.query('query:hello:greet.v1', { name: 'Ada', nmae: 'x' } as never)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });

  async function runTyped(params: Record<string, boolean>) {
    const { job_id } = await client.action('action:jobs.dispatch.input.v1', { job_type: 'test-ext:typed_job', params, max_attempts: 1 });
    return waitFor(async () => {
      const s = await client.query('query:jobs.get_status.v1', { job_id });
      return s.status === 'completed' || s.status === 'failed' ? s : undefined;
    });
  }

  it('completes a job whose state and output fit its schemas', async () => {
    const s = await runTyped({});
    expect(s).toMatchObject({ status: 'completed', output: { steps: 1 } });
  });

  it('fails a job that reports a state its state_schema refuses, or completes with output its output_schema refuses', async () => {
    const badState = await runTyped({ break_state: true });
    expect(badState).toMatchObject({ status: 'failed', error: { code: 'EXTENSION_BAD_RESULT' } });
    expect(badState.error!.message).toMatch(/state of extension 'test-ext' job 'test-ext:typed_job'.*step/);
    const badOutput = await runTyped({ break_output: true });
    expect(badOutput).toMatchObject({ status: 'failed', error: { code: 'EXTENSION_BAD_RESULT' } });
    expect(badOutput.error!.message).toMatch(/output of extension 'test-ext' job 'test-ext:typed_job'.*steps/);
  });

  it('warns at load about registrations without schemas (test-ext has some), not about typed ones', () => {
    const warnings = d
      .logs()
      .split('\n')
      .filter((l) => l.includes('without schemas'));
    expect(warnings.some((l) => l.includes("extension 'test-ext'") && l.includes('query:test-ext:noop.v1 (no input_schema, output_schema)'))).toBe(true);
    expect(warnings.some((l) => l.includes("extension 'hello'"))).toBe(false);
  });
});
