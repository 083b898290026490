//! Job `finance-rs:email_scan`: fetches a mail account's messages in UID order through
//! `query:mail.fetch_since.v1` and imports the receipts found (importer.rs).
//!
//! Resumable: after every message the job reports progress with its state (`EmailScanState`),
//! durable when the report returns, so a pause, a retry or a daemon killed mid-scan resumes right
//! after the last message reported; a message being processed when the daemon died is processed
//! again and found by its path, never imported twice. Where a scan of an account ended is kept in
//! the library (entry `finance/sync/<account>`, type `FinanceMailCursor`), so the next scan
//! imports only new mail; `rescan: true` starts from the first message again.

use crate::importer::{email_of_message, import_email, sender_name};
use spacedrive_sdk::prelude::*;

const CURSOR_TYPE: &str = "FinanceMailCursor";
/// Raw bytes per fetch (a batch is in guest memory twice: raw and decoded into values).
const MAX_BATCH_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanParams {
    /// Mail account to scan (its name in spacedrive mail add-account)
    #[schema(min_length = 1, max_length = 128)]
    pub provider: String,
    /// Messages fetched per request
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100, default = 10)]
    pub batch_size: Option<u32>,
    /// Start from the first message instead of where the last scan ended
    #[serde(default)]
    #[schema(default = false)]
    pub rescan: bool,
    /// Refine classification with the configured text model
    #[serde(default)]
    #[schema(default = true)]
    pub use_model: Option<bool>,
    /// Library to import into (default: the job's library, else the default library)
    #[serde(default)]
    #[schema(min_length = 1)]
    pub library_id: Option<String>,
}

/// The job's checkpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EmailScanState {
    pub last_uid: u64,
    pub processed: u64,
    pub imported: u64,
    pub already_imported: u64,
    pub uidvalidity: i64,
}

fn cursor_path(account: &str) -> String {
    format!("finance/sync/{}", account)
}

fn with_library(mut payload: Value, library: Option<&str>) -> Value {
    if let Some(l) = library {
        payload["library_id"] = json!(l);
    }
    payload
}

/// Where the last scan of `account` ended: (last_uid, uidvalidity).
fn read_cursor(ctx: &ExtensionContext, account: &str, library: Option<&str>) -> (u64, i64) {
    let path = cursor_path(account);
    let page = ctx.vdfs().call("query:vdfs.list_entries.v1", with_library(json!({ "path_prefix": path, "entry_type": CURSOR_TYPE, "limit": 5 }), library));
    page.ok()
        .and_then(|p| p["entries"].as_array().and_then(|l| l.iter().find(|e| e["path"] == path.as_str()).cloned()))
        .map(|e| (e["metadata"]["last_uid"].as_u64().unwrap_or(0), e["metadata"]["uidvalidity"].as_i64().unwrap_or(0)))
        .unwrap_or((0, 0))
}

fn write_cursor(ctx: &ExtensionContext, account: &str, library: Option<&str>, state: &EmailScanState) {
    let r = ctx.vdfs().create_entry(CreateEntry {
        name: format!("Mail sync: {}", account),
        path: cursor_path(account),
        entry_type: CURSOR_TYPE.into(),
        metadata: Some(json!({ "account": account, "last_uid": state.last_uid, "uidvalidity": state.uidvalidity })),
        if_exists: Some("replace".into()),
        library_id: library.map(|l| l.to_string()),
        ..Default::default()
    });
    if let Err(e) = r {
        log_warn!("finance: could not record where the scan of '{}' ended: {}", account, e.message);
    }
}

