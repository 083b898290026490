/**
 * `spacedrive extension new <id>`: writes a working extension project outside this repository —
 * a manifest, a query, an action, a resumable job, a test on the harness, a README and a
 * package.json — that builds and passes its test as generated.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import { EXTENSION_ID_PATTERN, type ProjectLanguage } from './project.js';
import { AS_SDK_DIR, PACKAGE_ROOT, RUST_SDK_DIR, toolVersion } from './toolchain.js';

export interface NewProjectOptions {
  id: string;
  /** Default `assemblyscript`. */
  language?: ProjectLanguage;
  /** Where to create it (default: `./<id>`); must be missing or empty. */
  dir: string;
  /** Directory of the Rust SDK crate (`sdk/rust` of this repository), for `--lang rust`. */
  rustSdkDir?: string;
}

export interface NewProjectResult {
  dir: string;
  files: string[];
}

function title(id: string): string {
  return id
    .split(/[-_]/)
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join(' ');
}

function manifest(id: string): string {
  return `${JSON.stringify(
    {
      id,
      name: title(id),
      version: '0.1.0',
      description: `${title(id)}: greets, takes notes and counts (made by spacedrive extension new)`,
      author: '',
      abi_version: 1,
      permissions: { call: [], dispatch: [], manage_jobs: [], filesystem: [], libraries: [], network: [] },
      limits: { memory_mb: 16, call_timeout_ms: 5000, instances: 2, concurrent_jobs: 2 },
      config_schema: { type: 'object', additionalProperties: false, properties: {} },
      config: {},
    },
    null,
    2,
  )}\n`;
}

function assemblyScriptSource(id: string): string {
  return `/**
 * ${id}: a query, an action and a resumable job.
 *
 * - query:${id}:greet.v1     {name} -> {greeting}
 * - action:${id}:note.v1     {text} -> {words, job_id}: logs the note and starts a count of its words
 * - job ${id}:count          {to, delay_ms?} -> {counted}: one checkpoint {done} per step; a pause,
 *                            a cancel, a reload or a crash of the daemon resumes from the last one
 */
import { JSON } from "json-as";
import { ExtensionContext, Interrupt, JobContext, JobOptions, OperationOptions, log } from "spacedrive-sdk";

// Every module exports the ABI marker and the allocator.
export { sd_abi_version, sd_alloc, sd_free } from "spacedrive-sdk";

// The classes are the schemas: the SDK's build derives each one's JSON Schema from its fields
// (@describe and @schema add what a type cannot say), registers them, and the host checks every
// input, output, job parameter, checkpoint and job output against them.

@json
class GreetInput {
  @describe("Who to greet")
  @schema('{"minLength":1,"maxLength":200}')
  name: string = "";
}

@json
class GreetOutput {
  greeting: string = "";
}

@json
class NoteInput {
  @describe("The note")
  @schema('{"minLength":1,"maxLength":10000}')
  text: string = "";
}

@json
class NoteOutput {
  words: i32 = 0;
  job_id: string = "";
}

@json
class CountParams {
  @describe("Count up to this number")
  @schema('{"minimum":0,"maximum":1000000}')
  to: i32 = 0;
  @optional
  @describe("Pause between steps, in milliseconds")
  @schema('{"minimum":0,"maximum":60000}')
  delay_ms: i32 = 0;
}

@json
class CountState {
  done: i32 = 0;
}

@json
class CountOutput {
  counted: i32 = 0;
}

/** Registers the query, the action and the job type, with the schemas of their classes. */
export function plugin_init(): i32 {
  const ctx = new ExtensionContext();
  ctx.registerQuery("greet", "greet", OperationOptions.typed<GreetInput, GreetOutput>("Greets someone by name"));
  ctx.registerAction("note", "note", OperationOptions.typed<NoteInput, NoteOutput>("Logs a note and counts its words in a job"));
  ctx.registerJob("count", "count", true, JobOptions.typed<CountParams, CountState, CountOutput>("Counts up, one checkpoint per step"));
  return ctx.initStatus();
}

/** query:${id}:greet.v1 */
export function greet(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const input = ctx.readInput<GreetInput>();
  const out = new GreetOutput();
  out.greeting = "Hello, " + input.name + "!";
  return ctx.writeOutput<GreetOutput>(out);
}

/** action:${id}:note.v1 */
export function note(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const input = ctx.readInput<NoteInput>();
  log.info("note: " + input.text);
  const words = input.text.split(" ").filter((w: string) => w.length > 0).length;
  const params = new CountParams();
  params.to = words;
  // Its own job types need no permission; another extension's or core's need permissions.dispatch.
  const dispatched = ctx.jobs().dispatch<CountParams>("${id}:count", params);
  if (!dispatched.ok) return ctx.fail(dispatched.error!.message, dispatched.error!.code);
  const out = new NoteOutput();
  out.words = words;
  out.job_id = dispatched.value;
  return ctx.writeOutput<NoteOutput>(out);
}

/** Job ${id}:count */
export function count(ptr: i32, len: i32): i64 {
  const job = JobContext.fromParams(ptr, len);
  const params = job.params<CountParams>();
  const saved = job.state<CountState>();
  const state = new CountState();
  if (saved !== null) {
    state.done = saved.done;
    log.info("resuming at " + state.done.toString());
  }
  const ctx = new ExtensionContext();
  while (state.done < params.to) {
    if (params.delay_ms > 0) {
      const slept = ctx.sleep(params.delay_ms);
      if (!slept.ok) return job.failed(slept.error!.message, false, slept.error!.code);
    }
    state.done++;
    const next = job.reportProgress<CountState>(<f64>state.done / <f64>params.to, state, state.done.toString() + " of " + params.to.toString());
    if (next == Interrupt.Pause || next == Interrupt.Cancel) return job.interrupted<CountState>(state);
  }
  const out = new CountOutput();
  out.counted = params.to;
  return job.complete<CountOutput>(out);
}
`;
}

