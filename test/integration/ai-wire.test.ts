/**
 * The AI operations over the wire against a real daemon process: OCR of a sample receipt through
 * the client and through the CLI (a file path for the binary field), classify_text and embed
 * through a provider configured by environment variables, and the typed errors a client sees.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpacedriveClient } from '../../src/client/index.js';
import '../../src/ai/index.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { startOpenAiServer, type OpenAiTestServer } from '../helpers/openai-server.js';
import { rejectionOf } from '../helpers/errors.js';

const SAMPLES = resolve(fileURLToPath(new URL('../../samples/receipts', import.meta.url)));
const index = JSON.parse(readFileSync(join(SAMPLES, 'index.json'), 'utf8')) as {
  receipts: Array<{ file: string; format: string; merchant: string; total: number; currency: string; date: string }>;
};
const scanned = index.receipts.find((r) => r.format === 'pdf-scanned')!;
const png = index.receipts.find((r) => r.format === 'png')!;

describe('AI over the wire (real daemon)', () => {
  let server: OpenAiTestServer;
  let daemon: TestDaemon;
  let bare: TestDaemon;
  let client: SpacedriveClient;

  beforeAll(async () => {
    server = await startOpenAiServer({ dimensions: 4 });
    daemon = await startTestDaemon({
      env: { SPACEDRIVE_AI_BASE_URL: server.baseUrl, SPACEDRIVE_AI_MODEL: 'test-chat', SPACEDRIVE_AI_EMBEDDING_MODEL: 'test-embed' },
    });
    bare = await startTestDaemon();
    client = await daemon.client();
  });
  afterAll(async () => {
    await daemon?.stop();
    await bare?.stop();
    await server?.close();
  });

  it('lists the three AI methods', async () => {
    const { methods } = await client.query('query:core.methods.v1', { filter: 'ai.' });
    expect(methods.map((m) => m.method)).toEqual(['query:ai.classify_text.v1', 'query:ai.embed.v1', 'query:ai.ocr.v1']);
  });

  it('OCRs a scanned PDF sent by a client, then classifies the text with the configured model', async () => {
    const ocr = await client.query('query:ai.ocr.v1', { data: readFileSync(join(SAMPLES, scanned.file)).toString('base64') });
    expect(ocr.mime_type).toBe('application/pdf');
    expect(ocr.pages[0]!.source).toBe('ocr');
    expect(ocr.text).toContain(scanned.merchant);
    expect(ocr.text).toContain(scanned.total.toFixed(2));

    const schema = {
      type: 'object',
      required: ['merchant', 'total', 'currency', 'date'],
      properties: { merchant: { type: 'string' }, total: { type: 'number' }, currency: { type: 'string' }, date: { type: 'string' } },
    };
    const classified = await client.query('query:ai.classify_text.v1', { prompt: 'Extract the receipt fields.', text: ocr.text, schema });
    expect(classified.result).toEqual({ merchant: scanned.merchant, total: scanned.total, currency: scanned.currency, date: scanned.date });
    expect(classified.model).toBe('test-chat');

    const emb = await client.query('query:ai.embed.v1', { texts: [ocr.text, 'something else'] });
    expect(emb).toMatchObject({ model: 'test-embed', dimensions: 4 });
    expect(emb.embeddings).toHaveLength(2);
  });

  it('OCRs an image from the CLI, which reads the file for the binary field', async () => {
    const res = await daemon.cli(['query', 'ai.ocr', '--data', join(SAMPLES, png.file), '--json']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const out = JSON.parse(res.stdout) as { text: string; mime_type: string };
    expect(out.mime_type).toBe('image/png');
    expect(out.text).toContain(png.merchant);
    expect(out.text).toContain(png.total.toFixed(2));
  });

  it('gives clients typed errors: corrupt input, a wrong answer, and no provider configured', async () => {
    const corrupt = await rejectionOf(client.query('query:ai.ocr.v1', { data: readFileSync(join(SAMPLES, png.file)).subarray(0, 1500).toString('base64') }));
    expect(corrupt).toMatchObject({ name: 'SpacedriveError', code: 'INVALID_INPUT' });

    const mismatch = await rejectionOf(
      client.query('query:ai.classify_text.v1', { prompt: 'x', text: 'y', schema: { type: 'object', required: ['total'], properties: { total: { type: 'number' } } }, model: 'test-ignore-schema' }),
    );
    expect(mismatch).toMatchObject({ code: 'AI_INVALID_ANSWER' });

    const bareClient = await bare.client();
    const none = await rejectionOf(bareClient.query('query:ai.embed.v1', { text: 'y' }));
    expect(none).toMatchObject({ code: 'AI_PROVIDER_NOT_CONFIGURED' });
    expect(none.message).toContain('SPACEDRIVE_AI_BASE_URL');

    // The daemon still answers after all of that.
    const status = await client.query('query:core.status.v1', {});
    expect(status.counts.ai_ocr_workers).toBe(1);
    expect(status.counts.ai_provider_configured).toBe(1);
  });

  it('reads the provider from <dataDir>/config.json', async () => {
    const fromFile = await startTestDaemon({
      setup: (dir) => writeFileSync(join(dir, 'config.json'), JSON.stringify({ ai: { provider: { base_url: server.baseUrl, model: 'test-chat' } } })),
    });
    try {
      const c = await fromFile.client();
      const out = await c.query('query:ai.classify_text.v1', { prompt: 'Total?', text: 'TOTAL USD 12.50' });
      expect(out.result).toBe('TOTAL 12.50');
    } finally {
      await fromFile.stop();
    }
  });
});
