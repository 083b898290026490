/**
 * The benchmark's peer: the same no-op and echo logic as test-ext's `noop` and `echo`, written
 * as an Extism plugin with @extism/as-pdk, for the Extism JavaScript host. Built by
 * scripts/build-extensions.mjs into build/bench/extism-noop.wasm (it is not a Spacedrive
 * extension: no manifest, not installed).
 *
 * Bytes, not `Host.outputString`: the PDK's string output writes UTF-16 lengths as UTF-8 byte
 * counts and truncates non-ASCII text.
 */
import { Host } from "@extism/as-pdk";
import "./abort"; // the abort handler (see scripts/build-extensions.mjs)

const EMPTY_OBJECT = String.UTF8.encode("{}");

/** Reads the input like test-ext's noop (decoded to a string) and returns `{}`. */
export function noop(): i32 {
  const input = String.UTF8.decode(Host.input().buffer);
  if (input.length < 0) unreachable(); // keeps the decode, as in test-ext
  Host.output(Uint8Array.wrap(EMPTY_OBJECT));
  return 0;
}

/** Returns the input text unchanged (decoded and re-encoded as UTF-8), like test-ext's echo. */
export function echo(): i32 {
  const text = String.UTF8.decode(Host.input().buffer);
  Host.output(Uint8Array.wrap(String.UTF8.encode(text)));
  return 0;
}
