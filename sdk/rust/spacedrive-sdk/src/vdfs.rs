//! The library's virtual file system (`vdfs.*`): entries and sidecars. Calls run against the
//! context's library: the one given to `ExtensionContext::new`, else the call's (a
//! library-scoped operation's, or the library a job was dispatched with), else the default.

use crate::context::ExtensionContext;
use crate::error::Result;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// An entry to create (`action:vdfs.create_entry.input.v1`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CreateEntry {
    pub name: String,
    /// Unique in the library, e.g. `receipts/<id>.eml`.
    pub path: String,
    pub entry_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// The entry's bytes, base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Another unique key (a Message-ID): a second create with it finds the first entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dedupe_key: Option<String>,
    /// `"error"` (default), `"return"` or `"replace"` when the path or dedupe key exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub if_exists: Option<String>,
    /// Another library than the context's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub library_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Entry {
    pub id: String,
    pub library_id: String,
    pub name: String,
    pub path: String,
    pub entry_type: String,
    #[serde(default)]
    pub metadata: Value,
    #[serde(default)]
    pub size: Option<u64>,
    /// Set by create_entry: whether this call created it (false: it existed).
    #[serde(default)]
    pub created: bool,
    #[serde(default)]
    pub replaced: bool,
}

pub struct Vdfs<'a> {
    pub(crate) ctx: &'a ExtensionContext,
}

impl<'a> Vdfs<'a> {
    pub fn create_entry(&self, entry: CreateEntry) -> Result<Entry> {
        let v = self.ctx.call_with_library("action:vdfs.create_entry.input.v1", serde_json::to_value(entry)?)?;
        Ok(serde_json::from_value(v)?)
    }

    pub fn get_entry(&self, entry_id: &str) -> Result<Entry> {
        let v = self.ctx.call_with_library("query:vdfs.get_entry.v1", json!({ "entry_id": entry_id }))?;
        Ok(serde_json::from_value(v)?)
    }

    /// Writes `value` as the JSON sidecar `kind` of the entry's content (replacing one there).
    pub fn write_sidecar<T: Serialize + ?Sized>(&self, entry_id: &str, kind: &str, value: &T) -> Result<Value> {
        let payload = json!({ "entry_id": entry_id, "kind": kind, "format": "json", "json": serde_json::to_value(value)? });
        self.ctx.call_with_library("action:vdfs.write_sidecar.input.v1", payload)
    }

    /// The JSON sidecar `kind` of an entry, decoded.
    pub fn read_sidecar(&self, entry_id: &str, kind: &str) -> Result<Value> {
        let v = self.ctx.call_with_library("query:vdfs.read_sidecar.v1", json!({ "entry_id": entry_id, "kind": kind }))?;
        Ok(v.get("json").cloned().unwrap_or(Value::Null))
    }

    /// Any other `vdfs.*` method with a payload of your own (the context's library added).
    pub fn call(&self, method: &str, payload: Value) -> Result<Value> {
        self.ctx.call_with_library(method, payload)
    }
}
