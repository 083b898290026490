/**
 * Compiles the hand-written `.wat` fixtures (test/fixtures/wat) to wasm bytes with wabt, so the
 * tests run real WebAssembly without a checked-in binary.
 */
import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import wabtInit from 'wabt';

let wabt: ReturnType<typeof wabtInit> | undefined;

/** Directory of the .wat fixtures. */
export const WAT_DIR = resolve(fileURLToPath(new URL('.', import.meta.url)), '../fixtures/wat');

/** Compiles a .wat file (a path, or a bare fixture name like `echo`) to wasm bytes, with its function names kept. */
export async function compileWat(path: string): Promise<Uint8Array> {
  const file = path.endsWith('.wat') ? resolve(path) : resolve(WAT_DIR, `${path}.wat`);
  return compileWatText(readFileSync(file, 'utf8'), basename(file));
}

/** Compiles WebAssembly text given inline (for tiny modules that need no fixture file). */
export async function compileWatText(text: string, filename = 'inline.wat'): Promise<Uint8Array> {
  wabt ??= wabtInit();
  const w = await wabt;
  const mod = w.parseWat(filename, text, { bulk_memory: true, exceptions: true, mutable_globals: true, sign_extension: true, threads: true });
  try {
    mod.resolveNames();
    mod.validate();
    return Uint8Array.from(mod.toBinary({ write_debug_names: true }).buffer);
  } finally {
    mod.destroy();
  }
}
