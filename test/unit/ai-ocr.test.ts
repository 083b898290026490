/**
 * query:ai.ocr.v1 against the real engine: Tesseract (one warm worker shared by the whole file),
 * pdfjs text layers and rendered scans, on the generated sample receipts.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sniffMimeType, type OcrResult } from '../../src/ai/index.js';
import { loadOptions } from '../../src/config/index.js';
import { Core } from '../../src/core/index.js';
import { silentLogger } from '../../src/logging/index.js';
import { makeTempDir } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';

const SAMPLES = resolve(fileURLToPath(new URL('../../samples/receipts', import.meta.url)));

interface SampleReceipt {
  id: string;
  file: string;
  format: 'pdf-text' | 'pdf-scanned' | 'png' | 'jpeg';
  mime_type: string;
  merchant: string;
  total: number;
  currency: string;
}
const receipts = (JSON.parse(readFileSync(join(SAMPLES, 'index.json'), 'utf8')) as { receipts: SampleReceipt[] }).receipts;
const bytesOf = (r: SampleReceipt) => readFileSync(join(SAMPLES, r.file));
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const byFormat = (f: SampleReceipt['format']) => receipts.find((r) => r.format === f)!;
/** The built-ins pdf.js's polyfills replaced for the whole process (see src/ai/keep-natives.ts). */
const natives = { stringify: JSON.stringify, parse: JSON.parse, push: Array.prototype.push };

