/**
 * Fuel metering: rewrites a module so that it traps once it has run about a given number of
 * instructions. The main thread runs short calls on a metered instance (see inline.ts): code on
 * the main thread cannot be stopped from outside as a worker can, so it must stop by itself.
 *
 * How: the module gets one more global, a mutable i32 exported as {@link FUEL_EXPORT}. At the
 * start of every function body and of every loop body, a check subtracts that body's static
 * instruction count (not counting the bodies of loops nested in it, which charge for themselves)
 * and executes `unreachable` once the fuel is below zero. An instruction runs at most once per
 * entry into its innermost enclosing loop body or function body (only a branch back to a loop
 * repeats code), so the fuel spent is at least the number of instructions run. The bulk
 * instructions whose work grows with an operand (memory.fill, memory.copy, memory.init and their
 * table counterparts) are charged that operand as well, one unit per BULK_BYTES_PER_UNIT, before
 * they run: one of them cannot copy a whole memory on a call's small budget.
 *
 * Only the code section, the global section and the export section change; every function,
 * global and type keeps its index. A module using an instruction the decoder does not know (the
 * GC proposal, memory64, …) is refused with {@link UnmeterableModule}: the caller then runs it on
 * workers only.
 */
import { concat, encodeSection, invalid, leb, Reader, sections, skipHeapType, skipImportDescription, skipValType, sleb } from './wasm-binary.js';

/** Name of the exported fuel global. */
export const FUEL_EXPORT = '__sd_fuel';
/** Bytes (or table elements) of a bulk instruction's length that cost one unit of fuel, as a shift. */
const BULK_SHIFT = 2;
/** `0xfc` instructions whose last operand (on top of the stack) is a length: charged by it. */
const BULK_OPS = new Set([8, 10, 11, 12, 14, 17]);
const SECTION_TYPE = 1;
const SECTION_FUNCTION = 3;

const SECTION_IMPORT = 2;
const SECTION_GLOBAL = 6;
const SECTION_EXPORT = 7;
const SECTION_CODE = 10;
/** Sections that must come before the global section, in the binary's order. */
const BEFORE_GLOBAL = new Set([1, 2, 3, 4, 5, 13]);
/** Sections that come after it (the global section goes in front of the first of these). */
const AFTER_GLOBAL = new Set([7, 8, 9, 12, 10, 11]);

/** Sections that come after the export section. */
const AFTER_EXPORT = new Set([8, 9, 12, 10, 11]);

/** The module uses something the metering decoder does not know. */
export class UnmeterableModule extends Error {}

export interface MeteredModule {
  bytes: Uint8Array;
  /** Functions rewritten. */
  functions: number;
  /** Fuel checks inserted (function entries and loop bodies). */
  checks: number;
}

/**
 * Returns the module with fuel checks. The fuel global starts at `initialFuel`, which bounds the
 * module's start function and whatever runs before the host first sets it.
 *
 * @throws UnmeterableModule for instructions or sections it cannot rewrite safely;
 *   SpacedriveError EXTENSION_INVALID for bytes that are not a well-formed module.
 */
