#!/usr/bin/env node
// Generates the sample receipts and the sample mailbox, deterministically (same bytes on every
// run: fixed dates, seeded noise, a font shipped inside an npm package rather than the system's).
//
//   node scripts/samples/generate.mjs [outDir]      (default: samples/ at the repo root)
//
// Writes:
//   <outDir>/receipts/<id>.{pdf,png,jpg}   text PDFs, scanned PDFs (an image, no text layer), PNG, JPEG
//   <outDir>/receipts/index.json           each file with its expected merchant, date, currency, total, items
//   <outDir>/mail/Maildir/{cur,new,tmp}    RFC 822 messages carrying the receipts, plus non-receipts
//   <outDir>/mail/index.json               each message with its subject and the receipts it carries
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCanvas, GlobalFonts } from '@napi-rs/canvas';
import { PDFDocument, StandardFonts, rgb } from 'pdf-lib';
import { RECEIPTS, expected, receiptLines, receiptText, money, totals } from './receipts.mjs';
import { buildMessages } from './mail.mjs';

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));

// Liberation Sans ships with pdfjs-dist; using it instead of whatever the system has keeps the
// images identical on every machine.
const FONT = 'SampleReceiptSans';
GlobalFonts.registerFromPath(require.resolve('pdfjs-dist/standard_fonts/LiberationSans-Regular.ttf'), FONT);
GlobalFonts.registerFromPath(require.resolve('pdfjs-dist/standard_fonts/LiberationSans-Bold.ttf'), FONT);

/** A fixed instant for PDF metadata, so files do not change between runs. */
const FIXED_DATE = new Date('2025-07-01T00:00:00Z');

/** mulberry32: a tiny seeded PRNG, enough for reproducible speckle noise. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const seedOf = (text) => createHash('sha256').update(text).digest().readUInt32LE(0);

/** Draws a receipt onto a canvas at `scale` (1 = 22 px body text). */
function drawReceipt(spec, { scale = 1, rotateDegrees = 0, noise = 0 } = {}) {
  const lines = receiptLines(spec);
  const width = Math.round(620 * scale);
  const lineHeight = 34 * scale;
  const margin = 36 * scale;
  const height = Math.round(margin * 2 + lineHeight * (lines.length + 1));
  const canvas = createCanvas(width, height);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, width, height);
  if (rotateDegrees) {
    ctx.translate(width / 2, height / 2);
    ctx.rotate((rotateDegrees * Math.PI) / 180);
    ctx.translate(-width / 2, -height / 2);
  }
  ctx.fillStyle = '#111111';
  ctx.strokeStyle = '#111111';
  ctx.textBaseline = 'alphabetic';
  let y = margin + lineHeight;
  for (const line of lines) {
    if (line.style === 'rule') {
      ctx.lineWidth = 2 * scale;
      ctx.beginPath();
      ctx.moveTo(margin, y - lineHeight / 3);
      ctx.lineTo(width - margin, y - lineHeight / 3);
      ctx.stroke();
    } else {
      const size = line.style === 'title' ? 30 : 22;
      const weight = line.style === 'title' || line.style === 'bold' ? 'bold ' : '';
      ctx.font = `${weight}${size * scale}px ${FONT}`;
      ctx.textAlign = 'left';
      ctx.fillText(line.left, margin, y);
      if (line.right) {
        ctx.textAlign = 'right';
        ctx.fillText(line.right, width - margin, y);
      }
    }
    y += lineHeight;
  }
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  if (noise > 0) {
    // Speckles like a cheap scanner's: dark dots on the paper, a few light dots in the ink.
    const rand = prng(seedOf(spec.id));
    const img = ctx.getImageData(0, 0, width, height);
    for (let i = 0; i < img.data.length; i += 4) {
      const r = rand();
      if (r < noise) img.data[i] = img.data[i + 1] = img.data[i + 2] = 60 + Math.floor(rand() * 80);
      else if (r < noise * 1.5) img.data[i] = img.data[i + 1] = img.data[i + 2] = 200;
    }
    ctx.putImageData(img, 0, 0);
  }
  return canvas;
}

async function newPdf(spec) {
  const pdf = await PDFDocument.create({ updateMetadata: false });
  pdf.setTitle(`Receipt ${spec.number} - ${spec.merchant}`);
  pdf.setProducer('spacedrive sample generator');
  pdf.setCreationDate(FIXED_DATE);
  pdf.setModificationDate(FIXED_DATE);
  return pdf;
}

