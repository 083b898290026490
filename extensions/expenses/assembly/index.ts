/**
 * expenses: an example of one extension calling another's query.
 *
 * - `query:expenses:total.v1` {receipts: [base64 PDF/PNG/JPEG…]} → the sum per currency, each
 *   receipt read by `finance:classify_receipt` (so this extension needs only
 *   `permissions.call: ["query:finance:"]` — no OCR or model permission of its own).
 */
import { ExtensionContext, OperationOptions, RawFields, callRaw, quote, rawFields } from "spacedrive-sdk";

export { sd_abi_version, sd_alloc, sd_free } from "spacedrive-sdk";

const TOTAL_INPUT =
  '{"type":"object","additionalProperties":false,"required":["receipts"],"properties":{' +
  '"receipts":{"type":"array","minItems":1,"maxItems":50,"items":{"type":"string","contentEncoding":"base64","minLength":1},' +
  '"description":"Receipts (PDF, PNG or JPEG); file paths from the CLI"}}}';

const TOTAL_OUTPUT =
  '{"type":"object","required":["totals","receipts","unread"],"properties":{' +
  '"totals":{"type":"array","items":{"type":"object","required":["currency","total","count"],"properties":{' +
  '"currency":{"type":"string"},"total":{"type":"number"},"count":{"type":"integer"}}}},' +
  '"receipts":{"type":"array","items":{"type":"object"}},"unread":{"type":"integer","description":"Receipts without a total"}}}';

export function plugin_init(): i32 {
  const ctx = new ExtensionContext();
  ctx.registerQuery("total", "total", new OperationOptions("Sums receipts per currency (each read by finance:classify_receipt)", TOTAL_INPUT, TOTAL_OUTPUT));
  return ctx.initStatus();
}

/** Raw elements of a JSON array of strings (base64 has no quotes or brackets inside). */
function stringElements(json: string): string[] {
  const out = new Array<string>();
  let i = json.indexOf("[");
  while (i >= 0) {
    const open = json.indexOf('"', i + 1);
    if (open < 0) break;
    const close = json.indexOf('"', open + 1);
    if (close < 0) break;
    out.push(json.substring(open, close + 1));
    i = close;
  }
  return out;
}

function numberOf(f: RawFields, key: string): f64 {
  const v = f.get(key);
  if (v === null || v == "null") return NaN;
  return F64.parseFloat(v);
}

/** `query:expenses:total.v1` */
export function total(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const input = rawFields(ctx.readInputString());
  const receipts = stringElements(input!.getOr("receipts", "[]"));
  const currencies = new Array<string>();
  const cents = new Array<i64>();
  const counts = new Array<i32>();
  const summaries = new Array<string>();
  let unread = 0;
  for (let i = 0; i < receipts.length; i++) {
    // The host validates the payload against finance's input schema, as for any caller.
    const r = callRaw("query:finance:classify_receipt.v1", '{"data":' + receipts[i] + "}");
    if (!r.ok) return ctx.fail("receipt " + (i + 1).toString() + ": " + r.error!.message, r.error!.code);
    const f = rawFields(r.value)!;
    const amount = numberOf(f, "total");
    const currency = f.string("currency", "");
    summaries.push('{"merchant":' + f.getOr("merchant", "null") + ',"date":' + f.getOr("date", "null") + ',"total":' + f.getOr("total", "null") + ',"currency":' + f.getOr("currency", "null") + "}");
    if (isNaN(amount)) {
      unread++;
      continue;
    }
    const key = currency.length > 0 ? currency : "unknown";
    let k = currencies.indexOf(key);
    if (k < 0) {
      currencies.push(key);
      cents.push(0);
      counts.push(0);
      k = currencies.length - 1;
    }
    // Sum in cents so 0.1 + 0.2 stays 0.30.
    cents[k] += <i64>Math.round(amount * 100);
    counts[k]++;
  }
  const totals = new Array<string>();
  for (let k = 0; k < currencies.length; k++) {
    const c = cents[k];
    const frac = c % 100;
    const amountText = (c / 100).toString() + (frac == 0 ? "" : "." + (frac < 10 ? "0" : "") + frac.toString());
    totals.push('{"currency":' + quote(currencies[k]) + ',"total":' + amountText + ',"count":' + counts[k].toString() + "}");
  }
  return ctx.writeOutputString('{"totals":[' + totals.join(",") + '],"receipts":[' + summaries.join(",") + '],"unread":' + unread.toString() + "}");
}
