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
import { JSON } from "json-as";
import { CallError, EntryFilter, JsonObject, NewEntry, callQuery, log, rawFields, vdfs, Vdfs } from "spacedrive-sdk";
import { classifyText, ocr, receiptMimeType } from "./classify";
import { AttachmentInput, EmailInput, FetchSince, FetchSinceResult, MailMessage } from "./types";

export const ENTRY_TYPE = "FinancialDocument";
export const SIDECAR_KIND = "finance.receipt";

/** An email to import, from an import_receipts input or a fetched mail message. */
export class Email {
  /** Message-ID (or another stable id, e.g. `<account>-<uidvalidity>-<uid>`). */
  id: string = "";
  subject: string = "";
  from: string = "";
  date: string = "";
  /** Base64 of the RFC 822 message, stored as the entry's content; null when not given. */
  raw: string | null = null;
  /** An already classified receipt (JSON object text), or null. */
  receiptJson: string | null = null;
  attachments: AttachmentInput[] = [];
  text: string = "";
  /** Where it came from, recorded in the metadata ("" / -1: not known). */
  account: string = "";
  uid: i64 = -1;

  static fromInput(e: EmailInput): Email {
    const email = new Email();
    email.id = e.id;
    email.subject = e.subject;
    email.from = e.from;
    email.date = e.date;
    email.raw = e.raw;
    const receipt = e.receipt;
    if (receipt !== null) email.receiptJson = receipt.toString();
    email.attachments = e.attachments;
    email.text = e.text;
    return email;
  }

