/**
 * A small pool of warm Tesseract workers, created on first use and reused, so that a call pays
 * ~0.1 s per page instead of ~0.5 s of worker start. Jobs queue when every worker is busy.
 *
 * Two traps in tesseract.js that this file exists to keep closed:
 *  - Without `langPath` it downloads language data from a CDN, and a failed download throws
 *    inside its worker-message handler, outside any promise: the process dies. We always pass
 *    the directory of the `@tesseract.js-data/eng` package and check the file is there first.
 *  - Without `errorHandler`, a rejected job (e.g. an undecodable image) is also rethrown in that
 *    handler. We pass one, so a bad image only rejects its own promise.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createWorker, OEM, type Worker } from 'tesseract.js';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import type { Logger } from '../logging/index.js';

const require = createRequire(import.meta.url);

/** Languages whose data ships with the project (nothing is fetched at run time). */
export const OCR_LANGUAGES = ['eng'] as const;
export type OcrLanguage = (typeof OCR_LANGUAGES)[number];

/**
 * Directory holding `<lang>.traineddata.gz`. `4.0.0_best_int` is the small (2.9 MB) LSTM-only
 * model; the package's default `4.0.0` is 10 MB and also carries the legacy engine we do not use.
 */
export function languageDataDir(lang: OcrLanguage): string {
  const pkg = require.resolve(`@tesseract.js-data/${lang}/package.json`);
  return join(dirname(pkg), '4.0.0_best_int');
}

export interface RecognizedText {
  text: string;
  /** 0..1 */
  confidence: number;
}

export interface TesseractPoolOptions {
  /** Workers kept warm. Each holds ~40 MB. */
  workers: number;
  /** Jobs allowed to wait for a worker before calls are refused with OVERLOADED. */
  maxQueue: number;
  /** A single recognition taking longer than this is abandoned and its worker replaced. */
  timeoutMs: number;
  logger: Logger;
}

interface Slot {
  worker: Promise<Worker>;
  busy: boolean;
}

interface Waiting {
  resolve: (slot: Slot) => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

export class TesseractPool {
  readonly #opts: TesseractPoolOptions;
  readonly #slots: Slot[] = [];
  readonly #queue: Waiting[] = [];
  #closed = false;
  #recognitions = 0;
  #failures = 0;

  constructor(opts: TesseractPoolOptions) {
    this.#opts = opts;
  }

  stats(): Record<string, number> {
    return {
      ocr_workers: this.#slots.length,
      ocr_busy: this.#slots.filter((s) => s.busy).length,
      ocr_queued: this.#queue.length,
      ocr_recognitions: this.#recognitions,
      ocr_failures: this.#failures,
    };
  }

