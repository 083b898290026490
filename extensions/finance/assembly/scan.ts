/**
 * Job `finance:email_scan`: fetches a mail account's messages in UID order through
 * `query:mail.fetch_since.v1` and imports the receipts found (importer.ts).
 *
 * Resumable: after EVERY message the job reports progress with its state
 * `{last_uid, processed, imported, already_imported, uidvalidity}` — durable when the report
 * returns — so a pause, a cancel and retry, or a daemon killed mid-scan resumes right after the
 * last message reported. A message being processed when the daemon died is processed again; its
 * entry is found by path, so it is never imported twice.
 *
 * Where a scan of an account ended is also kept in the library (an entry
 * `finance/sync/<account>` of type `FinanceMailCursor`), so the next scan of the account starts
 * there and imports only new mail; `rescan: true` starts from the first message again.
 */
import { EntryFilter, Interrupt, JobContext, NewEntry, Progress, callRaw, handOver, log, quote, vdfs } from "spacedrive-sdk";
import { fieldsOf, num, rawElements, str } from "./json";
import { emailOfMessage, importEmail, logWarnings, senderName } from "./importer";

const CURSOR_TYPE = "FinanceMailCursor";
const DEFAULT_BATCH = 10;
/**
 * Raw bytes per fetch. A batch arrives twice in the guest (the raw message and its decoded
 * attachments, both base64, as UTF-16 strings), so 4 MiB of mail is ~20 MB of guest memory.
 */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;

/** The job's checkpoint. */
class ScanState {
  lastUid: i64 = 0;
  processed: i64 = 0;
  imported: i64 = 0;
  alreadyImported: i64 = 0;
  uidvalidity: i64 = 0;

  toJson(): string {
    return '{"last_uid":' + this.lastUid.toString() + ',"processed":' + this.processed.toString() + ',"imported":' + this.imported.toString() +
      ',"already_imported":' + this.alreadyImported.toString() + ',"uidvalidity":' + this.uidvalidity.toString() + "}";
  }

  static fromJson(json: string): ScanState {
    const f = fieldsOf(json);
    const s = new ScanState();
    s.lastUid = intOr(num(f, "last_uid"), 0);
    s.processed = intOr(num(f, "processed"), 0);
    s.imported = intOr(num(f, "imported"), 0);
    s.alreadyImported = intOr(num(f, "already_imported"), 0);
    s.uidvalidity = intOr(num(f, "uidvalidity"), 0);
    return s;
  }
}

/** The answer to a pause or cancel, with the state as raw JSON. */
function interrupted(state: ScanState): i64 {
  return handOver('{"status":"interrupted","state":' + state.toJson() + "}");
}

function intOr(v: f64, fallback: i64): i64 {
  return isNaN(v) ? fallback : <i64>v;
}

function library(libraryId: string): string | null {
  return libraryId.length > 0 ? libraryId : null;
}

function cursorPath(account: string): string {
  return "finance/sync/" + account;
}

/** Where the last scan of `account` ended: [last_uid, uidvalidity], or [0, 0]. */
function readCursor(account: string, libraryId: string): i64[] {
  const path = cursorPath(account);
  const filter = new EntryFilter();
  filter.pathPrefix = path;
  filter.entryType = CURSOR_TYPE;
  filter.limit = 5;
  const r = vdfs(library(libraryId)).listEntries(filter);
  if (!r.ok) return [0, 0];
  const entries = r.value.entries;
  for (let i = 0; i < entries.length; i++) {
    if (entries[i].path != path) continue;
    const m = fieldsOf(entries[i].metadataJson);
    return [intOr(num(m, "last_uid"), 0), intOr(num(m, "uidvalidity"), 0)];
  }
  return [0, 0];
}

function writeCursor(account: string, libraryId: string, state: ScanState): void {
  const entry = new NewEntry("Mail sync: " + account, cursorPath(account), CURSOR_TYPE)
    .withMetadataJson('{"account":' + quote(account) + ',"last_uid":' + state.lastUid.toString() + ',"uidvalidity":' + state.uidvalidity.toString() + "}")
    .onExisting("replace");
  const r = vdfs(library(libraryId)).createEntry(entry);
  if (!r.ok) log.warn("finance: could not record where the scan of '" + account + "' ended: " + r.error!.message);
}

