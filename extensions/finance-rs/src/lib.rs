//! finance-rs: the design's complete example extension, in Rust with spacedrive-sdk
//! (design: "Complete Example: Finance Extension"; where this differs from the design's text, and
//! why, is in sdk/rust/README.md, "Where the Rust differs from the design").
//!
//! - `query:finance-rs:classify_receipt.v1`  a receipt (PDF, image or text) → merchant, date,
//!   total, currency, line items, confidence: OCR by the host, parsing here (receipt.rs), refined
//!   by a text model when the daemon has one (classify.rs).
//! - `action:finance-rs:import_receipts.input.v1`  emails → `FinancialDocument` entries
//!   `Receipt: <subject>` at `receipts/<id>.eml` with a `finance.receipt` sidecar; idempotent;
//!   library-scoped (`--library`).
//! - job `finance-rs:email_scan`  resumable scan of a mail account (scan.rs).
//!
//! The same behaviour as the AssemblyScript `finance` extension, exercised by the same tests.

mod classify;
mod importer;
mod receipt;
mod scan;

use classify::classify_text;
use importer::{fetch_by_uid, import_email, Email};
use receipt::Receipt;
use scan::{EmailScanState, ScanParams};
use spacedrive_sdk::context::JobReturn;
use spacedrive_sdk::prelude::*;

#[extension]
fn plugin_init() -> i32 {
    let ctx = ExtensionContext::new(library_id);

    // Register custom operations
    ctx.register_query("classify_receipt", "classify_receipt_handler").ok();
    ctx.register_action("import_receipts", "import_receipts_handler").ok();
    ctx.register_job(JobRegistration {
        name: "email_scan",
        export_fn: "execute_email_scan",
        resumable: true,
    })
    .ok();

    0
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
pub enum MimeType {
    #[serde(rename = "application/pdf")]
    Pdf,
    #[serde(rename = "image/png")]
    Png,
    #[serde(rename = "image/jpeg")]
    Jpeg,
}

impl MimeType {
    fn as_str(self) -> &'static str {
        match self {
            MimeType::Pdf => "application/pdf",
            MimeType::Png => "image/png",
            MimeType::Jpeg => "image/jpeg",
        }
    }
}

/// A receipt to classify: exactly one of pdf, image, data or text.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassifyInput {
    /// A PDF receipt (text or scanned); a file path from the CLI
    #[serde(default)]
    #[schema(content_encoding = "base64", min_length = 1)]
    pub pdf: Option<String>,
    /// A PNG or JPEG photo or scan of a receipt; a file path from the CLI
    #[serde(default)]
    #[schema(content_encoding = "base64", min_length = 1)]
    pub image: Option<String>,
    /// A receipt in any supported format (PDF, PNG, JPEG); the type is sniffed unless mime_type is given
    #[serde(default)]
    #[schema(content_encoding = "base64", min_length = 1)]
    pub data: Option<String>,
    /// Receipt text (e.g. a mail body): parsed without OCR
    #[serde(default)]
    #[schema(min_length = 1, max_length = 1000000)]
    pub text: Option<String>,
    /// Type of data (default: sniffed)
    #[serde(default)]
    pub mime_type: Option<MimeType>,
    /// Also return the text that was read
    #[serde(default)]
    #[schema(default = false)]
    pub include_text: bool,
    /// Refine with the configured text model, when there is one
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub use_model: bool,
}

fn yes() -> bool {
    true
}

