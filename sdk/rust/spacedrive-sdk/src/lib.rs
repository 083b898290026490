//! # spacedrive-sdk
//!
//! Write Spacedrive extensions in Rust with the API of the design
//! (`docs/../extension-defined-jobs-and-actions`): `use spacedrive_sdk::prelude::*;`,
//! `ExtensionContext`, `register_query`, `read_input`, `write_output`, `ctx.ai().ocr(..)`,
//! `ctx.vdfs().create_entry(..)`, `ctx.jobs().dispatch(..)`, `ctx.call_query(..)`,
//! `get_job_state`, `report_progress`, `complete`. It implements the guest side of extension ABI
//! v1 (docs/extension-abi.md in the repository); the macros (`#[extension]`, `#[query]`,
//! `#[action]`, `#[job]`, `#[derive(JsonSchema)]`) write the exports and register JSON Schemas
//! derived from the handlers' Rust types. See sdk/rust/README.md.

pub mod abi;
pub mod ai;
pub mod base64;
pub mod context;
pub mod error;
pub mod jobs;
pub mod schema;
pub mod vdfs;

pub use ai::{Classification, OcrOptions, OcrResult};
pub use context::{full_method, CallContext, Control, ExtensionContext, HandlerMeta, JobRegistration, OperationRegistration};
pub use error::{Error, Result};
pub use jobs::DispatchedJob;
pub use schema::JsonSchema;
pub use spacedrive_sdk_macros::{action, extension, job, query, JsonSchema};
pub use vdfs::{CreateEntry, Entry};

// What the macros' generated code refers to (not part of the API).
#[doc(hidden)]
pub mod __private {
    pub use serde_json;
}

use serde::Deserialize;
use serde_json::Value;

pub mod prelude {
    pub use crate::ai::{Classification, OcrOptions, OcrResult};
    pub use crate::context::{CallContext, Control, ExtensionContext, JobRegistration, OperationRegistration};
    pub use crate::error::{Error, Result};
    pub use crate::jobs::DispatchedJob;
    pub use crate::schema::JsonSchema;
    pub use crate::vdfs::{CreateEntry, Entry};
    pub use crate::{log_debug, log_error, log_info, log_warn};
    pub use serde::{Deserialize, Serialize};
    pub use serde_json::{json, Value};
    pub use spacedrive_sdk_macros::{action, extension, job, query, JsonSchema};
}

#[derive(Deserialize)]
struct WireError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    details: Option<Value>,
}

#[derive(Deserialize)]
struct Envelope {
    ok: bool,
    #[serde(default)]
    result: Value,
    #[serde(default)]
    error: Option<WireError>,
}

/// The one generic host call (`sd_call`): a wire method (`query:core.status.v1`) or a host
/// method (`extension.config`), with its result or the host's error (its code kept).
pub fn call(method: &str, payload: &Value) -> Result<Value> {
    let bytes = serde_json::to_vec(payload)?;
    let answer = abi::call_raw(method, &bytes);
    if answer.is_empty() {
        return Err(Error::failed(format!("{}: the host answered nothing", method)));
    }
    let envelope: Envelope = serde_json::from_slice(&answer).map_err(|e| Error::failed(format!("{}: unreadable answer from the host: {}", method, e)))?;
    if envelope.ok {
        return Ok(envelope.result);
    }
    let e = envelope.error.unwrap_or(WireError { code: None, message: None, details: None });
    Err(Error {
        code: e.code.unwrap_or_else(|| "EXTENSION_ERROR".into()),
        message: e.message.unwrap_or_else(|| format!("{} failed", method)),
        details: e.details,
    })
}

pub fn log(level: i32, message: &str) {
    abi::log(level, message)
}

#[macro_export]
macro_rules! log_debug { ($($t:tt)*) => { $crate::log(1, &format!($($t)*)) } }
#[macro_export]
macro_rules! log_info { ($($t:tt)*) => { $crate::log(2, &format!($($t)*)) } }
#[macro_export]
macro_rules! log_warn { ($($t:tt)*) => { $crate::log(3, &format!($($t)*)) } }
#[macro_export]
macro_rules! log_error { ($($t:tt)*) => { $crate::log(4, &format!($($t)*)) } }

/// Reports a panic's message and place through `sd_error` before the module traps, so the
/// caller's `EXTENSION_TRAPPED` error says what went wrong ("panicked at 'no total',
/// src/lib.rs:42:9") rather than just "unreachable". `#[extension]` installs it in `plugin_init`.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let what = if let Some(s) = info.payload().downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = info.payload().downcast_ref::<String>() {
            s.clone()
        } else {
            "panic".to_string()
        };
        let at = info.location().map(|l| format!(", {}:{}:{}", l.file(), l.line(), l.column())).unwrap_or_default();
        let message = format!("panicked at '{}'{}", what, at);
        abi::set_error(&Error::new("PANIC", message).to_json());
    }));
}
