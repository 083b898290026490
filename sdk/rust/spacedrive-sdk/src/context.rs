//! `ExtensionContext`, as the design writes it: one per call (`from_params`, `from_job_params`)
//! or for `plugin_init` (`new`), reading the call's input, writing its output, registering
//! operations and jobs, and reaching the host (`ai()`, `vdfs()`, `jobs()`, `call_query`).

use crate::abi;
use crate::error::{Error, Result};
use crate::schema::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use std::cell::RefCell;

/// What `#[query]`, `#[action]` and `#[job]` know of a handler beyond its name: its schemas
/// (derived from its Rust types) and attributes. `#[extension]` hands it to the registration of
/// the export in `plugin_init`.
#[derive(Debug, Clone, Default)]
pub struct HandlerMeta {
    pub description: Option<&'static str>,
    pub input_schema: Option<Value>,
    pub output_schema: Option<Value>,
    pub params_schema: Option<Value>,
    pub library_scoped: bool,
}

/// A job type to register, as the design writes it.
#[derive(Debug, Clone)]
pub struct JobRegistration<'a> {
    pub name: &'a str,
    pub export_fn: &'a str,
    pub resumable: bool,
}

/// An operation to register with everything the ABI takes (`register_query`/`register_action`
/// are the short forms).
#[derive(Debug, Clone, Default)]
pub struct OperationRegistration<'a> {
    pub name: &'a str,
    pub export_fn: &'a str,
    /// `"query"` or `"action"`.
    pub operation_type: &'a str,
    /// `.vN` of the method (default 1).
    pub version: Option<u32>,
    pub description: Option<&'a str>,
    pub input_schema: Option<Value>,
    pub output_schema: Option<Value>,
    /// Takes the caller's library (docs/extension-abi.md, "Library context").
    pub library_scoped: bool,
}

/// What the host answers a job's progress report with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Continue,
    /// Pause requested: return `ctx.interrupted(&state)` soon.
    Pause,
    /// Cancel requested: the job ends whatever the handler does next.
    Cancel,
}

/// The call's context from the host (`extension.context`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct CallContext {
    pub library_id: Option<String>,
    pub method: Option<String>,
    pub job_id: Option<String>,
}

#[derive(Debug, Clone, serde::Deserialize)]
struct JobInput {
    job_id: String,
    job_type: String,
    #[serde(default)]
    params: Value,
    #[serde(default)]
    state: Value,
    #[serde(default)]
    attempt: u32,
}

pub struct ExtensionContext {
    /// The library given to `new`, or the call's (asked of the host on first use).
    library: RefCell<Option<Option<String>>>,
    input: Vec<u8>,
    job: Option<JobInput>,
}

impl ExtensionContext {
    /// A context for `plugin_init` (registration) or for code that names its library itself.
    pub fn new(library_id: Option<&str>) -> Self {
        ExtensionContext { library: RefCell::new(library_id.map(|l| Some(l.to_string()))), input: Vec::new(), job: None }
    }

    /// The context of a query or action call: its input is the JSON at `ptr..ptr+len`.
    pub fn from_params(ptr: u32, len: u32) -> Self {
        ExtensionContext { library: RefCell::new(None), input: abi::read_bytes(ptr as usize, len as usize), job: None }
    }

    /// The context of a job handler call: `{"job_id","job_type","params","state","attempt"}`.
    /// Input the host never sends (it is not the job input) fails at `get_job_state`/`job_params`.
    pub fn from_job_params(ptr: u32, len: u32) -> Self {
        let input = abi::read_bytes(ptr as usize, len as usize);
        let job = serde_json::from_slice::<JobInput>(&input).ok();
        ExtensionContext { library: RefCell::new(None), input, job }
    }

    // ---------------------------------------------------------------------------------------
    // input and output

    /// The call's input, typed. Input the type does not accept is `INVALID_INPUT`.
    pub fn read_input<T: DeserializeOwned>(&self) -> Result<T> {
        let bytes: &[u8] = if self.input.is_empty() { b"null" } else { &self.input };
        serde_json::from_slice(bytes).map_err(|e| Error::invalid_input(format!("invalid input: {}", e)))
    }

    /// The call's input as it came (JSON text).
    pub fn input_bytes(&self) -> &[u8] {
        &self.input
    }

