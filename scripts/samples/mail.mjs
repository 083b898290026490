// The sample mailbox: RFC 822 messages (CRLF line ends, MIME multipart, base64 attachments),
// some carrying the sample receipts as attachments, one with a receipt only in its body, and a
// few that are not receipts at all. Filenames start with increasing Unix times so that a
// Maildir reader (dovecot sorts new files by that time) assigns UIDs in the order listed here.

/** A receipt that exists only as the text and HTML body of an email. */
export const BODY_ONLY_RECEIPT = {
  id: 'lakeside-taxi-2025-03-21',
  format: 'email-body',
  merchant: 'Lakeside Taxi',
  address: '400 Shore Drive, Chicago IL',
  date: '2025-03-21',
  time: '23:14',
  number: 'LT-7720',
  currency: 'USD',
  tax_rate: 0,
  payment: 'VISA **** 4242',
  items: [
    { description: 'Fare 11.4 mi', quantity: 1, unit_cents: 3140 },
    { description: 'Tip', quantity: 1, unit_cents: 600 },
  ],
};

const CRLF = '\r\n';
const TO = 'Alex Doe <alex@example.test>';
const BASE_TIME = Date.UTC(2025, 6, 1, 9, 0, 0) / 1000;

const wrap76 = (b64) => b64.replace(/.{1,76}/g, (m) => m + CRLF).trimEnd();
const b64 = (buf) => wrap76(Buffer.from(buf).toString('base64'));
const rfc2822 = (sec) => new Date(sec * 1000).toUTCString().replace('GMT', '+0000');

function headers(h) {
  return Object.entries(h)
    .map(([k, v]) => `${k}: ${v}`)
    .join(CRLF);
}

function textPart(body, type = 'text/plain') {
  return [`Content-Type: ${type}; charset=utf-8`, 'Content-Transfer-Encoding: 8bit', '', body.replace(/\r?\n/g, CRLF)].join(CRLF);
}

function attachmentPart(filename, mime, bytes) {
  return [
    `Content-Type: ${mime}; name="${filename}"`,
    `Content-Disposition: attachment; filename="${filename}"`,
    'Content-Transfer-Encoding: base64',
    '',
    b64(bytes),
  ].join(CRLF);
}

function multipart(subtype, boundary, parts) {
  return {
    contentType: `multipart/${subtype}; boundary="${boundary}"`,
    body: parts.map((p) => `--${boundary}${CRLF}${p}`).join(CRLF) + `${CRLF}--${boundary}--`,
  };
}

function htmlTable(spec, { money, totals }) {
  const t = totals(spec);
  const rows = t.lines
    .map((l) => `<tr><td>${l.quantity} x ${l.description}</td><td align="right">${money(l.amount_cents)}</td></tr>`)
    .join('');
  return [
    '<html><body>',
    `<h2>${spec.merchant}</h2><p>${spec.address}<br>Date: ${spec.date} Time: ${spec.time}<br>Receipt: ${spec.number}</p>`,
    `<table>${rows}<tr><td>Subtotal</td><td align="right">${money(t.subtotal)}</td></tr>`,
    `<tr><td><b>TOTAL ${spec.currency}</b></td><td align="right"><b>${money(t.total)}</b></td></tr></table>`,
    `<p>Paid by ${spec.payment}</p></body></html>`,
  ].join('\n');
}

/**
 * Builds every message. `bytesById` maps a receipt id to its file (name, bytes, MIME type).
 * Returns [{ folder, filename, raw, messageId, subject, from, date, receipts }].
 */