// Custom query - callable by anyone via Wire
#[query(description = "Reads a receipt (PDF, image or text) and returns merchant, date, total, currency and line items")]
fn classify_receipt_handler(ctx: &ExtensionContext, input: ClassifyInput) -> Result<Receipt> {
    let given: Vec<(&str, &String)> = [("pdf", &input.pdf), ("image", &input.image), ("data", &input.data), ("text", &input.text)]
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (*k, v)))
        .collect();
    if given.len() != 1 {
        let got = if given.is_empty() { String::new() } else { format!(" (got {})", given.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")) };
        return Err(Error::invalid_input(format!("invalid input: give exactly one of 'pdf', 'image', 'data' (base64 bytes; file paths from the CLI) or 'text'{}", got)));
    }
    let (kind, content) = given[0];
    let (text, confidence) = if kind == "text" {
        (content.clone(), 1.0)
    } else {
        // Use SDK to call core operations (OCR of the base64 as it came, never decoded here)
        let mime = if kind == "pdf" { Some(MimeType::Pdf) } else { input.mime_type };
        let ocr = ctx.ai().ocr(content, OcrOptions { mime_type: mime.map(|m| m.as_str().to_string()), ..Default::default() }).map_err(|e| e.context("could not read the receipt"))?;
        (ocr.text, ocr.confidence)
    };
    let mut analysis = classify_text(ctx, &text, confidence, input.use_model).rounded();
    if input.include_text {
        analysis.text = Some(text);
    }
    Ok(analysis)
}

/// Emails to import: given in full (id, subject, …) or by reference (uid, with account).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportInput {
    /// Mail account the emails came from (recorded in the metadata; emails given by uid are fetched from it)
    #[serde(default)]
    #[schema(min_length = 1)]
    pub account: Option<String>,
    /// Library to import into (default: the call's library, --library)
    #[serde(default)]
    #[schema(min_length = 1)]
    pub library_id: Option<String>,
    /// Refine classification with the configured text model
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub use_model: bool,
    #[schema(min_items = 1, max_items = 100)]
    pub emails: Vec<Email>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ImportResult {
    pub id: String,
    /// imported, already_imported or no_receipt
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ImportOutput {
    /// Entries created (or completed) by this call
    pub imported_ids: Vec<String>,
    /// Emails not imported: already imported, or no receipt found
    pub skipped_ids: Vec<String>,
    pub results: Vec<ImportResult>,
}

// Custom action - creates receipts from email
#[action(library_scoped, description = "Imports emails carrying receipts as FinancialDocument entries with a finance.receipt sidecar (once per email)")]
fn import_receipts_handler(ctx: &ExtensionContext, input: ImportInput) -> Result<ImportOutput> {
    let library = input.library_id.as_deref();
    let mut out = ImportOutput { imported_ids: vec![], skipped_ids: vec![], results: vec![] };
    for (i, given) in input.emails.iter().enumerate() {
        let mut extra: Vec<(&str, Value)> = input.account.as_deref().map(|a| vec![("account", json!(a))]).unwrap_or_default();
        let email = match (&given.id, given.uid) {
            (None, Some(uid)) => {
                // A reference: fetch the message from the account (its UID recorded, as a scan does).
                let account = input.account.as_deref().ok_or_else(|| Error::invalid_input(format!("invalid input: field 'emails[{}].uid': an email given by UID needs 'account'", i)))?;
                extra.push(("uid", json!(uid)));
                fetch_by_uid(ctx, account, uid)?
            }
            (Some(_), _) => given.clone(),
            (None, None) => return Err(Error::invalid_input(format!("invalid input: field 'emails[{}]': give id and subject, or uid", i))),
        };
        let id = email.id.clone().unwrap_or_default();
        // Entries made before this one stay (a retry finds them); say which email failed.
        let o = import_email(ctx, &email, library, None, input.use_model, &extra).map_err(|e| e.context(format!("importing email {:?} failed", id)))?;
        for w in &o.warnings {
            log_warn!("finance: {}", w);
        }
        let status = match o.status {
            "imported" => {
                out.imported_ids.push(o.entry_id.clone().unwrap_or_default());
                "imported"
            }
            "existing" => {
                out.skipped_ids.push(id.clone());
                "already_imported"
            }
            _ => {
                out.skipped_ids.push(id.clone());
                "no_receipt"
            }
        };
        let receipt = o.receipt.as_ref();
        out.results.push(ImportResult {
            id,
            status: status.into(),
            entry_id: o.entry_id.clone(),
            merchant: receipt.map(|_| o.merchant.clone()),
            total: receipt.map(|r| r["total"].clone()),
            currency: receipt.map(|r| r["currency"].clone()),
            warnings: o.warnings.clone(),
        });
    }
    Ok(out)
}

// Custom job - resumable email scanning
#[job(params = ScanParams, description = "Scans a mail account for receipts and imports them; resumes after the last message reported")]
pub extern "C" fn execute_email_scan(state_ptr: u32, state_len: u32) -> u64 {
    let ctx = ExtensionContext::from_job_params(state_ptr, state_len);

    let state: EmailScanState = match ctx.get_job_state() {
        Ok(s) => s,
        Err(e) => return ctx.job_failed(e, false),
    };
    let params: ScanParams = match ctx.job_params() {
        Ok(p) => p,
        Err(e) => return ctx.job_failed(e, false),
    };
    // Resumable work: every message reported with the state (scan.rs)
    scan::run(&ctx, params, state).into_packed(&ctx)
}