    /// Returns `value` as the call's output (what a handler returns).
    pub fn write_output<T: Serialize + ?Sized>(&self, value: &T) -> u64 {
        match serde_json::to_vec(value) {
            Ok(bytes) => abi::to_host(&bytes),
            Err(e) => self.fail(Error::failed(format!("output is not JSON: {}", e))),
        }
    }

    /// Fails the call with `error` (what a handler returns to fail).
    pub fn fail(&self, error: Error) -> u64 {
        abi::set_error(&error.to_json());
        0
    }

    /// `Ok(v)` → the output, `Err(e)` → the call fails with `e`.
    pub fn respond<T: Serialize>(&self, result: Result<T>) -> u64 {
        match result {
            Ok(v) => self.write_output(&v),
            Err(e) => self.fail(e),
        }
    }

    // ---------------------------------------------------------------------------------------
    // library and call context

    /// The library this context works in: the one given to `new`, else the call's (a
    /// library-scoped operation's, or the library a job was dispatched with); `None` for
    /// neither.
    pub fn library_id(&self) -> Option<String> {
        if let Some(known) = self.library.borrow().as_ref() {
            return known.clone();
        }
        let id = self.call_context().ok().and_then(|c| c.library_id);
        *self.library.borrow_mut() = Some(id.clone());
        id
    }

    /// What the host knows of this call: library, method, job.
    pub fn call_context(&self) -> Result<CallContext> {
        self.host("extension.context", &json!({}))
    }

    /// The extension's configuration (its manifest's `config`).
    pub fn config<T: DeserializeOwned>(&self) -> Result<T> {
        self.host("extension.config", &json!({}))
    }

    /// `payload` with the library given to `new` when it names none (for `vdfs()`, whose methods
    /// all take one); without one the host uses the call's library.
    fn with_library(&self, mut payload: Value) -> Value {
        if let (Some(Some(lib)), Some(obj)) = (self.library.borrow().as_ref(), payload.as_object_mut()) {
            if !obj.contains_key("library_id") {
                obj.insert("library_id".into(), Value::String(lib.clone()));
            }
        }
        payload
    }

    // ---------------------------------------------------------------------------------------
    // calls

    /// Calls a host or wire method and decodes its result.
    pub fn host<T: DeserializeOwned>(&self, method: &str, payload: &Value) -> Result<T> {
        let value = crate::call(method, payload)?;
        serde_json::from_value(value).map_err(|e| Error::failed(format!("unexpected result from {}: {}", method, e)))
    }

    /// Calls a query: `"finance:classify_receipt"` (short, as the CLI takes it) or the full
    /// `"query:finance:classify_receipt.v1"`.
    /// A library-scoped method without a `library_id` in `input` runs against the call's library.
    pub fn call_query<I: Serialize, O: DeserializeOwned>(&self, method: &str, input: I) -> Result<O> {
        self.host(&full_method("query", method), &serde_json::to_value(input)?)
    }

    /// Calls an action (`"files.copy"`, `"finance:import_receipts"` or a full name).
    pub fn call_action<I: Serialize, O: DeserializeOwned>(&self, method: &str, input: I) -> Result<O> {
        self.host(&full_method("action", method), &serde_json::to_value(input)?)
    }

