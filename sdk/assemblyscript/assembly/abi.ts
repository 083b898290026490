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
 * Why pinning: with the incremental runtime the garbage collector frees any object no
 * AssemblyScript variable refers to. A buffer the host is writing into (input, `sd_call` answers)
 * or reading from (handler results) is referred to only by the host, so it is pinned until the host
 * says it is done (`sd_free`). The collector never moves objects, so pinned pointers stay valid.
 */

/** The ABI version this SDK implements. */
export const ABI_VERSION: i32 = 1;

// ArrayBuffer's maximum size under the AssemblyScript runtime (BLOCK_MAXSIZE minus headers).
const MAX_BUFFER: i32 = (1 << 30) - 16;

/** ABI version marker: the host refuses modules whose version it does not support. */
export function sd_abi_version(): i32 {
  return ABI_VERSION;
}

/** Returns `len` writable bytes that stay valid until `sd_free`; `0` when `len` is out of range. */
export function sd_alloc(len: i32): usize {
  if (len < 0 || len > MAX_BUFFER) return 0;
  const ptr = __new(<usize>len, idof<ArrayBuffer>());
  __pin(ptr);
  return ptr;
}

/** Releases a buffer from `sd_alloc` or a handler result; the collector frees it later. */
export function sd_free(ptr: usize, len: i32): void {
  if (ptr == 0) return;
  __unpin(ptr);
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
 * Hands `text` to the host as UTF-8: pins the encoded buffer (the host frees it with `sd_free`
 * after copying) and returns the packed result a handler returns.
 */
export function handOver(text: string): i64 {
  const buf = String.UTF8.encode(text);
  const ptr = changetype<usize>(buf);
  __pin(ptr);
  return pack(ptr, buf.byteLength);
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
  __unpin(ptr);
  return text;
}

/** Decodes `len` UTF-8 bytes at `ptr` (a handler's input, still owned by the host). */
export function readUtf8(ptr: usize, len: i32): string {
  if (len <= 0) return "";
  return String.UTF8.decodeUnsafe(ptr, <usize>len);
}
