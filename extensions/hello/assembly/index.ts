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

// The types are the schemas: the SDK's transform derives each class's JSON Schema from its fields
// (`@describe` and `@schema` add what a type cannot say), and `OperationOptions.typed` /
// `JobOptions.typed` register them, so the host validates exactly what these classes read.

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
class CountdownParams {
  @describe("Number to count down from")
  @schema('{"minimum":0,"maximum":1000000}')
  from: i32 = 0;
  @optional
  @describe("Pause between steps, in milliseconds")
  @schema('{"minimum":0,"maximum":60000}')
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

/** Registers the query and the job. */
export function plugin_init(): i32 {
  const ctx = new ExtensionContext();
  ctx.registerQuery("greet", "greet", OperationOptions.typed<GreetInput, GreetOutput>("Greets someone by name"));
  ctx.registerJob("countdown", "countdown", true, JobOptions.typed<CountdownParams, CountdownState, CountdownOutput>("Counts down to zero, one checkpoint per step"));
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
