/**
 * Classifying a receipt: text from the host's OCR (`ai().ocrBase64`, which reads a PDF's text
 * layer or recognises a scan or photo), parsed here (receipt.ts), then — when the daemon has a
 * text model configured — refined by `ai().classifyText` with the schema of `ModelReceipt`, so
 * the model's answer has the receipt's shape (the host checks it). Without a model
 * (AI_PROVIDER_NOT_CONFIGURED) the parser's result stands; a model that fails or answers without
 * a total does not replace it.
 */
import { CallError, OcrOptions, ai, log, schemaOf } from "spacedrive-sdk";
import { ModelReceipt } from "./types";
import { LineItem, Receipt, parseReceipt, round2 } from "./receipt";

/** The JSON Schema the model's answer must follow: the class the answer is read into. */
const MODEL_SCHEMA = schemaOf<ModelReceipt>();

const MODEL_PROMPT =
  "Extract the receipt data from this text: the merchant's name, the purchase date (YYYY-MM-DD), " +
  "the total paid (tax included), its currency as an ISO 4217 code, and the line items.";

/** Text of a document, from the host's OCR. */
export class OcrText {
  text: string = "";
  confidence: f64 = 1;
  error: CallError | null = null;
}

/**
 * OCRs a document given as base64 (as received: passed on without being decoded). `mimeType`
 * may be "" to let the host sniff the format.
 */
export function ocr(base64: string, mimeType: string): OcrText {
  let opts: OcrOptions | null = null;
  if (mimeType.length > 0) {
    opts = new OcrOptions();
    opts.mimeType = mimeType;
  }
  const out = new OcrText();
  const r = ai().ocrBase64(base64, opts);
  if (!r.ok) {
    out.error = r.error;
    return out;
  }
  out.text = r.value.text;
  const c = r.value.confidence;
  out.confidence = isNaN(c) ? 1 : c;
  return out;
}

/** Whether a text model refines results; the first AI_PROVIDER_NOT_CONFIGURED turns it off for this instance. */
let modelAvailable = true;

/** Parses `text` and, when a model is configured, refines the result with it. */
export function classifyText(text: string, ocrConfidence: f64, useModel: bool): Receipt {
  const parsed = parseReceipt(text, ocrConfidence);
  if (!useModel || !modelAvailable || text.trim().length == 0) return parsed;
  const r = ai().classifyText(text, MODEL_PROMPT, MODEL_SCHEMA);
  if (!r.ok) {
    const code = r.error!.code;
    if (code == "AI_PROVIDER_NOT_CONFIGURED") {
      // Asked again by a later instance or after a restart, so configuring a model needs no reload.
      modelAvailable = false;
    } else {
      log.warn("finance: the text model could not refine a receipt (" + code + ": " + r.error!.message + "); keeping the parser's result");
    }
    return parsed;
  }
  const answer = r.value.resultAs<ModelReceipt>();
  if (isNaN(answer.total) || answer.total <= 0) {
    log.warn("finance: the text model answered without a total; keeping the parser's result");
    return parsed;
  }
  const refined = new Receipt();
  refined.source = "model";
  refined.model = r.value.model;
  refined.total = round2(answer.total);
  refined.merchant = answer.merchant.length > 0 ? answer.merchant : parsed.merchant;
  const date = answer.date;
  refined.date = date.length == 10 && date.charCodeAt(4) == 0x2d ? date : parsed.date;
  const currency = answer.currency.trim().toUpperCase();
  refined.currency = currency.length == 3 ? currency : parsed.currency;
  refined.subtotal = parsed.subtotal;
  refined.tax = parsed.tax;
  for (let i = 0; i < answer.items.length; i++) {
    const given = answer.items[i];
    const item = new LineItem();
    item.description = given.description;
    item.quantity = isNaN(given.quantity) || given.quantity <= 0 ? 1 : given.quantity;
    item.amount = given.amount;
    item.unitPrice = isNaN(given.unit_price) && !isNaN(item.amount) ? round2(item.amount / item.quantity) : given.unit_price;
    if (item.description.length > 0 && !isNaN(item.amount)) refined.items.push(item);
  }
  if (refined.items.length == 0) refined.items = parsed.items;
  // The model read the same text: agreement with the parser on the total is the strongest
  // signal we have; disagreement keeps the model's answer but says it is less certain.
  const agrees = parsed.found && Math.abs(parsed.total - refined.total) < 0.005;
  const ocrFactor = 0.5 + 0.5 * Math.max(0.0, Math.min(1.0, ocrConfidence));
  refined.confidence = (agrees ? 0.98 : 0.75) * ocrFactor;
  return refined;
}

/** The MIME type of an attachment worth OCRing (PDF, PNG, JPEG), from its type or name; "" otherwise. */
export function receiptMimeType(contentType: string, filename: string): string {
  const t = contentType.toLowerCase();
  const n = filename.toLowerCase();
  if (t == "application/pdf" || n.endsWith(".pdf")) return "application/pdf";
  if (t == "image/png" || n.endsWith(".png")) return "image/png";
  if (t == "image/jpeg" || t == "image/jpg" || n.endsWith(".jpg") || n.endsWith(".jpeg")) return "image/jpeg";
  return "";
}
