/**
 * Importing emails as receipts: each email that carries a receipt (given already classified, in
 * a PDF/PNG/JPEG attachment, or in its body text) becomes one `FinancialDocument` entry
 * `Receipt: <subject>` at `receipts/<id>.eml` — content = the raw message when given, metadata
 * = merchant, total, currency, date — with the parsed receipt in a `finance.receipt` sidecar.
 *
 * The path is the identity: importing the same email again finds the entry instead of making a
 * second one, and re-importing one whose sidecar is missing (a crash between the two writes)
 * completes it. Used by `action:finance:import_receipts` and the `finance:email_scan` job
 * (a job cannot call its own extension's action through the host: that is a call cycle).
 */
import { CallError, EntryFilter, callRaw, log, quote, RawFields, vdfs } from "spacedrive-sdk";
import { fieldsOf, has, num, rawElements, str, strOrNull } from "./json";
import { classifyText, ocr, receiptMimeType } from "./classify";

export const ENTRY_TYPE = "FinancialDocument";
export const SIDECAR_KIND = "finance.receipt";

/** An email to import, read from an import_receipts input or a fetched mail message. */
export class Email {
  /** Message-ID (or another stable id, e.g. `<account>-<uid>`). */
  id: string = "";
  subject: string = "";
  from: string = "";
  date: string = "";
  /** Raw JSON string (base64 of the RFC 822 message), or null. */
  rawJson: string | null = null;
  /** An already classified receipt (raw JSON object), or null. */
  receiptJson: string | null = null;
  /** Raw JSON objects `{filename, content_type, data}`. */
  attachments: string[] = [];
  text: string = "";
  /** Extra metadata fields, as `"key":value` JSON pairs (account, uid). */
  extraMetadata: string[] = [];

  static fromFields(f: RawFields): Email {
    const e = new Email();
    e.id = str(f, "id");
    e.subject = str(f, "subject");
    e.from = str(f, "from");
    e.date = str(f, "date");
    if (has(f, "raw")) e.rawJson = f.get("raw");
    if (has(f, "receipt")) e.receiptJson = f.get("receipt");
    e.attachments = rawElements(f.get("attachments"));
    e.text = str(f, "text");
    return e;
  }
}

/** What became of one email. */
export class ImportOutcome {
  /** "imported", "existing", "no_receipt" or "failed". */
  status: string = "";
  entryId: string = "";
  /** The receipt stored (JSON), when one was found. */
  receiptJson: string = "";
  merchant: string = "";
  total: f64 = NaN;
  currency: string = "";
  /** Problems that did not stop the import (an attachment OCR could not read). */
  warnings: string[] = [];
  error: CallError | null = null;
  /** Metadata `job_id` of an existing entry (so a job resumed after a crash counts its own work once). */
  existingJobId: string = "";
}

/** `receipts/<id>.eml`, with the id made safe for a path (`<a/b@c>` → `a_b@c`). */
export function receiptPath(id: string): string {
  let s = id.trim();
  if (s.startsWith("<")) s = s.substring(1);
  if (s.endsWith(">")) s = s.substring(0, s.length - 1);
  let out = "";
  for (let i = 0; i < s.length && out.length < 200; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x2e || c == 0x5f || c == 0x40 || c == 0x2b || c == 0x2d;
    out += ok ? String.fromCharCode(c) : "_";
  }
  while (out.startsWith(".")) out = "_" + out.substring(1);
  if (out.length == 0) out = "unnamed";
  return "receipts/" + out + ".eml";
}

/** Adds `library_id` to a JSON object payload when one is given. */
function withLibrary(payload: string, libraryId: string): string {
  if (libraryId.length == 0) return payload;
  return payload.substring(0, payload.length - 1) + ',"library_id":' + quote(libraryId) + "}";
}

/** The id and metadata of the entry at `path`, if there is one. */
class Lookup {
  found: bool = false;
  entryId: string = "";
  metadataJson: string = "{}";
  error: CallError | null = null;
}

