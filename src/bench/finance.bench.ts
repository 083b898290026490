/**
 * Bench section `finance`: the finance extension (build/extensions/finance) in-process.
 *  - finance:classify_receipt on receipt text (no OCR): the cost of the call into the sandbox
 *    plus the parser in WebAssembly;
 *  - on a text PDF (text layer), a PNG photo and a scanned PDF (Tesseract OCR in the host);
 *  - finance:email_scan of the sample Maildir (11 messages, 7 receipts, one checkpoint per
 *    message) into a fresh library each time: messages per second end to end.
 * Check: the parser's share of a text-PDF classification is small (text-only p50 ≤ 0.5 × the
 * text-PDF p50), so the time goes to reading the document, not to the extension.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadOptions } from '../config/index.js';
import { Core } from '../core/index.js';
import { silentLogger } from '../logging/index.js';
import { check, measure, type BenchSection, type Measurement } from './harness.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RECEIPTS = join(ROOT, 'samples', 'receipts');
const PACKAGE = join(ROOT, 'build', 'extensions', 'finance');
const CLASSIFY = 'query:finance:classify_receipt.v1';

const TEXT_RECEIPT = [
  'Blue Bottle Coffee',
  '66 Mint Street, San Francisco CA',
  'Date: 2025-03-14 Time: 08:42',
  '2 x Cappuccino 9.00',
  '1 x Croissant 3.75',
  '1 x Cold Brew Beans 340g 19.00',
  'Subtotal 31.75',
  'Tax 8.625% 2.74',
  'TOTAL USD 34.49',
].join('\n');

const b64 = (file: string) => readFileSync(join(RECEIPTS, file)).toString('base64');

export async function run(): Promise<BenchSection> {
  const dir = mkdtempSync(join(tmpdir(), 'sd-bench-finance-'));
  const core = await Core.create(loadOptions({ overrides: { dataDir: join(dir, 'data') }, env: {} }), { logger: silentLogger() });
  const rows: Measurement[] = [];
  try {
    await core.execute('action:extensions.install.input.v1', { path: PACKAGE, enabled: true });
    const text = await measure('classify_receipt: receipt text (parser only, no OCR)', () => core.execute(CLASSIFY, { text: TEXT_RECEIPT, use_model: false }), { ops: 300, warmup: 20 });
    rows.push(text);
    const pdf = b64('blue-bottle-2025-03-14.pdf');
    const textPdf = await measure('classify_receipt: text PDF (text layer)', () => core.execute(CLASSIFY, { pdf, use_model: false }), { ops: 20, warmup: 2 });
    rows.push(textPdf);
    const png = b64('green-grocer-2025-01-27.png');
    rows.push(await measure('classify_receipt: PNG photo (OCR)', () => core.execute(CLASSIFY, { image: png, use_model: false }), { ops: 5, warmup: 1 }));
    const scanned = b64('hardware-haven-2025-02-03.pdf');
    rows.push(await measure('classify_receipt: scanned PDF (render + OCR)', () => core.execute(CLASSIFY, { pdf: scanned, use_model: false }), { ops: 3, warmup: 1 }));

    await core.execute('action:mail.add_account.input.v1', { name: 'bench', kind: 'maildir', path: join(ROOT, 'samples', 'mail', 'Maildir') });
    const messages = (JSON.parse(readFileSync(join(ROOT, 'samples', 'mail', 'index.json'), 'utf8')) as { messages: unknown[] }).messages.length;
    let n = 0;
    const scan = await measure(
      `email_scan: ${messages} sample messages into a fresh library (Maildir)`,
      async () => {
        const lib = (await core.execute('action:libraries.create.input.v1', { name: `bench-${n++}` })) as { id: string };
        const { job_id } = (await core.execute('action:jobs.dispatch.input.v1', {
          job_type: 'finance:email_scan',
          params: { provider: 'bench', library_id: lib.id, use_model: false },
        })) as { job_id: string };
        for (;;) {
          const s = (await core.execute('query:jobs.get_status.v1', { job_id })) as { status: string; error: unknown };
          if (s.status === 'completed') return;
          if (s.status === 'failed' || s.status === 'cancelled') throw new Error(`email_scan ${s.status}: ${JSON.stringify(s.error)}`);
          await new Promise((r) => setTimeout(r, 10));
        }
      },
      { ops: 3, warmup: 1, note: 'OCR dominates: 4 of the 7 receipts are scans or photos' },
    );
    rows.push({ ...scan, note: `${((messages * 1e6) / scan.p50Us).toFixed(1)} messages/s at p50; ${scan.note ?? ''}` });
    return {
      title: 'Finance extension: classify_receipt and email_scan (in-process, no text model)',
      rows,
      checks: [check('classify text-only p50 / text-PDF p50', text.p50Us / textPdf.p50Us, '<=', 0.5)],
    };
  } finally {
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
