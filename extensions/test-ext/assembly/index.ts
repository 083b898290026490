/**
 * test-ext: exercises every path of extension ABI v1 through the SDK. Used by the SDK's tests,
 * the extension host's integration tests and the benchmarks (`noop`).
 *
 * Queries (query:test-ext:<name>.v1): noop, echo, echo_text, fail, panic, core_status,
 * greet_via_hello, log_levels, config, info, bytes, measure, churn, relay, sleep.
 * Actions (action:test-ext:<name>.input.v1): record, dispatch_steps.
 * Jobs: test-ext:steps (resumable; progress + state + interrupt checks, optional failures),
 * test-ext:noop_job (resumable; completes at once: the floor of an extension job, for benchmarks),
 * test-ext:counter (resumable; logs `acked <job_id> <n>` after each acknowledged checkpoint, for
 * the crash tests), test-ext:typed_job (params, state and output schemas derived from its classes;
 * `break_state` / `break_output` make it report what they do not allow).
 */
import { JSON } from "json-as";
import {
  ExtensionContext,
  JobContext,
  JobOptions,
  Interrupt,
  OperationOptions,
  Progress,
  log,
  allocResult,
  pack,
} from "spacedrive-sdk";

export { sd_abi_version, sd_alloc, sd_free } from "spacedrive-sdk";

// ---------------------------------------------------------------- types

@json
class Empty {}

@json
class TextValue {
  text: string = "";
}

@json
class TextInfo {
  text: string = "";
  /** UTF-16 code units, as AssemblyScript counts them. */
  utf16_length: i32 = 0;
  /** UTF-8 bytes, as they crossed the boundary. */
  utf8_bytes: i32 = 0;
}

@json
class FailInput {
  @optional
  message: string = "deliberate failure";
  @optional
  code: string = "";
}

@json
class CoreStatus {
  version: string = "";
  uptime_ms: i64 = 0;
  pid: i32 = 0;
}

@json
class CoreStatusSummary {
  core_version: string = "";
  core_pid: i32 = 0;
}

@json
class NameInput {
  name: string = "";
}

@json
class Greeting {
  greeting: string = "";
}

@json
class RelayedGreeting {
  greeting: string = "";
  via: string = "";
}

@json
class Count {
  count: i32 = 0;
}

@json
class TestConfig {
  greeting_prefix: string = "";
  repeat: i32 = 0;
}

@json
class InfoOutput {
  id: string = "";
  version: string = "";
  abi_version: i32 = 0;
}

@json
class SizeInput {
  n: i32 = 0;
}

@json
class DataInput {
  data: string = "";
}

@json
class DataSize {
  chars: i32 = 0;
  utf8_bytes: i32 = 0;
}

@json
class SleepInput {
  ms: i32 = 0;
}

@json
class RecordInput {
  items: string[] = [];
}

@json
class RecordOutput {
  count: i32 = 0;
  joined: string = "";
}

@json
class StepsParams {
  steps: i32 = 0;
  /** Fails attempts up to this number (retryable), to exercise retries. */
  @optional
  fail_attempts: i32 = 0;
  /** Milliseconds to sleep between steps. */
  @optional
  delay_ms: i32 = 0;
}

@json
class StepsState {
  done: i32 = 0;
}

@json
class StepsOutput {
  done: i32 = 0;
  attempt: i32 = 0;
  resumed: bool = false;
}

@json
class CounterParams {
  to: i32 = 0;
  /** Milliseconds to sleep before each step. */
  @optional
  delay_ms: i32 = 0;
}

@json
class CounterState {
  n: i32 = 0;
}

@json
class CounterOutput {
  n: i32 = 0;
  to: i32 = 0;
  resumed: bool = false;
}

@json
class RelayInput {
  /** "query" or "action" */
  kind: string = "query";
  /** Short (`hello:greet`, `files.copy`) or full method name. */
  method: string = "";
  @optional
  input: JSON.Raw = new JSON.Raw("{}");
}

@json
class RelayOutput {
  result: JSON.Raw = new JSON.Raw("null");
}

@json
class JobId {
  job_id: string = "";
}

// ---------------------------------------------------------------- schemas

const ANY_OBJECT = '{"type":"object"}';
const NAME_SCHEMA = '{"type":"object","required":["name"],"properties":{"name":{"type":"string"}}}';
const SIZE_SCHEMA = '{"type":"object","required":["n"],"properties":{"n":{"type":"integer","minimum":0,"maximum":16777216}}}';
const TEXT_SCHEMA = '{"type":"object","required":["text"],"properties":{"text":{"type":"string"}}}';
const DATA_SCHEMA = '{"type":"object","required":["data"],"properties":{"data":{"type":"string"}}}';
const SLEEP_SCHEMA = '{"type":"object","required":["ms"],"properties":{"ms":{"type":"integer","minimum":0,"maximum":60000}}}';
const RECORD_SCHEMA = '{"type":"object","required":["items"],"properties":{"items":{"type":"array","items":{"type":"string"}}}}';
const RELAY_SCHEMA =
  '{"type":"object","required":["kind","method"],"properties":{"kind":{"enum":["query","action"]},' +
  '"method":{"type":"string","minLength":1},"input":{}}}';
