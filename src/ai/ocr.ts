/**
 * OCR of PNG, JPEG and PDF bytes, entirely offline: images through Tesseract, PDFs through
 * their text layer page by page, falling back to Tesseract on pages that are scans.
 */
import { loadImage } from '@napi-rs/canvas';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import { decodeBase64Field } from '../schema/index.js';
import { openPdf } from './pdf.js';
import type { OcrLanguage, TesseractPool } from './tesseract-pool.js';

export const OCR_MIME_TYPES = ['image/png', 'image/jpeg', 'application/pdf'] as const;
export type OcrMimeType = (typeof OCR_MIME_TYPES)[number];

export interface OcrRequest {
  /** The file's bytes, base64-encoded. */
  data: string;
  /** Sniffed from the leading bytes when absent; when given, must agree with them. */
  mime_type?: OcrMimeType;
  language?: OcrLanguage;
  /** PDF only: 1-based page numbers to read (default: every page, up to the page limit). */
  pages?: number[];
  /** PDF only: OCR pages even when they have a text layer. */
  force_ocr?: boolean;
}

export interface OcrPage {
  page: number;
  text: string;
  /** 0..1; 1 for a text layer. */
  confidence: number;
  source: 'text-layer' | 'ocr';
}

export interface OcrResult {
  /** Every page's text, pages separated by a form feed line ("\f"). */
  text: string;
  /** 0..1, the pages' confidences weighted by how much text each holds. */
  confidence: number;
  pages: OcrPage[];
  mime_type: OcrMimeType;
}

export interface OcrLimits {
  /** Largest decoded input in bytes. */
  maxInputBytes: number;
  /** Most PDF pages read in one call. */
  maxPages: number;
  /** Largest image, in pixels (width × height). */
  maxImagePixels: number;
}

/** The file type from its leading bytes, or undefined when it is none we read. */
export function sniffMimeType(bytes: Uint8Array): OcrMimeType | undefined {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47 && bytes[4] === 0x0d && bytes[5] === 0x0a && bytes[6] === 0x1a && bytes[7] === 0x0a) {
    return 'image/png';
  }
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  // PDF readers accept the header anywhere in the first 1024 bytes (some files start with junk).
  const head = Buffer.from(bytes.subarray(0, 1024)).toString('latin1');
  if (head.includes('%PDF-')) return 'application/pdf';
  return undefined;
}

const FORMAT_NAMES: Record<string, string> = { 'application/pdf': 'PDF', 'image/png': 'PNG image', 'image/jpeg': 'JPEG image' };

/**
 * How some data starts, for a person: its first characters when they are printable text (a text
 * file given as a PDF), else its first bytes in hex.
 */
function describeStart(bytes: Uint8Array): string {
  const head = Buffer.from(bytes.subarray(0, 16));
  const text = head.toString('latin1');
  // Tabs, line breaks and printable ASCII: show it as text.
  if (/^[\t\n\r\x20-\x7e]+$/.test(text)) return `the text ${JSON.stringify(bytes.length > head.length ? `${text}…` : text)}`;
  return `the bytes ${head.subarray(0, 8).toString('hex')}`;
}

export class OcrService {
  readonly #pool: TesseractPool;
  readonly #limits: OcrLimits;

  constructor(pool: TesseractPool, limits: OcrLimits) {
    this.#pool = pool;
    this.#limits = limits;
  }

