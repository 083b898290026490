//! The AI capability (`query:ai.*`): OCR of documents and text classification by the configured
//! model. Needs `permissions.call` prefixes `query:ai.ocr.` / `query:ai.classify_text.`.

use crate::context::ExtensionContext;
use crate::error::Result;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Clone, Default, Serialize)]
pub struct OcrOptions {
    /// `application/pdf`, `image/png`, `image/jpeg`; sniffed when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// PDF only: 1-based pages to read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages: Option<Vec<u32>>,
    /// PDF only: OCR pages even when they have a text layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub force_ocr: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct OcrResult {
    pub text: String,
    pub confidence: f64,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub pages: Vec<Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Classification {
    /// The model's answer: text, or JSON following the schema when one was given.
    pub result: Value,
    pub model: String,
}

pub struct Ai<'a> {
    pub(crate) ctx: &'a ExtensionContext,
}

impl<'a> Ai<'a> {
    /// Text of a PDF, PNG or JPEG given as **base64** (as it arrives in JSON input: it is passed
    /// on without being decoded). For raw bytes use [`Ai::ocr_bytes`].
    pub fn ocr(&self, base64: &str, options: OcrOptions) -> Result<OcrResult> {
        let mut payload = serde_json::to_value(&options)?;
        payload["data"] = Value::String(base64.to_string());
        self.ctx.host("query:ai.ocr.v1", &payload)
    }

    pub fn ocr_bytes(&self, bytes: &[u8], options: OcrOptions) -> Result<OcrResult> {
        self.ocr(&crate::base64::encode(bytes), options)
    }

    /// Asks the configured text model about `text` (`prompt` is the instruction).
    pub fn classify_text(&self, text: &str, prompt: &str) -> Result<Classification> {
        self.ctx.host("query:ai.classify_text.v1", &json!({ "text": text, "prompt": prompt }))
    }

    /// `classify_text` whose answer is JSON following `schema` (checked by the host).
    pub fn classify_text_with_schema(&self, text: &str, prompt: &str, schema: Value) -> Result<Classification> {
        self.ctx.host("query:ai.classify_text.v1", &json!({ "text": text, "prompt": prompt, "schema": schema }))
    }
}
