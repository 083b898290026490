/**
 * The AI capability: offline OCR (Tesseract, PDF text layers) and text/embedding models behind
 * an OpenAI-compatible endpoint. Core creates one {@link AiService} (`core.ai`); its operations
 * (`query:ai.ocr.v1`, `query:ai.classify_text.v1`, `query:ai.embed.v1`) are in
 * {@link aiOperations}.
 *
 * @example
 * const { text } = await core.ai.ocr({ data: pngBytes.toString('base64') });
 */
import type { AiOptions } from '../config/index.js';
import type { Logger } from '../logging/index.js';
import { OcrService, type OcrRequest, type OcrResult } from './ocr.js';
import {
  notConfiguredError,
  OpenAiCompatibleProvider,
  type ClassifyTextRequest,
  type ClassifyTextResult,
  type EmbedRequest,
  type EmbedResult,
} from './provider.js';
import { TesseractPool } from './tesseract-pool.js';
import { defineModule, type BaseServices } from '../modules/index.js';
import { aiOperations } from './operations.js';

export { aiOperations, type AiHandlerServices } from './operations.js';
export { sniffMimeType, OCR_MIME_TYPES, type OcrMimeType, type OcrRequest, type OcrResult, type OcrPage } from './ocr.js';
export type { ClassifyTextRequest, ClassifyTextResult, EmbedRequest, EmbedResult, Usage } from './provider.js';
export { OCR_LANGUAGES, type OcrLanguage } from './tesseract-pool.js';

export interface AiServiceOptions {
  ai: AiOptions;
  /** Named in the "not configured" message (where config.json lives). */
  dataDir: string;
  logger: Logger;
}

/** What handlers reach as `ctx.core.ai`. */
export class AiService {
  readonly #pool: TesseractPool;
  readonly #ocr: OcrService;
  readonly #provider: OpenAiCompatibleProvider | undefined;
  readonly #dataDir: string;

  constructor(opts: AiServiceOptions) {
    const o = opts.ai.ocr;
    this.#pool = new TesseractPool({ workers: o.workers, maxQueue: o.maxQueue, timeoutMs: o.pageTimeoutMs, logger: opts.logger });
    this.#ocr = new OcrService(this.#pool, { maxInputBytes: o.maxInputBytes, maxPages: o.maxPages, maxImagePixels: o.maxImagePixels });
    this.#provider = opts.ai.provider ? new OpenAiCompatibleProvider(opts.ai.provider) : undefined;
    this.#dataDir = opts.dataDir;
  }

  /** True when a text/embedding provider is configured. */
  get hasProvider(): boolean {
    return this.#provider !== undefined;
  }

  /** Text and confidence of a PNG, JPEG or PDF (text layer, else OCR of the rendered page). */
  ocr(req: OcrRequest, signal?: AbortSignal): Promise<OcrResult> {
    return this.#ocr.ocr(req, signal);
  }

  /** Asks the configured model; with `schema`, the answer is parsed JSON that follows it. */
  classifyText(req: ClassifyTextRequest, signal?: AbortSignal): Promise<ClassifyTextResult> {
    if (!this.#provider) return Promise.reject(notConfiguredError(this.#dataDir));
    return this.#provider.classifyText(req, signal);
  }

  /** One embedding per text from the configured embedding model. */
  embed(req: EmbedRequest, signal?: AbortSignal): Promise<EmbedResult> {
    if (!this.#provider) return Promise.reject(notConfiguredError(this.#dataDir));
    return this.#provider.embed(req, signal);
  }

  /** Counters for `query:core.status.v1` (prefixed `ai_`). */
  stats(): Record<string, number> {
    return { ...this.#pool.stats(), provider_configured: this.#provider ? 1 : 0 };
  }

  /** Terminates the OCR workers. */
  close(): Promise<void> {
    return this.#pool.close();
  }
}

/** Creates the service; nothing starts until the first OCR call. */
export function makeAiService(opts: AiServiceOptions): AiService {
  return new AiService(opts);
}

/** The AI module (`ai`): OCR and text models; starts nothing until first used. */
export const aiModule = defineModule<Pick<BaseServices, 'options' | 'logger'>, AiService>()({
  name: 'ai',
  dependsOn: ['options', 'logger'],
  create: ({ options, logger }) => makeAiService({ ai: options.ai, dataDir: options.dataDir, logger: logger.child({ capability: 'ai' }) }),
  operations: aiOperations,
  counters: { read: (ai) => ai.stats() },
  stop: (ai) => ai.close(),
});
