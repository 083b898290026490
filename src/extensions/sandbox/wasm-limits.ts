/**
 * Applies the linear-memory maximum to a module's bytes before it is compiled.
 *
 * Worker `resourceLimits` do not bound WebAssembly memory: only a memory's declared maximum
 * does. So the host rewrites the limits of every memory the module defines (memory section) or
 * imports (import section) to `maximum = min(declared maximum, host maximum)`, adding a maximum
 * where the module declares none. Only the section headers and the limits are parsed; every
 * other byte is copied as is.
 */
import { ErrorCode, SpacedriveError } from '../../errors/index.js';
import { concat, encodeSection, invalid, leb, Reader, sections, skipImportDescription, type Limits } from './wasm-binary.js';

/** WebAssembly page size. */
export const WASM_PAGE_BYTES = 65_536;

const SECTION_IMPORT = 2;
const SECTION_MEMORY = 5;

/** What {@link applyMemoryMaximum} found and wrote, for the host to create an imported memory. */
export interface MemoryPlan {
  /** Rewritten module bytes. */
  bytes: Uint8Array;
  /** The maximum written, in pages. */
  maxPages: number;
  /** Set when the module imports its memory: the host must provide one with these limits. */
  importedMemory?: { module: string; name: string; initialPages: number; maxPages: number; shared: boolean };
}

/** Encodes limits with a maximum, keeping the shared bit. */
function encodeLimits(l: Limits, maxPages: number): number[] {
  const max = Math.min(l.max ?? maxPages, maxPages);
  return [(l.flags & 2) | 1, ...leb(l.min), ...leb(max)];
}

function checkMin(l: Limits, maxPages: number, where: string): void {
  if (l.min > maxPages) {
    throw new SpacedriveError(
      ErrorCode.EXTENSION_OUT_OF_MEMORY,
      `the module's ${where} starts at ${l.min * WASM_PAGE_BYTES} bytes, over the memory limit of ${maxPages * WASM_PAGE_BYTES} bytes`,
      { cause: 'initial memory over limit', initialBytes: l.min * WASM_PAGE_BYTES, memoryMaxBytes: maxPages * WASM_PAGE_BYTES },
    );
  }
}

/**
 * Returns the module bytes with every memory's maximum set to at most `memoryMaxBytes`
 * (rounded down to whole pages, at least one page).
 *
 * @throws SpacedriveError EXTENSION_INVALID for bytes that are not a wasm module,
 *   EXTENSION_OUT_OF_MEMORY when a memory's initial size is already over the limit.
 */
export function applyMemoryMaximum(wasm: Uint8Array, memoryMaxBytes: number): MemoryPlan {
  const maxPages = Math.max(1, Math.min(65_536, Math.floor(memoryMaxBytes / WASM_PAGE_BYTES)));
  const chunks: Uint8Array[] = [wasm.subarray(0, 8)];
  let importedMemory: MemoryPlan['importedMemory'];
  for (const { id, start, body: contents, end } of sections(wasm)) {
    if (id !== SECTION_MEMORY && id !== SECTION_IMPORT) {
      chunks.push(wasm.subarray(start, end));
      continue;
    }
    const r = new Reader(wasm, contents, end);
    const body: number[] = [];
    const count = r.u32();
    body.push(...leb(count));
    for (let i = 0; i < count; i++) {
      if (id === SECTION_MEMORY) {
        const l = r.limits();
        checkMin(l, maxPages, 'memory');
        body.push(...encodeLimits(l, maxPages));
        continue;
      }
      // Import entry: module name, field name, kind, then a kind-specific description.
      const entryStart = r.pos;
      const moduleName = r.name();
      const fieldName = r.name();
      const kind = r.byte();
      if (kind === 2) {
        body.push(...wasm.subarray(entryStart, r.pos));
        const l = r.limits();
        checkMin(l, maxPages, 'imported memory');
        body.push(...encodeLimits(l, maxPages));
        importedMemory = {
          module: moduleName,
          name: fieldName,
          initialPages: l.min,
          maxPages: Math.min(l.max ?? maxPages, maxPages),
          shared: (l.flags & 2) !== 0,
        };
        continue;
      }
      skipImportDescription(r, kind);
      body.push(...wasm.subarray(entryStart, r.pos));
    }
    if (r.pos !== end) throw invalid(`section ${id} has trailing bytes`);
    chunks.push(encodeSection(id, body));
  }
  const bytes = concat(chunks);
  const plan: MemoryPlan = { bytes, maxPages };
  if (importedMemory) plan.importedMemory = importedMemory;
  return plan;
}