    pub fn ai(&self) -> crate::ai::Ai<'_> {
        crate::ai::Ai { ctx: self }
    }

    pub fn vdfs(&self) -> crate::vdfs::Vdfs<'_> {
        crate::vdfs::Vdfs { ctx: self }
    }

    pub fn jobs(&self) -> crate::jobs::Jobs<'_> {
        crate::jobs::Jobs { ctx: self }
    }

    pub(crate) fn call_with_library(&self, method: &str, payload: Value) -> Result<Value> {
        crate::call(method, &self.with_library(payload))
    }

    // ---------------------------------------------------------------------------------------
    // registration (plugin_init)

    /// Registers `query:<ext>:<name>.v1` served by the export `export_fn`.
    pub fn register_query(&self, name: &str, export_fn: &str) -> Result<()> {
        self.register_operation(OperationRegistration { name, export_fn, operation_type: "query", ..Default::default() })
    }

    /// Registers `action:<ext>:<name>.input.v1` served by the export `export_fn`.
    pub fn register_action(&self, name: &str, export_fn: &str) -> Result<()> {
        self.register_operation(OperationRegistration { name, export_fn, operation_type: "action", ..Default::default() })
    }

    /// `register_query` with what `#[query]` derived (used by `#[extension]`).
    pub fn register_query_with(&self, name: &str, export_fn: &str, meta: HandlerMeta) -> Result<()> {
        self.register_operation(with_meta(OperationRegistration { name, export_fn, operation_type: "query", ..Default::default() }, meta))
    }

    /// `register_action` with what `#[action]` derived (used by `#[extension]`).
    pub fn register_action_with(&self, name: &str, export_fn: &str, meta: HandlerMeta) -> Result<()> {
        self.register_operation(with_meta(OperationRegistration { name, export_fn, operation_type: "action", ..Default::default() }, meta))
    }

    pub fn register_operation(&self, r: OperationRegistration<'_>) -> Result<()> {
        let mut payload = json!({ "name": r.name, "export_fn": r.export_fn, "operation_type": r.operation_type });
        if let Some(v) = r.version {
            payload["version"] = json!(v);
        }
        if let Some(d) = r.description {
            payload["description"] = json!(d);
        }
        if let Some(s) = r.input_schema {
            payload["input_schema"] = s;
        }
        if let Some(s) = r.output_schema {
            payload["output_schema"] = s;
        }
        if r.library_scoped {
            payload["library_scoped"] = json!(true);
        }
        crate::call("extension.register_operation", &payload).map(|_| ())
    }

    /// Registers the job type `<ext>:<name>` served by the export `export_fn`.
    pub fn register_job(&self, registration: JobRegistration<'_>) -> Result<()> {
        self.register_job_with(registration, HandlerMeta::default())
    }

    /// `register_job` with what `#[job]` derived (used by `#[extension]`).
    pub fn register_job_with(&self, registration: JobRegistration<'_>, meta: HandlerMeta) -> Result<()> {
        let mut payload = json!({ "name": registration.name, "export_fn": registration.export_fn, "resumable": registration.resumable });
        if let Some(d) = meta.description {
            payload["description"] = json!(d);
        }
        if let Some(s) = meta.params_schema {
            payload["params_schema"] = s;
        }
        crate::call("extension.register_job", &payload).map(|_| ())
    }

    // ---------------------------------------------------------------------------------------
    // jobs

    fn job(&self) -> Result<&JobInput> {
        self.job.as_ref().ok_or_else(|| Error::failed("not a job handler call (use ExtensionContext::from_job_params with a job's input)"))
    }

    pub fn job_id(&self) -> Option<&str> {
        self.job.as_ref().map(|j| j.job_id.as_str())
    }

    pub fn job_type(&self) -> Option<&str> {
        self.job.as_ref().map(|j| j.job_type.as_str())
    }

    /// Which attempt this run is (1 on the first; a retry from a checkpoint counts up).
    pub fn attempt(&self) -> u32 {
        self.job.as_ref().map(|j| j.attempt).unwrap_or(0)
    }

    /// The job's params, typed (`INVALID_INPUT` when they do not fit the type).
    pub fn job_params<P: DeserializeOwned>(&self) -> Result<P> {
        serde_json::from_value(self.job()?.params.clone()).map_err(|e| Error::invalid_input(format!("invalid job params: {}", e)))
    }

    /// The last checkpointed state, or `T::default()` on a first run.
    pub fn get_job_state<T: DeserializeOwned + Default>(&self) -> Result<T> {
        let job = self.job()?;
        if job.state.is_null() {
            return Ok(T::default());
        }
        serde_json::from_value(job.state.clone()).map_err(|e| Error::failed(format!("the job's checkpoint does not fit its state type: {}", e)))
    }

    /// Whether this run resumes from a checkpoint.
    pub fn is_resumed(&self) -> bool {
        self.job.as_ref().map(|j| !j.state.is_null()).unwrap_or(false)
    }

    /// Reports progress and checkpoints `state` durably (before it returns); the answer says
    /// whether to go on.
    pub fn report_progress<S: Serialize + ?Sized>(&self, fraction: f32, state: &S) -> Result<Control> {
        self.progress(json!({ "fraction": clamp(fraction), "state": serde_json::to_value(state)? }))
    }

    /// A progress report with everything the ABI takes (`fraction`, `message`, `state`,
    /// `items_done`, `items_total`, `warning`, …).
    pub fn progress(&self, report: Value) -> Result<Control> {
        let bytes = serde_json::to_vec(&report)?;
        match abi::job_progress(&bytes) {
            0 => Ok(Control::Continue),
            1 => Ok(Control::Pause),
            2 => Ok(Control::Cancel),
            _ => Err(Error::failed("report_progress outside a job")),
        }
    }

    /// Whether a pause or cancel was asked for, without reporting.
    pub fn interrupt_requested(&self) -> Control {
        match abi::job_interrupt() {
            1 => Control::Pause,
            2 => Control::Cancel,
            _ => Control::Continue,
        }
    }

    /// Ends the job: completed, with `output`.
    pub fn complete<T: Serialize + ?Sized>(&self, output: &T) -> u64 {
        match serde_json::to_value(output) {
            Ok(v) => abi::to_host(json!({ "status": "completed", "output": v }).to_string().as_bytes()),
            Err(e) => self.job_failed(Error::failed(format!("output is not JSON: {}", e)), false),
        }
    }

    /// Ends this run after a pause request, keeping `state` as the checkpoint to resume from.
    pub fn interrupted<S: Serialize + ?Sized>(&self, state: &S) -> u64 {
        match serde_json::to_value(state) {
            Ok(v) => abi::to_host(json!({ "status": "interrupted", "state": v }).to_string().as_bytes()),
            Err(e) => self.job_failed(Error::failed(format!("state is not JSON: {}", e)), false),
        }
    }

    /// Ends this attempt as failed; `retryable` lets the host retry it from the last checkpoint.
    pub fn job_failed(&self, error: Error, retryable: bool) -> u64 {
        abi::to_host(json!({ "status": "failed", "error": { "code": error.code, "message": error.message }, "retryable": retryable }).to_string().as_bytes())
    }

    // ---------------------------------------------------------------------------------------
    // logging

    pub fn log_info(&self, message: &str) {
        abi::log(2, message)
    }

    pub fn log_warn(&self, message: &str) {
        abi::log(3, message)
    }
}

