/**
 * Raw host imports of extension ABI v1 (docs/extension-abi.md, "Host imports").
 *
 * Extension code should not call these directly: the wrappers in context.ts, call.ts, jobs.ts
 * and log.ts take care of encoding, packed results and freeing. They are exported for authors
 * who need a host method the SDK does not wrap yet.
 */

/** The one generic call into the host. Returns packed (ptr, len) of a JSON envelope allocated with `sd_alloc`. */
// @ts-ignore: decorator
@external("spacedrive", "sd_call")
export declare function sd_call(methodPtr: usize, methodLen: i32, payloadPtr: usize, payloadLen: i32): i64;

/** A UTF-8 log line: level 0 trace, 1 debug, 2 info, 3 warn, 4 error. */
// @ts-ignore: decorator
@external("spacedrive", "sd_log")
export declare function sd_log(level: i32, ptr: usize, len: i32): void;

/** Sets the current call's error (JSON `{"code","message","details"}` or plain text). */
// @ts-ignore: decorator
@external("spacedrive", "sd_error")
export declare function sd_error(ptr: usize, len: i32): void;

/** Job progress with state, durable before it returns: 0 continue, 1 pause, 2 cancel, -1 not in a job. */
// @ts-ignore: decorator
@external("spacedrive", "sd_job_progress")
export declare function sd_job_progress(ptr: usize, len: i32): i32;

/** Job interrupt check: 0 continue, 1 pause, 2 cancel, -1 not in a job. */
// @ts-ignore: decorator
@external("spacedrive", "sd_job_interrupt")
export declare function sd_job_interrupt(): i32;