function testSource(id: string): string {
  return `/**
 * Runs ${id} in an in-process host (real sandbox, real job system and stores, temporary data
 * directory): \`spacedrive extension test\` builds the module, then runs this with vitest.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ExtensionHarness } from 'spacedrive-extensions/testing';

let harness: ExtensionHarness;

beforeAll(async () => {
  harness = await ExtensionHarness.start({ project: fileURLToPath(new URL('..', import.meta.url)) });
});

afterAll(async () => {
  await harness?.close();
});

it('greets', async () => {
  expect(await harness.query('greet', { name: 'Ada' })).toEqual({ greeting: 'Hello, Ada!' });
});

it('refuses input its schema does not allow', async () => {
  await expect(harness.query('greet', { name: '' })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
});

it('notes: logs the text and dispatches a count of its words', async () => {
  const out = await harness.action<{ words: number; job_id: string }>('note', { text: 'three little words' });
  expect(out.words).toBe(3);
  expect(harness.logs).toContainEqual(expect.objectContaining({ level: 'info', message: 'note: three little words' }));
  expect(harness.hostCalls.map((c) => c.method)).toContain('action:jobs.dispatch.input.v1');
  // The job it dispatched counts the words.
  expect((await harness.job(out.job_id).finished()).output).toEqual({ counted: 3 });
});

it('counts step by step, one checkpoint per step', async () => {
  const job = await harness.startJob('count', { to: 3 }, { stepwise: true });
  expect((await job.step()).state).toEqual({ done: 1 });
  expect((await job.step()).state).toEqual({ done: 2 });
  const done = await job.finished();
  expect(done.status).toBe('completed');
  expect(done.output).toEqual({ counted: 3 });
  expect(job.checkpoints).toEqual([{ done: 1 }, { done: 2 }, { done: 3 }]);
});

it('continues from its last checkpoint after the daemon crashed', async () => {
  harness.crashAfterCheckpoint(2);
  const job = await harness.startJob('count', { to: 5 });
  await job.crashed;
  await harness.restart();
  const done = await job.finished();
  expect(done.output).toEqual({ counted: 5 });
  // Resumed from {done: 2}: steps 3, 4 and 5 ran after the restart.
  expect(job.checkpoints).toEqual([{ done: 1 }, { done: 2 }, { done: 3 }, { done: 4 }, { done: 5 }]);
  expect(harness.logs).toContainEqual(expect.objectContaining({ message: 'resuming at 2' }));
});
`;
}

