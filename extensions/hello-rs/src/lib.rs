//! hello-rs: the Rust SDK's example (the README's tutorial builds it step by step) and test
//! fixture: typed queries with derived schemas, errors and a panic as the caller sees them, a
//! library-scoped query, a resumable job, a call to another extension, and the no-op query the
//! benchmark measures.

use spacedrive_sdk::prelude::*;

#[extension]
fn plugin_init() -> i32 {
    let ctx = ExtensionContext::new(library_id);
    ctx.register_query("greet", "greet").ok();
    ctx.register_query("noop", "noop").ok();
    ctx.register_query("fail", "fail").ok();
    ctx.register_query("panic", "panic").ok();
    ctx.register_query("library", "library").ok();
    ctx.register_query("greet_via_hello", "greet_via_hello").ok();
    ctx.register_job(JobRegistration { name: "countdown", export_fn: "countdown", resumable: true }).ok();
    0
}

/// Who to greet.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GreetInput {
    /// A name
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Shout it
    #[serde(default)]
    pub loud: Option<bool>,
}

#[derive(Serialize, JsonSchema)]
pub struct GreetOutput {
    pub greeting: String,
}

#[query(description = "Greets someone by name")]
fn greet(_ctx: &ExtensionContext, input: GreetInput) -> Result<GreetOutput> {
    let greeting = format!("Hello, {}!", input.name);
    Ok(GreetOutput { greeting: if input.loud == Some(true) { greeting.to_uppercase() } else { greeting } })
}

#[derive(Serialize, Deserialize, JsonSchema)]
pub struct Empty {}

/// The benchmark's Rust no-op query: reads its input, answers `{}`.
#[query(description = "Does nothing (the benchmark's no-op)")]
fn noop(_ctx: &ExtensionContext, _input: Empty) -> Result<Empty> {
    Ok(Empty {})
}

#[query(description = "Always fails with NOT_FOUND")]
fn fail(_ctx: &ExtensionContext, _input: Empty) -> Result<Empty> {
    Err(Error::not_found("no such greeting").with_details(json!({ "tried": ["hello", "hi"] })))
}

#[query(description = "Panics (the caller sees the panic's message)")]
fn panic(_ctx: &ExtensionContext, _input: Empty) -> Result<Empty> {
    let greetings: Vec<&str> = Vec::new();
    if greetings.is_empty() {
        panic!("no greetings left");
    }
    Ok(Empty {})
}

#[derive(Serialize, JsonSchema)]
pub struct LibraryOutput {
    pub library_id: Option<String>,
}

#[query(library_scoped, description = "The library this call runs against (--library, else the default one)")]
fn library(ctx: &ExtensionContext, _input: Empty) -> Result<LibraryOutput> {
    Ok(LibraryOutput { library_id: ctx.library_id() })
}

/// Calls the AssemblyScript hello extension's greet through the host (ctx.call_query).
#[query(description = "Greets through hello:greet (another extension)")]
fn greet_via_hello(ctx: &ExtensionContext, input: GreetInput) -> Result<Value> {
    ctx.call_query("hello:greet", json!({ "name": input.name }))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CountdownParams {
    #[schema(minimum = 0, maximum = 1000000)]
    pub from: u32,
    /// Milliseconds to wait at each step
    #[serde(default)]
    #[schema(maximum = 60000)]
    pub delay_ms: Option<u32>,
}

#[derive(Serialize, Deserialize, Default)]
pub struct CountdownState {
    pub remaining: Option<u32>,
}

/// Counts down to zero, checkpointing each step: a pause, a crash or a retry resumes where it was.
#[job(description = "Counts down to zero, one checkpoint per step")]
fn countdown(ctx: &ExtensionContext, params: CountdownParams) -> Result<u64> {
    let mut state: CountdownState = ctx.get_job_state()?;
    let mut remaining = state.remaining.unwrap_or(params.from);
    while remaining > 0 {
        if let Some(ms) = params.delay_ms.filter(|ms| *ms > 0) {
            spacedrive_sdk::call("extension.sleep", &json!({ "ms": ms }))?;
        }
        remaining -= 1;
        state.remaining = Some(remaining);
        let done = (params.from - remaining) as f32 / params.from.max(1) as f32;
        if ctx.report_progress(done, &state)? != Control::Continue {
            return Ok(ctx.interrupted(&state));
        }
    }
    Ok(ctx.complete(&json!({ "counted": params.from })))
}