function library(libraryId: string): string | null {
  return libraryId.length > 0 ? libraryId : null;
}

function findEntry(path: string, libraryId: string): Lookup {
  const out = new Lookup();
  const filter = new EntryFilter();
  filter.pathPrefix = path;
  filter.limit = 5;
  const r = vdfs(library(libraryId)).listEntries(filter);
  if (!r.ok) {
    out.error = r.error;
    return out;
  }
  const entries = r.value.entries;
  for (let i = 0; i < entries.length; i++) {
    if (entries[i].path == path) {
      out.found = true;
      out.entryId = entries[i].id;
      out.metadataJson = entries[i].metadataJson;
      return out;
    }
  }
  return out;
}

function hasReceiptSidecar(entryId: string, libraryId: string): bool {
  const r = vdfs(library(libraryId)).listSidecars(entryId, SIDECAR_KIND);
  return r.ok && r.value.length > 0;
}

/** Finds the email's receipt: given, in an attachment, or in the body. */
function findReceipt(email: Email, useModel: bool, out: ImportOutcome): string {
  const given = email.receiptJson;
  if (given !== null) return given;
  for (let i = 0; i < email.attachments.length; i++) {
    const a = fieldsOf(email.attachments[i]);
    const filename = str(a, "filename");
    const mime = receiptMimeType(str(a, "content_type"), filename);
    const data = a.get("data");
    if (mime.length == 0 || data === null) continue;
    const text = ocr(data, mime);
    if (text.error !== null) {
      out.warnings.push("attachment '" + filename + "' of " + email.id + " could not be read: " + text.error!.message);
      continue;
    }
    const receipt = classifyText(text.text, text.confidence, useModel);
    if (receipt.found) return receipt.toJson();
  }
  if (email.text.length > 0) {
    const receipt = classifyText(email.text, 1.0, useModel);
    // A body is a receipt only when it reads as one: a total and who was paid.
    if (receipt.found && receipt.merchant.length > 0) return receipt.toJson();
  }
  return "";
}

/**
 * Imports one email. `jobId` is recorded in the entry's metadata when called by the scan job.
 * Never creates a second entry for the same id.
 */
export function importEmail(email: Email, libraryId: string, jobId: string, useModel: bool): ImportOutcome {
  const out = new ImportOutcome();
  const path = receiptPath(email.id);

  const existing = findEntry(path, libraryId);
  if (existing.error !== null) {
    out.status = "failed";
    out.error = existing.error;
    return out;
  }
  if (existing.found) {
    out.entryId = existing.entryId;
    out.existingJobId = str(fieldsOf(existing.metadataJson), "job_id");
    if (hasReceiptSidecar(out.entryId, libraryId)) {
      out.status = "existing";
      return out;
    }
  }

  const receipt = findReceipt(email, useModel, out);
  if (receipt.length == 0) {
    out.status = "no_receipt";
    return out;
  }
  const rf = fieldsOf(receipt);
  out.receiptJson = receipt;
  out.merchant = str(rf, "merchant");
  if (out.merchant.length == 0) out.merchant = senderName(email.from);
  out.total = num(rf, "total");
  out.currency = str(rf, "currency");

  const meta = new Array<string>();
  meta.push('"merchant":' + strOrNull(out.merchant));
  meta.push('"total":' + (isNaN(out.total) ? "null" : rf.getOr("total", "null")));
  meta.push('"currency":' + strOrNull(out.currency));
  meta.push('"date":' + strOrNull(str(rf, "date")));
  meta.push('"email_id":' + quote(email.id));
  meta.push('"subject":' + quote(email.subject));
  if (email.from.length > 0) meta.push('"from":' + quote(email.from));
  if (email.date.length > 0) meta.push('"email_date":' + quote(email.date));
  meta.push('"source":' + strOrNull(str(rf, "source")));
  if (jobId.length > 0) meta.push('"job_id":' + quote(jobId));
  for (let i = 0; i < email.extraMetadata.length; i++) meta.push(email.extraMetadata[i]);

  let entryId = out.entryId;
  if (entryId.length == 0) {
    const subject = email.subject.length > 0 ? email.subject : email.id;
    let payload = '{"name":' + quote("Receipt: " + subject) + ',"path":' + quote(path) + ',"entry_type":"' + ENTRY_TYPE + '"' +
      ',"metadata":{' + meta.join(",") + '},"if_exists":"return"';
    const raw = email.rawJson;
    if (raw !== null) payload += ',"content":' + raw;
    payload += "}";
    // Raw call rather than vdfs().createEntry(…withContent(bytes)): the message arrives as base64
    // and goes on as base64, instead of being decoded into guest memory and encoded again.
    const created = callRaw("action:vdfs.create_entry.input.v1", withLibrary(payload, libraryId));
    if (!created.ok) {
      out.status = "failed";
      out.error = created.error;
      return out;
    }
    const cf = fieldsOf(created.value);
    entryId = str(cf, "id");
    if (cf.getOr("created", "false") != "true") out.existingJobId = str(fieldsOf(cf.get("metadata")), "job_id");
  }
  out.entryId = entryId;

  const sidecar = vdfs(library(libraryId)).writeSidecarRawJson(entryId, SIDECAR_KIND, receipt);
  if (!sidecar.ok) {
    out.status = "failed";
    out.error = sidecar.error;
    return out;
  }
  out.status = "imported";
  return out;
}