/** A PDF with a real text layer: the receipt set in Helvetica. */
async function textPdf(spec) {
  const pdf = await newPdf(spec);
  const regular = await pdf.embedFont(StandardFonts.Helvetica);
  const bold = await pdf.embedFont(StandardFonts.HelveticaBold);
  const lines = receiptLines(spec);
  const width = 300;
  const lineHeight = 16;
  const margin = 24;
  const height = margin * 2 + lineHeight * (lines.length + 1);
  const page = pdf.addPage([width, height]);
  let y = height - margin - lineHeight;
  for (const line of lines) {
    if (line.style === 'rule') {
      page.drawLine({ start: { x: margin, y: y + 5 }, end: { x: width - margin, y: y + 5 }, thickness: 0.8, color: rgb(0, 0, 0) });
    } else {
      const font = line.style ? bold : regular;
      const size = line.style === 'title' ? 14 : 10;
      page.drawText(line.left, { x: margin, y, size, font });
      if (line.right) page.drawText(line.right, { x: width - margin - font.widthOfTextAtSize(line.right, size), y, size, font });
    }
    y -= lineHeight;
  }
  return pdf.save({ useObjectStreams: false });
}

/** A "scanned" PDF: one page holding only a slightly rotated, speckled image of the receipt. */
async function scannedPdf(spec) {
  const canvas = drawReceipt(spec, { scale: 2, rotateDegrees: spec.rotate_degrees ?? 0, noise: spec.noise ?? 0 });
  const pdf = await newPdf(spec);
  const jpg = await pdf.embedJpg(canvas.toBuffer('image/jpeg', 85));
  // 200 dpi: the image's pixels mapped onto points (1/72 inch).
  const w = (canvas.width * 72) / 200;
  const h = (canvas.height * 72) / 200;
  const page = pdf.addPage([w, h]);
  page.drawImage(jpg, { x: 0, y: 0, width: w, height: h });
  return pdf.save({ useObjectStreams: false });
}

const EXTENSIONS = { 'pdf-text': 'pdf', 'pdf-scanned': 'pdf', png: 'png', jpeg: 'jpg' };
const MIME = { 'pdf-text': 'application/pdf', 'pdf-scanned': 'application/pdf', png: 'image/png', jpeg: 'image/jpeg' };

export async function render(spec) {
  switch (spec.format) {
    case 'pdf-text':
      return Buffer.from(await textPdf(spec));
    case 'pdf-scanned':
      return Buffer.from(await scannedPdf(spec));
    case 'png':
      return drawReceipt(spec, { scale: 1.5 }).toBuffer('image/png');
    case 'jpeg':
      return drawReceipt(spec, { scale: 1.5 }).toBuffer('image/jpeg', 90);
    default:
      throw new Error(`unknown format ${spec.format}`);
  }
}

export async function generate(outDir) {
  const receiptsDir = join(outDir, 'receipts');
  const mailDir = join(outDir, 'mail');
  rmSync(receiptsDir, { recursive: true, force: true });
  rmSync(mailDir, { recursive: true, force: true });
  mkdirSync(receiptsDir, { recursive: true });

  const files = [];
  const bytesById = new Map();
  for (const spec of RECEIPTS) {
    const bytes = await render(spec);
    const file = `${spec.id}.${EXTENSIONS[spec.format]}`;
    writeFileSync(join(receiptsDir, file), bytes);
    bytesById.set(spec.id, { file, bytes, mime_type: MIME[spec.format] });
    files.push({
      id: spec.id,
      file,
      format: spec.format,
      mime_type: MIME[spec.format],
      has_text_layer: spec.format === 'pdf-text',
      sha256: createHash('sha256').update(bytes).digest('hex'),
      ...expected(spec),
    });
  }
  writeFileSync(join(receiptsDir, 'index.json'), JSON.stringify({ version: 1, receipts: files }, null, 2) + '\n');

  const messages = buildMessages({ receipts: RECEIPTS, bytesById, receiptText, expected, money, totals });
  for (const sub of ['cur', 'new', 'tmp']) {
    mkdirSync(join(mailDir, 'Maildir', sub), { recursive: true });
    // Maildir readers skip dot-files; the marker only keeps the empty folder in git.
    writeFileSync(join(mailDir, 'Maildir', sub, '.keep'), '');
  }
  const listed = [];
  for (const m of messages) {
    writeFileSync(join(mailDir, 'Maildir', m.folder, m.filename), m.raw);
    listed.push({ file: `Maildir/${m.folder}/${m.filename}`, message_id: m.messageId, subject: m.subject, from: m.from, date: m.date, receipts: m.receipts });
  }
  writeFileSync(join(mailDir, 'index.json'), JSON.stringify({ version: 1, messages: listed }, null, 2) + '\n');
  return { receipts: files.length, messages: messages.length };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outDir = resolve(process.argv[2] ?? join(here, '..', '..', 'samples'));
  const counts = await generate(outDir);
  console.log(`wrote ${counts.receipts} receipts and ${counts.messages} messages to ${outDir}`);
}
