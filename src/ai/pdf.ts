/**
 * PDF pages as text: the text layer where a page has one, a rendered image (for OCR) where it
 * is a scan. pdfjs-dist 5.6's legacy build is used because 6.x needs Node 22; in Node it parses
 * on the calling thread ("fake worker") and renders through @napi-rs/canvas.
 */
import { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import { keepingNatives } from './keep-natives.js';

const require = createRequire(import.meta.url);

type PdfJs = typeof import('pdfjs-dist/legacy/build/pdf.mjs');
let pdfjsPromise: Promise<PdfJs> | undefined;
/**
 * Loaded on first use: it is a large module, and most daemons never open a PDF. Loaded without
 * letting its polyfills replace built-ins (see keep-natives.ts), and with its worker module: in
 * Node, pdf.js runs the worker's code on this thread and would otherwise import that module at
 * the first getDocument, outside the guard; it takes it from globalThis.pdfjsWorker, which the
 * module sets.
 */
const loadPdfJs = (): Promise<PdfJs> =>
  (pdfjsPromise ??= keepingNatives(async () => {
    const pdfjs = await import('pdfjs-dist/legacy/build/pdf.mjs');
    // @ts-expect-error pdfjs-dist ships no types for its worker module; only its side effect is used.
    await import('pdfjs-dist/legacy/build/pdf.worker.mjs');
    return pdfjs;
  }));

/** Fonts for PDFs that use the standard 14 without embedding them (needed only to render). */
const standardFontDataUrl = join(dirname(require.resolve('pdfjs-dist/package.json')), 'standard_fonts') + sep;

/** A page needs at least this many non-space characters in its text layer to skip OCR. */
const MIN_TEXT_LAYER_CHARS = 16;
/** Pages are rendered for OCR at this resolution (Tesseract does best around 200-300 dpi)... */
const RENDER_DPI = 200;
/** ...but never larger than this many pixels, so a poster-sized page cannot exhaust memory. */
const MAX_RENDER_PIXELS = 12_000_000;

export interface PdfPage {
  /** 1-based */
  page: number;
  /** The text layer, lines top to bottom; empty when the page has none. */
  text: string;
  /** True when the text layer has enough text to stand for the page. */
  hasTextLayer: boolean;
  /** Renders the page to PNG bytes, for OCR. */
  render(): Promise<Buffer>;
}

export interface OpenedPdf {
  numPages: number;
  page(n: number): Promise<PdfPage>;
  close(): Promise<void>;
}

export async function openPdf(data: Uint8Array): Promise<OpenedPdf> {
  const pdfjs = await loadPdfJs();
  let doc: Awaited<ReturnType<PdfJs['getDocument']>['promise']>;
  try {
    doc = await pdfjs.getDocument({
      // pdfjs takes ownership of (detaches) the buffer it is given: hand it a copy.
      data: new Uint8Array(data),
      isEvalSupported: false,
      useSystemFonts: false,
      disableFontFace: true,
      standardFontDataUrl,
      verbosity: 0,
    }).promise;
  } catch (err) {
    throw pdfError(err);
  }
  return {
    numPages: doc.numPages,
    async page(n: number): Promise<PdfPage> {
      let page: Awaited<ReturnType<typeof doc.getPage>>;
      let text: string;
      try {
        page = await doc.getPage(n);
        const content = await page.getTextContent();
        text = layoutText(content.items as Array<{ str?: string; transform?: number[]; hasEOL?: boolean }>);
      } catch (err) {
        throw pdfError(err, n);
      }
      return {
        page: n,
        text,
        hasTextLayer: text.replace(/\s+/g, '').length >= MIN_TEXT_LAYER_CHARS,
        async render(): Promise<Buffer> {
          const base = page.getViewport({ scale: 1 });
          let scale = RENDER_DPI / 72;
          const pixels = base.width * base.height * scale * scale;
          if (pixels > MAX_RENDER_PIXELS) scale *= Math.sqrt(MAX_RENDER_PIXELS / pixels);
          const viewport = page.getViewport({ scale });
          const factory = (doc as unknown as { canvasFactory: CanvasFactory }).canvasFactory;
          const { canvas, context } = factory.create(Math.ceil(viewport.width), Math.ceil(viewport.height));
          try {
            // Scans are often transparent over nothing: paint white paper first.
            context.fillStyle = '#ffffff';
            context.fillRect(0, 0, canvas.width, canvas.height);
            await page.render({ canvasContext: context, viewport, canvas } as never).promise;
            return canvas.toBuffer('image/png');
          } catch (err) {
            throw pdfError(err, n);
          } finally {
            factory.destroy({ canvas, context });
          }
        },
      };
    },
    async close() {
      await doc.destroy();
    },
  };
}

interface CanvasFactory {
  create(w: number, h: number): { canvas: { width: number; height: number; toBuffer(mime: 'image/png'): Buffer }; context: CanvasContext };
  destroy(pair: unknown): void;
}
interface CanvasContext {
  fillStyle: string;
  fillRect(x: number, y: number, w: number, h: number): void;
}

/**
 * Text items in reading order: grouped into lines by their baseline, top to bottom, then left to
 * right, joined with single spaces (as OCR output is), so a receipt's "TOTAL USD" and its
 * right-aligned "13.85" end up on one line.
 */
export function layoutText(items: Array<{ str?: string; transform?: number[] }>): string {
  const lines: Array<{ y: number; parts: Array<{ x: number; s: string }> }> = [];
  for (const item of items) {
    const s = (item.str ?? '').trim();
    if (!s || !item.transform) continue;
    const x = item.transform[4] ?? 0;
    const y = item.transform[5] ?? 0;
    const height = Math.abs(item.transform[3] ?? 10) || 10;
    let line = lines.find((l) => Math.abs(l.y - y) < height * 0.5);
    if (!line) {
      line = { y, parts: [] };
      lines.push(line);
    }
    line.parts.push({ x, s });
  }
  // PDF y grows upwards: the highest baseline is the first line.
  lines.sort((a, b) => b.y - a.y);
  return lines.map((l) => l.parts.sort((a, b) => a.x - b.x).map((p) => p.s).join(' ')).join('\n');
}

function pdfError(err: unknown, page?: number): SpacedriveError {
  const name = (err as { name?: string })?.name ?? '';
  const message = err instanceof Error ? err.message : String(err);
  const where = page ? ` (page ${page})` : '';
  if (name === 'PasswordException') {
    return new SpacedriveError(ErrorCode.INVALID_INPUT, 'the PDF is password-protected; decrypt it before OCR');
  }
  return new SpacedriveError(ErrorCode.INVALID_INPUT, `the PDF could not be read${where} (corrupt or truncated): ${message}`);
}
