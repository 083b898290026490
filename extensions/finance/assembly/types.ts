/**
 * finance's types: what its operations and its job read and write. They are also its schemas:
 * the SDK derives each class's JSON Schema (`@describe` and `@schema` add what a type cannot say)
 * and registers it, so the host validates exactly what these classes parse, and `spacedrive types
 * generate` types the methods for clients.
 */
import { JSON } from "json-as";

// ---------------------------------------------------------------- classify_receipt

/** Input of `query:finance:classify_receipt.v1`: exactly one of pdf, image, data or text. */
@json
export class ClassifyInput {
  @describe("A PDF receipt (text or scanned); a file path from the CLI")
  @schema('{"type":"string","contentEncoding":"base64","minLength":1}')
  pdf: string | null = null;

  @describe("A PNG or JPEG photo or scan of a receipt; a file path from the CLI")
  @schema('{"type":"string","contentEncoding":"base64","minLength":1}')
  image: string | null = null;

  @describe("A receipt in any supported format (PDF, PNG, JPEG); the type is sniffed unless mime_type is given")
  @schema('{"type":"string","contentEncoding":"base64","minLength":1}')
  data: string | null = null;

  @describe("Receipt text (e.g. a mail body): parsed without OCR")
  @schema('{"type":"string","minLength":1,"maxLength":1000000}')
  text: string | null = null;

  @describe("Type of data (default: sniffed)")
  @schema('{"type":"string","enum":["application/pdf","image/png","image/jpeg"]}')
  mime_type: string | null = null;

  @describe("Also return the text that was read")
  @schema('{"default":false}')
  include_text: bool = false;

  @describe("Refine with the configured text model, when there is one")
  @schema('{"default":true}')
  use_model: bool = true;
}

/** One line of a receipt. */
@json
@schema('{"additionalProperties":true}')
export class LineItemOutput {
  description: string = "";
  quantity: f64 = 1;
  unit_price: JSON.Box<f64> | null = null;
  amount: JSON.Box<f64> | null = null;
}

/** Output of classify_receipt, and the `finance.receipt` sidecar of an imported email. */
@json
@schema('{"required":["merchant","date","total","currency","items","confidence","source"],"additionalProperties":true}')
export class ReceiptOutput {
  merchant: string | null = null;
  @describe("YYYY-MM-DD")
  date: string | null = null;
  total: JSON.Box<f64> | null = null;
  @describe("ISO 4217")
  currency: string | null = null;
  items: LineItemOutput[] = [];
  @omitnull
  subtotal: JSON.Box<f64> | null = null;
  @omitnull
  tax: JSON.Box<f64> | null = null;
  @schema('{"minimum":0,"maximum":1}')
  confidence: f64 = 0;
  @schema('{"type":"string","enum":["parser","model"]}')
  source: string = "parser";
  @omitnull
  model: string | null = null;
  @omitnull
  text: string | null = null;
}

/** One line item as the text model answers it. */
@json
export class ModelLineItem {
  description: string = "";
  quantity: f64 = 1;
  unit_price: f64 = 0;
  amount: f64 = 0;
}

/** The text model's answer (its schema is given to the model and checked by the host). */
@json
export class ModelReceipt {
  @describe("Store or company name")
  merchant: string = "";
  @describe("Purchase date, YYYY-MM-DD")
  date: string = "";
  @describe("Amount paid, tax included")
  total: f64 = 0;
  @describe("ISO 4217 code, e.g. USD")
  currency: string = "";
  items: ModelLineItem[] = [];
}

// ---------------------------------------------------------------- import_receipts

@json
export class AttachmentInput {
  @optional
  filename: string = "";
  @optional
  content_type: string = "";
  @schema('{"type":"string","contentEncoding":"base64","minLength":1}')
  data: string = "";
}

/** An email given in full (id, subject, …) or by reference (uid, with the input's account). */
@json
@schema('{"anyOf":[{"required":["id","subject"]},{"required":["uid"]}]}')
export class EmailInput {
  @describe("Message-ID or UID: the entry is receipts/<id>.eml")
  @schema('{"minLength":1,"maxLength":998}')
  @optional
  id: string = "";

  @describe("A message of the account by UID: fetched from it (needs account)")
  @schema('{"minimum":1,"maximum":4294967295}')
  @optional
  uid: i64 = 0;

  @schema('{"maxLength":998}')
  @optional
  subject: string = "";

  @optional
  from: string = "";

  @optional
  date: string = "";