export function meterModule(wasm: Uint8Array, initialFuel: number): MeteredModule {
  const all = sections(wasm);
  let importedGlobals = 0;
  let definedGlobals = 0;
  const globalSection = all.find((s) => s.id === SECTION_GLOBAL);
  const importSection = all.find((s) => s.id === SECTION_IMPORT);
  if (importSection) {
    const r = new Reader(wasm, importSection.body, importSection.end);
    for (let i = r.u32(); i > 0; i--) {
      r.name();
      r.name();
      const kind = r.byte();
      if (kind === 3) importedGlobals++;
      skipImportDescription(r, kind);
    }
  }
  if (globalSection) definedGlobals = new Reader(wasm, globalSection.body, globalSection.end).u32();
  const paramCounts = functionParamCounts(wasm, all);
  const fuel = importedGlobals + definedGlobals;
  const fuelGlobal = [0x7f, 0x01, 0x41, ...sleb(initialFuel), 0x0b];

  const chunks: Uint8Array[] = [wasm.subarray(0, 8)];
  let placedGlobal = false;
  let placedExport = false;
  let functions = 0;
  let checks = 0;
  const placeGlobal = () => {
    if (placedGlobal) return;
    placedGlobal = true;
    chunks.push(encodeSection(SECTION_GLOBAL, [...leb(1), ...fuelGlobal]));
  };
  const exportEntry = [...leb(FUEL_EXPORT.length), ...Buffer.from(FUEL_EXPORT), 0x03, ...leb(fuel)];
  for (const s of all) {
    if (AFTER_GLOBAL.has(s.id)) placeGlobal();
    if (AFTER_EXPORT.has(s.id) && !placedExport) {
      // No export section: one with just the fuel, where the export section goes.
      chunks.push(encodeSection(SECTION_EXPORT, [...leb(1), ...exportEntry]));
      placedExport = true;
    }
    if (s.id === SECTION_GLOBAL) {
      placedGlobal = true;
      const r = new Reader(wasm, s.body, s.end);
      const count = r.u32();
      chunks.push(encodeSection(SECTION_GLOBAL, [...leb(count + 1), ...wasm.subarray(r.pos, s.end), ...fuelGlobal]));
    } else if (s.id === SECTION_EXPORT) {
      placedExport = true;
      const r = new Reader(wasm, s.body, s.end);
      const count = r.u32();
      const entries = r.pos;
      for (let i = 0; i < count; i++) {
        if (r.name() === FUEL_EXPORT) throw new UnmeterableModule(`the module already exports '${FUEL_EXPORT}'`);
        r.byte();
        r.u32();
      }
      chunks.push(encodeSection(SECTION_EXPORT, [...leb(count + 1), ...wasm.subarray(entries, s.end), ...exportEntry]));
    } else if (s.id === SECTION_CODE) {
      const r = new Reader(wasm, s.body, s.end);
      const count = r.u32();
      const bodies: Uint8Array[] = [Uint8Array.from(leb(count))];
      for (let i = 0; i < count; i++) {
        const size = r.u32();
        const end = r.pos + size;
        if (end > s.end) throw invalid('a function body runs past the end of the code section');
        const params = paramCounts[i];
        if (params === undefined) throw invalid('more function bodies than functions');
        const metered = meterBody(wasm, r.pos, end, fuel, params);
        checks += metered.checks;
        bodies.push(Uint8Array.from(leb(metered.bytes.length)), metered.bytes);
        r.pos = end;
      }
      functions = count;
      chunks.push(encodeSection(SECTION_CODE, concat(bodies)));
    } else {
      if (!BEFORE_GLOBAL.has(s.id) && !AFTER_GLOBAL.has(s.id) && s.id !== 0) {
        throw new UnmeterableModule(`unknown section ${s.id}`);
      }
      chunks.push(wasm.subarray(s.start, s.end));
    }
  }
  placeGlobal();
  if (!placedExport) chunks.push(encodeSection(SECTION_EXPORT, [...leb(1), ...exportEntry]));
  return { bytes: concat(chunks), functions, checks };
}

/**
 * How many parameters each defined function has (in code-section order), from the type and
 * function sections. Types other than plain function types (the GC proposal's) are refused.
 */
function functionParamCounts(wasm: Uint8Array, all: ReturnType<typeof sections>): number[] {
  const params: number[] = [];
  const types = all.find((s) => s.id === SECTION_TYPE);
  if (types) {
    const r = new Reader(wasm, types.body, types.end);
    for (let n = r.u32(); n > 0; n--) {
      const form = r.byte();
      if (form !== 0x60) throw new UnmeterableModule(`type form 0x${form.toString(16)} is not supported by fuel metering`);
      const count = r.u32();
      for (let i = 0; i < count; i++) skipValType(r);
      for (let results = r.u32(); results > 0; results--) skipValType(r);
      params.push(count);
    }
  }
  const functions = all.find((s) => s.id === SECTION_FUNCTION);
  const out: number[] = [];
  if (functions) {
    const r = new Reader(wasm, functions.body, functions.end);
    for (let n = r.u32(); n > 0; n--) {
      const count = params[r.u32()];
      if (count === undefined) throw invalid('a function refers to a type that does not exist');
      out.push(count);
    }
  }
  return out;
}

