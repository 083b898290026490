/**
 * The runtime's `abort` (failed assertion, out-of-bounds index, a `CallResult.value` of a failed
 * call…), routed to the host instead of an `env.abort` import, so a module built with the SDK
 * imports only the `spacedrive` module. The reason goes to `sd_error`, then the call traps: the
 * host reports `EXTENSION_TRAPPED` with that reason and replaces the instance.
 *
 * Wired by the compiler flag `--use abort=~lib/spacedrive-sdk/assembly/abort/sdkAbort`
 * (the build script passes it).
 */
import { sd_error } from "./host";
import { E_ABORT } from "./messages";

let aborting = false;

/** The SDK's abort handler. */
export function sdkAbort(message: string | null = null, fileName: string | null = null, line: u32 = 0, column: u32 = 0): void {
  // A second abort while reporting (e.g. out of memory while building the text) traps at once.
  if (aborting) unreachable();
  aborting = true;
  let text = E_ABORT + (message !== null ? message : "");
  if (fileName !== null) text += " (" + fileName + ":" + line.toString() + ":" + column.toString() + ")";
  const buf = String.UTF8.encode('{"message":' + quoteForAbort(text) + "}");
  sd_error(changetype<usize>(buf), buf.byteLength);
  unreachable();
}

// Minimal escaping that allocates little: abort must not depend on json-as.
function quoteForAbort(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 0x22) out += '\\"';
    else if (c == 0x5c) out += "\\\\";
    else if (c < 0x20) out += " ";
    else out += String.fromCharCode(c);
  }
  return out + '"';
}