const STEPS_SCHEMA =
  '{"type":"object","required":["steps"],"additionalProperties":false,"properties":{' +
  '"steps":{"type":"integer","minimum":0},"fail_attempts":{"type":"integer","minimum":0},' +
  '"delay_ms":{"type":"integer","minimum":0,"maximum":60000}}}';
const COUNTER_SCHEMA =
  '{"type":"object","required":["to"],"additionalProperties":false,"properties":{' +
  '"to":{"type":"integer","minimum":0,"maximum":1000000},"delay_ms":{"type":"integer","minimum":0,"maximum":1000}}}';

// ---------------------------------------------------------------- init

export function plugin_init(): i32 {
  const ctx = new ExtensionContext();
  ctx.registerQuery("noop", "noop", new OperationOptions("Does nothing; returns {} (benchmarks)"));
  ctx.registerQuery("echo", "echo", new OperationOptions("Returns its input unchanged"));
  ctx.registerQuery("echo_text", "echo_text", new OperationOptions("Parses {text} and returns it with its lengths", TEXT_SCHEMA));
  ctx.registerQuery("fail", "fail", new OperationOptions("Fails through sd_error with the given message and code", ANY_OBJECT));
  ctx.registerQuery("panic", "panic", new OperationOptions("Aborts (a trap with a reason)"));
  ctx.registerQuery("core_status", "core_status", new OperationOptions("Calls query:core.status.v1"));
  ctx.registerQuery("greet_via_hello", "greet_via_hello", new OperationOptions("Calls hello:greet", NAME_SCHEMA));
  ctx.registerQuery("log_levels", "log_levels", new OperationOptions("Logs one line at every level"));
  ctx.registerQuery("config", "config", new OperationOptions("Returns the extension's configuration"));
  ctx.registerQuery("info", "info", new OperationOptions("Returns extension.info"));
  ctx.registerQuery("bytes", "bytes", new OperationOptions("Returns {data} with n bytes of text", SIZE_SCHEMA));
  ctx.registerQuery("measure", "measure", new OperationOptions("Measures a large input {data}", DATA_SCHEMA));
  ctx.registerQuery("churn", "churn", new OperationOptions("Allocates and drops n small objects", SIZE_SCHEMA));
  ctx.registerQuery("relay", "relay", new OperationOptions("Calls any query or action (callQuery/callAction) and returns {result}", RELAY_SCHEMA));
  ctx.registerQuery("sleep", "sleep", new OperationOptions("Sleeps ms milliseconds", SLEEP_SCHEMA));
  ctx.registerAction("record", "record", new OperationOptions("Joins items (an action)", RECORD_SCHEMA));
  ctx.registerAction("dispatch_steps", "dispatch_steps", new OperationOptions("Dispatches a test-ext:steps job", STEPS_SCHEMA));
  ctx.registerJob("steps", "steps", true, new JobOptions("Counts steps with a checkpoint per step", STEPS_SCHEMA));
  ctx.registerJob("noop_job", "noop_job", true, new JobOptions("Completes at once with {} (benchmarks)", ANY_OBJECT));
  ctx.registerJob("counter", "counter", true, new JobOptions("Counts to `to`, checkpointing {n} and logging each acknowledged value", COUNTER_SCHEMA));
  ctx.registerJob("typed_job", "typed_job", true, JobOptions.typed<TypedJobParams, TypedJobState, TypedJobOutput>("Checkpoints {step} once and completes with {steps}; schemas from its classes"));
  return ctx.initStatus();
}

/** Called before the instance is discarded (unload, reload, shutdown). */
export function plugin_cleanup(): i32 {
  log.info("test-ext: cleanup");
  return 0;
}

// ---------------------------------------------------------------- queries

/** Does no work at all: the floor of an extension call. */
export function noop(ptr: i32, len: i32): i64 {
  return ExtensionContext.fromParams(ptr, len).writeOutputString("{}");
}

/** Returns the input bytes unchanged (decoded and re-encoded as UTF-8). */
export function echo(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  return ctx.writeOutputString(ctx.readInputString());
}

export function echo_text(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const input = ctx.readInput<TextValue>();
  const out = new TextInfo();
  out.text = input.text;
  out.utf16_length = input.text.length;
  out.utf8_bytes = String.UTF8.byteLength(input.text);
  return ctx.writeOutput<TextInfo>(out);
}