function readme(id: string, language: ProjectLanguage): string {
  const rust = language === 'rust';
  return `# ${title(id)}

A Spacedrive extension (ABI v1, ${rust ? 'Rust' : 'AssemblyScript'}), made by \`spacedrive extension new ${id}${rust ? ' --lang rust' : ''}\`.

| What | Name | Input → output |
| --- | --- | --- |
| query | \`query:${id}:greet.v1\` | \`{name}\` → \`{greeting}\` |
| action | \`action:${id}:note.input.v1\` | \`{text}\` → \`{words, job_id}\` (logs the note, dispatches a count) |
| job | \`${id}:count\` | \`{to, delay_ms?}\` → \`{counted}\`, checkpoint \`{done}\` per step |

## Develop

\`\`\`sh
spacedrive extension test          # build, then run test/*.test.ts in an in-process host
spacedrive extension build         # build/${id}.wasm + build/manifest.json (module, sha256)
spacedrive extension dev           # rebuild and hot-reload into the running daemon on every save
spacedrive extension pack          # ${id}-0.1.0.sdext, one file to share
spacedrive extensions install ${id}-0.1.0.sdext
spacedrive query ${id}:greet --name Ada
spacedrive jobs dispatch ${id}:count --to 10 --delay-ms 500 --follow
\`\`\`

Sources are in ${rust ? "\`src/lib.rs\` (the SDK: the \`spacedrive-sdk\` crate; Cargo.toml)" : "\`src/index.ts\` (the SDK: \`spacedrive-sdk\`; typed JSON: \`json-as\`)"}, tests in
\`test/\` (the harness: \`spacedrive-extensions/testing\`), permissions and limits in
\`manifest.json\` (the build writes \`module\` and \`sha256\` into \`build/manifest.json\`).
`;
}

function packageJson(id: string): string {
  return `${JSON.stringify(
    {
      name: id,
      version: '0.1.0',
      private: true,
      type: 'module',
      description: `Spacedrive extension ${id}`,
      scripts: {
        build: 'spacedrive extension build',
        test: 'spacedrive extension test',
        dev: 'spacedrive extension dev',
        pack: 'spacedrive extension pack',
      },
      devDependencies: {
        // The SDK and the harness from the spacedrive installation this project was made with.
        'spacedrive-sdk': `file:${AS_SDK_DIR}`,
        'spacedrive-extensions': `file:${PACKAGE_ROOT}`,
        assemblyscript: toolVersion('assemblyscript'),
        'json-as': toolVersion('json-as'),
        vitest: toolVersion('vitest'),
      },
    },
    null,
    2,
  )}\n`;
}

const GITIGNORE = `node_modules/\nbuild/\n.spacedrive/\ntarget/\n*.sdext\n`;

/** Debian's packaged crates (librust-*-dev): where this machine builds Rust offline from. */
export const DEBIAN_CRATE_REGISTRY = '/usr/share/cargo/registry';

function cargoToml(id: string, rustSdkDir: string): string {
  return `[package]
name = "${id}"
version = "0.1.0"
edition = "2021"
description = "Spacedrive extension ${id}"
publish = false

[lib]
crate-type = ["cdylib"]
path = "src/lib.rs"

[dependencies]
# The SDK of the spacedrive installation this project was made with.
spacedrive-sdk = { path = "${join(rustSdkDir, 'spacedrive-sdk')}" }
serde = { version = "1", features = ["derive"] }
serde_json = "1"

[profile.release]
opt-level = "s"
lto = true
panic = "abort"
codegen-units = 1
strip = "debuginfo"
`;
}

/** Offline builds from Debian's crates, when this machine has them (as sdk/rust/.cargo/config.toml). */
function cargoConfig(): string {
  return `# Written by spacedrive extension new: crates come from Debian's packages (offline), as the
# SDK builds in its repository. Delete this file to use crates.io instead.
[source.crates-io]
replace-with = "debian"

[source.debian]
directory = "${DEBIAN_CRATE_REGISTRY}"

[net]
offline = true
`;
}