export function buildMessages(ctx) {
  const { bytesById, receiptText, expected } = ctx;
  const out = [];
  let n = 0;
  const add = ({ from, subject, folder = 'cur', content, receipts }) => {
    n += 1;
    const time = BASE_TIME + n * 3600;
    const messageId = `<sample-${String(n).padStart(2, '0')}@samples.spacedrive.test>`;
    const head = headers({
      'Return-Path': `<${from.replace(/.*<|>.*/g, '')}>`,
      From: from,
      To: TO,
      Subject: subject,
      Date: rfc2822(time),
      'Message-ID': messageId,
      'MIME-Version': '1.0',
      'Content-Type': content.contentType,
    });
    const raw = Buffer.from(head + CRLF + CRLF + content.body + CRLF, 'utf8');
    // Maildir name: <time>.<unique>.<host>, plus ":2,<flags>" once a reader has seen it (cur/).
    const base = `${time}.M${n}P4242.samples`;
    const filename = folder === 'cur' ? `${base},S=${raw.length}:2,S` : `${base},S=${raw.length}`;
    out.push({ folder, filename, raw, messageId, subject, from, date: new Date(time * 1000).toISOString(), receipts });
  };

  const withAttachment = (id, from, subject, note, folder) => {
    const f = bytesById.get(id);
    const spec = ctx.receipts.find((r) => r.id === id);
    add({
      from,
      subject,
      folder,
      content: multipart('mixed', `=_sample_${id}`, [textPart(note), attachmentPart(f.file, f.mime_type, f.bytes)]),
      receipts: [{ id, source: 'attachment', attachment: f.file, mime_type: f.mime_type, ...expected(spec) }],
    });
  };
  const plain = (from, subject, text, folder) => add({ from, subject, folder, content: { contentType: 'text/plain; charset=utf-8', body: text.replace(/\r?\n/g, CRLF) }, receipts: [] });

  withAttachment('blue-bottle-2025-03-14', 'Blue Bottle Coffee <receipts@bluebottle.example>', 'Your Blue Bottle Coffee receipt', 'Thanks for stopping by! Your receipt is attached.');
  plain('The Weekly Byte <news@weeklybyte.example>', 'This week: Rust 2025 edition, WebAssembly components', 'Hello Alex,\n\nThis week we look at the Rust 2025 edition and the WebAssembly component model.\n\nUnsubscribe: reply STOP.');
  withAttachment('hardware-haven-2025-02-03', 'Hardware Haven <store@hardwarehaven.example>', 'Receipt HH-55821 (scanned copy)', 'Here is the scanned copy of your receipt, as requested at the till.');
  withAttachment('green-grocer-2025-01-27', 'Green Grocer Market <hello@greengrocer.example>', 'Your e-receipt from Green Grocer Market', 'Your e-receipt is attached as an image.');
  plain('Sam Rivera <sam@example.test>', 'Lunch on Friday?', 'Hi Alex,\n\nAre we still on for lunch on Friday? The new place on 5th opens at noon.\n\nSam');
  {
    const spec = BODY_ONLY_RECEIPT;
    add({
      from: 'Lakeside Taxi <rides@lakesidetaxi.example>',
      subject: 'Your ride receipt LT-7720',
      content: multipart('alternative', '=_sample_body_receipt', [textPart(receiptText(spec)), textPart(htmlTable(spec, ctx), 'text/html')]),
      receipts: [{ id: spec.id, source: 'body', ...expected(spec) }],
    });
  }
  withAttachment('bistro-lumiere-2025-04-02', 'Bistro Lumiere <addition@bistrolumiere.example>', 'Votre addition - Bistro Lumiere', 'Merci! Your bill is attached (photo).');
  add({
    from: 'Dana Kim <dana@example.test>',
    subject: 'Team meeting moved to Thursday',
    content: multipart('mixed', '=_sample_ics', [
      textPart('Hi all,\n\nThe team meeting moves to Thursday at 10:00. Invitation attached.\n\nDana'),
      attachmentPart(
        'invite.ics',
        'text/calendar',
        Buffer.from(['BEGIN:VCALENDAR', 'VERSION:2.0', 'BEGIN:VEVENT', 'SUMMARY:Team meeting', 'DTSTART:20250710T100000Z', 'END:VEVENT', 'END:VCALENDAR', ''].join(CRLF)),
      ),
    ]),
    receipts: [],
  });
  withAttachment('northwind-books-2025-05-19', 'Northwind Books <orders@northwindbooks.example>', 'Northwind Books - receipt NB-88310', 'Thank you for your purchase. Your receipt is attached as a PDF.');
  plain('Parcel Express <noreply@parcelexpress.example>', 'Your parcel is on its way', 'Good news! Your parcel 7781-2290 left our depot and arrives tomorrow between 9:00 and 13:00.', 'new');
  withAttachment('pacific-fuel-2025-06-08', 'Pacific Fuel Stop <receipts@pacificfuel.example>', 'Fuel receipt PF-20931', 'Scanned receipt attached.', 'new');
  return out;
}