/** `Lakeside Taxi` from `Lakeside Taxi <rides@lakesidetaxi.example>`. */
export function senderName(from: string): string {
  const lt = from.indexOf("<");
  let name = lt > 0 ? from.substring(0, lt) : from;
  name = name.trim();
  if (name.startsWith('"') && name.endsWith('"') && name.length >= 2) name = name.substring(1, name.length - 1);
  return name;
}

/** Logs the warnings of an outcome. */
export function logWarnings(o: ImportOutcome): void {
  for (let i = 0; i < o.warnings.length; i++) log.warn("finance: " + o.warnings[i]);
}

/** A message fetched by reference, or why it could not be. */
export class Fetched {
  email: Email | null = null;
  error: CallError | null = null;
}

/**
 * The email with UID `uidJson` (a JSON integer) of `account`, fetched through
 * `query:mail.fetch_since.v1`, as the scan job would see it.
 */
export function fetchByUid(account: string, uidJson: string): Fetched {
  const out = new Fetched();
  const uid = I64.parseInt(uidJson);
  const r = callRaw("query:mail.fetch_since.v1", '{"account":' + quote(account) + ',"last_uid":' + (uid - 1).toString() + ',"limit":1,"include_raw":true}');
  if (!r.ok) {
    out.error = r.error;
    return out;
  }
  const f = fieldsOf(r.value);
  const messages = rawElements(f.get("messages"));
  const m = messages.length > 0 ? fieldsOf(messages[0]) : new RawFields();
  if (messages.length == 0 || m.getOr("uid", "") != uid.toString()) {
    out.error = new CallError("NOT_FOUND", "message UID " + uid.toString() + " not found in mail account '" + account + "'");
    return out;
  }
  out.email = emailOfMessage(m, account, f.getOr("uidvalidity", "0"));
  return out;
}

/** An email from a fetched mail message: id = its Message-ID (or account, UIDVALIDITY and UID). */
export function emailOfMessage(m: RawFields, account: string, uidvalidity: string): Email {
  const email = Email.fromFields(m);
  const uid = m.getOr("uid", "0");
  const messageId = str(m, "message_id");
  email.id = messageId.length > 0 ? messageId : account + "-" + uidvalidity + "-" + uid;
  email.extraMetadata.push('"account":' + quote(account));
  email.extraMetadata.push('"uid":' + uid);
  return email;
}
