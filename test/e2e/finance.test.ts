/**
 * The finance extension through the CLI binary against a real daemon: every sample receipt
 * (text PDFs, scanned PDFs, PNG, JPEG) classified with the right merchant, date, total and
 * currency; receipt text; bad input; import_receipts creating one entry per email however often
 * it is called; another extension (expenses) calling finance:classify_receipt; and refinement by
 * a text model (a real HTTP server speaking the OpenAI API) when one is configured. Each runs
 * against both finance extensions: AssemblyScript (`finance`) and Rust (`finance-rs`).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { startOpenAiServer, type OpenAiTestServer } from '../helpers/openai-server.js';
import { FINANCE_EXTENSIONS, SAMPLES, cliError, cliJson, financialEntries, installExtensions, receiptsFor, sampleMessages, sampleReceipts } from './finance-helpers.js';

const flagFor = (mime: string) => (mime === 'application/pdf' ? '--pdf' : '--image');

for (const ext of FINANCE_EXTENSIONS) {
describe(`${ext} extension: classify, import, call from another extension`, { timeout: 120_000 }, () => {
  let d: TestDaemon;

  beforeAll(async () => {
    d = await startTestDaemon();
    await installExtensions(d, ext === 'finance' ? ['finance', 'expenses'] : [ext]);
  });

  afterAll(async () => {
    await d?.stop();
  });

  for (const r of receiptsFor(ext)) {
    it(`classifies ${r.file} (${r.format}) with the right total, merchant, date and currency`, async () => {
      const out = await cliJson(d, ['query', `${ext}:classify_receipt`, flagFor(r.mime_type), join(SAMPLES, 'receipts', r.file)]);
      expect(out.total).toBe(r.total);
      expect(out.merchant).toBe(r.merchant);
      expect(out.date).toBe(r.date);
      expect(out.currency).toBe(r.currency);
      expect(out.source).toBe('parser');
      expect(out.confidence).toBeGreaterThan(0.5);
      expect(out.confidence).toBeLessThanOrEqual(1);
      // Line items: as many as printed, adding up to the amounts on the receipt.
      expect(out.items).toHaveLength(r.items.length);
      out.items.forEach((item: any, i: number) => {
        expect(item.amount).toBe(r.items[i]!.amount);
        expect(item.quantity).toBe(r.items[i]!.quantity);
        expect(item.unit_price).toBe(r.items[i]!.unit_price);
      });
    });
  }

  it('classifies through --data with the type sniffed, and returns the text read with include_text', async () => {
    const r = sampleReceipts.find((x) => x.format === 'png')!;
    const out = await cliJson(d, ['query', `${ext}:classify_receipt`, '--data', join(SAMPLES, 'receipts', r.file), '--include-text']);
    expect(out.total).toBe(r.total);
    expect(out.text).toContain(r.merchant);
  });

  it('classifies receipt text (a mail body) without OCR, and refuses text that is not a receipt as having no total', async () => {
    const body = 'Lakeside Taxi\n400 Shore Drive, Chicago IL\nDate: 2025-03-21  Time: 23:14\n1 x Fare 11.4 mi      31.40\n1 x Tip   6.00\nSubtotal  37.40\nTOTAL USD 37.40\n';
    const out = await cliJson(d, ['query', `${ext}:classify_receipt`, '--text', body]);
    expect(out).toMatchObject({ merchant: 'Lakeside Taxi', date: '2025-03-21', total: 37.4, currency: 'USD', source: 'parser' });
    expect(out.items).toEqual([
      { description: 'Fare 11.4 mi', quantity: 1, unit_price: 31.4, amount: 31.4 },
      { description: 'Tip', quantity: 1, unit_price: 6, amount: 6 },
    ]);
    const none = await cliJson(d, ['query', `${ext}:classify_receipt`, '--text', 'Hi Alex,\nAre we still on for lunch on Friday?\nSam']);
    expect(none.total).toBeNull();
    expect(none.confidence).toBeLessThan(0.5);
  });

  it('parses European and symbol-only amounts and other date forms', async () => {
    const out = await cliJson(d, ['query', `${ext}:classify_receipt`, '--text', 'Café Central\n14.03.2025\n2 x Melange 9,80\nGesamt € 1.234,56\n']);
    expect(out).toMatchObject({ merchant: 'Café Central', date: '2025-03-14', total: 1234.56, currency: 'EUR' });
    const us = await cliJson(d, ['query', `${ext}:classify_receipt`, '--text', 'Corner Deli\nMar 7, 2025\nAmount due $12.50']);
    expect(us).toMatchObject({ merchant: 'Corner Deli', date: '2025-03-07', total: 12.5, currency: 'USD' });
  });

  it('gives typed errors for bad input: no receipt, two receipts, bytes that are no document', async () => {
    const none = await d.cli(['--json', 'query', `${ext}:classify_receipt`]);
    expect(none.code).toBe(1);
    expect(cliError(none).code).toBe('INVALID_INPUT');
    expect(cliError(none).message).toContain("exactly one of 'pdf', 'image', 'data'");

    const pdf = join(SAMPLES, 'receipts', sampleReceipts[0]!.file);
    const two = await d.cli(['--json', 'query', `${ext}:classify_receipt`, '--pdf', pdf, '--text', 'TOTAL 1.00']);
    expect(two.code).toBe(1);
    expect(cliError(two).code).toBe('INVALID_INPUT');

    const junk = join(d.dataDir, 'junk.pdf');
    writeFileSync(junk, 'this is not a PDF at all');
    const bad = await d.cli(['--json', 'query', `${ext}:classify_receipt`, '--pdf', junk]);
    expect(bad.code).toBe(1);
    const err = cliError(bad);
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.message).toContain('could not read the receipt');

    const notBase64 = await d.cli(['--json', 'query', `${ext}:classify_receipt`, '--json-input', '{"pdf":"%%%"}']);
    expect(notBase64.code).not.toBe(0);
  });

  it('imports emails as FinancialDocument entries with a receipt sidecar, once however often it is called', async () => {
    const lib = await cliJson(d, ['library', 'create', 'import-twice']);
    const attachmentMsg = sampleMessages.find((m) => m.receipts[0]?.source === 'attachment')!;
    const receipt = sampleReceipts.find((r) => r.id === attachmentMsg.receipts[0]!.id)!;
    const bodyMsg = sampleMessages.find((m) => m.receipts[0]?.source === 'body')!;
    const plainMsg = sampleMessages.find((m) => m.receipts.length === 0)!;
    const raw = (m: { file: string }) => readFileSync(join(SAMPLES, 'mail', m.file)).toString('base64');
    const bodyText = readFileSync(join(SAMPLES, 'mail', bodyMsg.file), 'utf8').replace(/\r\n/g, '\n');
    const input = {
      library_id: lib.id,
      account: 'manual',
      emails: [
        {
          id: attachmentMsg.message_id,
          subject: attachmentMsg.subject,
          raw: raw(attachmentMsg),
          attachments: [{ filename: receipt.file, content_type: receipt.mime_type, data: readFileSync(join(SAMPLES, 'receipts', receipt.file)).toString('base64') }],
        },
        { id: bodyMsg.message_id, subject: bodyMsg.subject, text: bodyText.slice(bodyText.indexOf('Lakeside Taxi\n400'), bodyText.indexOf('--=_sample_body_receipt\nContent-Type: text/html')) },
        { id: plainMsg.message_id, subject: plainMsg.subject, text: 'Hi Alex, are we still on for lunch on Friday?' },
        { id: 'given-1', subject: 'Already classified', receipt: { merchant: 'Given Shop', date: '2025-01-02', total: 5.5, currency: 'USD', items: [] } },
      ],
    };
    const inputFile = join(d.dataDir, 'import.json');
    writeFileSync(inputFile, JSON.stringify(input));

    const first = await cliJson(d, ['action', `${ext}:import_receipts`, '--input', inputFile]);
    expect(first.imported_ids).toHaveLength(3);
    expect(first.skipped_ids).toEqual([plainMsg.message_id]);
    expect(first.results.map((r: any) => r.status)).toEqual(['imported', 'imported', 'no_receipt', 'imported']);
    expect(first.results[0]).toMatchObject({ merchant: receipt.merchant, total: receipt.total, currency: receipt.currency });
    expect(first.results[1]).toMatchObject({ merchant: 'Lakeside Taxi', total: 37.4 });

    const second = await cliJson(d, ['action', `${ext}:import_receipts`, '--input', inputFile]);
    expect(second.imported_ids).toEqual([]);
    expect(second.results.map((r: any) => r.status)).toEqual(['already_imported', 'already_imported', 'no_receipt', 'already_imported']);
    expect(second.results[0].entry_id).toBe(first.results[0].entry_id);

    const entries = await financialEntries(d, lib.id);
    expect(entries).toHaveLength(3);
    const e = entries.find((x) => x.id === first.results[0].entry_id)!;
    expect(e.name).toBe(`Receipt: ${attachmentMsg.subject}`);
    expect(e.path).toBe(`receipts/${attachmentMsg.message_id.slice(1, -1)}.eml`);
    expect(e.metadata).toMatchObject({ merchant: receipt.merchant, total: receipt.total, currency: receipt.currency, date: receipt.date, account: 'manual' });
    expect(e.size).toBe(readFileSync(join(SAMPLES, 'mail', attachmentMsg.file)).length);
    const given = entries.find((x) => x.path === 'receipts/given-1.eml')!;
    expect(given.metadata).toMatchObject({ merchant: 'Given Shop', total: 5.5 });
    const sidecar = await cliJson(d, ['query', 'vdfs.read_sidecar', '--entry-id', e.id, '--kind', 'finance.receipt', '--library-id', lib.id]);
    expect(sidecar.json).toMatchObject({ merchant: receipt.merchant, total: receipt.total, date: receipt.date });
    expect(sidecar.json.items).toHaveLength(receipt.items.length);
  });

  it('ids that are not safe in a path are made safe, and stay distinct from each other', async () => {
    const lib = await cliJson(d, ['library', 'create', 'odd-ids']);
    const receipt = { merchant: 'X', date: '2025-01-01', total: 1, currency: 'USD', items: [] };
    const out = await cliJson(d, [
      'action', `${ext}:import_receipts`, '--json-input',
      JSON.stringify({ library_id: lib.id, emails: [{ id: '<../../etc/passwd>', subject: 'a', receipt }, { id: '<a b@c>', subject: 'b', receipt }] }),
    ]);
    expect(out.imported_ids).toHaveLength(2);
    const paths = (await financialEntries(d, lib.id)).map((e) => e.path).sort();
    expect(paths).toEqual(['receipts/_._.._etc_passwd.eml', 'receipts/a_b@c.eml']);
  });

  it('--library: the import lands in the library named, or is refused when the action takes none — never in another', async () => {
    const lib = await cliJson(d, ['library', 'create', `${ext}-flag`]);
    const receipt = { merchant: 'Flag Shop', date: '2025-01-03', total: 2.5, currency: 'USD', items: [] };
    const input = JSON.stringify({ emails: [{ id: `<flag-${ext}@x>`, subject: 'flag', receipt }] });
    const r = await d.cli(['--json', 'action', `${ext}:import_receipts`, '--library', lib.id, '--json-input', input]);
    const info = await cliJson(d, ['extensions', 'info', ext]);
    const scoped = info.operations.find((o: { method: string }) => o.method === `action:${ext}:import_receipts.input.v1`).library_scoped;
    if (scoped) {
      expect(r.code, r.stderr).toBe(0);
      expect((await financialEntries(d, lib.id)).map((e) => e.path)).toEqual([`receipts/flag-${ext}@x.eml`]);
    } else {
      expect(r.code).toBe(1);
      expect(cliError(r)).toMatchObject({ code: 'INVALID_INPUT' });
      expect(cliError(r).message).toContain('does not take a library');
      expect(await financialEntries(d, lib.id)).toEqual([]);
    }
    expect((await financialEntries(d)).map((e) => e.path)).not.toContain(`receipts/flag-${ext}@x.eml`);
    // finance-rs registers it library-scoped.
    if (ext === 'finance-rs') expect(scoped).toBe(true);
  });

  // expenses calls the AssemblyScript finance extension.
  it.skipIf(ext !== 'finance')('another extension calls finance:classify_receipt (expenses:total sums receipts per currency)', async () => {
    const files = sampleReceipts.map((r) => join(SAMPLES, 'receipts', r.file));
    const args = ['query', 'expenses:total'];
    for (const f of files) args.push('--receipts', f);
    const out = await cliJson(d, args);
    const expected = new Map<string, { total: number; count: number }>();
    for (const r of receiptsFor(ext)) {
      const t = expected.get(r.currency) ?? { total: 0, count: 0 };
      expected.set(r.currency, { total: Math.round((t.total + r.total) * 100) / 100, count: t.count + 1 });
    }
    expect(out.unread).toBe(0);
    expect(out.totals).toHaveLength(expected.size);
    for (const t of out.totals) expect({ total: t.total, count: t.count }, t.currency).toEqual(expected.get(t.currency));
    expect(out.receipts.map((r: any) => r.merchant)).toEqual(sampleReceipts.map((r) => r.merchant));
  });

  it.skipIf(ext !== 'finance')('expenses may not call anything but finance queries (its manifest grants query:finance: only)', async () => {
    const info = await cliJson(d, ['extensions', 'info', 'expenses']);
    expect(info.permissions.call).toEqual(['query:finance:']);
  });
});
}

for (const ext of FINANCE_EXTENSIONS) {
describe(`${ext} extension with a text model configured`, { timeout: 120_000 }, () => {
  let d: TestDaemon;
  let server: OpenAiTestServer;

  beforeAll(async () => {
    server = await startOpenAiServer();
    d = await startTestDaemon({
      setup: (dir) => writeFileSync(join(dir, 'config.json'), JSON.stringify({ ai: { provider: { base_url: server.baseUrl, model: 'test-chat' } } })),
    });
    await installExtensions(d, [ext]);
  });

  afterAll(async () => {
    await d?.stop();
    await server?.close();
  });

  it('refines the parse with classify_text and a JSON Schema; source "model"', async () => {
    const r = sampleReceipts.find((x) => x.format === 'pdf-text')!;
    const out = await cliJson(d, ['query', `${ext}:classify_receipt`, '--pdf', join(SAMPLES, 'receipts', r.file)]);
    expect(out.source).toBe('model');
    expect(out.model).toBe('test-chat');
    expect(out.total).toBe(r.total);
    expect(out.merchant).toBe(r.merchant);
    expect(out.currency).toBe(r.currency);
    expect(out.confidence).toBeGreaterThan(0.9);
    const chat = server.requests.filter((q) => q.path === '/v1/chat/completions');
    expect(chat.length).toBeGreaterThan(0);
    const format = chat.at(-1)!.body.response_format;
    expect(JSON.stringify(format)).toContain('"total"');
  });

  it('keeps the parser result when use_model is false', async () => {
    const r = sampleReceipts[0]!;
    const before = server.requests.length;
    const out = await cliJson(d, ['query', `${ext}:classify_receipt`, '--pdf', join(SAMPLES, 'receipts', r.file), '--use-model', 'false']);
    expect(out.source).toBe('parser');
    expect(out.total).toBe(r.total);
    expect(server.requests.length).toBe(before);
  });
});
}