describe('query:ai.ocr.v1', () => {
  let dir: string;
  let core: Core;
  const ocr = (payload: Record<string, unknown>) => core.execute('query:ai.ocr.v1', payload) as Promise<OcrResult>;

  beforeAll(async () => {
    dir = makeTempDir('sd-ocr-');
    core = await Core.create(loadOptions({ overrides: { dataDir: dir }, env: {} }), { logger: silentLogger() });
  });
  afterAll(async () => {
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('has every format among the samples', () => {
    expect(new Set(receipts.map((r) => r.format))).toEqual(new Set(['pdf-text', 'pdf-scanned', 'png', 'jpeg']));
  });

  for (const r of receipts) {
    it(`reads the merchant and total of ${r.file} (${r.format})`, async () => {
      const out = await ocr({ data: b64(bytesOf(r)) });
      expect(out.mime_type).toBe(r.mime_type);
      expect(out.text).toContain(r.merchant);
      expect(out.text).toContain(`TOTAL ${r.currency}`);
      expect(out.text).toContain(r.total.toFixed(2));
      expect(out.pages).toHaveLength(1);
      expect(out.pages[0]!.source).toBe(r.format === 'pdf-text' ? 'text-layer' : 'ocr');
      if (r.format === 'pdf-text') expect(out.confidence).toBe(1);
      else expect(out.confidence).toBeGreaterThan(0.6);
      expect(out.confidence).toBeLessThanOrEqual(1);
    });
  }

  it('keeps one warm worker for every call', async () => {
    const { counts } = (await core.execute('query:core.status.v1', {})) as { counts: Record<string, number> };
    expect(counts.ai_ocr_workers).toBe(1);
    expect(counts.ai_ocr_recognitions).toBeGreaterThanOrEqual(4);
  });

  it('reads a mixed PDF page by page: text layer where there is one, OCR where the page is a scan', async () => {
    const pdf = await PDFDocument.create();
    const font = await pdf.embedFont(StandardFonts.Helvetica);
    pdf.addPage([300, 200]).drawText('Cover letter for the expense report', { x: 20, y: 150, size: 11, font });
    const png = await pdf.embedPng(bytesOf(byFormat('png')));
    const scanned = pdf.addPage([png.width * 0.5, png.height * 0.5]);
    scanned.drawImage(png, { x: 0, y: 0, width: png.width * 0.5, height: png.height * 0.5 });
    const data = b64(await pdf.save());

    const all = await ocr({ data, mime_type: 'application/pdf' });
    expect(all.pages.map((p) => [p.page, p.source])).toEqual([[1, 'text-layer'], [2, 'ocr']]);
    expect(all.pages[0]!.text).toBe('Cover letter for the expense report');
    expect(all.pages[1]!.text).toContain(byFormat('png').merchant);
    expect(all.text).toContain('Cover letter');
    expect(all.text).toContain(byFormat('png').merchant);

    const only1 = await ocr({ data, pages: [1] });
    expect(only1.pages.map((p) => p.page)).toEqual([1]);

    await expect(ocr({ data, pages: [3] })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('the PDF has 2 pages') });
  });

  it("leaves the runtime's built-ins as they were once it has read PDFs", async () => {
    const text = await ocr({ data: b64(bytesOf(byFormat('pdf-text'))), mime_type: 'application/pdf' });
    expect(text.pages[0]!.source).toBe('text-layer');
    expect({ stringify: JSON.stringify, parse: JSON.parse, push: Array.prototype.push }).toEqual(natives);
    expect(Function.prototype.toString.call(JSON.stringify)).toContain('[native code]');
    // What pdf.js added for itself stays.
    expect(typeof (Promise as { withResolvers?: unknown }).withResolvers).toBe('function');
  });

  it('OCRs a rendered text-layer page when asked to (force_ocr)', async () => {
    const r = byFormat('pdf-text');
    const out = await ocr({ data: b64(bytesOf(r)), force_ocr: true });
    expect(out.pages[0]!.source).toBe('ocr');
    expect(out.text).toContain(r.merchant);
    expect(out.text).toContain(r.total.toFixed(2));
  });

  it('refuses corrupt, truncated, mislabelled and unknown input with INVALID_INPUT and keeps working', async () => {
    const png = bytesOf(byFormat('png'));
    const jpeg = bytesOf(byFormat('jpeg'));
    const pdf = bytesOf(byFormat('pdf-text'));
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['truncated PNG', { data: b64(png.subarray(0, 2000)) }, /could not be decoded/],
      ['truncated JPEG', { data: b64(jpeg.subarray(0, 4000)) }, /could not be decoded/],
      ['PNG signature then garbage', { data: b64(Buffer.concat([png.subarray(0, 8), Buffer.from('not really an image at all')])) }, /could not be decoded/],
      ['truncated PDF', { data: b64(pdf.subarray(0, 300)) }, /PDF could not be read/],
      ['PDF header then garbage', { data: b64(Buffer.from('%PDF-1.7\nthis is not a pdf body\n')) }, /PDF could not be read/],
      ['plain text', { data: b64(Buffer.from('hello, I am a text file')) }, /not a PNG, JPEG or PDF/],
      ['not base64', { data: 'this is *not* base64!!' }, /not valid base64/],
      ['mislabelled', { data: b64(png), mime_type: 'application/pdf' }, /^the data is not a PDF: it is a PNG image$/],
      // Said in words and without hex: what someone who passed the wrong file needs to see.
      ['a text file given as a PDF', { data: b64(Buffer.from('hi\n')), mime_type: 'application/pdf' }, /^the data is not a PDF \(it starts with the text "hi\\n"\)$/],
      ['page 2 of an image', { data: b64(png), pages: [2] }, /one page/],
      ['unknown language', { data: b64(png), language: 'deu' }, /language/],
    ];
    for (const [name, payload, message] of cases) {
      const err = await ocr(payload).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, name).toMatchObject({ code: 'INVALID_INPUT' });
      expect((err as Error).message, name).toMatch(message);
    }
    // The worker that saw the bad images still reads good ones.
    const again = await ocr({ data: b64(jpeg) });
    expect(again.text).toContain(byFormat('jpeg').merchant);
  });

  it('queues concurrent calls on the one warm worker', async () => {
    const r = byFormat('jpeg');
    const outs = await Promise.all([1, 2, 3].map(() => ocr({ data: b64(bytesOf(r)) })));
    for (const out of outs) expect(out.text).toContain(r.total.toFixed(2));
    const { counts } = (await core.execute('query:core.status.v1', {})) as { counts: Record<string, number> };
    expect(counts.ai_ocr_workers).toBe(1);
    expect(counts.ai_ocr_queued).toBe(0);
  });

  it('sniffs the type from the leading bytes', () => {
    expect(sniffMimeType(bytesOf(byFormat('png')))).toBe('image/png');
    expect(sniffMimeType(bytesOf(byFormat('jpeg')))).toBe('image/jpeg');
    expect(sniffMimeType(bytesOf(byFormat('pdf-scanned')))).toBe('application/pdf');
    expect(sniffMimeType(Buffer.from('GIF89a'))).toBeUndefined();
  });
});

