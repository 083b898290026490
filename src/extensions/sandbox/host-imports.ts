/**
 * The host imports of ABI v1 (docs/extension-abi.md, "Host imports"): one table, name →
 * signature, that everything else reads. The sandbox checks a module's function imports against
 * it when the module is loaded (so a wrong signature is refused with EXTENSION_INVALID naming
 * the import, rather than trapping at its first call), the guest runtime provides exactly these
 * names, and scripts/build-extensions.mjs checks the extensions it builds against it (from dist).
 *
 * No imports of its own beyond types: the build script loads it from dist as is.
 */

/** The module name every host import lives in. */
export const HOST_MODULE = 'spacedrive';

/** A WebAssembly value type, as the text format writes it. */
export type WasmValueType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | 'funcref' | 'externref' | 'ref';

export interface FunctionSignature {
  params: readonly WasmValueType[];
  results: readonly WasmValueType[];
}

/** Every function the host provides in module `spacedrive`, with its signature. */
export const HOST_IMPORT_SIGNATURES: Readonly<Record<string, FunctionSignature>> = Object.freeze({
  sd_call: { params: ['i32', 'i32', 'i32', 'i32'], results: ['i64'] },
  sd_log: { params: ['i32', 'i32', 'i32'], results: [] },
  sd_error: { params: ['i32', 'i32'], results: [] },
  sd_job_progress: { params: ['i32', 'i32'], results: ['i32'] },
  sd_job_interrupt: { params: [], results: ['i32'] },
});

/** Names of the host imports, in the table's order. */
export const HOST_IMPORTS: readonly string[] = Object.freeze(Object.keys(HOST_IMPORT_SIGNATURES));

/** `(i32, i32) -> i64`, as the ABI document writes signatures. */
export function formatSignature(sig: FunctionSignature): string {
  const results = sig.results.length === 0 ? '()' : sig.results.length === 1 ? sig.results[0]! : `(${sig.results.join(', ')})`;
  return `(${sig.params.join(', ')}) -> ${results}`;
}

function sameTypes(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}

/**
 * Why a function import is refused, or undefined when the host provides it with that signature.
 * `sig` is undefined when the module's type for the import could not be read (a type form
 * outside ABI v1, such as a GC proposal type).
 */
export function hostImportProblem(module: string, name: string, sig: FunctionSignature | undefined): string | undefined {
  const expected = module === HOST_MODULE && Object.hasOwn(HOST_IMPORT_SIGNATURES, name) ? HOST_IMPORT_SIGNATURES[name]! : undefined;
  if (expected === undefined) {
    return `imports ${module}.${name}, which the host does not provide (module '${HOST_MODULE}' provides ${HOST_IMPORTS.join(', ')})`;
  }
  if (sig === undefined) return `imports ${module}.${name} with a type this host cannot read; the host provides ${formatSignature(expected)}`;
  if (sameTypes(sig.params, expected.params) && sameTypes(sig.results, expected.results)) return undefined;
  return `imports ${module}.${name} with signature ${formatSignature(sig)}, but the host provides ${formatSignature(expected)}`;
}