/// The scan; `Ok` carries the packed outcome (completed or interrupted), `Err` fails the attempt.
pub fn run(ctx: &ExtensionContext, params: ScanParams, mut state: EmailScanState) -> Result<u64> {
    let account = params.provider.as_str();
    let library = params.library_id.as_deref();
    let use_model = params.use_model.unwrap_or(true);
    let batch = params.batch_size.unwrap_or(10).max(1);
    let job_id = ctx.job_id().unwrap_or("").to_string();
    if ctx.is_resumed() {
        log_info!("finance: resuming the scan of '{}' after UID {} ({} messages done)", account, state.last_uid, state.processed);
    } else if !params.rescan {
        let (last_uid, uidvalidity) = read_cursor(ctx, account, library);
        state.last_uid = last_uid;
        state.uidvalidity = uidvalidity;
        if last_uid > 0 {
            log_info!("finance: scanning '{}' for mail after UID {} (where the last scan ended)", account, last_uid);
        }
    }
    loop {
        if ctx.interrupt_requested() != Control::Continue {
            return Ok(ctx.interrupted(&state));
        }
        let fetched: Value = match ctx.call_query("mail.fetch_since", json!({ "account": account, "last_uid": state.last_uid, "limit": batch, "max_bytes": MAX_BATCH_BYTES, "include_raw": true })) {
            Ok(v) => v,
            Err(e) => {
                // A missing account or bad input will not fix itself; a network or server problem might.
                let retryable = !matches!(e.code.as_str(), "NOT_FOUND" | "INVALID_INPUT" | "PERMISSION_DENIED" | "MAIL_AUTH_FAILED");
                let message = format!("fetching mail from '{}' failed: {}", account, e.message);
                return Ok(ctx.job_failed(Error::new(e.code, message), retryable));
            }
        };
        let uidvalidity = fetched["uidvalidity"].as_i64().unwrap_or(0);
        if state.uidvalidity != 0 && uidvalidity != 0 && uidvalidity != state.uidvalidity {
            log_warn!("finance: UIDVALIDITY of '{}' changed ({} → {}); scanning from the start", account, state.uidvalidity, uidvalidity);
            state.uidvalidity = uidvalidity;
            state.last_uid = 0;
            continue;
        }
        state.uidvalidity = uidvalidity;
        let messages = fetched["messages"].as_array().cloned().unwrap_or_default();
        let available = fetched["available"].as_u64().unwrap_or(messages.len() as u64);
        for (i, m) in messages.iter().enumerate() {
            let uid = m["uid"].as_u64().unwrap_or(0);
            let email = email_of_message(m, account, uidvalidity);
            if !email.attachments.is_empty() {
                // OCR can take a while: a report starts a fresh time-limit period.
                let beat = ctx.progress(json!({ "message": format!("UID {}: reading {} attachment(s)", uid, email.attachments.len()) }))?;
                if beat != Control::Continue {
                    return Ok(ctx.interrupted(&state));
                }
            }
            let extra = [("account", json!(account)), ("uid", json!(uid))];
            let outcome = import_email(ctx, &email, library, Some(&job_id), use_model, &extra)
                .map_err(|e| e.context(format!("importing message UID {} ({}) failed", uid, email.subject.clone().unwrap_or_default())))?;
            for w in &outcome.warnings {
                log_warn!("finance: {}", w);
            }
            let line = match outcome.status {
                "imported" => Some(true),
                "existing" if outcome.existing_job_id.as_deref() == Some(job_id.as_str()) => Some(true),
                "existing" => Some(false),
                _ => None,
            };
            let text = match line {
                Some(true) => {
                    state.imported += 1;
                    let who = outcome.merchant.clone().unwrap_or_else(|| sender_name(email.from.as_deref().unwrap_or("")));
                    let amount = outcome.total.map(|t| format!(" {}{}", t, outcome.currency.as_deref().map(|c| format!(" {}", c)).unwrap_or_default())).unwrap_or_default();
                    format!("UID {}: imported {}{}", uid, who, amount)
                }
                Some(false) => {
                    state.already_imported += 1;
                    format!("UID {}: already imported", uid)
                }
                None => format!("UID {}: no receipt", uid),
            };
            state.last_uid = uid;
            state.processed += 1;
            let remaining = available.saturating_sub(i as u64 + 1);
            let total = state.processed + remaining;
            let mut report = json!({
                "fraction": if total > 0 { state.processed as f64 / total as f64 } else { 1.0 },
                "items_done": state.processed,
                "items_total": total,
                "message": text,
                "state": serde_json::to_value(&state)?,
            });
            if !outcome.warnings.is_empty() {
                report["warning"] = json!(outcome.warnings.join("; "));
            }
            if ctx.progress(report)? != Control::Continue {
                return Ok(ctx.interrupted(&state));
            }
        }
        if fetched["has_more"] != json!(true) || messages.is_empty() {
            break;
        }
    }
    write_cursor(ctx, account, library, &state);
    Ok(ctx.complete(&json!({
        "processed": state.processed,
        "imported": state.imported,
        "already_imported": state.already_imported,
        "last_uid": state.last_uid,
        "account": account,
    })))
}