function rustSource(id: string): string {
  return `//! ${id}: a query, an action and a resumable job (spacedrive-sdk, Rust).
//!
//! - query:${id}:greet.v1     {name} -> {greeting}
//! - action:${id}:note.v1     {text} -> {words, job_id}: logs the note and starts a count of its words
//! - job ${id}:count          {to, delay_ms?} -> {counted}: one checkpoint {done} per step; a pause,
//!                            a cancel, a reload or a crash of the daemon resumes from the last one

use spacedrive_sdk::prelude::*;

#[extension]
fn plugin_init() -> i32 {
    let ctx = ExtensionContext::new(None);
    ctx.register_query("greet", "greet").ok();
    ctx.register_action("note", "note").ok();
    ctx.register_job(JobRegistration { name: "count", export_fn: "count", resumable: true }).ok();
    0
}

/// Who to greet.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GreetInput {
    /// Who to greet
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
}

#[derive(Serialize, JsonSchema)]
pub struct GreetOutput {
    pub greeting: String,
}

#[query(description = "Greets someone by name")]
fn greet(_ctx: &ExtensionContext, input: GreetInput) -> Result<GreetOutput> {
    Ok(GreetOutput { greeting: format!("Hello, {}!", input.name) })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    /// The note
    #[schema(min_length = 1, max_length = 10000)]
    pub text: String,
}

#[derive(Serialize, JsonSchema)]
pub struct NoteOutput {
    pub words: u32,
    pub job_id: String,
}

#[action(description = "Logs a note and counts its words in a job")]
fn note(ctx: &ExtensionContext, input: NoteInput) -> Result<NoteOutput> {
    log_info!("note: {}", input.text);
    let words = input.text.split(' ').filter(|w| !w.is_empty()).count() as u32;
    // Its own job types need no permission; another extension's or core's need permissions.dispatch.
    let job = ctx.jobs().dispatch("${id}:count", json!({ "to": words }))?;
    Ok(NoteOutput { words, job_id: job.job_id })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CountParams {
    /// Count up to this number
    #[schema(minimum = 0, maximum = 1000000)]
    pub to: u32,
    /// Pause between steps, in milliseconds
    #[serde(default)]
    #[schema(maximum = 60000)]
    pub delay_ms: Option<u32>,
}

#[derive(Serialize, Deserialize, Default)]
pub struct CountState {
    pub done: Option<u32>,
}

/// Counts up, checkpointing each step: a pause, a crash or a retry resumes where it was.
#[job(description = "Counts up, one checkpoint per step")]
fn count(ctx: &ExtensionContext, params: CountParams) -> Result<u64> {
    let saved: CountState = ctx.get_job_state()?;
    let mut done = saved.done.unwrap_or(0);
    if saved.done.is_some() {
        log_info!("resuming at {}", done);
    }
    while done < params.to {
        if let Some(ms) = params.delay_ms.filter(|ms| *ms > 0) {
            spacedrive_sdk::call("extension.sleep", &json!({ "ms": ms }))?;
        }
        done += 1;
        let state = json!({ "done": done });
        if ctx.report_progress(done as f32 / params.to as f32, &state)? != Control::Continue {
            return Ok(ctx.interrupted(&state));
        }
    }
    Ok(ctx.complete(&json!({ "counted": params.to })))
}
`;
}

/** Creates the project; ALREADY_EXISTS when the directory holds anything. */
export function newProject(o: NewProjectOptions): NewProjectResult {
  if (!EXTENSION_ID_PATTERN.test(o.id)) {
    throw new SpacedriveError(ErrorCode.USAGE, `'${o.id}' is not a valid extension id: lowercase letters, digits, '-' and '_', starting with a letter, at most 64 characters`, { id: o.id });
  }
  const language = o.language ?? 'assemblyscript';
  const dir = resolve(o.dir);
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new SpacedriveError(ErrorCode.ALREADY_EXISTS, `${dir} exists and is not empty; choose another --dir`, { dir });
  }
  const files: Record<string, string> = {
    'manifest.json': manifest(o.id),
    'README.md': readme(o.id, language),
    '.gitignore': GITIGNORE,
  };
  if (language === 'assemblyscript') {
    files['src/index.ts'] = assemblyScriptSource(o.id);
    files[`test/${o.id}.test.ts`] = testSource(o.id);
    files['package.json'] = packageJson(o.id);
  } else {
    const rustSdk = o.rustSdkDir ?? RUST_SDK_DIR;
    if (!existsSync(join(rustSdk, 'spacedrive-sdk', 'Cargo.toml'))) {
      throw new SpacedriveError(ErrorCode.USAGE, `--lang rust needs the Rust SDK (${rustSdk}), which this installation does not have`, { language });
    }
    files['Cargo.toml'] = cargoToml(o.id, rustSdk);
    files['src/lib.rs'] = rustSource(o.id);
    if (existsSync(DEBIAN_CRATE_REGISTRY)) files['.cargo/config.toml'] = cargoConfig();
    // The tests are the same: the harness does not care which language built the module.
    files[`test/${o.id}.test.ts`] = testSource(o.id);
    files['package.json'] = packageJson(o.id);
  }
  for (const [name, text] of Object.entries(files)) {
    const path = join(dir, name);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, text);
  }
  return { dir, files: Object.keys(files).sort() };
}
