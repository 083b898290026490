/**
 * finance: the design's complete example extension.
 *
 * - `query:finance:classify_receipt.v1`  a receipt (PDF, image, or text) → merchant, date,
 *   total, currency, line items, confidence. OCR by the host, parsing here (receipt.ts), refined
 *   by a text model when the daemon has one (classify.ts).
 * - `action:finance:import_receipts.input.v1`  emails → `FinancialDocument` entries
 *   `Receipt: <subject>` at `receipts/<id>.eml` with a `finance.receipt` sidecar; idempotent;
 *   library-scoped (into the call's library unless the input names one).
 * - job `finance:email_scan`  resumable scan of a mail account (scan.ts).
 *
 * The classes in types.ts are both what the handlers read and write and the schemas the host
 * validates against: `OperationOptions.typed` / `JobOptions.typed` register their schemas.
 */
import { JSON } from "json-as";
import { ExtensionContext, JobContext, JobOptions, OperationOptions } from "spacedrive-sdk";
import { classifyText, ocr } from "./classify";
import { Email, fetchByUid, importEmail, logWarnings } from "./importer";
import { runEmailScan } from "./scan";
import { ClassifyInput, ImportInput, ImportOutput, ImportResult, ReceiptOutput, ScanOutput, ScanParams, ScanState } from "./types";

export { sd_abi_version, sd_alloc, sd_free } from "spacedrive-sdk";

export function plugin_init(): i32 {
  const ctx = new ExtensionContext();
  ctx.registerQuery(
    "classify_receipt",
    "classify_receipt_handler",
    OperationOptions.typed<ClassifyInput, ReceiptOutput>("Reads a receipt (PDF, image or text) and returns merchant, date, total, currency and line items"),
  );
  ctx.registerAction(
    "import_receipts",
    "import_receipts_handler",
    OperationOptions.typed<ImportInput, ImportOutput>("Imports emails carrying receipts as FinancialDocument entries with a finance.receipt sidecar (once per email)").libraryScoped(),
  );
  ctx.registerJob(
    "email_scan",
    "execute_email_scan",
    true,
    JobOptions.typed<ScanParams, ScanState, ScanOutput>("Scans a mail account for receipts and imports them; resumes after the last message reported"),
  );
  return ctx.initStatus();
}

/** `query:finance:classify_receipt.v1` */
export function classify_receipt_handler(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const input = ctx.readInput<ClassifyInput>();
  const given = new Array<string>();
  if (input.pdf !== null) given.push("pdf");
  if (input.image !== null) given.push("image");
  if (input.data !== null) given.push("data");
  if (input.text !== null) given.push("text");
  if (given.length != 1) {
    return ctx.fail(
      "invalid input: give exactly one of 'pdf', 'image', 'data' (base64 bytes; file paths from the CLI) or 'text'" +
        (given.length == 0 ? "" : " (got " + given.join(", ") + ")"),
      "INVALID_INPUT",
    );
  }
  let text: string;
  let confidence = 1.0;
  const typed = input.text;
  if (typed !== null) {
    text = typed;
  } else {
    const pdf = input.pdf;
    const image = input.image;
    const mime = input.mime_type;
    const read = pdf !== null ? ocr(pdf, "application/pdf") : ocr(image !== null ? image : input.data!, mime !== null ? mime : "");
    if (read.error !== null) return ctx.fail("could not read the receipt: " + read.error!.message, read.error!.code);
    text = read.text;
    confidence = read.confidence;
  }
  const receipt = classifyText(text, confidence, input.use_model);
  return ctx.writeOutput<ReceiptOutput>(receipt.toOutput(input.include_text ? text : null));
}

/** `action:finance:import_receipts.input.v1` */
export function import_receipts_handler(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const input = ctx.readInput<ImportInput>();
  const out = new ImportOutput();
  for (let i = 0; i < input.emails.length; i++) {
    const given = input.emails[i];
    let email: Email;
    if (given.uid > 0 && given.id.length == 0) {
      // A reference: fetch the message from the account.
      if (input.account.length == 0) return ctx.fail("invalid input: field 'emails[" + i.toString() + "].uid': an email given by UID needs 'account'", "INVALID_INPUT");
      const fetched = fetchByUid(input.account, given.uid);
      if (fetched.error !== null) return ctx.fail(fetched.error!.message, fetched.error!.code);
      email = fetched.email!;
    } else {
      email = Email.fromInput(given);
      email.account = input.account;
    }
    const o = importEmail(email, input.library_id, "", input.use_model);
    logWarnings(o);
    if (o.status == "failed") {
      // Entries made before this one stay (a retry finds them); say which email failed.
      return ctx.fail("importing email " + JSON.stringify(email.id) + " failed: " + o.error!.message, o.error!.code);
    }
    const r = new ImportResult();
    r.id = email.id;
    if (o.status == "imported") {
      out.imported_ids.push(o.entryId);
      r.status = "imported";
    } else {
      out.skipped_ids.push(email.id);
      r.status = o.status == "existing" ? "already_imported" : "no_receipt";
    }
    if (o.entryId.length > 0) r.entry_id = o.entryId;
    if (o.receiptJson.length > 0) {
      r.merchant = o.merchant;
      if (!isNaN(o.total)) r.total = new JSON.Box<f64>(o.total);
      if (o.currency.length > 0) r.currency = o.currency;
    }
    if (o.warnings.length > 0) r.warnings = o.warnings;
    out.results.push(r);
  }
  return ctx.writeOutput<ImportOutput>(out);
}

/** Job `finance:email_scan` */
export function execute_email_scan(ptr: i32, len: i32): i64 {
  return runEmailScan(JobContext.fromParams(ptr, len));
}