/** Job export `execute_email_scan`. */
export function runEmailScan(job: JobContext): i64 {
  const params = fieldsOf(job.paramsJson());
  const account = str(params, "provider");
  const libraryId = str(params, "library_id");
  const rescan = params.getOr("rescan", "false") == "true";
  const useModel = params.getOr("use_model", "true") != "false";
  let batch = intOr(num(params, "batch_size"), DEFAULT_BATCH);
  if (batch < 1) batch = DEFAULT_BATCH;

  let state: ScanState;
  if (job.hasState()) {
    state = ScanState.fromJson(job.stateJson());
    log.info("finance: resuming the scan of '" + account + "' after UID " + state.lastUid.toString() + " (" + state.processed.toString() + " messages done)");
  } else {
    state = new ScanState();
    if (!rescan) {
      const cursor = readCursor(account, libraryId);
      state.lastUid = cursor[0];
      state.uidvalidity = cursor[1];
      if (state.lastUid > 0) log.info("finance: scanning '" + account + "' for mail after UID " + state.lastUid.toString() + " (where the last scan ended)");
    }
  }

  while (true) {
    if (job.checkInterrupt() != Interrupt.Continue) return interrupted(state);
    const fetched = callRaw(
      "query:mail.fetch_since.v1",
      '{"account":' + quote(account) + ',"last_uid":' + state.lastUid.toString() + ',"limit":' + batch.toString() + ',"max_bytes":' + MAX_BATCH_BYTES.toString() + ',"include_raw":true}',
    );
    if (!fetched.ok) {
      const code = fetched.error!.code;
      // A missing account or bad input will not fix itself; a network or server problem might.
      const retryable = code != "NOT_FOUND" && code != "INVALID_INPUT" && code != "PERMISSION_DENIED" && code != "MAIL_AUTH_FAILED";
      return job.failed("fetching mail from '" + account + "' failed: " + fetched.error!.message, retryable, code);
    }
    const f = fieldsOf(fetched.value);
    const uidvalidity = intOr(num(f, "uidvalidity"), 0);
    if (state.uidvalidity != 0 && uidvalidity != 0 && uidvalidity != state.uidvalidity) {
      // The server renumbered the mailbox: old UIDs mean nothing. Start over; entries are found
      // by Message-ID, so nothing is imported twice.
      log.warn("finance: UIDVALIDITY of '" + account + "' changed (" + state.uidvalidity.toString() + " → " + uidvalidity.toString() + "); scanning from the start");
      state.uidvalidity = uidvalidity;
      state.lastUid = 0;
      continue;
    }
    state.uidvalidity = uidvalidity;
    const messages = rawElements(f.get("messages"));
    const available = intOr(num(f, "available"), <i64>messages.length);

    for (let i = 0; i < messages.length; i++) {
      if (job.checkInterrupt() != Interrupt.Continue) return interrupted(state);
      const m = fieldsOf(messages[i]);
      const uid = intOr(num(m, "uid"), 0);
      const email = emailOfMessage(m, account, uidvalidity.toString());
      if (email.attachments.length > 0) {
        // OCR of a long scan can take a while; a report (the checkpoint unchanged) starts a fresh
        // time-limit period, so only one document's OCR has to fit in it, not the previous
        // message's work as well.
        const beat = new Progress();
        beat.message = "UID " + uid.toString() + ": reading " + email.attachments.length.toString() + " attachment(s)";
        const answer = job.report(beat);
        if (answer == Interrupt.Pause || answer == Interrupt.Cancel) return interrupted(state);
      }

      const outcome = importEmail(email, libraryId, job.jobId, useModel);
      logWarnings(outcome);
      if (outcome.status == "failed") {
        // Not checkpointed past this message: the retry imports it.
        return job.failed("importing message UID " + uid.toString() + " (" + email.subject + ") failed: " + outcome.error!.message, true, outcome.error!.code);
      }
      let line = "UID " + uid.toString() + ": ";
      if (outcome.status == "imported" || (outcome.status == "existing" && outcome.existingJobId == job.jobId)) {
        state.imported++;
        const who = outcome.merchant.length > 0 ? outcome.merchant : senderName(email.from);
        line += "imported " + who + (isNaN(outcome.total) ? "" : " " + outcome.total.toString() + (outcome.currency.length > 0 ? " " + outcome.currency : ""));
      } else if (outcome.status == "existing") {
        state.alreadyImported++;
        line += "already imported";
      } else {
        line += "no receipt";
      }
      state.lastUid = uid;
      state.processed++;

      const remaining = available - <i64>(i + 1);
      const p = new Progress();
      p.itemsDone = state.processed;
      p.itemsTotal = state.processed + (remaining > 0 ? remaining : 0);
      p.fraction = p.itemsTotal > 0 ? <f64>p.itemsDone / <f64>p.itemsTotal : 1;
      p.stateJson = state.toJson();
      p.message = line;
      if (outcome.warnings.length > 0) p.warning = outcome.warnings.join("; ");
      const next = job.report(p);
      if (next == Interrupt.Pause || next == Interrupt.Cancel) return interrupted(state);
    }

    if (f.getOr("has_more", "false") != "true" || messages.length == 0) break;
  }

  writeCursor(account, libraryId, state);
  return job.completeJson(
    '{"processed":' + state.processed.toString() + ',"imported":' + state.imported.toString() + ',"already_imported":' + state.alreadyImported.toString() +
      ',"last_uid":' + state.lastUid.toString() + ',"account":' + quote(account) + "}",
  );
}
