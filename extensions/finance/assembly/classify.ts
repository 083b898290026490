/**
 * Classifying a receipt: text from the host's OCR (`query:ai.ocr.v1`, which reads a PDF's text
 * layer or recognises a scan or photo), parsed here (receipt.ts), then — when the daemon has a
 * text model configured — refined by `query:ai.classify_text.v1` with a JSON Schema, so the
 * model's answer has the receipt's shape. Without a model (AI_PROVIDER_NOT_CONFIGURED) the
 * parser's result stands; a model that fails or answers without a total does not replace it.
 */
import { CallError, ai, callRaw, log, quote } from "spacedrive-sdk";
import { fieldsOf, num, rawElements, str } from "./json";
import { LineItem, Receipt, parseReceipt, round2 } from "./receipt";

const OCR = "query:ai.ocr.v1";

/** The JSON Schema the model's answer must follow. */
export const MODEL_SCHEMA =
  '{"type":"object","required":["merchant","date","total","currency","items"],"additionalProperties":false,"properties":{' +
  '"merchant":{"type":"string","description":"Store or company name"},' +
  '"date":{"type":"string","description":"Purchase date, YYYY-MM-DD"},' +
  '"total":{"type":"number","description":"Amount paid, tax included"},' +
  '"currency":{"type":"string","description":"ISO 4217 code, e.g. USD"},' +
  '"items":{"type":"array","items":{"type":"object","required":["description","quantity","unit_price","amount"],"properties":{' +
  '"description":{"type":"string"},"quantity":{"type":"number"},"unit_price":{"type":"number"},"amount":{"type":"number"}}}}}}';

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
 * OCRs a document whose bytes are given as a raw JSON string (base64, as received: it is passed
 * on without being decoded). `mimeType` may be "" to let the host sniff the format.
 *
 * A raw call rather than `ai().ocr(bytes)`: a scanned receipt is megabytes of base64 that would
 * otherwise be decoded into guest memory only to be encoded again for the host.
 */
export function ocr(dataJson: string, mimeType: string): OcrText {
  let payload = '{"data":' + dataJson;
  if (mimeType.length > 0) payload += ',"mime_type":' + quote(mimeType);
  payload += "}";
  const out = new OcrText();
  const r = callRaw(OCR, payload);
  if (!r.ok) {
    out.error = r.error;
    return out;
  }
  const f = fieldsOf(r.value);
  out.text = str(f, "text");
  const c = num(f, "confidence");
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
  const result = fieldsOf(r.value.resultJson);
  const total = num(result, "total");
  if (isNaN(total) || total <= 0) {
    log.warn("finance: the text model answered without a total; keeping the parser's result");
    return parsed;
  }
  const refined = new Receipt();
  refined.source = "model";
  refined.model = r.value.model;
  refined.total = round2(total);
  refined.merchant = str(result, "merchant");
  if (refined.merchant.length == 0) refined.merchant = parsed.merchant;
  const date = str(result, "date");
  refined.date = date.length == 10 && date.charCodeAt(4) == 0x2d ? date : parsed.date;
  const currency = str(result, "currency").trim().toUpperCase();
  refined.currency = currency.length == 3 ? currency : parsed.currency;
  refined.subtotal = parsed.subtotal;
  refined.tax = parsed.tax;
  const items = rawElements(result.get("items"));
  for (let i = 0; i < items.length; i++) {
    const f = fieldsOf(items[i]);
    const item = new LineItem();
    item.description = str(f, "description");
    const q = num(f, "quantity");
    item.quantity = isNaN(q) || q <= 0 ? 1 : q;
    item.amount = num(f, "amount");
    const unit = num(f, "unit_price");
    item.unitPrice = isNaN(unit) && !isNaN(item.amount) ? round2(item.amount / item.quantity) : unit;
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