describe('OCR limits', () => {
  let dir: string;
  let core: Core;
  beforeAll(async () => {
    dir = makeTempDir('sd-ocr-lim-');
    const ai = { provider: null, ocr: { workers: 1, maxQueue: 4, maxInputBytes: 50_000, maxPages: 1, maxImagePixels: 100_000, pageTimeoutMs: 60_000 } };
    core = await Core.create(loadOptions({ overrides: { dataDir: dir, ai }, env: {} }), { logger: silentLogger() });
  });
  afterAll(async () => {
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses input over the size limit, images over the pixel limit and PDFs over the page limit', async () => {
    const big = Buffer.alloc(60_000, 1);
    await expect(core.execute('query:ai.ocr.v1', { data: b64(big) })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringMatching(/limit is 50000 bytes \(ai\.ocr\.maxInputBytes\)/),
    });
    const pngBig = (await import('@napi-rs/canvas')).createCanvas(400, 400).toBuffer('image/png');
    await expect(core.execute('query:ai.ocr.v1', { data: b64(pngBig) })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringMatching(/400×400 .* megapixels/),
    });
    const pdf = await PDFDocument.create();
    pdf.addPage([100, 100]);
    pdf.addPage([100, 100]);
    await expect(core.execute('query:ai.ocr.v1', { data: b64(await pdf.save()) })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringMatching(/2 pages to read; the limit is 1 .*pass 'pages'/),
    });
    // Nothing above needed a worker: limits are checked before OCR starts.
    const { counts } = (await core.execute('query:core.status.v1', {})) as { counts: Record<string, number> };
    expect(counts.ai_ocr_workers).toBe(0);
  });
});

describe('OCR worker trouble', () => {
  let dir: string;
  let core: Core;
  beforeAll(async () => {
    dir = makeTempDir('sd-ocr-slow-');
    // A page timeout no recognition can meet, and no room to queue.
    const ai = { provider: null, ocr: { workers: 1, maxQueue: 0, maxInputBytes: 1 << 24, maxPages: 5, maxImagePixels: 50_000_000, pageTimeoutMs: 5 } };
    core = await Core.create(loadOptions({ overrides: { dataDir: dir, ai }, env: {} }), { logger: silentLogger() });
  });
  afterAll(async () => {
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('abandons a recognition that overruns the page timeout, replaces the worker, and refuses calls beyond the queue', async () => {
    const data = b64(bytesOf(byFormat('png')));
    const status = async () => ((await core.execute('query:core.status.v1', {})) as { counts: Record<string, number> }).counts;
    const firstCall = core.execute('query:ai.ocr.v1', { data });
    // Decoding the header is asynchronous, so the second call is made only once the first holds
    // the one worker; made together, either could be first to reach the pool.
    await waitFor(async () => (await status()).ai_ocr_busy === 1, 'the first call to hold the OCR worker');
    const [first, second] = await Promise.allSettled([firstCall, core.execute('query:ai.ocr.v1', { data })]);
    expect(first).toMatchObject({ status: 'rejected', reason: { code: 'TIMEOUT', message: expect.stringContaining('longer than 5 ms') } });
    expect(second).toMatchObject({ status: 'rejected', reason: { code: 'OVERLOADED', message: expect.stringContaining('OCR queue is full') } });
    const { counts } = (await core.execute('query:core.status.v1', {})) as { counts: Record<string, number> };
    expect(counts.ai_ocr_workers).toBe(1);
    expect(counts.ai_ocr_busy).toBe(0);
    expect(counts.ai_ocr_failures).toBe(1);
  });
});
