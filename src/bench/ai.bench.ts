/**
 * Bench section `ai`: query:ai.ocr.v1 in-process on the sample receipts.
 *  - cold: the first call on a fresh core, which starts the Tesseract worker;
 *  - warm: the same PNG again on the warm worker (what every later call pays);
 *  - a text-layer PDF (no OCR) and a scanned PDF (render + OCR);
 *  - three calls at once on one worker (queued, not one worker each).
 * Checks: a warm call ≤ 0.5 × the cold one (the point of keeping the worker warm); a text-layer
 * PDF ≤ 0.2 × a scanned one (a page with text must skip OCR).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadOptions } from '../config/index.js';
import { Core } from '../core/index.js';
import { silentLogger } from '../logging/index.js';
import { check, measure, type BenchSection, type Measurement } from './harness.js';

const SAMPLES = fileURLToPath(new URL('../../samples/receipts/', import.meta.url));

export async function run(): Promise<BenchSection> {
  const index = JSON.parse(readFileSync(join(SAMPLES, 'index.json'), 'utf8')) as { receipts: Array<{ file: string; format: string }> };
  const sample = (format: string) => readFileSync(join(SAMPLES, index.receipts.find((r) => r.format === format)!.file)).toString('base64');
  const png = sample('png');
  const textPdf = sample('pdf-text');
  const scannedPdf = sample('pdf-scanned');

  const dir = mkdtempSync(join(tmpdir(), 'sd-bench-ai-'));
  const core = await Core.create(loadOptions({ overrides: { dataDir: dir }, env: {} }), { logger: silentLogger() });
  const ocr = (data: string) => core.execute('query:ai.ocr.v1', { data });
  const rows: Measurement[] = [];
  try {
    const cold = await measure('ocr PNG, cold (starts the worker)', () => ocr(png), { ops: 1, warmup: 0 });
    rows.push(cold);
    const warm = await measure('ocr PNG, warm worker', () => ocr(png), { ops: 10, warmup: 1 });
    rows.push(warm);
    rows.push(await measure('ocr JPEG, warm worker', () => ocr(sample('jpeg')), { ops: 5, warmup: 1 }));
    const text = await measure('ocr PDF with a text layer (no OCR)', () => ocr(textPdf), { ops: 50, warmup: 5 });
    rows.push(text);
    const scanned = await measure('ocr scanned PDF (render + OCR)', () => ocr(scannedPdf), { ops: 5, warmup: 1 });
    rows.push(scanned);
    rows.push(await measure('ocr PNG, 3 in flight on 1 worker', () => ocr(png), { ops: 9, concurrency: 3, warmup: 0 }));
    return {
      title: 'AI: offline OCR (tesseract.js, 1 warm worker)',
      rows,
      checks: [
        check('warm PNG p50 / cold PNG', warm.p50Us / cold.p50Us, '<=', 0.5),
        check('text-layer PDF p50 / scanned PDF p50', text.p50Us / scanned.p50Us, '<=', 0.2),
      ],
    };
  } finally {
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