/** The check inserted before a bulk instruction: charges its length (on top of the stack, left there). */
function bulkCheck(fuel: number, scratch: number): number[] {
  const l = leb(scratch);
  // local.tee s; global.get; local.get s; i32.const SHIFT; i32.shr_u; then spend
  return [0x22, ...l, 0x23, ...leb(fuel), 0x20, ...l, 0x41, BULK_SHIFT, 0x76, ...spend(fuel)];
}

/** The check inserted at the start of a body that charges `cost`. */
function check(fuel: number, cost: number): number[] {
  // global.get; i32.const cost; then spend
  return [0x23, ...leb(fuel), 0x41, ...sleb(cost), ...spend(fuel)];
}

/** With the fuel and the charge on the stack: stores fuel − charge, and traps if it is below zero. */
function spend(fuel: number): number[] {
  const g = leb(fuel);
  // i32.sub; global.set; global.get; i32.const 0; i32.lt_s; if; unreachable; end
  return [0x6b, 0x24, ...g, 0x23, ...g, 0x41, 0x00, 0x48, 0x04, 0x40, 0x00, 0x0b];
}

/** A function body or loop body being counted. */
interface Region {
  /** Where its check goes (in the original bytes). */
  at: number;
  cost: number;
}

/** Rewrites one function body (locals, then code) with its checks. */
function meterBody(wasm: Uint8Array, start: number, end: number, fuel: number, params: number): { bytes: Uint8Array; checks: number } {
  const r = new Reader(wasm, start, end);
  const groups = r.u32();
  const groupsStart = r.pos;
  let locals = params;
  for (let g = groups; g > 0; g--) {
    locals += r.u32();
    skipValType(r);
  }
  const codeStart = r.pos;
  const regions: Region[] = [{ at: r.pos, cost: 0 }];
  /** Where bulk instructions start: each gets a bulkCheck before it. */
  const bulk: number[] = [];
  // For each open block: the region it belongs to, and whether it is a loop (which opened one).
  const open: Array<{ loop: boolean }> = [{ loop: false }];
  const current: Region[] = [regions[0]!];
  while (r.pos < end) {
    const region = current[current.length - 1]!;
    region.cost++;
    const op = r.byte();
    switch (op) {
      case 0x02: // block
      case 0x04: // if
      case 0x06: // try
        skipBlockType(r);
        open.push({ loop: false });
        break;
      case 0x03: {
        // loop: its body is a region of its own, charged at its start
        skipBlockType(r);
        open.push({ loop: true });
        const inner: Region = { at: r.pos, cost: 0 };
        regions.push(inner);
        current.push(inner);
        break;
      }
      case 0x1f: {
        // try_table
        skipBlockType(r);
        for (let n = r.u32(); n > 0; n--) {
          const kind = r.byte();
          if (kind === 0 || kind === 1) r.u32();
          else if (kind !== 2 && kind !== 3) throw new UnmeterableModule(`unknown catch clause ${kind}`);
          r.u32();
        }
        open.push({ loop: false });
        break;
      }
      case 0x0b: {
        // end
        const closed = open.pop();
        if (closed === undefined) throw invalid('unbalanced end in a function body');
        if (closed.loop) current.pop();
        break;
      }
      case 0x18: // delegate (ends a try)
        r.u32();
        if (open.pop() === undefined) throw invalid('unbalanced delegate');
        break;
      case 0x00: // unreachable
      case 0x01: // nop
      case 0x05: // else
      case 0x0a: // throw_ref
      case 0x0f: // return
      case 0x19: // catch_all
      case 0x1a: // drop
      case 0x1b: // select
      case 0xd1: // ref.is_null
      case 0xd3: // ref.eq
      case 0xd4: // ref.as_non_null
        break;
      case 0x07: // catch
      case 0x08: // throw
      case 0x09: // rethrow
      case 0x0c: // br
      case 0x0d: // br_if
      case 0x10: // call
      case 0x12: // return_call
      case 0x14: // call_ref
      case 0x15: // return_call_ref
      case 0x20: // local.get
      case 0x21: // local.set
      case 0x22: // local.tee
      case 0x23: // global.get
      case 0x24: // global.set
      case 0x25: // table.get
      case 0x26: // table.set
      case 0x3f: // memory.size
      case 0x40: // memory.grow
      case 0xd2: // ref.func
      case 0xd5: // br_on_null
      case 0xd6: // br_on_non_null
        r.u32();
        break;
      case 0x0e: // br_table
        for (let n = r.u32(); n >= 0; n--) r.u32();
        break;
      case 0x11: // call_indirect
      case 0x13: // return_call_indirect
        r.u32();
        r.u32();
        break;
      case 0x1c: // select t*
        for (let n = r.u32(); n > 0; n--) skipValType(r);
        break;
      case 0x41: // i32.const
        r.skipLeb(32);
        break;
      case 0x42: // i64.const
        r.skipLeb(64);
        break;
      case 0x43: // f32.const
        r.skip(4);
        break;
      case 0x44: // f64.const
        r.skip(8);
        break;
      case 0xd0: // ref.null
        skipHeapType(r);
        break;
      case 0xfc: {
        const at = r.pos - 1;
        if (BULK_OPS.has(skipPrefixedFC(r))) bulk.push(at);
        break;
      }
      case 0xfd:
        skipPrefixedSimd(r);
        break;
      case 0xfe:
        // threads: atomic.fence has a zero byte, every other one a memarg
        if (r.u32() === 0x03) r.byte();
        else skipMemarg(r);
        break;
      default:
        if (op >= 0x28 && op <= 0x3e) skipMemarg(r); // loads and stores
        else if (op >= 0x45 && op <= 0xc4) break; // numeric, no immediates
        else throw new UnmeterableModule(`instruction 0x${op.toString(16)} is not supported by fuel metering`);
    }
  }
  if (open.length !== 0) throw invalid('a function body does not end with end');
  // The locals, with one more i32 (the bulk checks' scratch) when there are bulk instructions;
  // then the code with a check at the start of each region and before each bulk instruction.
  const out: Uint8Array[] = [];
  if (bulk.length > 0) out.push(Uint8Array.from(leb(groups + 1)), wasm.subarray(groupsStart, codeStart), Uint8Array.from([0x01, 0x7f]));
  else out.push(wasm.subarray(start, codeStart));
  const inserts = [
    ...regions.map((region) => ({ at: region.at, code: check(fuel, region.cost) })),
    ...bulk.map((at) => ({ at, code: bulkCheck(fuel, locals) })),
  ].sort((a, b) => a.at - b.at);
  let from = codeStart;
  for (const insert of inserts) {
    out.push(wasm.subarray(from, insert.at), Uint8Array.from(insert.code));
    from = insert.at;
  }
  out.push(wasm.subarray(from, end));
  return { bytes: concat(out), checks: inserts.length };
}

