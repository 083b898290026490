/**
 * expenses: an example of one extension calling another's query.
 *
 * - `query:expenses:total.v1` {receipts: [base64 PDF/PNG/JPEG…]} → the sum per currency, each
 *   receipt read by `finance:classify_receipt` (so this extension needs only
 *   `permissions.call: ["query:finance:"]` — no OCR or model permission of its own).
 *
 * Its classes are its schemas (the SDK derives and registers them), and the call to finance is
 * typed: `callQuery<ClassifyByData, ReceiptSummary>` reads only the fields it uses.
 */
import { JSON } from "json-as";
import { ExtensionContext, OperationOptions, callQuery } from "spacedrive-sdk";

export { sd_abi_version, sd_alloc, sd_free } from "spacedrive-sdk";

@json
class TotalInput {
  @describe("Receipts (PDF, PNG or JPEG); file paths from the CLI")
  @schema('{"minItems":1,"maxItems":50,"items":{"type":"string","contentEncoding":"base64","minLength":1}}')
  receipts: string[] = [];
}

/** What expenses asks finance: a receipt in any format, its type sniffed. */
@json
class ClassifyByData {
  data: string = "";
}

/** The part of finance's answer expenses uses (and reports per receipt). */
@json
class ReceiptSummary {
  merchant: string | null = null;
  date: string | null = null;
  total: JSON.Box<f64> | null = null;
  currency: string | null = null;
}

@json
class CurrencyTotal {
  currency: string = "";
  total: f64 = 0;
  count: i32 = 0;
}

@json
class TotalOutput {
  totals: CurrencyTotal[] = [];
  receipts: ReceiptSummary[] = [];
  @describe("Receipts without a total")
  unread: i32 = 0;
}

export function plugin_init(): i32 {
  const ctx = new ExtensionContext();
  ctx.registerQuery("total", "total", OperationOptions.typed<TotalInput, TotalOutput>("Sums receipts per currency (each read by finance:classify_receipt)"));
  return ctx.initStatus();
}

/** `query:expenses:total.v1` */
export function total(ptr: i32, len: i32): i64 {
  const ctx = ExtensionContext.fromParams(ptr, len);
  const input = ctx.readInput<TotalInput>();
  const out = new TotalOutput();
  const cents = new Array<i64>();
  const ask = new ClassifyByData();
  for (let i = 0; i < input.receipts.length; i++) {
    ask.data = input.receipts[i];
    // The host validates the payload against finance's input schema, as for any caller.
    const r = callQuery<ClassifyByData, ReceiptSummary>("query:finance:classify_receipt.v1", ask);
    if (!r.ok) return ctx.fail("receipt " + (i + 1).toString() + ": " + r.error!.message, r.error!.code);
    const receipt = r.value;
    out.receipts.push(receipt);
    const amount = receipt.total;
    if (amount === null) {
      out.unread++;
      continue;
    }
    const currency = receipt.currency;
    const key = currency !== null && currency.length > 0 ? currency : "unknown";
    let k = 0;
    while (k < out.totals.length && out.totals[k].currency != key) k++;
    if (k == out.totals.length) {
      const t = new CurrencyTotal();
      t.currency = key;
      out.totals.push(t);
      cents.push(0);
    }
    // Sum in cents so 0.1 + 0.2 stays 0.30.
    cents[k] += <i64>Math.round(amount.value * 100);
    out.totals[k].count++;
  }
  for (let k = 0; k < out.totals.length; k++) out.totals[k].total = <f64>cents[k] / 100;
  return ctx.writeOutput<TotalOutput>(out);
}
