/**
 * finance: the design's complete example extension.
 *
 * - `query:finance:classify_receipt.v1`  a receipt (PDF, image, or text) → merchant, date,
 *   total, currency, line items, confidence. OCR by the host, parsing here (receipt.ts), refined
 *   by a text model when the daemon has one (classify.ts).
 * - `action:finance:import_receipts.input.v1`  emails → `FinancialDocument` entries
 *   `Receipt: <subject>` at `receipts/<id>.eml` with a `finance.receipt` sidecar; idempotent.
 * - job `finance:email_scan`  resumable scan of a mail account (scan.ts).
 */
import { ExtensionContext, JobContext, JobOptions, OperationOptions, quote } from "spacedrive-sdk";
import { fieldsOf, has, rawElements, str } from "./json";
import { classifyText, ocr } from "./classify";
import { Email, fetchByUid, importEmail, logWarnings } from "./importer";
import { runEmailScan } from "./scan";

export { sd_abi_version, sd_alloc, sd_free } from "spacedrive-sdk";

const BASE64 = '"type":"string","contentEncoding":"base64","minLength":1';

const CLASSIFY_INPUT =
  '{"type":"object","additionalProperties":false,"properties":{' +
  '"pdf":{' + BASE64 + ',"description":"A PDF receipt (text or scanned); a file path from the CLI"},' +
  '"image":{' + BASE64 + ',"description":"A PNG or JPEG photo or scan of a receipt; a file path from the CLI"},' +
  '"data":{' + BASE64 + ',"description":"A receipt in any supported format (PDF, PNG, JPEG); the type is sniffed unless mime_type is given"},' +
  '"text":{"type":"string","minLength":1,"maxLength":1000000,"description":"Receipt text (e.g. a mail body): parsed without OCR"},' +
  '"mime_type":{"enum":["application/pdf","image/png","image/jpeg"],"description":"Type of data (default: sniffed)"},' +
  '"include_text":{"type":"boolean","default":false,"description":"Also return the text that was read"},' +
  '"use_model":{"type":"boolean","default":true,"description":"Refine with the configured text model, when there is one"}}}';

const ITEM_SCHEMA =
  '{"type":"object","required":["description","quantity","unit_price","amount"],"properties":{' +
  '"description":{"type":"string"},"quantity":{"type":"number"},"unit_price":{"type":["number","null"]},"amount":{"type":["number","null"]}}}';

const RECEIPT_SCHEMA =
  '{"type":"object","required":["merchant","date","total","currency","items","confidence","source"],"properties":{' +
  '"merchant":{"type":["string","null"]},"date":{"type":["string","null"],"description":"YYYY-MM-DD"},' +
  '"total":{"type":["number","null"]},"currency":{"type":["string","null"],"description":"ISO 4217"},' +
  '"items":{"type":"array","items":' + ITEM_SCHEMA + '},"subtotal":{"type":"number"},"tax":{"type":"number"},' +
  '"confidence":{"type":"number","minimum":0,"maximum":1},"source":{"enum":["parser","model"]},' +
  '"model":{"type":"string"},"text":{"type":"string"}}}';

const IMPORT_INPUT =
  '{"type":"object","additionalProperties":false,"required":["emails"],"properties":{' +
  '"account":{"type":"string","minLength":1,"description":"Mail account the emails came from (recorded in the metadata; emails given by uid are fetched from it)"},' +
  '"library_id":{"type":"string","minLength":1,"description":"Library to import into (default: the default library)"},' +
  '"use_model":{"type":"boolean","default":true,"description":"Refine classification with the configured text model"},' +
  '"emails":{"type":"array","minItems":1,"maxItems":100,"description":"Emails given in full (id, subject, …) or by reference (uid, with account)",' +
  '"items":{"type":"object","additionalProperties":false,"anyOf":[{"required":["id","subject"]},{"required":["uid"]}],"properties":{' +
  '"id":{"type":"string","minLength":1,"maxLength":998,"description":"Message-ID or UID: the entry is receipts/<id>.eml"},' +
  '"uid":{"type":"integer","minimum":1,"maximum":4294967295,"description":"A message of the account by UID: fetched from it (needs account)"},' +
  '"subject":{"type":"string","maxLength":998},"from":{"type":"string"},"date":{"type":"string"},' +
  '"raw":{' + BASE64 + ',"description":"The RFC 822 message, stored as the entry content"},' +
  '"text":{"type":"string","description":"Body text, parsed when no attachment holds a receipt"},' +
  '"receipt":{"type":"object","required":["total"],"description":"An already classified receipt (classify_receipt output)"},' +
  '"attachments":{"type":"array","items":{"type":"object","required":["data"],"properties":{' +
  '"filename":{"type":"string"},"content_type":{"type":"string"},"data":{' + BASE64 + '}}}}}}}}}';

const IMPORT_OUTPUT =
  '{"type":"object","required":["imported_ids","skipped_ids","results"],"properties":{' +
  '"imported_ids":{"type":"array","items":{"type":"string"},"description":"Entries created (or completed) by this call"},' +
  '"skipped_ids":{"type":"array","items":{"type":"string"},"description":"Emails not imported: already imported, or no receipt found"},' +
  '"results":{"type":"array","items":{"type":"object","required":["id","status"],"properties":{' +
  '"id":{"type":"string"},"status":{"enum":["imported","already_imported","no_receipt"]},"entry_id":{"type":"string"},' +
  '"merchant":{"type":["string","null"]},"total":{"type":["number","null"]},"currency":{"type":["string","null"]},"warnings":{"type":"array","items":{"type":"string"}}}}}}}';