export function fail(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const input = ctx.readInput<FailInput>();
  return ctx.fail(input.message, input.code.length > 0 ? input.code : null);
}

export function panic(ptr: i32, len: i32): i64 {
  abort("deliberate panic");
  return 0;
}

export function core_status(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const r = ctx.callQuery<Empty, CoreStatus>("core.status", new Empty());
  if (!r.ok) return ctx.fail(r.error!.message, r.error!.code);
  const out = new CoreStatusSummary();
  out.core_version = r.value.version;
  out.core_pid = r.value.pid;
  return ctx.writeOutput<CoreStatusSummary>(out);
}

export function greet_via_hello(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const input = ctx.readInput<NameInput>();
  const r = ctx.callQuery<NameInput, Greeting>("hello:greet", input);
  if (!r.ok) return ctx.fail(r.error!.message, r.error!.code);
  const out = new RelayedGreeting();
  out.greeting = r.value.greeting;
  out.via = "query:hello:greet.v1";
  return ctx.writeOutput<RelayedGreeting>(out);
}

export function log_levels(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  log.trace("trace line");
  log.debug("debug line");
  log.info("info line ✓");
  log.warn("warn line");
  log.error("error line");
  const out = new Count();
  out.count = 5;
  return ctx.writeOutput<Count>(out);
}

export function config(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  return ctx.writeOutput<TestConfig>(ctx.config<TestConfig>());
}

export function info(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const i = ctx.info();
  const out = new InfoOutput();
  out.id = i.id;
  out.version = i.version;
  out.abi_version = i.abiVersion;
  return ctx.writeOutput<InfoOutput>(out);
}

const DATA_PREFIX = '{"data":"';
const DATA_SUFFIX = '"}';

/**
 * `{"data":"xxxx…"}` with n x's, written straight into the result buffer: large outputs without
 * building an n-character string first.
 */
export function bytes(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const n = ctx.readInput<SizeInput>().n;
  const prefix = String.UTF8.encode(DATA_PREFIX);
  const suffix = String.UTF8.encode(DATA_SUFFIX);
  const total = prefix.byteLength + n + suffix.byteLength;
  const base = allocResult(total);
  memory.copy(base, changetype<usize>(prefix), prefix.byteLength);
  memory.fill(base + prefix.byteLength, 0x78, n);
  memory.copy(base + prefix.byteLength + n, changetype<usize>(suffix), suffix.byteLength);
  return pack(base, total);
}

export function measure(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const input = ctx.readInput<DataInput>();
  const out = new DataSize();
  out.chars = input.data.length;
  out.utf8_bytes = String.UTF8.byteLength(input.data);
  return ctx.writeOutput<DataSize>(out);
}

/** Allocates n strings, arrays and maps that become garbage at once. */
export function churn(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const n = ctx.readInput<SizeInput>().n;
  let kept = 0;
  for (let i = 0; i < n; i++) {
    const s = "item-" + i.toString() + "-" + "ü".repeat(16);
    const parts = s.split("-");
    const m = new Map<string, i32>();
    m.set(parts[0], i);
    const buf = new Uint8Array(256);
    buf[i & 255] = <u8>i;
    kept += m.get(parts[0]) == i ? 1 : 0;
  }
  const out = new Count();
  out.count = kept;
  return ctx.writeOutput<Count>(out);
}

export function sleep(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const ms = ctx.readInput<SleepInput>().ms;
  const r = ctx.sleep(ms);
  if (!r.ok) return ctx.fail(r.error!.message, r.error!.code);
  const out = new SleepInput();
  out.ms = ms;
  return ctx.writeOutput<SleepInput>(out);
}

/** Calls `method` through callQuery or callAction (short names expanded) with raw JSON in and out. */
export function relay(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const input = ctx.readInput<RelayInput>();
  const r =
    input.kind == "action"
      ? ctx.callAction<JSON.Raw, JSON.Raw>(input.method, input.input)
      : ctx.callQuery<JSON.Raw, JSON.Raw>(input.method, input.input);
  if (!r.ok) return ctx.fail(r.error!.message, r.error!.code);
  const out = new RelayOutput();
  out.result = r.value;
  return ctx.writeOutput<RelayOutput>(out);
}

// ---------------------------------------------------------------- actions

export function record(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const input = ctx.readInput<RecordInput>();
  const out = new RecordOutput();
  out.count = input.items.length;
  out.joined = input.items.join(", ");
  return ctx.writeOutput<RecordOutput>(out);
}

export function dispatch_steps(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const r = ctx.jobs().dispatchJson("test-ext:steps", ctx.readInputString());
  if (!r.ok) return ctx.fail(r.error!.message, r.error!.code);
  const out = new JobId();
  out.job_id = r.value;
  return ctx.writeOutput<JobId>(out);
}

// ---------------------------------------------------------------- jobs

