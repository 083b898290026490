/**
 * Declarations for editors of the field and class decorators the SDK's schema transform reads
 * (sdk/assemblyscript/transform/index.js); asc itself does not need them.
 */

/**
 * The `description` of a `@json` class or of one of its fields in the derived JSON Schema.
 *
 * @example `@describe("Who to greet") name: string = "";`
 */
declare function describe(text: string): Function;

/**
 * JSON Schema keywords (as JSON text) added to the derived schema of a `@json` class or field,
 * replacing derived ones of the same name: what a type cannot say.
 *
 * @example `@schema('{"minLength":1,"contentEncoding":"base64"}') data: string = "";`
 */
declare function schema(keywords: string): Function;