const SCAN_PARAMS =
  '{"type":"object","additionalProperties":false,"required":["provider"],"properties":{' +
  '"provider":{"type":"string","minLength":1,"maxLength":128,"description":"Mail account to scan (its name in spacedrive mail add-account)"},' +
  '"batch_size":{"type":"integer","minimum":1,"maximum":100,"default":10,"description":"Messages fetched per request"},' +
  '"rescan":{"type":"boolean","default":false,"description":"Start from the first message instead of where the last scan ended"},' +
  '"use_model":{"type":"boolean","default":true,"description":"Refine classification with the configured text model"},' +
  '"library_id":{"type":"string","minLength":1,"description":"Library to import into (default: the default library)"}}}';

export function plugin_init(): i32 {
  const ctx = new ExtensionContext();
  ctx.registerQuery(
    "classify_receipt",
    "classify_receipt_handler",
    new OperationOptions("Reads a receipt (PDF, image or text) and returns merchant, date, total, currency and line items", CLASSIFY_INPUT, RECEIPT_SCHEMA),
  );
  ctx.registerAction(
    "import_receipts",
    "import_receipts_handler",
    new OperationOptions("Imports emails carrying receipts as FinancialDocument entries with a finance.receipt sidecar (once per email)", IMPORT_INPUT, IMPORT_OUTPUT),
  );
  ctx.registerJob(
    "email_scan",
    "execute_email_scan",
    true,
    new JobOptions("Scans a mail account for receipts and imports them; resumes after the last message reported", SCAN_PARAMS),
  );
  return ctx.initStatus();
}

/** `query:finance:classify_receipt.v1` */
export function classify_receipt_handler(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const input = fieldsOf(ctx.readInputString());
  const given = new Array<string>();
  const sources: string[] = ["pdf", "image", "data", "text"];
  for (let i = 0; i < sources.length; i++) if (has(input, sources[i])) given.push(sources[i]);
  if (given.length != 1) {
    return ctx.fail(
      "invalid input: give exactly one of 'pdf', 'image', 'data' (base64 bytes; file paths from the CLI) or 'text'" +
        (given.length == 0 ? "" : " (got " + given.join(", ") + ")"),
      "INVALID_INPUT",
    );
  }
  const useModel = input.getOr("use_model", "true") != "false";
  const includeText = input.getOr("include_text", "false") == "true";
  let text = "";
  let confidence = 1.0;
  if (given[0] == "text") {
    text = str(input, "text");
  } else {
    let mime = str(input, "mime_type");
    if (given[0] == "pdf") mime = "application/pdf";
    const read = ocr(input.get(given[0])!, mime);
    if (read.error !== null) return ctx.fail("could not read the receipt: " + read.error!.message, read.error!.code);
    text = read.text;
    confidence = read.confidence;
  }
  const receipt = classifyText(text, confidence, useModel);
  return ctx.writeOutputString(receipt.toJson(includeText ? text : null));
}

/** `action:finance:import_receipts.input.v1` */
export function import_receipts_handler(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const input = fieldsOf(ctx.readInputString());
  const libraryId = str(input, "library_id");
  const account = str(input, "account");
  const useModel = input.getOr("use_model", "true") != "false";
  const emails = rawElements(input.get("emails"));
  const imported = new Array<string>();
  const skipped = new Array<string>();
  const results = new Array<string>();
  for (let i = 0; i < emails.length; i++) {
    const given = fieldsOf(emails[i]);
    let email: Email;
    if (has(given, "uid") && !has(given, "id")) {
      // A reference: fetch the message from the account.
      if (account.length == 0) return ctx.fail("invalid input: field 'emails[" + i.toString() + "].uid': an email given by UID needs 'account'", "INVALID_INPUT");
      const fetched = fetchByUid(account, given.getOr("uid", "0"));
      if (fetched.error !== null) return ctx.fail(fetched.error!.message, fetched.error!.code);
      email = fetched.email!;
    } else {
      email = Email.fromFields(given);
      if (account.length > 0) email.extraMetadata.push('"account":' + quote(account));
    }
    const o = importEmail(email, libraryId, "", useModel);
    logWarnings(o);
    if (o.status == "failed") {
      // Entries made before this one stay (a retry finds them); say which email failed.
      return ctx.fail("importing email " + quote(email.id) + " failed: " + o.error!.message, o.error!.code);
    }
    let r = '{"id":' + quote(email.id);
    if (o.status == "imported") {
      imported.push(quote(o.entryId));
      r += ',"status":"imported"';
    } else {
      skipped.push(quote(email.id));
      r += o.status == "existing" ? ',"status":"already_imported"' : ',"status":"no_receipt"';
    }
    if (o.entryId.length > 0) r += ',"entry_id":' + quote(o.entryId);
    if (o.receiptJson.length > 0) {
      const rf = fieldsOf(o.receiptJson);
      r += ',"merchant":' + quote(o.merchant) + ',"total":' + rf.getOr("total", "null") + ',"currency":' + rf.getOr("currency", "null");
    }
    if (o.warnings.length > 0) {
      const w = new Array<string>();
      for (let k = 0; k < o.warnings.length; k++) w.push(quote(o.warnings[k]));
      r += ',"warnings":[' + w.join(",") + "]";
    }
    results.push(r + "}");
  }
  return ctx.writeOutputString('{"imported_ids":[' + imported.join(",") + '],"skipped_ids":[' + skipped.join(",") + '],"results":[' + results.join(",") + "]}");
}

/** Job `finance:email_scan` */
export function execute_email_scan(ptr: i32, len: i32): i64 {
  return runEmailScan(JobContext.fromParams(ptr, len));
}
