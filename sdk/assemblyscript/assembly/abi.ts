/**
 * The guest exports every extension must have (docs/extension-abi.md, "Guest exports"), and
 * the buffer helpers the wrappers use to hand bytes to the host.
 *
 * An extension re-exports the three ABI functions from its entry file:
 *
 * ```ts
 * export { sd_abi_version, sd_alloc, sd_free } from "spacedrive-sdk";
 * ```
 *
 * Why raw blocks: every buffer that crosses the boundary (inputs, `sd_call` answers, handler
 * results) is a block of the runtime's TLSF heap (`heap.alloc`), which the garbage collector
 * neither tracks nor moves, and which `sd_free` returns to the allocator at once (`heap.free`).
 * Pinning managed ArrayBuffers would also keep them safe while the host holds them, but their
 * memory would come back only when the incremental collector gets round to them: with large
 * payloads that lag lets linear memory grow by hundreds of megabytes.
 */

/** The ABI version this SDK implements. */
export const ABI_VERSION: i32 = 1;

// Below the TLSF allocator's largest block (2^30 minus its overhead): larger requests get 0.
const MAX_BUFFER: i32 = (1 << 30) - 16;

/** ABI version marker: the host refuses modules whose version it does not support. */
export function sd_abi_version(): i32 {
  return ABI_VERSION;
}

/**
 * Returns `len` writable bytes that stay valid until `sd_free`; `0` when `len` is out of range.
 * When linear memory cannot grow (the host's memory limit), the allocator aborts: the call traps
 * and the host reports EXTENSION_OUT_OF_MEMORY.
 */
export function sd_alloc(len: i32): usize {
  if (len < 0 || len > MAX_BUFFER) return 0;
  return heap.alloc(<usize>len);
}

/** Releases a buffer from `sd_alloc` or a handler result, at once. */
export function sd_free(ptr: usize, len: i32): void {
  if (ptr == 0) return;
  heap.free(ptr);
}

/**
 * A block of `len` bytes the host may hold (see above); fill it and return `pack(ptr, len)` from a
 * handler to hand bytes over without an intermediate string.
 */
export function allocResult(len: i32): usize {
  return heap.alloc(<usize>len);
}

/** Packs a pointer and a length into the ABI's i64 result (`len << 32 | ptr`). */
// @ts-ignore: decorator
@inline
export function pack(ptr: usize, len: i32): i64 {
  return (<i64>len << 32) | <i64>(<u32>ptr);
}

/** Pointer half of a packed result. */
// @ts-ignore: decorator
@inline
export function packedPtr(packed: i64): usize {
  return <usize>(<u32>(packed & 0xffffffff));
}

/** Length half of a packed result. */
// @ts-ignore: decorator
@inline
export function packedLen(packed: i64): i32 {
  return <i32>(<u64>packed >>> 32);
}

/**
 * Hands `text` to the host as UTF-8, encoded straight into a raw block the host frees with
 * `sd_free` after copying; returns the packed result a handler returns.
 */
export function handOver(text: string): i64 {
  const len = String.UTF8.byteLength(text);
  const ptr = heap.alloc(<usize>len);
  String.UTF8.encodeUnsafe(changetype<usize>(text), text.length, ptr);
  return pack(ptr, len);
}

/**
 * Reads and releases a packed buffer the host allocated with `sd_alloc` (an `sd_call` answer).
 * Returns `null` for the empty result `0`.
 */
export function takeFromHost(packed: i64): string | null {
  const ptr = packedPtr(packed);
  const len = packedLen(packed);
  if (ptr == 0) return null;
  const text = String.UTF8.decodeUnsafe(ptr, <usize>len);
  heap.free(ptr);
  return text;
}

/** Decodes `len` UTF-8 bytes at `ptr` (a handler's input, still owned by the host). */
export function readUtf8(ptr: usize, len: i32): string {
  if (len <= 0) return "";
  return String.UTF8.decodeUnsafe(ptr, <usize>len);
}