fn with_meta<'a>(mut r: OperationRegistration<'a>, meta: HandlerMeta) -> OperationRegistration<'a> {
    r.description = meta.description;
    r.input_schema = meta.input_schema;
    r.output_schema = meta.output_schema;
    r.library_scoped = meta.library_scoped;
    r
}

fn clamp(f: f32) -> f64 {
    if f.is_nan() {
        0.0
    } else {
        (f as f64).max(0.0).min(1.0)
    }
}

/// `finance:classify_receipt` → `query:finance:classify_receipt.v1`; `files.copy` →
/// `action:files.copy.input.v1`; `x:y.v2` → version 2; full names as they are.
pub fn full_method(kind: &str, name: &str) -> String {
    if name.starts_with("query:") || name.starts_with("action:") {
        return name.to_string();
    }
    let (mut base, mut version) = (name, "1");
    if let Some(dot) = name.rfind(".v") {
        let digits = &name[dot + 2..];
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            base = &name[..dot];
            version = digits;
        }
    }
    if kind == "query" {
        format!("query:{}.v{}", base, version)
    } else {
        format!("action:{}.input.v{}", base.trim_end_matches(".input"), version)
    }
}

/// The schema a `#[query]`'s type gives (used by the generated code).
pub fn schema_of<T: JsonSchema>() -> Option<Value> {
    Some(T::json_schema())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names() {
        assert_eq!(full_method("query", "finance:classify_receipt"), "query:finance:classify_receipt.v1");
        assert_eq!(full_method("action", "files.copy"), "action:files.copy.input.v1");
        assert_eq!(full_method("query", "x:y.v2"), "query:x:y.v2");
        assert_eq!(full_method("action", "action:a.b.input.v1"), "action:a.b.input.v1");
    }
}

/// What a `#[job]` handler may return: the packed outcome (`ctx.complete(..)`,
/// `ctx.interrupted(..)`), or a `Result` of it whose error fails the attempt (retried from the
/// last checkpoint while attempts remain, except for `INVALID_INPUT`).
pub trait JobReturn {
    fn into_packed(self, ctx: &ExtensionContext) -> u64;
}

impl JobReturn for u64 {
    fn into_packed(self, _: &ExtensionContext) -> u64 {
        self
    }
}

impl JobReturn for Result<u64> {
    fn into_packed(self, ctx: &ExtensionContext) -> u64 {
        match self {
            Ok(p) => p,
            Err(e) => {
                let retryable = e.code != "INVALID_INPUT";
                ctx.job_failed(e, retryable)
            }
        }
    }
}
