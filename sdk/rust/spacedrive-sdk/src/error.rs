//! Errors as the ABI reports them: `{"code","message","details"}`. A handler that returns
//! `Err(e)` fails its call with `e` (through `sd_error`); the caller sees `e.code` when it is
//! one of the codes that describe a request (`INVALID_INPUT`, `NOT_FOUND`, `ALREADY_EXISTS`),
//! else `EXTENSION_ERROR` with `details.guest_code`. An error from a host call keeps the host's
//! code, so passing it on with `?` does the right thing.

use serde_json::{json, Value};
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub code: String,
    pub message: String,
    pub details: Option<Value>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Error { code: code.into(), message: message.into(), details: None }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// The caller's input is wrong (reaches the caller as `INVALID_INPUT`).
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Error::new("INVALID_INPUT", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Error::new("NOT_FOUND", message)
    }

    pub fn already_exists(message: impl Into<String>) -> Self {
        Error::new("ALREADY_EXISTS", message)
    }

    /// A failure of the extension itself (reaches the caller as `EXTENSION_ERROR`).
    pub fn failed(message: impl Into<String>) -> Self {
        Error::new("FAILED", message)
    }

    /// The JSON `sd_error` takes.
    pub fn to_json(&self) -> String {
        let mut v = json!({ "code": self.code, "message": self.message });
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        v.to_string()
    }

    /// Adds context in front of the message, keeping the code: `could not read the receipt: …`.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{}: {}", what, self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::invalid_input(format!("invalid JSON: {}", e))
    }
}
