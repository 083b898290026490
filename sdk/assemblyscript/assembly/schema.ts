/**
 * JSON Schemas from types: `schemaOf<T>()` is the schema of what json-as reads into and writes
 * from `T`, so that what an extension registers is what its code parses.
 *
 * For a `@json` class the schema comes from the SDK's compiler transform (`--transform
 * spacedrive-sdk/transform`, see transform/index.js), which derives it from the class's fields
 * and their `@describe("…")`, `@schema('{…}')`, `@optional`, `@alias` and `@omit` decorators.
 *
 * @example
 * ```ts
 * @json class GreetInput {
 *   @describe("Who to greet") @schema('{"minLength":1}') name: string = "";
 * }
 * schemaOf<GreetInput>();
 * // {"type":"object","required":["name"],"properties":{"name":{"type":"string","description":"Who to greet","minLength":1}},"additionalProperties":false}
 * ```
 */
/** The JSON Schema (as JSON text) of the values json-as reads into and writes from `T`. */
export function schemaOf<T>(): string {
  if (isBoolean<T>()) return '{"type":"boolean"}';
  if (isInteger<T>()) return '{"type":"integer"}';
  if (isFloat<T>()) return '{"type":"number"}';
  if (isString<T>()) return isNullable<T>() ? '{"type":["string","null"]}' : '{"type":"string"}';
  if (isArray<T>()) {
    const items = schemaOf<valueof<T>>();
    const array = '{"type":"array","items":' + items + "}";
    return isNullable<T>() ? '{"anyOf":[' + array + ',{"type":"null"}]}' : array;
  }
  if (isReference<T>()) {
    // @ts-ignore: the SDK's transform adds __SD_SCHEMA to every @json class
    if (isDefined(changetype<nonnull<T>>(0).__SD_SCHEMA)) {
      // @ts-ignore: see above
      const schema: string = changetype<nonnull<T>>(0).__SD_SCHEMA(0);
      return isNullable<T>() ? '{"anyOf":[' + schema + ',{"type":"null"}]}' : schema;
    }
  }
  ERROR("schemaOf<T>: T must be a @json class (compiled with --transform spacedrive-sdk/transform), a string, bool, number or array of those");
  return "";
}
