/**
 * The sample receipts and mailbox in samples/ are what scripts/samples/generate.mjs writes:
 * regenerating gives the same bytes, the index agrees with the files, totals add up, and every
 * message in the Maildir carries what mail/index.json says it does.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { makeTempDir } from '../helpers/daemon.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const SAMPLES = join(ROOT, 'samples');

interface Item {
  description: string;
  quantity: number;
  unit_price: number;
  amount: number;
}
interface Receipt {
  id: string;
  file: string;
  format: string;
  mime_type: string;
  has_text_layer: boolean;
  sha256: string;
  merchant: string;
  date: string;
  currency: string;
  subtotal: number;
  tax: number;
  total: number;
  items: Item[];
}
interface Message {
  file: string;
  message_id: string;
  subject: string;
  receipts: Array<Partial<Receipt> & { id: string; source: 'attachment' | 'body'; attachment?: string }>;
}

const receipts = (JSON.parse(readFileSync(join(SAMPLES, 'receipts', 'index.json'), 'utf8')) as { receipts: Receipt[] }).receipts;
const messages = (JSON.parse(readFileSync(join(SAMPLES, 'mail', 'index.json'), 'utf8')) as { messages: Message[] }).messages;

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

/** Just enough MIME to check the samples: top-level parts of a multipart message, decoded. */
function parts(raw: string): Array<{ headers: string; body: Buffer }> {
  const [head, ...rest] = raw.split('\r\n\r\n');
  const body = rest.join('\r\n\r\n');
  const boundary = /boundary="([^"]+)"/.exec(head!)?.[1];
  if (!boundary) return [{ headers: head!, body: Buffer.from(body) }];
  return body
    .split(`--${boundary}`)
    .slice(1, -1)
    .map((p) => {
      const [h, ...b] = p.replace(/^\r\n/, '').split('\r\n\r\n');
      const content = b.join('\r\n\r\n').replace(/\r\n$/, '');
      return { headers: h!, body: /base64/i.test(h!) ? Buffer.from(content.replace(/\r\n/g, ''), 'base64') : Buffer.from(content) };
    });
}

describe('sample data', () => {
  const out = makeTempDir('sd-samples-');
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('is exactly what the generator writes (deterministic, and not stale)', async () => {
    const { generate } = (await import(join(ROOT, 'scripts', 'samples', 'generate.mjs'))) as { generate: (dir: string) => Promise<{ receipts: number; messages: number }> };
    const counts = await generate(out);
    expect(counts).toEqual({ receipts: receipts.length, messages: messages.length });
    const committed = listFiles(SAMPLES);
    expect(listFiles(out)).toEqual(committed);
    for (const f of committed) expect(readFileSync(join(out, f)).equals(readFileSync(join(SAMPLES, f))), f).toBe(true);
  });

  it('lists every receipt file with its hash, and totals that add up', () => {
    expect(new Set(receipts.map((r) => r.format))).toEqual(new Set(['pdf-text', 'pdf-scanned', 'png', 'jpeg']));
    for (const r of receipts) {
      const bytes = readFileSync(join(SAMPLES, 'receipts', r.file));
      expect(createHash('sha256').update(bytes).digest('hex'), r.file).toBe(r.sha256);
      const cents = (n: number) => Math.round(n * 100);
      for (const it of r.items) expect(cents(it.amount)).toBe(it.quantity * cents(it.unit_price));
      expect(r.items.reduce((s, it) => s + cents(it.amount), 0)).toBe(cents(r.subtotal));
      expect(cents(r.subtotal) + cents(r.tax)).toBe(cents(r.total));
      expect(r.date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      expect(r.currency).toMatch(/^[A-Z]{3}$/);
      const isPdf = r.mime_type === 'application/pdf';
      expect(bytes.subarray(0, 5).toString('latin1') === '%PDF-').toBe(isPdf);
      // A scanned PDF is an image and no font (so no text layer); a text PDF uses Helvetica.
      if (r.format === 'pdf-scanned') {
        expect(bytes.toString('latin1')).toMatch(/\/Subtype \/Image/);
        expect(bytes.toString('latin1')).not.toMatch(/\/BaseFont/);
      }
      if (r.format === 'pdf-text') expect(bytes.toString('latin1')).toMatch(/\/BaseFont \/Helvetica/);
    }
  });

  it('has a Maildir whose messages carry the receipts index.json says they do', () => {
    const maildir = join(SAMPLES, 'mail', 'Maildir');
    expect(readdirSync(maildir).sort()).toEqual(['cur', 'new', 'tmp']);
    const onDisk = ['cur', 'new'].flatMap((d) => readdirSync(join(maildir, d)).filter((f) => !f.startsWith('.')).map((f) => `Maildir/${d}/${f}`));
    expect(onDisk.sort()).toEqual(messages.map((m) => m.file).sort());

    const withAttachment = messages.flatMap((m) => m.receipts.filter((r) => r.source === 'attachment').map((r) => r.id));
    expect(new Set(withAttachment)).toEqual(new Set(receipts.map((r) => r.id)));
    expect(messages.filter((m) => m.receipts.some((r) => r.source === 'body'))).toHaveLength(1);
    expect(messages.filter((m) => m.receipts.length === 0).length).toBeGreaterThanOrEqual(3);

    for (const m of messages) {
      const raw = readFileSync(join(SAMPLES, 'mail', m.file), 'latin1');
      expect(raw, m.file).not.toMatch(/[^\r]\n/);
      expect(raw).toContain(`Message-ID: ${m.message_id}\r\n`);
      expect(raw).toContain(`Subject: ${m.subject}\r\n`);
      const ps = parts(raw);
      for (const r of m.receipts) {
        if (r.source === 'attachment') {
          const part = ps.find((p) => p.headers.includes(`filename="${r.attachment}"`));
          expect(part, `${m.file} carries ${r.attachment}`).toBeDefined();
          expect(part!.body.equals(readFileSync(join(SAMPLES, 'receipts', r.attachment!)))).toBe(true);
        } else {
          const text = ps.find((p) => p.headers.includes('text/plain'))!.body.toString('utf8');
          const html = ps.find((p) => p.headers.includes('text/html'))!.body.toString('utf8');
          for (const body of [text, html]) {
            expect(body).toContain(r.merchant!);
            expect(body).toContain(`TOTAL ${r.currency}`);
            expect(body).toContain(r.total!.toFixed(2));
          }
        }
      }
    }
  });
});