  /**
   * Recognizes text in one PNG or JPEG image. Rejects with INVALID_INPUT when Tesseract cannot
   * read the image, TIMEOUT when it takes too long, CANCELLED when `signal` aborts first.
   */
  async recognize(image: Buffer, lang: OcrLanguage, signal?: AbortSignal): Promise<RecognizedText> {
    if (lang !== 'eng') throw new SpacedriveError(ErrorCode.INVALID_INPUT, `OCR language '${lang}' is not installed; available: ${OCR_LANGUAGES.join(', ')}`);
    const slot = await this.#acquire(signal);
    let timer: NodeJS.Timeout | undefined;
    let replace = false;
    try {
      const worker = await slot.worker;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          replace = true;
          reject(new SpacedriveError(ErrorCode.TIMEOUT, `OCR of one page took longer than ${this.#opts.timeoutMs} ms and was abandoned`));
        }, this.#opts.timeoutMs);
      });
      const result = await Promise.race([worker.recognize(image), timeout]);
      this.#recognitions++;
      return { text: result.data.text, confidence: clamp01(result.data.confidence / 100) };
    } catch (err) {
      this.#failures++;
      if (err instanceof SpacedriveError) throw err;
      const message = err instanceof Error ? err.message : String(err);
      // tesseract.js reports every job failure as a plain string/Error; the only one an image
      // can cause is "Error attempting to read image".
      if (/read image/i.test(message)) {
        throw new SpacedriveError(ErrorCode.INVALID_INPUT, `the image could not be decoded (corrupt or truncated): ${message.replace(/^Error:\s*/, '')}`);
      }
      replace = true;
      throw new SpacedriveError(ErrorCode.OPERATION_FAILED, `OCR failed: ${message}`, undefined, { cause: err });
    } finally {
      clearTimeout(timer);
      if (replace) this.#replace(slot);
      this.#release(slot);
    }
  }

  /** Terminates every worker; queued calls fail with SHUTTING_DOWN. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const w of this.#queue.splice(0)) {
      w.signal?.removeEventListener('abort', w.onAbort);
      w.reject(new SpacedriveError(ErrorCode.SHUTTING_DOWN, 'core is shutting down'));
    }
    const slots = this.#slots.splice(0);
    await Promise.all(slots.map((s) => terminate(s.worker)));
  }

  #acquire(signal?: AbortSignal): Promise<Slot> {
    if (this.#closed) return Promise.reject(new SpacedriveError(ErrorCode.SHUTTING_DOWN, 'core is shutting down'));
    if (signal?.aborted) return Promise.reject(cancelled());
    const idle = this.#slots.find((s) => !s.busy);
    if (idle) {
      idle.busy = true;
      return Promise.resolve(idle);
    }
    if (this.#slots.length < this.#opts.workers) {
      const slot: Slot = { worker: this.#spawn(), busy: true };
      this.#slots.push(slot);
      // A worker that fails to start is dropped so the next call tries afresh.
      slot.worker.catch(() => this.#drop(slot));
      return Promise.resolve(slot);
    }
    if (this.#queue.length >= this.#opts.maxQueue) {
      return Promise.reject(new SpacedriveError(ErrorCode.OVERLOADED, `OCR queue is full (${this.#opts.maxQueue} waiting); try again later`));
    }
    return new Promise<Slot>((resolve, reject) => {
      const waiting: Waiting = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.#queue.indexOf(waiting);
          if (i >= 0) this.#queue.splice(i, 1);
          reject(cancelled());
        },
      };
      signal?.addEventListener('abort', waiting.onAbort, { once: true });
      this.#queue.push(waiting);
    });
  }

  #release(slot: Slot): void {
    if (!this.#slots.includes(slot)) return;
    const next = this.#queue.shift();
    if (next) {
      next.signal?.removeEventListener('abort', next.onAbort);
      next.resolve(slot);
    } else {
      slot.busy = false;
    }
  }

  /** Swaps a slot's worker for a fresh one (after a timeout or an engine failure). */
  #replace(slot: Slot): void {
    const old = slot.worker;
    void terminate(old);
    if (this.#closed || !this.#slots.includes(slot)) return;
    slot.worker = this.#spawn();
    slot.worker.catch(() => this.#drop(slot));
  }

  #drop(slot: Slot): void {
    const i = this.#slots.indexOf(slot);
    if (i >= 0) this.#slots.splice(i, 1);
  }

  async #spawn(): Promise<Worker> {
    const langPath = languageDataDir('eng');
    // Guard for the CDN trap described at the top: never start a worker without local data.
    if (!existsSync(join(langPath, 'eng.traineddata.gz'))) {
      throw new SpacedriveError(
        ErrorCode.INTERNAL,
        `OCR language data is missing (${join(langPath, 'eng.traineddata.gz')}); reinstall the @tesseract.js-data/eng package`,
      );
    }
    const started = Date.now();
    const worker = await createWorker('eng', OEM.LSTM_ONLY, {
      langPath,
      gzip: true,
      cacheMethod: 'none',
      errorHandler: (err: unknown) => this.#opts.logger.debug({ err: String(err) }, 'tesseract job rejected'),
    });
    this.#opts.logger.debug({ ms: Date.now() - started }, 'OCR worker started');
    return worker;
  }
}

async function terminate(worker: Promise<Worker>): Promise<void> {
  try {
    await (await worker).terminate();
  } catch {
    // A worker that never started, or is already gone, has nothing to release.
  }
}

const cancelled = () => new SpacedriveError(ErrorCode.CANCELLED, 'OCR was cancelled before it started');
const clamp01 = (n: number) => (Number.isFinite(n) ? Math.min(1, Math.max(0, n)) : 0);
