/**
 * Loads a module without letting it replace the runtime's built-in functions.
 *
 * Why: pdfjs-dist's legacy build (the one that runs on Node 20) carries core-js polyfills that,
 * on import, replace `JSON.stringify`, `JSON.parse` and `Array.prototype.push` for the whole
 * process with JavaScript versions (for proposals and edge cases Node 20 lacks, such as
 * `JSON.rawJSON`). After the daemon's first PDF, everything that serialises or pushes — the wire
 * protocol, the job store, sandbox calls — ran on them: a durable job checkpoint took 110 µs
 * instead of 38 µs. Built-ins the module replaces are put back as they were; what it adds
 * (`Promise.withResolvers`, new `Set` methods, which it needs) is kept. The natives do
 * everything the module uses them for.
 */

/** The built-ins whose own properties are kept: the intrinsics a polyfill may patch. */
function guardedObjects(): object[] {
  const g = globalThis as Record<string, unknown>;
  const out: object[] = [globalThis, JSON, Math, Reflect];
  const typedArray = Object.getPrototypeOf(Uint8Array) as object;
  const constructors = [
    Object, Function, Array, String, Number, Boolean, Symbol, BigInt, Error, TypeError, RangeError, Promise, RegExp, Date,
    Map, Set, WeakMap, WeakSet, ArrayBuffer, SharedArrayBuffer, DataView, typedArray, Uint8Array, Int8Array, Uint16Array,
    Int16Array, Uint32Array, Int32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array, Uint8ClampedArray,
    g.URL, g.URLSearchParams, g.TextEncoder, g.TextDecoder, g.AbortController, g.AbortSignal, g.Iterator,
  ];
  for (const c of constructors) {
    if (typeof c !== 'function') continue;
    out.push(c);
    const proto = (c as { prototype?: unknown }).prototype;
    if (typeof proto === 'object' && proto !== null) out.push(proto);
  }
  return out;
}

/** Runs `load` and puts back every built-in it replaced (own properties of the guarded objects). */
export async function keepingNatives<T>(load: () => Promise<T>): Promise<T> {
  const saved = guardedObjects().map((target) => ({ target, props: Object.getOwnPropertyDescriptors(target) }));
  try {
    return await load();
  } finally {
    for (const { target, props } of saved) {
      for (const key of Reflect.ownKeys(props)) {
        const before = props[key as keyof typeof props]!;
        const now = Object.getOwnPropertyDescriptor(target, key);
        if (now !== undefined && sameProperty(before, now)) continue;
        if (before.configurable || now === undefined) Object.defineProperty(target, key, before);
      }
    }
  }
}

function sameProperty(a: PropertyDescriptor, b: PropertyDescriptor): boolean {
  // Object.is: NaN is the same NaN.
  return Object.is(a.value, b.value) && a.get === b.get && a.set === b.set;
}