function skipBlockType(r: Reader): void {
  const b = r.bytes[r.pos];
  if (b === 0x63 || b === 0x64) {
    r.byte();
    skipHeapType(r);
  } else if (b !== undefined && b >= 0x40 && b < 0x80) r.byte();
  else r.skipLeb(33);
}

function skipMemarg(r: Reader): void {
  const align = r.u32();
  if (align & 0x40) r.u32(); // memory index (multi-memory)
  r.skipLeb(64);
}

/** Skips a 0xfc instruction's immediates; returns its sub-opcode. */
function skipPrefixedFC(r: Reader): number {
  const op = r.u32();
  if (op <= 7) return op; // saturating truncations
  switch (op) {
    case 8: // memory.init
    case 10: // memory.copy
    case 12: // table.init
    case 14: // table.copy
      r.u32();
      r.u32();
      return op;
    case 9: // data.drop
    case 11: // memory.fill
    case 13: // elem.drop
    case 15: // table.grow
    case 16: // table.size
    case 17: // table.fill
      r.u32();
      return op;
    default:
      throw new UnmeterableModule(`instruction 0xfc ${op} is not supported by fuel metering`);
  }
}

function skipPrefixedSimd(r: Reader): void {
  const op = r.u32();
  if (op <= 11 || op === 92 || op === 93) skipMemarg(r); // loads, stores, load_zero
  else if (op === 12 || op === 13) r.skip(16); // v128.const, i8x16.shuffle
  else if (op >= 21 && op <= 34) r.byte(); // extract/replace lane
  else if (op >= 84 && op <= 91) {
    // load/store lane
    skipMemarg(r);
    r.byte();
  }
}
