/** The AI capability's core operations; each handler reaches the service as `ctx.core.ai`. */
import { operationsWith } from '../modules/index.js';
import type { AiService } from './index.js';
import { OCR_MIME_TYPES, type OcrRequest, type OcrResult } from './ocr.js';
import type { ClassifyTextRequest, ClassifyTextResult, EmbedRequest, EmbedResult } from './provider.js';
import { OCR_LANGUAGES } from './tesseract-pool.js';

/** The services AI handlers see as `ctx.core` (the ai module declares them). */
export interface AiHandlerServices {
  ai: AiService;
}
const defineOperation = operationsWith<AiHandlerServices>();

const confidence = { type: 'number', minimum: 0, maximum: 1 };

export const aiOcr = defineOperation<OcrRequest, OcrResult>({
  method: 'query:ai.ocr.v1',
  kind: 'query',
  scope: 'core',
  description:
    'Text and confidence of a PNG, JPEG or PDF, offline: a PDF page\'s text layer where it has one, Tesseract OCR of the image or rendered page otherwise.',
  input: {
    type: 'object',
    additionalProperties: false,
    required: ['data'],
    properties: {
      data: { type: 'string', contentEncoding: 'base64', minLength: 1, description: 'The file\'s bytes (base64).' },
      mime_type: { enum: [...OCR_MIME_TYPES], description: 'Sniffed from the bytes when absent; must agree with them when given.' },
      language: { enum: [...OCR_LANGUAGES], default: 'eng', description: 'OCR language (installed: eng).' },
      pages: {
        type: 'array',
        items: { type: 'integer', minimum: 1 },
        minItems: 1,
        maxItems: 1000,
        description: 'PDF only: 1-based page numbers to read (default all, up to ai.ocr.maxPages).',
      },
      force_ocr: { type: 'boolean', default: false, description: 'PDF only: OCR pages even when they have a text layer.' },
    },
  },
  output: {
    type: 'object',
    required: ['text', 'confidence', 'pages', 'mime_type'],
    properties: {
      text: { type: 'string' },
      confidence,
      mime_type: { enum: [...OCR_MIME_TYPES] },
      pages: {
        type: 'array',
        items: {
          type: 'object',
          required: ['page', 'text', 'confidence', 'source'],
          properties: { page: { type: 'integer', minimum: 1 }, text: { type: 'string' }, confidence, source: { enum: ['text-layer', 'ocr'] } },
        },
      },
    },
  },
  handler: (input, { core, signal }) => core.ai.ocr(input, signal),
});

export const aiClassifyText = defineOperation<ClassifyTextRequest, ClassifyTextResult>({
  method: 'query:ai.classify_text.v1',
  kind: 'query',
  scope: 'core',
  description:
    'Asks the configured OpenAI-compatible model about a text; with a JSON Schema, the answer is JSON that follows it (checked). Fails with AI_PROVIDER_NOT_CONFIGURED when none is set up.',
  input: {
    type: 'object',
    additionalProperties: false,
    required: ['prompt', 'text'],
    properties: {
      prompt: { type: 'string', minLength: 1, description: 'The instruction (sent as the system message).' },
      text: { type: 'string', description: 'The text to classify or extract from.' },
      schema: { type: 'object', description: 'JSON Schema the answer must follow; the result is then parsed JSON.' },
      model: { type: 'string', minLength: 1, description: 'Overrides ai.provider.model.' },
    },
  },
  output: {
    type: 'object',
    required: ['result', 'model'],
    properties: {
      result: {},
      model: { type: 'string' },
      usage: {
        type: 'object',
        properties: { prompt_tokens: { type: 'integer' }, completion_tokens: { type: 'integer' }, total_tokens: { type: 'integer' } },
      },
    },
  },
  handler: (input, { core, signal }) => core.ai.classifyText(input, signal),
});

export const aiEmbed = defineOperation<EmbedRequest, EmbedResult>({
  method: 'query:ai.embed.v1',
  kind: 'query',
  scope: 'core',
  description: 'Embeddings of one or more texts from the configured OpenAI-compatible embedding model.',
  input: {
    type: 'object',
    additionalProperties: false,
    properties: {
      texts: { type: 'array', minItems: 1, maxItems: 2048, items: { type: 'string' }, description: 'Texts to embed, in order.' },
      text: { type: 'string', description: 'A single text (instead of texts).' },
      model: { type: 'string', minLength: 1, description: 'Overrides ai.provider.embedding_model.' },
    },
    oneOf: [{ required: ['texts'] }, { required: ['text'] }],
  },
  output: {
    type: 'object',
    required: ['embeddings', 'model', 'dimensions'],
    properties: {
      embeddings: { type: 'array', items: { type: 'array', items: { type: 'number' } } },
      model: { type: 'string' },
      dimensions: { type: 'integer', minimum: 1 },
    },
  },
  handler: (input, { core, signal }) => core.ai.embed(input, signal),
});

export const aiOperations = [aiOcr, aiClassifyText, aiEmbed];

// Typed client calls (`client.query('query:ai.ocr.v1', …)`), by declaration merging.
declare module '../client/types.js' {
  interface KnownQueries {
    'query:ai.ocr.v1': { input: OcrRequest; output: OcrResult };
    'query:ai.classify_text.v1': { input: ClassifyTextRequest; output: ClassifyTextResult };
    'query:ai.embed.v1': { input: EmbedRequest; output: EmbedResult };
  }
}
