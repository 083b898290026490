/**
 * Reading and writing the parts of the WebAssembly binary format the sandbox rewrites (memory
 * limits in wasm-limits.ts, fuel checks in metering.ts) or checks (the signatures of function
 * imports). Only what those need: sections, LEB128 numbers, names, limits, function types.
 */
import { ErrorCode, SpacedriveError } from '../../errors/index.js';
import type { FunctionSignature, WasmValueType } from './host-imports.js';

export function invalid(message: string): SpacedriveError {
  return new SpacedriveError(ErrorCode.EXTENSION_INVALID, `invalid WebAssembly module: ${message}`, { cause: message });
}

export interface Limits {
  flags: number;
  min: number;
  max: number | undefined;
}

/** A cursor over `bytes[start, end)`; every read checks the end. */
export class Reader {
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
  /** Skips a LEB128 number of at most `bits` bits (signed or not: only its length matters). */
  skipLeb(bits: number): void {
    const most = Math.ceil(bits / 7);
    for (let i = 0; i < most; i++) if ((this.byte() & 0x80) === 0) return;
    throw invalid('LEB128 value too long');
  }
  skip(n: number): void {
    if (this.pos + n > this.end) throw invalid('unexpected end of section');
    this.pos += n;
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

/** Unsigned LEB128. */
export function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 of a 32-bit integer. */
export function sleb(n: number): number[] {
  const out: number[] = [];
  n |= 0;
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

/** A module's sections, as byte ranges of the original (header included). */
export interface Section {
  id: number;
  /** Start of the section's header (its id byte). */
  start: number;
  /** Start of its contents. */
  body: number;
  end: number;
}

/** Checks the preamble and splits a module into its sections. */
export function sections(wasm: Uint8Array): Section[] {
  if (wasm.length < 8 || wasm[0] !== 0x00 || wasm[1] !== 0x61 || wasm[2] !== 0x73 || wasm[3] !== 0x6d) {
    throw invalid('missing the \\0asm magic number');
  }
  if (wasm[4] !== 1 || wasm[5] !== 0 || wasm[6] !== 0 || wasm[7] !== 0) throw invalid('unsupported binary version (expected 1)');
  const out: Section[] = [];
  let pos = 8;
  while (pos < wasm.length) {
    const header = new Reader(wasm, pos, wasm.length);
    const id = header.byte();
    const size = header.u32();
    const end = header.pos + size;
    if (end > wasm.length) throw invalid(`section ${id} runs past the end of the module`);
    out.push({ id, start: pos, body: header.pos, end });
    pos = end;
  }
  return out;
}

/** A section with the given contents. */
export function encodeSection(id: number, body: ArrayLike<number>): Uint8Array {
  const size = leb(body.length);
  const out = new Uint8Array(1 + size.length + body.length);
  out[0] = id;
  out.set(size, 1);
  out.set(body as ArrayLike<number>, 1 + size.length);
  return out;
}

export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    bytes.set(c, off);
    off += c.length;
  }
  return bytes;
}

/** Skips the description of an import of `kind` (function, table, global, tag; memory too). */
export function skipImportDescription(r: Reader, kind: number): void {
  if (kind === 0) r.u32();
  else if (kind === 1) {
    skipValType(r);
    r.limits();
  } else if (kind === 2) r.limits();
  else if (kind === 3) {
    skipValType(r);
    r.byte();
  } else if (kind === 4) {
    r.byte();
    r.u32();
  } else throw invalid(`unknown import kind ${kind}`);
}

/** Skips a value type: one byte, or a reference type's prefix and heap type. */
export function skipValType(r: Reader): void {
  const b = r.byte();
  if (b === 0x63 || b === 0x64) skipHeapType(r);
}

/** Skips a heap type: an abstract one (one byte) or a type index (s33). */
export function skipHeapType(r: Reader): void {
  const b = r.bytes[r.pos];
  if (b !== undefined && b >= 0x40 && b < 0x80) r.byte();
  else r.skipLeb(33);
}

const SECTION_TYPE = 1;
const SECTION_IMPORT = 2;
const FUNC_TYPE_FORM = 0x60;

const VALUE_TYPES: Readonly<Record<number, WasmValueType>> = { 0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64', 0x7b: 'v128', 0x70: 'funcref', 0x6f: 'externref' };

/** Reads a value type; every reference type other than funcref and externref reads as `ref`. */
function readValType(r: Reader): WasmValueType {
  const b = r.bytes[r.pos];
  const known = b === undefined ? undefined : VALUE_TYPES[b];
  if (known !== undefined) {
    r.byte();
    return known;
  }
  skipValType(r);
  return 'ref';
}

/** A function import and its signature (undefined when its type is one this reader does not parse). */
export interface FunctionImport {
  module: string;
  name: string;
  signature: FunctionSignature | undefined;
}

/**
 * The module's function imports with their signatures, from its type and import sections.
 * The module must already have been validated (compiled): this reader trusts its structure.
 * Types are read up to the first one that is not a plain function type (the GC proposal's
 * recursive groups and subtypes, outside ABI v1); imports of later types have no signature.
 */
export function functionImports(wasm: Uint8Array): FunctionImport[] {
  const types: (FunctionSignature | undefined)[] = [];
  const out: FunctionImport[] = [];
  for (const { id, body, end } of sections(wasm)) {
    if (id === SECTION_TYPE) {
      const r = new Reader(wasm, body, end);
      const count = r.u32();
      for (let i = 0; i < count; i++) {
        if (r.byte() !== FUNC_TYPE_FORM) break;
        const params = Array.from({ length: r.u32() }, () => readValType(r));
        const results = Array.from({ length: r.u32() }, () => readValType(r));
        types.push({ params, results });
      }
    } else if (id === SECTION_IMPORT) {
      const r = new Reader(wasm, body, end);
      const count = r.u32();
      for (let i = 0; i < count; i++) {
        const module = r.name();
        const name = r.name();
        const kind = r.byte();
        if (kind === 0) out.push({ module, name, signature: types[r.u32()] });
        else skipImportDescription(r, kind);
      }
      return out;
    }
  }
  return out;
}