  /** An email from a fetched message: id = its Message-ID (or account, UIDVALIDITY and UID). */
  static fromMessage(m: MailMessage, account: string, uidvalidity: i64): Email {
    const email = new Email();
    email.id = m.message_id.length > 0 ? m.message_id : account + "-" + uidvalidity.toString() + "-" + m.uid.toString();
    email.subject = m.subject;
    email.from = m.from;
    email.date = m.date;
    email.raw = m.raw;
    email.text = m.text;
    for (let i = 0; i < m.attachments.length; i++) {
      const a = new AttachmentInput();
      a.filename = m.attachments[i].filename;
      a.content_type = m.attachments[i].content_type;
      a.data = m.attachments[i].data;
      email.attachments.push(a);
    }
    email.account = account;
    email.uid = m.uid;
    return email;
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

/** The library to use: the one named, else the call's (the host's default for a library-scoped call). */
export function library(libraryId: string): Vdfs {
  return vdfs(libraryId.length > 0 ? libraryId : null);
}

/** The `job_id` a metadata object records, or "". */
function jobIdOf(metadataJson: string): string {
  const f = rawFields(metadataJson);
  return f === null ? "" : f.string("job_id");
}

/** Finds the email's receipt: given, in an attachment, or in the body. "" when there is none. */
function findReceipt(email: Email, useModel: bool, out: ImportOutcome): string {
  const given = email.receiptJson;
  if (given !== null) return given;
  for (let i = 0; i < email.attachments.length; i++) {
    const a = email.attachments[i];
    const mime = receiptMimeType(a.content_type, a.filename);
    if (mime.length == 0 || a.data.length == 0) continue;
    const text = ocr(a.data, mime);
    if (text.error !== null) {
      out.warnings.push("attachment '" + a.filename + "' of " + email.id + " could not be read: " + text.error!.message);
      continue;
    }
    const receipt = classifyText(text.text, text.confidence, useModel);
    if (receipt.found) return JSON.stringify(receipt.toOutput());
  }
  if (email.text.length > 0) {
    const receipt = classifyText(email.text, 1.0, useModel);
    // A body is a receipt only when it reads as one: a total and who was paid.
    if (receipt.found && receipt.merchant.length > 0) return JSON.stringify(receipt.toOutput());
  }
  return "";
}

/** A number field of a JSON object (a given receipt's total), NaN when absent or not a number. */
function numberField(json: string, key: string): f64 {
  const f = rawFields(json);
  if (f === null) return NaN;
  const v = f.get(key);
  if (v === null || v.length == 0) return NaN;
  const c = v.charCodeAt(0);
  return (c >= 0x30 && c <= 0x39) || c == 0x2d ? F64.parseFloat(v) : NaN;
}

/**
 * Imports one email. `jobId` is recorded in the entry's metadata when called by the scan job.
 * Never creates a second entry for the same id.
 */
export function importEmail(email: Email, libraryId: string, jobId: string, useModel: bool): ImportOutcome {
  const out = new ImportOutcome();
  const path = receiptPath(email.id);
  const lib = library(libraryId);

  const filter = new EntryFilter();
  filter.pathPrefix = path;
  filter.limit = 5;
  const listed = lib.listEntries(filter);
  if (!listed.ok) {
    out.status = "failed";
    out.error = listed.error;
    return out;
  }
  const entries = listed.value.entries;
  for (let i = 0; i < entries.length; i++) {
    if (entries[i].path != path) continue;
    out.entryId = entries[i].id;
    out.existingJobId = jobIdOf(entries[i].metadataJson);
    const sidecars = lib.listSidecars(out.entryId, SIDECAR_KIND);
    if (sidecars.ok && sidecars.value.length > 0) {
      out.status = "existing";
      return out;
    }
    break;
  }

  const receipt = findReceipt(email, useModel, out);
  if (receipt.length == 0) {
    out.status = "no_receipt";
    return out;
  }
  const rf = rawFields(receipt);
  out.receiptJson = receipt;
  out.merchant = rf === null ? "" : rf.string("merchant");
  if (out.merchant.length == 0) out.merchant = senderName(email.from);
  out.total = numberField(receipt, "total");
  out.currency = rf === null ? "" : rf.string("currency");

  let entryId = out.entryId;
  if (entryId.length == 0) {
    const meta = new JsonObject()
      .stringOrNull("merchant", out.merchant)
      .number("total", out.total)
      .stringOrNull("currency", out.currency)
      .stringOrNull("date", rf === null ? "" : rf.string("date"))
      .string("email_id", email.id)
      .string("subject", email.subject)
      .stringIfAny("from", email.from)
      .stringIfAny("email_date", email.date)
      .stringOrNull("source", rf === null ? "" : rf.string("source"))
      .stringIfAny("job_id", jobId)
      .stringIfAny("account", email.account);
    if (email.uid >= 0) meta.integer("uid", email.uid);
    const entry = new NewEntry("Receipt: " + (email.subject.length > 0 ? email.subject : email.id), path, ENTRY_TYPE)
      .withMetadataJson(meta.toString())
      .onExisting("return");
    const raw = email.raw;
    if (raw !== null) entry.withContentBase64(raw);
    const created = lib.createEntry(entry);
    if (!created.ok) {
      out.status = "failed";
      out.error = created.error;
      return out;
    }
    entryId = created.value.id;
    if (!created.value.created) out.existingJobId = jobIdOf(created.value.metadataJson);
  }
  out.entryId = entryId;

  const sidecar = lib.writeSidecarRawJson(entryId, SIDECAR_KIND, receipt);
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

/** The email with UID `uid` of `account`, fetched through `query:mail.fetch_since.v1`, as the scan job would see it. */
export function fetchByUid(account: string, uid: i64): Fetched {
  const out = new Fetched();
  const ask = new FetchSince();
  ask.account = account;
  ask.last_uid = uid - 1;
  ask.limit = 1;
  const r = callQuery<FetchSince, FetchSinceResult>("query:mail.fetch_since.v1", ask);
  if (!r.ok) {
    out.error = r.error;
    return out;
  }
  const messages = r.value.messages;
  if (messages.length == 0 || messages[0].uid != uid) {
    out.error = new CallError("NOT_FOUND", "message UID " + uid.toString() + " not found in mail account '" + account + "'");
    return out;
  }
  out.email = Email.fromMessage(messages[0], account, r.value.uidvalidity);
  return out;
}