/**
 * Job `test-ext:steps`: `steps` steps, one checkpoint `{done}` per step with item counters; checks
 * for interrupts between steps too; fails (retryable) while `attempt <= fail_attempts`.
 */
export function steps(ptr: i32, len: i32): i64 {
  const job = JobContext.fromParams(ptr, len);
  const params = job.params<StepsParams>();
  if (job.attempt <= params.fail_attempts) {
    return job.failed("failing attempt " + job.attempt.toString() + " on purpose", true, "TEST_RETRY");
  }
  const saved = job.state<StepsState>();
  const state = new StepsState();
  state.done = saved !== null ? saved.done : 0;
  const ctx = new ExtensionContext();
  while (state.done < params.steps) {
    if (job.checkInterrupt() != Interrupt.Continue) return job.interrupted<StepsState>(state);
    if (params.delay_ms > 0) {
      const slept = ctx.sleep(params.delay_ms);
      if (!slept.ok) return job.failed(slept.error!.message, true, slept.error!.code);
    }
    state.done++;
    const p = new Progress();
    p.fraction = <f64>state.done / <f64>params.steps;
    p.stateJson = JSON.stringify<StepsState>(state);
    p.itemsDone = state.done;
    p.itemsTotal = params.steps;
    p.message = "step " + state.done.toString() + " of " + params.steps.toString();
    const next = job.report(p);
    if (next == Interrupt.Pause || next == Interrupt.Cancel) return job.interrupted<StepsState>(state);
  }
  const out = new StepsOutput();
  out.done = state.done;
  out.attempt = job.attempt;
  out.resumed = saved !== null;
  return job.complete<StepsOutput>(out);
}

/**
 * Job `test-ext:noop_job`: completes at once with `{}`, without reading params or state. Its
 * throughput from dispatch to completion is the cost of the job system and the generic WASM job
 * wrapper around an extension job (the `jobs` benchmark).
 */
export function noop_job(ptr: i32, len: i32): i64 {
  return JobContext.fromParams(ptr, len).completeJson("{}");
}

/**
 * Job `test-ext:counter`: counts from its checkpoint `{n}` up to `to`, one checkpoint per value.
 * After a report returns Continue (the checkpoint is durable) it logs `acked <job_id> <n>`, so the
 * daemon's log is a lower bound of what was acknowledged: the crash tests check that no restart
 * resumes below it and that a finished or cancelled job never logs again.
 */
export function counter(ptr: i32, len: i32): i64 {
  const job = JobContext.fromParams(ptr, len);
  const params = job.params<CounterParams>();
  const saved = job.state<CounterState>();
  const state = new CounterState();
  state.n = saved !== null ? saved.n : 0;
  const ctx = new ExtensionContext();
  while (state.n < params.to) {
    if (job.checkInterrupt() != Interrupt.Continue) return job.interrupted<CounterState>(state);
    if (params.delay_ms > 0) {
      const slept = ctx.sleep(params.delay_ms);
      if (!slept.ok) return job.failed(slept.error!.message, true, slept.error!.code);
    }
    const next = new CounterState();
    next.n = state.n + 1;
    const answer = job.reportProgress<CounterState>(<f64>next.n / <f64>params.to, next);
    // The report was recorded whatever the answer: the checkpoint is now `next`.
    state.n = next.n;
    if (answer != Interrupt.Continue) return job.interrupted<CounterState>(state);
    log.info("acked " + job.jobId + " " + state.n.toString());
  }
  const out = new CounterOutput();
  out.n = state.n;
  out.to = params.to;
  out.resumed = saved !== null;
  return job.complete<CounterOutput>(out);
}

@json
class TypedJobParams {
  @optional break_state: bool = false;
  @optional break_output: bool = false;
}

@json
class TypedJobState {
  @schema('{"minimum":1}')
  step: i32 = 0;
}

@json
class TypedJobOutput {
  steps: i32 = 0;
}

/**
 * Job `test-ext:typed_job`: registered with `JobOptions.typed`, so the host holds its reports and
 * its output to the schemas of the classes above; `break_state` reports `{"step":"one"}` and
 * `break_output` completes with `{"steps":"one"}`, which the host must refuse.
 */
export function typed_job(ptr: i32, len: i32): i64 {
  const job = JobContext.fromParams(ptr, len);
  const params = job.params<TypedJobParams>();
  if (params.break_state) {
    const p = new Progress();
    p.fraction = 0.5;
    p.stateJson = '{"step":"one"}';
    job.report(p);
  } else {
    const state = new TypedJobState();
    state.step = 1;
    job.reportProgress<TypedJobState>(0.5, state);
  }
  if (params.break_output) return job.completeJson('{"steps":"one"}');
  const out = new TypedJobOutput();
  out.steps = 1;
  return job.complete<TypedJobOutput>(out);
}