  async ocr(req: OcrRequest, signal?: AbortSignal): Promise<OcrResult> {
    const bytes = decodeBase64Field('data', req.data, { maxBytes: this.#limits.maxInputBytes, option: 'ai.ocr.maxInputBytes' });
    if (bytes.length === 0) throw new SpacedriveError(ErrorCode.INVALID_INPUT, "field 'data' is empty");
    const sniffed = sniffMimeType(bytes);
    const expected = req.mime_type ? FORMAT_NAMES[req.mime_type] : 'PNG, JPEG or PDF file';
    if (!sniffed) {
      throw new SpacedriveError(ErrorCode.INVALID_INPUT, `the data is not a ${expected} (it starts with ${describeStart(bytes)})`, {
        ...(req.mime_type ? { declared: req.mime_type } : {}),
        first_bytes: Buffer.from(bytes.subarray(0, 8)).toString('hex'),
      });
    }
    if (req.mime_type && req.mime_type !== sniffed) {
      throw new SpacedriveError(ErrorCode.INVALID_INPUT, `the data is not a ${expected}: it is a ${FORMAT_NAMES[sniffed]}`, { declared: req.mime_type, sniffed });
    }
    const lang = req.language ?? 'eng';
    if (sniffed === 'application/pdf') return this.#pdf(bytes, req, lang, signal);
    if (req.pages && req.pages.some((p) => p !== 1)) {
      throw new SpacedriveError(ErrorCode.INVALID_INPUT, `an image has one page; 'pages' may only name page 1`);
    }
    const page = await this.#image(bytes, lang, 1, signal);
    return summarize([page], sniffed);
  }

  async #image(bytes: Buffer, lang: OcrLanguage, pageNo: number, signal?: AbortSignal): Promise<OcrPage> {
    let size: { width: number; height: number };
    try {
      // Reads the header only: enough to refuse garbage and oversized images before Tesseract.
      size = await loadImage(bytes);
    } catch (err) {
      throw new SpacedriveError(ErrorCode.INVALID_INPUT, `the image could not be decoded: ${(err as Error).message}`);
    }
    if (!(size.width > 0 && size.height > 0)) throw new SpacedriveError(ErrorCode.INVALID_INPUT, 'the image has no pixels');
    const pixels = size.width * size.height;
    if (pixels > this.#limits.maxImagePixels) {
      throw new SpacedriveError(
        ErrorCode.INVALID_INPUT,
        `the image is ${size.width}×${size.height} (${(pixels / 1e6).toFixed(1)} megapixels); the limit is ${(this.#limits.maxImagePixels / 1e6).toFixed(1)} megapixels (ai.ocr.maxImagePixels)`,
      );
    }
    const r = await this.#pool.recognize(bytes, lang, signal);
    return { page: pageNo, text: r.text.trim(), confidence: r.confidence, source: 'ocr' };
  }

  async #pdf(bytes: Buffer, req: OcrRequest, lang: OcrLanguage, signal?: AbortSignal): Promise<OcrResult> {
    const pdf = await openPdf(bytes);
    try {
      let wanted: number[];
      if (req.pages && req.pages.length > 0) {
        const missing = req.pages.filter((p) => p < 1 || p > pdf.numPages);
        if (missing.length > 0) {
          throw new SpacedriveError(ErrorCode.INVALID_INPUT, `page ${missing.join(', ')} does not exist; the PDF has ${pdf.numPages} page${pdf.numPages === 1 ? '' : 's'}`);
        }
        wanted = [...new Set(req.pages)].sort((a, b) => a - b);
      } else {
        wanted = Array.from({ length: pdf.numPages }, (_, i) => i + 1);
      }
      if (wanted.length > this.#limits.maxPages) {
        throw new SpacedriveError(
          ErrorCode.INVALID_INPUT,
          `the PDF has ${wanted.length} pages to read; the limit is ${this.#limits.maxPages} per call (ai.ocr.maxPages): pass 'pages' to read it in parts`,
          { pages: wanted.length, limit: this.#limits.maxPages },
        );
      }
      const pages: OcrPage[] = [];
      for (const n of wanted) {
        if (signal?.aborted) throw new SpacedriveError(ErrorCode.CANCELLED, 'OCR was cancelled');
        const page = await pdf.page(n);
        if (page.hasTextLayer && !req.force_ocr) {
          pages.push({ page: n, text: page.text, confidence: 1, source: 'text-layer' });
        } else {
          const png = await page.render();
          const r = await this.#pool.recognize(png, lang, signal);
          pages.push({ page: n, text: r.text.trim(), confidence: r.confidence, source: 'ocr' });
        }
      }
      return summarize(pages, 'application/pdf');
    } finally {
      await pdf.close();
    }
  }
}

function summarize(pages: OcrPage[], mime_type: OcrMimeType): OcrResult {
  const weight = pages.reduce((n, p) => n + p.text.length, 0);
  const confidence = weight === 0 ? 0 : pages.reduce((s, p) => s + p.confidence * p.text.length, 0) / weight;
  return {
    text: pages.map((p) => p.text).join('\n\f\n'),
    confidence: Math.round(confidence * 1000) / 1000,
    pages,
    mime_type,
  };
}