  @describe("The RFC 822 message, stored as the entry content")
  @schema('{"type":"string","contentEncoding":"base64","minLength":1}')
  raw: string | null = null;

  @describe("Body text, parsed when no attachment holds a receipt")
  @optional
  text: string = "";

  @describe("An already classified receipt (classify_receipt output)")
  @schema('{"type":"object","required":["total"]}')
  receipt: JSON.Raw | null = null;

  @optional
  attachments: AttachmentInput[] = [];
}

/** Input of `action:finance:import_receipts.input.v1`. */
@json
export class ImportInput {
  @describe("Mail account the emails came from (recorded in the metadata; emails given by uid are fetched from it)")
  @schema('{"minLength":1}')
  @optional
  account: string = "";

  @describe("Library to import into (default: the call's library)")
  @schema('{"minLength":1}')
  @optional
  library_id: string = "";

  @describe("Refine classification with the configured text model")
  @schema('{"default":true}')
  use_model: bool = true;

  @describe("Emails given in full (id, subject, …) or by reference (uid, with account)")
  @schema('{"minItems":1,"maxItems":100}')
  emails: EmailInput[] = [];
}

/** What became of one email. */
@json
export class ImportResult {
  id: string = "";
  @schema('{"type":"string","enum":["imported","already_imported","no_receipt"]}')
  status: string = "";
  @omitnull
  entry_id: string | null = null;
  @omitnull
  merchant: string | null = null;
  @omitnull
  total: JSON.Box<f64> | null = null;
  @omitnull
  currency: string | null = null;
  @omitnull
  warnings: string[] | null = null;
}

/** Output of import_receipts. */
@json
export class ImportOutput {
  @describe("Entries created (or completed) by this call")
  imported_ids: string[] = [];
  @describe("Emails not imported: already imported, or no receipt found")
  skipped_ids: string[] = [];
  results: ImportResult[] = [];
}

// ---------------------------------------------------------------- email_scan

/** Params of job `finance:email_scan`. */
@json
export class ScanParams {
  @describe("Mail account to scan (its name in spacedrive mail add-account)")
  @schema('{"minLength":1,"maxLength":128}')
  provider: string = "";

  @describe("Messages fetched per request")
  @schema('{"minimum":1,"maximum":100,"default":10}')
  batch_size: i32 = 10;

  @describe("Start from the first message instead of where the last scan ended")
  @schema('{"default":false}')
  rescan: bool = false;

  @describe("Refine classification with the configured text model")
  @schema('{"default":true}')
  use_model: bool = true;

  @describe("Library to import into (default: the job's library)")
  @schema('{"minLength":1}')
  @optional
  library_id: string = "";
}

/** The scan's checkpoint, reported after every message. */
@json
export class ScanState {
  last_uid: i64 = 0;
  processed: i64 = 0;
  imported: i64 = 0;
  already_imported: i64 = 0;
  uidvalidity: i64 = 0;
}

/** The scan's output. */
@json
export class ScanOutput {
  processed: i64 = 0;
  imported: i64 = 0;
  already_imported: i64 = 0;
  last_uid: i64 = 0;
  account: string = "";
}

/** Metadata of the `FinanceMailCursor` entry: where the last scan of an account ended. */
@json
export class CursorMetadata {
  account: string = "";
  last_uid: i64 = 0;
  uidvalidity: i64 = 0;
}

// ---------------------------------------------------------------- query:mail.fetch_since.v1

@json
export class FetchSince {
  account: string = "";
  last_uid: i64 = 0;
  limit: i32 = 10;
  /** The host's default: the first message always comes, whatever its size. */
  max_bytes: i64 = 8 * 1024 * 1024;
  include_raw: bool = true;
}

@json
export class MailAttachment {
  filename: string = "";
  content_type: string = "";
  size: i64 = 0;
  inline: bool = false;
  data: string = "";
}

@json
export class MailMessage {
  uid: i64 = 0;
  message_id: string = "";
  subject: string = "";
  from: string = "";
  to: string = "";
  date: string = "";
  size: i64 = 0;
  text: string = "";
  html: string | null = null;
  attachments: MailAttachment[] = [];
  raw: string | null = null;
  parse_error: string | null = null;
}

@json
export class FetchSinceResult {
  account: string = "";
  mailbox: string = "";
  messages: MailMessage[] = [];
  uidvalidity: i64 = 0;
  highest_uid: i64 = 0;
  available: i64 = 0;
  has_more: bool = false;
}
