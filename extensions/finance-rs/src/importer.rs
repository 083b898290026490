//! Importing emails as receipts: each email carrying a receipt (given already classified, in a
//! PDF/PNG/JPEG attachment, or in its body text) becomes one `FinancialDocument` entry
//! `Receipt: <subject>` at `receipts/<id>.eml` — content = the raw message when given, metadata =
//! merchant, total, currency, date — with the parsed receipt in a `finance.receipt` sidecar.
//! The path is the identity: importing the same email again finds the entry, and one whose
//! sidecar is missing (a crash between the two writes) is completed.

use crate::classify::{classify_text, receipt_mime_type};
use spacedrive_sdk::prelude::*;

pub const ENTRY_TYPE: &str = "FinancialDocument";
pub const SIDECAR_KIND: &str = "finance.receipt";

/// An attachment of an email: base64 data, passed on to OCR without being decoded.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Attachment {
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[schema(content_encoding = "base64", min_length = 1)]
    pub data: String,
}

/// An email to import: given in full, or by reference (`uid`, fetched from `account`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Email {
    /// Message-ID or UID: the entry is receipts/<id>.eml
    #[serde(default)]
    #[schema(min_length = 1, max_length = 998)]
    pub id: Option<String>,
    /// A message of the account by UID: fetched from it (needs account)
    #[serde(default)]
    #[schema(minimum = 1, maximum = 4294967295u64)]
    pub uid: Option<u64>,
    #[serde(default)]
    #[schema(max_length = 998)]
    pub subject: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub date: Option<String>,
    /// The RFC 822 message, stored as the entry content
    #[serde(default)]
    #[schema(content_encoding = "base64", min_length = 1)]
    pub raw: Option<String>,
    /// Body text, parsed when no attachment holds a receipt
    #[serde(default)]
    pub text: Option<String>,
    /// An already classified receipt (classify_receipt output)
    #[serde(default)]
    pub receipt: Option<Value>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// What became of one email.
#[derive(Debug, Default)]
pub struct Outcome {
    /// "imported", "existing" or "no_receipt".
    pub status: &'static str,
    pub entry_id: Option<String>,
    pub receipt: Option<Value>,
    pub merchant: Option<String>,
    pub total: Option<f64>,
    pub currency: Option<String>,
    pub warnings: Vec<String>,
    /// `job_id` in the metadata of an entry that existed (a resumed job counts its own work once).
    pub existing_job_id: Option<String>,
}

/// `receipts/<id>.eml`, with the id made safe for a path (`<a/b@c>` → `a_b@c`).
pub fn receipt_path(id: &str) -> String {
    let mut s = id.trim();
    s = s.strip_prefix('<').unwrap_or(s);
    s = s.strip_suffix('>').unwrap_or(s);
    let mut out: String = s
        .chars()
        .take(200)
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '+' | '-') { c } else { '_' })
        .collect();
    while out.starts_with('.') {
        out.replace_range(0..1, "_");
    }
    if out.is_empty() {
        out = "unnamed".into();
    }
    format!("receipts/{}.eml", out)
}

/// `payload` with `library_id` when one is named (else the host uses the call's library).
fn in_library(mut payload: Value, library: Option<&str>) -> Value {
    if let Some(lib) = library {
        payload["library_id"] = json!(lib);
    }
    payload
}

/// The id and metadata of the entry at `path`, if there is one.
fn find_entry(ctx: &ExtensionContext, path: &str, library: Option<&str>) -> Result<Option<(String, Value)>> {
    let page = ctx.vdfs().call("query:vdfs.list_entries.v1", in_library(json!({ "path_prefix": path, "limit": 5 }), library))?;
    let found = page["entries"].as_array().and_then(|list| list.iter().find(|e| e["path"] == path)).map(|e| (e["id"].as_str().unwrap_or("").to_string(), e["metadata"].clone()));
    Ok(found)
}

fn has_receipt_sidecar(ctx: &ExtensionContext, entry_id: &str, library: Option<&str>) -> bool {
    ctx.vdfs()
        .call("query:vdfs.list_sidecars.v1", in_library(json!({ "entry_id": entry_id, "kind": SIDECAR_KIND }), library))
        .map(|v| v["sidecars"].as_array().map(|s| !s.is_empty()).unwrap_or(false))
        .unwrap_or(false)
}

/// The email's receipt: given, in an attachment, or in the body.
fn find_receipt(ctx: &ExtensionContext, email: &Email, use_model: bool, out: &mut Outcome) -> Option<Value> {
    if let Some(given) = &email.receipt {
        return Some(given.clone());
    }
    let id = email.id.clone().unwrap_or_default();
    for a in &email.attachments {
        let filename = a.filename.clone().unwrap_or_default();
        let mime = match receipt_mime_type(a.content_type.as_deref().unwrap_or(""), &filename) {
            Some(m) => m,
            None => continue,
        };
        let read = ctx.ai().ocr(&a.data, OcrOptions { mime_type: Some(mime.into()), ..Default::default() });
        match read {
            Err(e) => out.warnings.push(format!("attachment '{}' of {} could not be read: {}", filename, id, e.message)),
            Ok(text) => {
                let receipt = classify_text(ctx, &text.text, text.confidence, use_model);
                if receipt.found() {
                    return serde_json::to_value(receipt.rounded()).ok();
                }
            }
        }
    }
    if let Some(text) = email.text.as_deref().filter(|t| !t.is_empty()) {
        let receipt = classify_text(ctx, text, 1.0, use_model);
        // A body is a receipt only when it reads as one: a total and who was paid.
        if receipt.found() && receipt.merchant.is_some() {
            return serde_json::to_value(receipt.rounded()).ok();
        }
    }
    None
}

