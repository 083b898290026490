/**
 * hello: the smallest useful extension, and the one the README's tutorial walks through.
 *
 * - `query:hello:greet.v1`   {name} -> {greeting}
 * - job `hello:countdown`    {from, delay_ms?}: counts down to zero, checkpointing
 *                            {remaining} after every step; pause, cancel and restarts resume
 *                            from the last checkpoint.
 */
import { JSON } from "json-as";
import { ExtensionContext, JobContext, JobOptions, Interrupt, OperationOptions, log } from "spacedrive-sdk";

// Every module exports the ABI marker and the allocator.
export { sd_abi_version, sd_alloc, sd_free } from "spacedrive-sdk";

@json
class GreetInput {
  name: string = "";
}

@json
class GreetOutput {
  greeting: string = "";
}

@json
class CountdownParams {
  from: i32 = 0;
  @optional
  delay_ms: i32 = 0;
}

@json
class CountdownState {
  remaining: i32 = 0;
}

@json
class CountdownOutput {
  counted: i32 = 0;
}

const GREET_INPUT =
  '{"type":"object","required":["name"],"additionalProperties":false,' +
  '"properties":{"name":{"type":"string","minLength":1,"maxLength":200,"description":"Who to greet"}}}';
const GREET_OUTPUT = '{"type":"object","required":["greeting"],"properties":{"greeting":{"type":"string"}}}';
const COUNTDOWN_PARAMS =
  '{"type":"object","required":["from"],"additionalProperties":false,"properties":{' +
  '"from":{"type":"integer","minimum":0,"maximum":1000000,"description":"Number to count down from"},' +
  '"delay_ms":{"type":"integer","minimum":0,"maximum":60000,"description":"Pause between steps, in milliseconds"}}}';

/** Registers the query and the job. */
export function plugin_init(): i32 {
  const ctx = new ExtensionContext();
  ctx.registerQuery("greet", "greet", new OperationOptions("Greets someone by name", GREET_INPUT, GREET_OUTPUT));
  ctx.registerJob("countdown", "countdown", true, new JobOptions("Counts down to zero, one checkpoint per step", COUNTDOWN_PARAMS));
  return ctx.initStatus();
}

/** `query:hello:greet.v1` */
export function greet(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const input = ctx.readInput<GreetInput>();
  const out = new GreetOutput();
  out.greeting = "Hello, " + input.name + "!";
  return ctx.writeOutput<GreetOutput>(out);
}

/** Job `hello:countdown` */
export function countdown(ptr: i32, len: i32): i64 {
  const job = JobContext.fromParams(ptr, len);
  const params = job.params<CountdownParams>();
  const saved = job.state<CountdownState>();
  const state = new CountdownState();
  state.remaining = saved !== null ? saved.remaining : params.from;
  if (saved !== null) log.info("resuming countdown at " + state.remaining.toString());

  const ctx = new ExtensionContext();
  while (state.remaining > 0) {
    if (params.delay_ms > 0) {
      const slept = ctx.sleep(params.delay_ms);
      if (!slept.ok) return job.failed(slept.error!.message, false, slept.error!.code);
    }
    state.remaining--;
    const done = params.from - state.remaining;
    const fraction = <f64>done / <f64>params.from;
    const next = job.reportProgress<CountdownState>(fraction, state, state.remaining.toString() + " to go");
    if (next == Interrupt.Pause || next == Interrupt.Cancel) return job.interrupted<CountdownState>(state);
  }
  const out = new CountdownOutput();
  out.counted = params.from;
  return job.complete<CountdownOutput>(out);
}
