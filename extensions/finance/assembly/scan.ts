/**
 * Job `finance:email_scan`: fetches a mail account's messages in UID order through
 * `query:mail.fetch_since.v1` and imports the receipts found (importer.ts).
 *
 * Resumable: after EVERY message the job reports progress with its state (`ScanState`) — durable
 * when the report returns — so a pause, a cancel and retry, or a daemon killed mid-scan resumes
 * right after the last message reported. A message being processed when the daemon died is
 * processed again; its entry is found by path, so it is never imported twice.
 *
 * Where a scan of an account ended is also kept in the library (an entry
 * `finance/sync/<account>` of type `FinanceMailCursor`), so the next scan of the account starts
 * there and imports only new mail; `rescan: true` starts from the first message again.
 */
import { JSON } from "json-as";
import { EntryFilter, Interrupt, JobContext, NewEntry, Progress, callQuery, log } from "spacedrive-sdk";
import { Email, importEmail, library, logWarnings, senderName } from "./importer";
import { CursorMetadata, FetchSince, FetchSinceResult, ScanOutput, ScanParams, ScanState } from "./types";

const CURSOR_TYPE = "FinanceMailCursor";
/**
 * Raw bytes per fetch. A batch arrives twice in the guest (the raw message and its decoded
 * attachments, both base64, as UTF-16 strings), so 4 MiB of mail is ~20 MB of guest memory.
 */
const MAX_BATCH_BYTES: i64 = 4 * 1024 * 1024;

function cursorPath(account: string): string {
  return "finance/sync/" + account;
}

/** Where the last scan of `account` ended (last_uid and uidvalidity 0 when it never ran). */
function readCursor(account: string, libraryId: string): CursorMetadata {
  const path = cursorPath(account);
  const filter = new EntryFilter();
  filter.pathPrefix = path;
  filter.entryType = CURSOR_TYPE;
  filter.limit = 5;
  const r = library(libraryId).listEntries(filter);
  if (r.ok) {
    const entries = r.value.entries;
    for (let i = 0; i < entries.length; i++) {
      if (entries[i].path == path) return entries[i].metadataAs<CursorMetadata>();
    }
  }
  return new CursorMetadata();
}

function writeCursor(account: string, libraryId: string, state: ScanState): void {
  const cursor = new CursorMetadata();
  cursor.account = account;
  cursor.last_uid = state.last_uid;
  cursor.uidvalidity = state.uidvalidity;
  const entry = new NewEntry("Mail sync: " + account, cursorPath(account), CURSOR_TYPE).withMetadata<CursorMetadata>(cursor).onExisting("replace");
  const r = library(libraryId).createEntry(entry);
  if (!r.ok) log.warn("finance: could not record where the scan of '" + account + "' ended: " + r.error!.message);
}

