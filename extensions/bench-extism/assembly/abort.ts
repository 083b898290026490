/** `--use abort=…/abort/peerAbort`: the Extism host provides no `env.abort`, so abort traps. */
export function peerAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  unreachable();
}
