//! Classifying a receipt: text from the host's OCR (`ctx.ai().ocr`), parsed here (receipt.rs),
//! then — when the daemon has a text model — refined by `ctx.ai().classify_text_with_schema`
//! with a JSON Schema derived from [`ModelReceipt`], so the model's answer has the receipt's
//! shape. Without a model (AI_PROVIDER_NOT_CONFIGURED) the parser's result stands; a model that
//! fails or answers without a total does not replace it.

use crate::receipt::{parse_receipt, round2, LineItem, Receipt, Source};
use spacedrive_sdk::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

/// What the model is asked for (its JSON Schema is derived from this type).
#[allow(dead_code)]
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelReceipt {
    /// Store or company name
    merchant: String,
    /// Purchase date, YYYY-MM-DD
    date: String,
    /// Amount paid, tax included
    total: f64,
    /// ISO 4217 code, e.g. USD
    currency: String,
    items: Vec<ModelItem>,
}

#[allow(dead_code)]
#[derive(Deserialize, JsonSchema)]
pub struct ModelItem {
    description: String,
    quantity: f64,
    unit_price: f64,
    amount: f64,
}

const MODEL_PROMPT: &str = "Extract the receipt data from this text: the merchant's name, the purchase date (YYYY-MM-DD), \
the total paid (tax included), its currency as an ISO 4217 code, and the line items.";

/// Whether a text model refines results; the first AI_PROVIDER_NOT_CONFIGURED turns it off for
/// this instance (a later instance or a restart asks again, so configuring one needs no reload).
static MODEL_AVAILABLE: AtomicBool = AtomicBool::new(true);

/// A number field, also written as a string ("34.49", as models sometimes answer).
fn num(v: &Value, key: &str) -> Option<f64> {
    match v.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text_of(v: &Value, key: &str) -> String {
    v.get(key).and_then(|x| x.as_str()).unwrap_or("").to_string()
}

/// Parses `text` and, when a model is configured and `use_model`, refines the result with it.
pub fn classify_text(ctx: &ExtensionContext, text: &str, ocr_confidence: f64, use_model: bool) -> Receipt {
    let parsed = parse_receipt(text, ocr_confidence);
    if !use_model || !MODEL_AVAILABLE.load(Ordering::Relaxed) || text.trim().is_empty() {
        return parsed;
    }
    let answer = match ctx.ai().classify_text_with_schema(text, MODEL_PROMPT, ModelReceipt::json_schema()) {
        Ok(a) => a,
        Err(e) => {
            if e.code == "AI_PROVIDER_NOT_CONFIGURED" {
                MODEL_AVAILABLE.store(false, Ordering::Relaxed);
            } else {
                log_warn!("finance: the text model could not refine a receipt ({}: {}); keeping the parser's result", e.code, e.message);
            }
            return parsed;
        }
    };
    let result = &answer.result;
    let total = match num(result, "total") {
        Some(t) if t > 0.0 => t,
        _ => {
            log_warn!("finance: the text model answered without a total; keeping the parser's result");
            return parsed;
        }
    };
    let merchant = text_of(result, "merchant");
    let date = text_of(result, "date");
    let currency = text_of(result, "currency").trim().to_uppercase();
    let mut items: Vec<LineItem> = result
        .get("items")
        .and_then(|i| i.as_array())
        .map(|list| {
            list.iter()
                .filter_map(|it| {
                    let description = text_of(it, "description");
                    let amount = num(it, "amount")?;
                    let quantity = num(it, "quantity").filter(|q| *q > 0.0).unwrap_or(1.0);
                    let unit_price = num(it, "unit_price").unwrap_or_else(|| round2(amount / quantity));
                    if description.is_empty() {
                        return None;
                    }
                    Some(LineItem { description, quantity, unit_price: Some(unit_price), amount: Some(amount) })
                })
                .collect()
        })
        .unwrap_or_default();
    if items.is_empty() {
        items = parsed.items.clone();
    }
    // The model read the same text: agreeing with the parser on the total is the strongest signal.
    let agrees = parsed.found() && (parsed.total.unwrap() - round2(total)).abs() < 0.005;
    let ocr_factor = 0.5 + 0.5 * ocr_confidence.max(0.0).min(1.0);
    Receipt {
        merchant: if merchant.is_empty() { parsed.merchant.clone() } else { Some(merchant) },
        date: if date.len() == 10 && date.as_bytes()[4] == b'-' { Some(date) } else { parsed.date.clone() },
        total: Some(round2(total)),
        currency: if currency.len() == 3 { Some(currency) } else { parsed.currency.clone() },
        items,
        subtotal: parsed.subtotal,
        tax: parsed.tax,
        confidence: (if agrees { 0.98 } else { 0.75 }) * ocr_factor,
        source: Source::Model,
        model: Some(answer.model),
        text: None,
    }
}

/// The MIME type of an attachment worth OCRing (PDF, PNG, JPEG), from its type or name.
pub fn receipt_mime_type(content_type: &str, filename: &str) -> Option<&'static str> {
    let t = content_type.to_lowercase();
    let n = filename.to_lowercase();
    if t == "application/pdf" || n.ends_with(".pdf") {
        Some("application/pdf")
    } else if t == "image/png" || n.ends_with(".png") {
        Some("image/png")
    } else if t == "image/jpeg" || t == "image/jpg" || n.ends_with(".jpg") || n.ends_with(".jpeg") {
        Some("image/jpeg")
    } else {
        None
    }
}