/** Job export `execute_email_scan`. */
export function runEmailScan(job: JobContext): i64 {
  const params = job.params<ScanParams>();
  const account = params.provider;
  const libraryId = params.library_id;

  let state = job.state<ScanState>();
  if (state !== null) {
    log.info("finance: resuming the scan of '" + account + "' after UID " + state.last_uid.toString() + " (" + state.processed.toString() + " messages done)");
  } else {
    state = new ScanState();
    if (!params.rescan) {
      const cursor = readCursor(account, libraryId);
      state.last_uid = cursor.last_uid;
      state.uidvalidity = cursor.uidvalidity;
      if (state.last_uid > 0) log.info("finance: scanning '" + account + "' for mail after UID " + state.last_uid.toString() + " (where the last scan ended)");
    }
  }
  const s = state!;

  const ask = new FetchSince();
  ask.account = account;
  ask.limit = params.batch_size;
  ask.max_bytes = MAX_BATCH_BYTES;
  while (true) {
    if (job.checkInterrupt() != Interrupt.Continue) return job.interrupted<ScanState>(s);
    ask.last_uid = s.last_uid;
    const fetched = callQuery<FetchSince, FetchSinceResult>("query:mail.fetch_since.v1", ask);
    if (!fetched.ok) {
      const code = fetched.error!.code;
      // A missing account or bad input will not fix itself; a network or server problem might.
      const retryable = code != "NOT_FOUND" && code != "INVALID_INPUT" && code != "PERMISSION_DENIED" && code != "MAIL_AUTH_FAILED";
      return job.failed("fetching mail from '" + account + "' failed: " + fetched.error!.message, retryable, code);
    }
    const batch = fetched.value;
    if (s.uidvalidity != 0 && batch.uidvalidity != 0 && batch.uidvalidity != s.uidvalidity) {
      // The server renumbered the mailbox: old UIDs mean nothing. Start over; entries are found
      // by Message-ID, so nothing is imported twice.
      log.warn("finance: UIDVALIDITY of '" + account + "' changed (" + s.uidvalidity.toString() + " → " + batch.uidvalidity.toString() + "); scanning from the start");
      s.uidvalidity = batch.uidvalidity;
      s.last_uid = 0;
      continue;
    }
    s.uidvalidity = batch.uidvalidity;
    const messages = batch.messages;

    for (let i = 0; i < messages.length; i++) {
      if (job.checkInterrupt() != Interrupt.Continue) return job.interrupted<ScanState>(s);
      const uid = messages[i].uid;
      const email = Email.fromMessage(messages[i], account, batch.uidvalidity);
      if (email.attachments.length > 0) {
        // OCR of a long scan can take a while; a report (the checkpoint unchanged) starts a fresh
        // time-limit period, so only one document's OCR has to fit in it, not the previous
        // message's work as well.
        const beat = new Progress();
        beat.message = "UID " + uid.toString() + ": reading " + email.attachments.length.toString() + " attachment(s)";
        const answer = job.report(beat);
        if (answer == Interrupt.Pause || answer == Interrupt.Cancel) return job.interrupted<ScanState>(s);
      }

      const outcome = importEmail(email, libraryId, job.jobId, params.use_model);
      logWarnings(outcome);
      if (outcome.status == "failed") {
        // Not checkpointed past this message: the retry imports it.
        return job.failed("importing message UID " + uid.toString() + " (" + email.subject + ") failed: " + outcome.error!.message, true, outcome.error!.code);
      }
      let line = "UID " + uid.toString() + ": ";
      if (outcome.status == "imported" || (outcome.status == "existing" && outcome.existingJobId == job.jobId)) {
        s.imported++;
        const who = outcome.merchant.length > 0 ? outcome.merchant : senderName(email.from);
        line += "imported " + who + (isNaN(outcome.total) ? "" : " " + outcome.total.toString() + (outcome.currency.length > 0 ? " " + outcome.currency : ""));
      } else if (outcome.status == "existing") {
        s.already_imported++;
        line += "already imported";
      } else {
        line += "no receipt";
      }
      s.last_uid = uid;
      s.processed++;

      const remaining = batch.available - <i64>(i + 1);
      const p = new Progress();
      p.itemsDone = s.processed;
      p.itemsTotal = s.processed + (remaining > 0 ? remaining : 0);
      p.fraction = p.itemsTotal > 0 ? <f64>p.itemsDone / <f64>p.itemsTotal : 1;
      p.stateJson = JSON.stringify<ScanState>(s);
      p.message = line;
      if (outcome.warnings.length > 0) p.warning = outcome.warnings.join("; ");
      const next = job.report(p);
      if (next == Interrupt.Pause || next == Interrupt.Cancel) return job.interrupted<ScanState>(s);
    }

    if (!batch.has_more || messages.length == 0) break;
  }

  writeCursor(account, libraryId, s);
  const out = new ScanOutput();
  out.processed = s.processed;
  out.imported = s.imported;
  out.already_imported = s.already_imported;
  out.last_uid = s.last_uid;
  out.account = account;
  return job.complete<ScanOutput>(out);
}
