/**
 * query:ai.classify_text.v1 and query:ai.embed.v1 against a real HTTP server on 127.0.0.1 that
 * speaks the OpenAI API (test/helpers/openai-server.ts).
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadOptions, type AiOptions } from '../../src/config/index.js';
import { Core } from '../../src/core/index.js';
import { silentLogger } from '../../src/logging/index.js';
import { makeTempDir } from '../helpers/daemon.js';
import { startOpenAiServer, vectorOf, type OpenAiTestServer } from '../helpers/openai-server.js';

const RECEIPT = ['Blue Bottle Coffee', '66 Mint Street', 'Date: 2025-03-14 Time: 08:42', '2 x Cappuccino 9.00', 'TOTAL USD 34.47'].join('\n');
const RECEIPT_SCHEMA = {
  type: 'object',
  required: ['merchant', 'date', 'total', 'currency'],
  additionalProperties: false,
  properties: {
    merchant: { type: 'string', minLength: 1 },
    date: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' },
    total: { type: 'number' },
    currency: { type: 'string', enum: ['USD', 'EUR', 'GBP', 'CAD'] },
  },
};
const OCR_DEFAULTS: AiOptions['ocr'] = { workers: 1, maxQueue: 4, maxInputBytes: 1 << 20, maxPages: 5, maxImagePixels: 1e6, pageTimeoutMs: 60_000 };

describe('AI provider (OpenAI-compatible)', () => {
  let server: OpenAiTestServer;
  let dir: string;
  let core: Core;
  const cores: Core[] = [];
  const makeCore = async (provider: AiOptions['provider']) => {
    const c = await Core.create(loadOptions({ overrides: { dataDir: dir, ai: { provider, ocr: OCR_DEFAULTS } }, env: {} }), { logger: silentLogger() });
    cores.push(c);
    return c;
  };
  const errorOf = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as { code: string; message: string; details?: Record<string, unknown> });

  beforeAll(async () => {
    server = await startOpenAiServer({ apiKey: 'sk-test-123', dimensions: 12, slowMs: 1500 });
    dir = makeTempDir('sd-aiprov-');
    core = await makeCore({ base_url: server.baseUrl, api_key: 'sk-test-123', model: 'test-chat', embedding_model: 'test-embed', timeout_ms: 5000 });
  });
  afterEach(() => {
    server.requests.length = 0;
  });
  afterAll(async () => {
    for (const c of cores) await c.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers a prompt with the model\'s text when no schema is given', async () => {
    const out = (await core.execute('query:ai.classify_text.v1', { prompt: 'What is the total?', text: RECEIPT })) as Record<string, unknown>;
    expect(out).toMatchObject({ result: 'TOTAL 34.47', model: 'test-chat' });
    expect(out.usage).toMatchObject({ prompt_tokens: expect.any(Number), total_tokens: expect.any(Number) });
    const [req] = server.requests;
    expect(req!.path).toBe('/v1/chat/completions');
    expect(req!.authorization).toBe('Bearer sk-test-123');
    expect(req!.body.messages).toEqual([
      { role: 'system', content: 'What is the total?' },
      { role: 'user', content: RECEIPT },
    ]);
    expect(req!.body.response_format).toBeUndefined();
  });

  it('asks for structured output with a schema and returns the parsed, validated answer', async () => {
    const out = (await core.execute('query:ai.classify_text.v1', { prompt: 'Extract the receipt.', text: RECEIPT, schema: RECEIPT_SCHEMA })) as {
      result: unknown;
    };
    expect(out.result).toEqual({ merchant: 'Blue Bottle Coffee', date: '2025-03-14', total: 34.47, currency: 'USD' });
    expect(server.requests[0]!.body.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'answer', schema: RECEIPT_SCHEMA } });
  });

  it('uses the model given in the call, and strips a Markdown fence around the JSON', async () => {
    const out = (await core.execute('query:ai.classify_text.v1', { prompt: 'Extract.', text: RECEIPT, schema: RECEIPT_SCHEMA, model: 'test-fenced' })) as {
      result: { total: number };
      model: string;
    };
    expect(out.model).toBe('test-fenced');
    expect(out.result.total).toBe(34.47);
  });

  it('falls back to the schema in the prompt when the server refuses response_format, and still validates', async () => {
    const out = (await core.execute('query:ai.classify_text.v1', { prompt: 'Extract.', text: RECEIPT, schema: RECEIPT_SCHEMA, model: 'test-no-structured' })) as {
      result: { merchant: string };
    };
    expect(out.result.merchant).toBe('Blue Bottle Coffee');
    expect(server.requests.map((r) => r.body.response_format === undefined)).toEqual([false, true]);
    expect(server.requests[1]!.body.messages[0].content).toContain('It must follow this JSON Schema');
  });

  it('fails with AI_INVALID_ANSWER when the answer does not follow the schema or is not JSON', async () => {
    const mismatch = await errorOf(core.execute('query:ai.classify_text.v1', { prompt: 'x', text: RECEIPT, schema: RECEIPT_SCHEMA, model: 'test-ignore-schema' }));
    expect(mismatch).toMatchObject({ code: 'AI_INVALID_ANSWER' });
    expect(mismatch!.message).toMatch(/does not follow the schema/);
    expect(mismatch!.message).toMatch(/field 'total': expected type number/);
    expect(mismatch!.message).toMatch(/field 'date': expected a value/);
    expect(mismatch!.details?.answer).toContain('a lot');

    const prose = await errorOf(core.execute('query:ai.classify_text.v1', { prompt: 'x', text: RECEIPT, schema: RECEIPT_SCHEMA, model: 'test-not-json' }));
    expect(prose).toMatchObject({ code: 'AI_INVALID_ANSWER', message: expect.stringContaining('not JSON') });

    const badSchema = await errorOf(core.execute('query:ai.classify_text.v1', { prompt: 'x', text: RECEIPT, schema: { type: 'no-such-type' } }));
    expect(badSchema).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('does not compile') });
  });

  it('returns one deterministic embedding per text, in order', async () => {
    const texts = ['coffee receipt', 'hardware receipt', 'coffee receipt', 'taxi receipt'];
    const out = (await core.execute('query:ai.embed.v1', { texts })) as {
      embeddings: number[][];
      model: string;
      dimensions: number;
    };
    expect(out.model).toBe('test-embed');
    expect(out.dimensions).toBe(12);
    // The server answers in reverse order; the result follows the input's.
    expect(out.embeddings).toEqual(texts.map((t) => vectorOf(t, 12)));
    expect(out.embeddings[2]).toEqual(out.embeddings[0]);
    expect(out.embeddings[3]).not.toEqual(out.embeddings[0]);
    expect(server.requests[0]!.body).toEqual({ model: 'test-embed', input: texts });

    const single = (await core.execute('query:ai.embed.v1', { text: 'coffee receipt', model: 'other-embed' })) as { embeddings: number[][]; model: string };
    expect(single.model).toBe('other-embed');
    expect(single.embeddings).toEqual([vectorOf('coffee receipt', 12)]);
    await expect(core.execute('query:ai.embed.v1', {})).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });

  it('turns provider failures into typed errors carrying the provider\'s message', async () => {
    const http500 = await errorOf(core.execute('query:ai.classify_text.v1', { prompt: 'x', text: 'y', model: 'test-error' }));
    expect(http500).toMatchObject({ code: 'AI_PROVIDER_ERROR', message: expect.stringContaining('HTTP 500') });
    expect(http500!.message).toContain('the model crashed (test)');

    const notJson = await errorOf(core.execute('query:ai.embed.v1', { text: 'y', model: 'test-bad-body' }));
    expect(notJson).toMatchObject({ code: 'AI_INVALID_ANSWER', message: expect.stringContaining('gateway says hi') });

    const wrongKey = await makeCore({ base_url: server.baseUrl, api_key: 'sk-wrong', model: 'test-chat', timeout_ms: 5000 });
    const unauthorized = await errorOf(wrongKey.execute('query:ai.embed.v1', { text: 'y' }));
    expect(unauthorized).toMatchObject({ code: 'AI_PROVIDER_ERROR', message: expect.stringContaining('HTTP 401') });
    expect(unauthorized!.message).toContain('Incorrect API key provided');
    expect(unauthorized!.message).not.toContain('sk-wrong');
  });

  it('times out a provider that does not answer within timeout_ms', async () => {
    const impatient = await makeCore({ base_url: server.baseUrl, api_key: 'sk-test-123', model: 'test-slow', timeout_ms: 200 });
    const err = await errorOf(impatient.execute('query:ai.classify_text.v1', { prompt: 'x', text: 'y' }));
    expect(err).toMatchObject({ code: 'TIMEOUT', message: expect.stringContaining('within 200 ms (ai.provider.timeout_ms)') });
  });

  it('reports an unreachable provider', async () => {
    const closed = await startOpenAiServer();
    const url = closed.baseUrl;
    await closed.close();
    const gone = await makeCore({ base_url: url, model: 'm', timeout_ms: 2000 });
    const err = await errorOf(gone.execute('query:ai.embed.v1', { text: 'y' }));
    expect(err).toMatchObject({ code: 'AI_PROVIDER_ERROR', message: expect.stringContaining('could not reach the AI provider') });
    expect(err!.message).toContain('ECONNREFUSED');
  });

  it('fails with AI_PROVIDER_NOT_CONFIGURED, saying how to configure one, when none is set', async () => {
    const bare = await makeCore(null);
    for (const [method, payload] of [
      ['query:ai.classify_text.v1', { prompt: 'x', text: 'y' }],
      ['query:ai.embed.v1', { texts: ['y'] }],
    ] as const) {
      const err = await errorOf(bare.execute(method, payload));
      expect(err).toMatchObject({ code: 'AI_PROVIDER_NOT_CONFIGURED' });
      expect(err!.message).toContain(`${dir}/config.json`);
      expect(err!.message).toContain('"base_url"');
      expect(err!.message).toContain('SPACEDRIVE_AI_BASE_URL');
      expect(err!.message).toContain('SPACEDRIVE_AI_MODEL');
    }
  });
});

describe('ai options', () => {
  it('reads the provider from the environment, with a default timeout', () => {
    const dir = makeTempDir('sd-aiopt-');
    try {
      const env = {
        SPACEDRIVE_AI_BASE_URL: 'http://127.0.0.1:11434/v1',
        SPACEDRIVE_AI_MODEL: 'llama3.2',
        SPACEDRIVE_AI_EMBEDDING_MODEL: 'nomic-embed-text',
        SPACEDRIVE_AI_API_KEY: 'k',
      };
      expect(loadOptions({ overrides: { dataDir: dir }, env }).ai.provider).toEqual({
        base_url: 'http://127.0.0.1:11434/v1',
        model: 'llama3.2',
        embedding_model: 'nomic-embed-text',
        api_key: 'k',
        timeout_ms: 60_000,
      });
      expect(loadOptions({ overrides: { dataDir: dir }, env: {} }).ai.provider).toBeNull();
      // config.json wins over the environment, and may switch the provider off.
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ ai: { provider: null, ocr: { workers: 2 } } }));
      const fromFile = loadOptions({ overrides: { dataDir: dir }, env });
      expect(fromFile.ai.provider).toBeNull();
      expect(fromFile.ai.ocr.workers).toBe(2);
      expect(fromFile.ai.ocr.maxPages).toBe(50);
      // A provider without a model is refused with the field named.
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ ai: { provider: { base_url: 'http://127.0.0.1:1/v1' } } }));
      expect(() => loadOptions({ overrides: { dataDir: dir }, env: {} })).toThrow(/ai\.provider\.model/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
