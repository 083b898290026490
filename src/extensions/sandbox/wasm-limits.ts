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

interface Limits {
  flags: number;
  min: number;
  max: number | undefined;
}

class Reader {
  pos: number;
  constructor(
    readonly bytes: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }
  byte(): number {
    if (this.pos >= this.end) throw invalid('unexpected end of section');
    return this.bytes[this.pos++]!;
  }
  /** Unsigned LEB128, at most 32 bits. */
  u32(): number {
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) {
        if (result > 0xffff_ffff) throw invalid('LEB128 value out of range');
        return result;
      }
      shift += 7;
    }
    throw invalid('LEB128 value too long');
  }
  name(): string {
    const len = this.u32();
    if (this.pos + len > this.end) throw invalid('name runs past the end of its section');
    const s = Buffer.from(this.bytes.subarray(this.pos, this.pos + len)).toString('utf8');
    this.pos += len;
    return s;
  }
  limits(): Limits {
    const flags = this.byte();
    if (flags > 3) throw invalid('64-bit memories are not supported (ABI v1 uses 32-bit memory)');
    const min = this.u32();
    const max = flags & 1 ? this.u32() : undefined;
    return { flags, min, max };
  }
}

function invalid(message: string): SpacedriveError {
  return new SpacedriveError(ErrorCode.EXTENSION_INVALID, `invalid WebAssembly module: ${message}`, { cause: message });
}

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
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
  if (wasm.length < 8 || wasm[0] !== 0x00 || wasm[1] !== 0x61 || wasm[2] !== 0x73 || wasm[3] !== 0x6d) {
    throw invalid('missing the \\0asm magic number');
  }
  if (wasm[4] !== 1 || wasm[5] !== 0 || wasm[6] !== 0 || wasm[7] !== 0) throw invalid('unsupported binary version (expected 1)');

  const chunks: Uint8Array[] = [wasm.subarray(0, 8)];
  let importedMemory: MemoryPlan['importedMemory'];
  let pos = 8;
  while (pos < wasm.length) {
    const header = new Reader(wasm, pos, wasm.length);
    const id = header.byte();
    const size = header.u32();
    const start = header.pos;
    const end = start + size;
    if (end > wasm.length) throw invalid(`section ${id} runs past the end of the module`);

    if (id === SECTION_MEMORY || id === SECTION_IMPORT) {
      const r = new Reader(wasm, start, end);
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
        if (kind === 0) r.u32();
        else if (kind === 1) {
          r.byte();
          r.limits();
        } else if (kind === 3) {
          r.byte();
          r.byte();
        } else if (kind === 4) {
          r.byte();
          r.u32();
        } else throw invalid(`unknown import kind ${kind}`);
        body.push(...wasm.subarray(entryStart, r.pos));
      }
      if (r.pos !== end) throw invalid(`section ${id} has trailing bytes`);
      chunks.push(Uint8Array.from([id, ...leb(body.length), ...body]));
    } else {
      chunks.push(wasm.subarray(pos, end));
    }
    pos = end;
  }
  const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    bytes.set(c, off);
    off += c.length;
  }
  const plan: MemoryPlan = { bytes, maxPages };
  if (importedMemory) plan.importedMemory = importedMemory;
  return plan;
}