/// `Lakeside Taxi` from `Lakeside Taxi <rides@lakesidetaxi.example>`.
pub fn sender_name(from: &str) -> String {
    let name = match from.find('<') {
        Some(lt) if lt > 0 => &from[..lt],
        _ => from,
    }
    .trim();
    if name.len() >= 2 && name.starts_with('"') && name.ends_with('"') {
        name[1..name.len() - 1].to_string()
    } else {
        name.to_string()
    }
}

/// Imports one email; `job_id` is recorded in the metadata when the scan job imports it, and
/// `extra` (account, uid) is added to it. Never creates a second entry for the same id.
pub fn import_email(ctx: &ExtensionContext, email: &Email, library: Option<&str>, job_id: Option<&str>, use_model: bool, extra: &[(&str, Value)]) -> Result<Outcome> {
    let mut out = Outcome::default();
    let id = email.id.clone().unwrap_or_default();
    let path = receipt_path(&id);
    if let Some((entry_id, metadata)) = find_entry(ctx, &path, library)? {
        out.existing_job_id = metadata["job_id"].as_str().map(|s| s.to_string());
        let complete = has_receipt_sidecar(ctx, &entry_id, library);
        out.entry_id = Some(entry_id);
        if complete {
            out.status = "existing";
            return Ok(out);
        }
    }
    let receipt = match find_receipt(ctx, email, use_model, &mut out) {
        Some(r) => r,
        None => {
            out.status = "no_receipt";
            return Ok(out);
        }
    };
    // A given receipt is any object with a total (classify_receipt's output, or less): read its
    // fields one by one rather than as a whole Receipt.
    let text = |k: &str| receipt[k].as_str().filter(|v| !v.is_empty()).map(|v| v.to_string());
    out.merchant = text("merchant").or_else(|| email.from.as_deref().map(sender_name).filter(|s| !s.is_empty()));
    out.total = receipt["total"].as_f64();
    out.currency = text("currency");
    let mut meta = json!({
        "merchant": out.merchant,
        "total": receipt["total"],
        "currency": out.currency,
        "date": text("date"),
        "email_id": id,
        "subject": email.subject.clone().unwrap_or_default(),
        "source": receipt.get("source").cloned().unwrap_or(Value::Null),
    });
    if let Some(from) = email.from.as_deref().filter(|f| !f.is_empty()) {
        meta["from"] = json!(from);
    }
    if let Some(date) = email.date.as_deref().filter(|d| !d.is_empty()) {
        meta["email_date"] = json!(date);
    }
    if let Some(job) = job_id {
        meta["job_id"] = json!(job);
    }
    for (k, v) in extra {
        meta[*k] = v.clone();
    }
    let entry_id = match out.entry_id.clone() {
        Some(e) => e,
        None => {
            let subject = email.subject.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| id.clone());
            let entry = ctx.vdfs().create_entry(CreateEntry {
                name: format!("Receipt: {}", subject),
                path: path.clone(),
                entry_type: ENTRY_TYPE.into(),
                metadata: Some(meta),
                content: email.raw.clone(),
                if_exists: Some("return".into()),
                library_id: library.map(|l| l.to_string()),
                ..Default::default()
            })?;
            if !entry.created {
                out.existing_job_id = entry.metadata["job_id"].as_str().map(|s| s.to_string());
            }
            entry.id
        }
    };
    ctx.vdfs().call("action:vdfs.write_sidecar.input.v1", in_library(json!({ "entry_id": entry_id, "kind": SIDECAR_KIND, "format": "json", "json": receipt }), library))?;
    out.entry_id = Some(entry_id);
    out.receipt = Some(receipt);
    out.status = "imported";
    Ok(out)
}

/// An email from a fetched mail message (`query:mail.fetch_since.v1`): its id is the Message-ID,
/// or account, UIDVALIDITY and UID.
pub fn email_of_message(m: &Value, account: &str, uidvalidity: i64) -> Email {
    let text = |k: &str| m[k].as_str().map(|s| s.to_string());
    let uid = m["uid"].as_u64().unwrap_or(0);
    let id = text("message_id").filter(|s| !s.is_empty()).unwrap_or_else(|| format!("{}-{}-{}", account, uidvalidity, uid));
    Email {
        id: Some(id),
        uid: Some(uid),
        subject: text("subject"),
        from: text("from"),
        date: text("date"),
        raw: text("raw"),
        text: text("text"),
        receipt: None,
        attachments: serde_json::from_value(m["attachments"].clone()).unwrap_or_default(),
    }
}

/// The message with UID `uid` of `account`, as the scan job sees it.
pub fn fetch_by_uid(ctx: &ExtensionContext, account: &str, uid: u64) -> Result<Email> {
    let page: Value = ctx.call_query("mail.fetch_since", json!({ "account": account, "last_uid": uid - 1, "limit": 1, "include_raw": true }))?;
    let m = page["messages"].as_array().and_then(|l| l.first()).cloned().unwrap_or(Value::Null);
    if m["uid"].as_u64() != Some(uid) {
        return Err(Error::not_found(format!("message UID {} not found in mail account '{}'", uid, account)));
    }
    Ok(email_of_message(&m, account, page["uidvalidity"].as_i64().unwrap_or(0)))
}
