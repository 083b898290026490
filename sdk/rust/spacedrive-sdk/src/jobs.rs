//! The job system: dispatching jobs (an extension's own need no permission) and reading them.

use crate::context::ExtensionContext;
use crate::error::Result;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DispatchedJob {
    pub job_id: String,
    #[serde(default)]
    pub deduplicated: bool,
}

pub struct Jobs<'a> {
    pub(crate) ctx: &'a ExtensionContext,
}

impl<'a> Jobs<'a> {
    /// Dispatches a job of `job_type` (`finance:email_scan`) with `params`. It runs against the
    /// context's library and keeps it on every run.
    pub fn dispatch<P: Serialize>(&self, job_type: &str, params: P) -> Result<DispatchedJob> {
        let payload = json!({ "job_type": job_type, "params": serde_json::to_value(params)? });
        let v = crate::call("action:jobs.dispatch.input.v1", &payload)?;
        Ok(serde_json::from_value(v)?)
    }

    /// Dispatch with every option of `action:jobs.dispatch.input.v1` (`priority`, `dedupe_key`, …).
    pub fn dispatch_with(&self, payload: Value) -> Result<DispatchedJob> {
        let _ = self.ctx;
        let v = crate::call("action:jobs.dispatch.input.v1", &payload)?;
        Ok(serde_json::from_value(v)?)
    }

    pub fn status(&self, job_id: &str) -> Result<Value> {
        crate::call("query:jobs.get_status.v1", &json!({ "job_id": job_id }))
    }
}
