/**
 * Checks a compiled module against ABI v1 before it is installed: its function imports against
 * the host's import table (the one the sandbox checks at load time) and the exports every module
 * must have. The same rules as scripts/build-extensions.mjs, for projects outside this repository.
 */
import { HOST_MODULE, hostImportProblem } from '../extensions/sandbox/host-imports.js';
import { functionImports } from '../extensions/sandbox/wasm-binary.js';
import { wasm, type WasmModule } from '../extensions/sandbox/wasm-types.js';

/** Exports ABI v1 requires of every module (docs/extension-abi.md, "Exports"). */
export const REQUIRED_EXPORTS: readonly string[] = Object.freeze(['memory', 'sd_abi_version', 'sd_alloc', 'sd_free', 'plugin_init']);

/** What is wrong with the module's imports and exports, one sentence each; empty when nothing. */
export function abiProblems(bytes: Uint8Array): string[] {
  let mod: WasmModule;
  try {
    mod = new wasm.Module(bytes);
  } catch (err) {
    return [`is not a valid WebAssembly module: ${(err as Error).message}`];
  }
  const problems: string[] = [];
  for (const imp of functionImports(bytes)) {
    const why = hostImportProblem(imp.module, imp.name, imp.signature);
    if (why === undefined) continue;
    problems.push(imp.module === HOST_MODULE ? why : `${why}; in AssemblyScript avoid Date, Math.random and trace, which import from 'env'`);
  }
  for (const imp of wasm.Module.imports(mod)) {
    if (imp.kind !== 'function' && imp.kind !== 'memory') problems.push(`imports ${imp.kind} ${imp.module}.${imp.name}, which the host does not provide`);
  }
  const exports = new Set(wasm.Module.exports(mod).map((e) => e.name));
  for (const name of REQUIRED_EXPORTS) {
    if (!exports.has(name)) problems.push(`does not export ${name}`);
  }
  return problems;
}
