/**
 * The receipt parser: turns receipt text (a PDF's text layer, OCR output or a mail body) into
 * merchant, date, total, currency and line items. It runs inside the extension, so a receipt is
 * classified without any text model; a configured model only refines the result (classify.ts).
 *
 * OCR output is noisy ("~ TOTAL USD 51.23", "1 x Claw Hammer : 24.50", "‘Receipt: HH-55821"),
 * so every rule looks for a shape (a money amount at the end of a line, a word on the line)
 * rather than an exact layout.
 */
import { JSON } from "json-as";
import { LineItemOutput, ReceiptOutput } from "./types";

/** One line item: `2 x Cappuccino 9.00`. */
export class LineItem {
  description: string = "";
  quantity: f64 = 1;
  unitPrice: f64 = NaN;
  amount: f64 = NaN;

  toOutput(): LineItemOutput {
    const out = new LineItemOutput();
    out.description = this.description;
    out.quantity = round2(this.quantity);
    out.unit_price = boxed(this.unitPrice);
    out.amount = boxed(this.amount);
    return out;
  }
}

/** What the parser (or the model) found; empty strings and NaN mean "not found". */
export class Receipt {
  merchant: string = "";
  /** ISO 8601 date (YYYY-MM-DD). */
  date: string = "";
  total: f64 = NaN;
  subtotal: f64 = NaN;
  tax: f64 = NaN;
  /** ISO 4217 code. */
  currency: string = "";
  items: LineItem[] = [];
  confidence: f64 = 0;
  /** "parser" or "model". */
  source: string = "parser";
  /** The model that refined the result, when one did. */
  model: string = "";

  /** A receipt must at least have a total. */
  get found(): bool {
    return !isNaN(this.total) && this.total > 0;
  }

  /** What the operations return (and the `finance.receipt` sidecar holds), with the text read when given. */
  toOutput(text: string | null = null): ReceiptOutput {
    const out = new ReceiptOutput();
    out.merchant = orNull(this.merchant);
    out.date = orNull(this.date);
    out.total = boxed(this.total);
    out.currency = orNull(this.currency);
    for (let i = 0; i < this.items.length; i++) out.items.push(this.items[i].toOutput());
    out.subtotal = boxed(this.subtotal);
    out.tax = boxed(this.tax);
    out.confidence = ratio(this.confidence);
    out.source = this.source;
    out.model = orNull(this.model);
    out.text = text;
    return out;
  }
}

/** An amount rounded to cents, or null when not found. */
function boxed(value: f64): JSON.Box<f64> | null {
  if (isNaN(value) || !isFinite(value)) return null;
  return new JSON.Box<f64>(round2(value));
}

/** A confidence in 0..1, to three decimals. */
function ratio(value: f64): f64 {
  if (isNaN(value) || !isFinite(value)) return 0;
  return Math.max(0.0, Math.min(1.0, Math.round(value * 1000) / 1000));
}

function orNull(value: string): string | null {
  return value.length == 0 ? null : value;
}

// ---------------------------------------------------------------------------------------------
// characters

function isDigit(c: i32): bool {
  return c >= 0x30 && c <= 0x39;
}

function isLetter(c: i32): bool {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0xc0 && c <= 0x24f);
}

function isAlnum(c: i32): bool {
  return isDigit(c) || isLetter(c);
}

function isSpace(c: i32): bool {
  return c == 0x20 || c == 0x09 || c == 0x0d || c == 0xa0;
}

function letterCount(s: string): i32 {
  let n = 0;
  for (let i = 0; i < s.length; i++) if (isLetter(s.charCodeAt(i))) n++;
  return n;
}

/** Drops characters that are neither letters, digits nor a closing bracket from both ends (OCR specks: `‘`, `~`, `:`). */
export function trimNoise(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && !isAlnum(s.charCodeAt(a)) && s.charCodeAt(a) != 0x24 && s.charCodeAt(a) != 0x28) a++;
  while (b > a && !isAlnum(s.charCodeAt(b - 1)) && s.charCodeAt(b - 1) != 0x29) b--;
  return s.substring(a, b);
}

/** Collapses runs of spaces into one. */
function collapseSpaces(s: string): string {
  let out = "";
  let space = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isSpace(c)) {
      space = true;
      continue;
    }
    if (space && out.length > 0) out += " ";
    space = false;
    out += String.fromCharCode(c);
  }
  return out;
}

/** Splits on whitespace. */
function tokens(line: string): string[] {
  const out = new Array<string>();
  let start = -1;
  for (let i = 0; i <= line.length; i++) {
    const end = i == line.length || isSpace(line.charCodeAt(i));
    if (end) {
      if (start >= 0) out.push(line.substring(start, i));
      start = -1;
    } else if (start < 0) start = i;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// amounts

/**
 * A money amount written with two decimals — `34.49`, `1,234.56`, `1.234,56`, `12,50`,
 * `$34.49`, `NZ$34.49`, `€93,50`, `-3.00` — or NaN. Whole numbers (`100pk`, `2025`) are not amounts, so
 * quantities and years are never mistaken for prices.
 */
export function parseAmount(token: string): f64 {
  let t = token;
  // a dollar named by its country: NZ$12.00, A$5.00, US$3.50
  const dollar = t.indexOf("$");
  if (dollar > 0 && dollar <= 3) {
    let letters = true;
    for (let i = 0; i < dollar; i++) if (!isLetter(t.charCodeAt(i))) letters = false;
    if (letters) t = t.substring(dollar);
  }
  // currency signs and trailing punctuation around the number
  while (t.length > 0) {
    const c = t.charCodeAt(0);
    if (c == 0x24 || c == 0x20ac || c == 0xa3 || c == 0xa5 || c == 0x2b) t = t.substring(1);
    else break;
  }
  while (t.length > 0) {
    const c = t.charCodeAt(t.length - 1);
    if (c == 0x24 || c == 0x20ac || c == 0xa3 || c == 0xa5 || c == 0x2a) t = t.substring(0, t.length - 1);
    else break;
  }
  let negative = false;
  if (t.startsWith("-")) {
    negative = true;
    t = t.substring(1);
  }
  if (t.length < 4) return NaN;
  const sep = t.charCodeAt(t.length - 3);
  if (sep != 0x2e && sep != 0x2c) return NaN;
  if (!isDigit(t.charCodeAt(t.length - 1)) || !isDigit(t.charCodeAt(t.length - 2))) return NaN;
  let whole = "";
  for (let i = 0; i < t.length - 3; i++) {
    const c = t.charCodeAt(i);
    if (isDigit(c)) whole += String.fromCharCode(c);
    else if (c == 0x2c || c == 0x2e || c == 0x27 || c == 0x20) {
      // thousands separators: 1,234.56 / 1.234,56 / 1'234.56
    } else return NaN;
  }
  if (whole.length == 0) return NaN;
  const value = F64.parseFloat(whole + "." + t.substring(t.length - 2));
  return negative ? -value : value;
}

/** The last money amount on a line and the index of its token; NaN when there is none. */
class LastAmount {
  value: f64 = NaN;
  index: i32 = -1;
}

function lastAmount(toks: string[]): LastAmount {
  const out = new LastAmount();
  for (let i = toks.length - 1; i >= 0; i--) {
    const v = parseAmount(toks[i]);
    if (!isNaN(v)) {
      out.value = v;
      out.index = i;
      return out;
    }
  }
  return out;
}

export function round2(v: f64): f64 {
  return Math.round(v * 100) / 100;
}

// ---------------------------------------------------------------------------------------------
// currency

const CODES: string[] = [
  "USD", "EUR", "GBP", "CAD", "AUD", "NZD", "CHF", "JPY", "CNY", "HKD", "SGD", "SEK", "NOK", "DKK",
  "PLN", "CZK", "HUF", "INR", "MXN", "BRL", "ZAR", "KRW", "TRY", "ILS", "AED",
];

function currencyCodeIn(line: string): string {
  const upper = line.toUpperCase();
  const toks = tokens(upper);
  for (let i = 0; i < toks.length; i++) {
    const t = trimNoise(toks[i]);
    for (let k = 0; k < CODES.length; k++) if (t == CODES[k]) return t;
  }
  return "";
}

/** `$` alone: which dollar it is depends on where the receipt comes from ({@link dollarOf}). */
const BARE_DOLLAR = "$";

/**
 * The currency a sign on the line stands for: `€ £ ¥`, a dollar with its country (`A$`, `AU$`,
 * `NZ$`, `C$`, `CA$`, `US$`, `S$`, `HK$`), or {@link BARE_DOLLAR}; "" when there is none.
 */
function currencySignIn(line: string): string {
  if (line.indexOf("€") >= 0) return "EUR";
  if (line.indexOf("£") >= 0) return "GBP";
  if (line.indexOf("¥") >= 0) return "JPY";
  const at = line.indexOf("$");
  if (at < 0) return "";
  let start = at;
  while (start > 0 && at - start < 3 && isLetter(line.charCodeAt(start - 1))) start--;
  // Only letters that start a word name the dollar ("Amount$5.00" does not).
  if (start > 0 && isAlnum(line.charCodeAt(start - 1))) return BARE_DOLLAR;
  const prefix = line.substring(start, at).toUpperCase();
  if (prefix == "A" || prefix == "AU") return "AUD";
  if (prefix == "NZ") return "NZD";
  if (prefix == "C" || prefix == "CA") return "CAD";
  if (prefix == "US") return "USD";
  if (prefix == "S" || prefix == "SG") return "SGD";
  if (prefix == "HK") return "HKD";
  return BARE_DOLLAR;
}

// ---------------------------------------------------------------------------------------------
// where the receipt was written: its currency and how it writes dates, when it does not say

/** How to read `03/04/2025`, whose first two numbers could each be the day or the month. */
export const DATE_ORDER_UNKNOWN: i32 = 0;
export const DAY_FIRST: i32 = 1;
export const MONTH_FIRST: i32 = 2;

const US_STATES: string[] = [
  "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
  "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM",
  "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA",
  "WV", "WI", "WY",
];
const AU_STATES: string[] = ["NSW", "VIC", "QLD", "SA", "WA", "TAS", "ACT", "NT"];

/** Country names (lower case) and the country each names; longer names before those they contain. */
const COUNTRY_NAMES: string[] = [
  "united states", "US", "usa", "US", "u.s.a", "US", "new england", "US", "new mexico", "US", "new south wales", "AU",
  "united kingdom", "GB", "great britain", "GB", "england", "GB", "scotland", "GB", "wales", "GB", "northern ireland", "GB",
  "ireland", "IE", "éire", "IE",
  "deutschland", "DE", "germany", "DE", "österreich", "AT", "austria", "AT", "france", "FR",
  "españa", "ES", "spain", "ES", "italia", "IT", "italy", "IT", "nederland", "NL", "netherlands", "NL",
  "belgique", "BE", "belgië", "BE", "belgium", "BE", "portugal", "PT", "luxembourg", "LU",
  "schweiz", "CH", "suisse", "CH", "svizzera", "CH", "switzerland", "CH",
  "australia", "AU", "new zealand", "NZ", "aotearoa", "NZ", "canada", "CA", "india", "IN",
  "singapore", "SG", "japan", "JP", "sverige", "SE", "sweden", "SE", "norge", "NO", "norway", "NO",
  "danmark", "DK", "denmark", "DK", "méxico", "MX", "mexico", "MX", "south africa", "ZA",
];

/** Each country's currency: code, currency, … */
const COUNTRY_CURRENCIES: string[] = [
  "US", "USD", "GB", "GBP", "IE", "EUR", "DE", "EUR", "AT", "EUR", "FR", "EUR", "ES", "EUR", "IT", "EUR",
  "NL", "EUR", "BE", "EUR", "PT", "EUR", "LU", "EUR", "CH", "CHF", "AU", "AUD", "NZ", "NZD", "CA", "CAD",
  "IN", "INR", "SG", "SGD", "JP", "JPY", "SE", "SEK", "NO", "NOK", "DK", "DKK", "MX", "MXN", "ZA", "ZAR",
];

/**
 * Tax words, the country each points to when nothing else says, and the countries it agrees
 * with (a country name on the receipt is taken only when it agrees: "Canada Dry" on a US
 * receipt with sales tax stays a US receipt). Specific words come first. `PST` alone is no cue
 * (it is also the Pacific time zone); with `GST` it is Canadian ({@link originOf}).
 */
const TAX_WORDS: string[] = [
  "GSTIN", "IN", "IN", "CGST", "IN", "IN", "SGST", "IN", "IN",
  "HST", "CA", "CA", "QST", "CA", "CA", "TPS", "CA", "CA", "TVQ", "CA", "CA",
  "ABN", "AU", "AU",
  "MWST", "DE", "DE AT CH", "UST", "DE", "DE AT", "MEHRWERTSTEUER", "DE", "DE AT CH",
  "TVA", "FR", "FR BE LU CH", "IVA", "ES", "ES IT PT MX", "BTW", "NL", "NL BE",
  "GST", "AU", "AU NZ CA SG IN",
  "VAT", "GB", "GB IE ZA DE AT FR ES IT NL BE PT LU CH",
];

/** What the text says about the country a receipt comes from, and what follows from it. */
export class Origin {
  /** ISO 3166 code, "" when nothing says. */
  country: string = "";

  get currency(): string {
    for (let k = 0; k < COUNTRY_CURRENCIES.length; k += 2) if (COUNTRY_CURRENCIES[k] == this.country) return COUNTRY_CURRENCIES[k + 1];
    return "";
  }

  /** The United States write the month first; Canada and Japan mix orders; elsewhere the day comes first. */
  get dateOrder(): i32 {
    if (this.country.length == 0 || this.country == "CA" || this.country == "JP") return DATE_ORDER_UNKNOWN;
    return this.country == "US" ? MONTH_FIRST : DAY_FIRST;
  }

  /** Which dollar a bare `$` is. */
  get dollar(): string {
    if (this.country == "AU") return "AUD";
    if (this.country == "NZ") return "NZD";
    if (this.country == "CA") return "CAD";
    if (this.country == "SG") return "SGD";
    if (this.country == "MX") return "MXN";
    return "USD";
  }
}

function isUpperLetter(c: i32): bool {
  return c >= 0x41 && c <= 0x5a;
}

function allDigits(s: string, length: i32): bool {
  if (s.length != length) return false;
  for (let i = 0; i < s.length; i++) if (!isDigit(s.charCodeAt(i))) return false;
  return true;
}

/** `12345` or `12345-6789`. */
function isZip(s: string): bool {
  if (s.length == 10 && s.charCodeAt(5) == 0x2d) return allDigits(s.substring(0, 5), 5) && allDigits(s.substring(6), 4);
  return allDigits(s, 5);
}

/** A UK postcode's first half: `M1`, `B33`, `CR2`, `SW1A`, `EC1V`, `W1J`. */
function isUkOutwardCode(s: string): bool {
  if (s.length < 2 || s.length > 4 || !isUpperLetter(s.charCodeAt(0))) return false;
  let i = 1;
  if (isUpperLetter(s.charCodeAt(i))) i++;
  if (i >= s.length || !isDigit(s.charCodeAt(i))) return false;
  i++;
  if (i < s.length && (isDigit(s.charCodeAt(i)) || isUpperLetter(s.charCodeAt(i)))) i++;
  return i == s.length;
}

/** A UK postcode's second half: `1AA`. */
function isUkInwardCode(s: string): bool {
  return s.length == 3 && isDigit(s.charCodeAt(0)) && isUpperLetter(s.charCodeAt(1)) && isUpperLetter(s.charCodeAt(2));
}

/** A Canadian postal code's halves: `M5V` `2T6`. */
function isCanadianPostalHalves(a: string, b: string): bool {
  return a.length == 3 && b.length == 3 && isUpperLetter(a.charCodeAt(0)) && isDigit(a.charCodeAt(1)) && isUpperLetter(a.charCodeAt(2)) &&
    isDigit(b.charCodeAt(0)) && isUpperLetter(b.charCodeAt(1)) && isDigit(b.charCodeAt(2));
}

function listed(list: string[], s: string): bool {
  for (let k = 0; k < list.length; k++) if (list[k] == s) return true;
  return false;
}

/** The country an address on the line is written for: a US state and ZIP, a UK postcode, an Australian state and postcode, a Canadian postal code, `CH-8001`. */
function addressCountry(line: string): string {
  const toks = tokens(line);
  for (let i = 0; i < toks.length; i++) {
    const t = trimNoise(toks[i]);
    const next = i + 1 < toks.length ? trimNoise(toks[i + 1]) : "";
    if (listed(US_STATES, t) && isZip(next)) return "US";
    if (listed(AU_STATES, t) && allDigits(next, 4)) return "AU";
    if (isCanadianPostalHalves(t, next)) return "CA";
    if (isUkOutwardCode(t) && isUkInwardCode(next)) return "GB";
    if (t.length == 7 && t.startsWith("CH-") && allDigits(t.substring(3), 4)) return "CH";
  }
  return "";
}

/** True when `word` occurs in `text` with no letter or digit right before or after it. */
function hasWord(text: string, word: string): bool {
  let at = text.indexOf(word);
  while (at >= 0) {
    const end = at + word.length;
    const before = at == 0 || !isAlnum(text.charCodeAt(at - 1));
    const after = end >= text.length || !isAlnum(text.charCodeAt(end));
    if (before && after) return true;
    at = text.indexOf(word, at + 1);
  }
  return false;
}

/**
 * Where a receipt comes from, by the strongest cue found: an address format first, then a tax
 * word (made more precise by a country name that agrees with it), then a country name.
 */
export function originOf(lines: string[]): Origin {
  const origin = new Origin();
  let address = "";
  const upperWords = new Array<string>();
  for (let i = 0; i < lines.length; i++) {
    if (address.length == 0) address = addressCountry(lines[i]);
    const toks = tokens(lines[i]);
    for (let k = 0; k < toks.length; k++) upperWords.push(trimNoise(toks[k]).toUpperCase());
  }
  if (address.length > 0) {
    origin.country = address;
    return origin;
  }
  const lower = lines.join("\n").toLowerCase();
  let named = "";
  for (let k = 0; k < COUNTRY_NAMES.length && named.length == 0; k += 2) if (hasWord(lower, COUNTRY_NAMES[k])) named = COUNTRY_NAMES[k + 1];
  if (named.length == 0 && listed(upperWords, "UK")) named = "GB";

  let taxCountry = "";
  let agreeing = "";
  if (listed(upperWords, "GST") && listed(upperWords, "PST")) {
    // British Columbia, Saskatchewan, Manitoba.
    taxCountry = "CA";
    agreeing = "CA";
  }
  for (let k = 0; k < TAX_WORDS.length && taxCountry.length == 0; k += 3) {
    if (listed(upperWords, TAX_WORDS[k])) {
      taxCountry = TAX_WORDS[k + 1];
      agreeing = TAX_WORDS[k + 2];
    }
  }
  if (taxCountry.length == 0 && hasWord(lower, "sales tax")) {
    taxCountry = "US";
    agreeing = "US";
  }
  if (taxCountry.length > 0) {
    origin.country = named.length > 0 && listed(agreeing.split(" "), named) ? named : taxCountry;
  } else {
    origin.country = named;
  }
  return origin;
}

/** The currency a sign stands for on a receipt from `origin` ({@link BARE_DOLLAR} resolved). */
function resolveSign(sign: string, origin: Origin): string {
  return sign == BARE_DOLLAR ? origin.dollar : sign;
}

/** The date order a currency's countries write, when nothing says where the receipt comes from. */
function dateOrderOfCurrency(currency: string): i32 {
  if (currency == "USD") return MONTH_FIRST;
  if (currency == "GBP" || currency == "EUR" || currency == "AUD" || currency == "NZD" || currency == "CHF" || currency == "INR" ||
    currency == "SEK" || currency == "NOK" || currency == "DKK" || currency == "ZAR" || currency == "MXN") return DAY_FIRST;
  return DATE_ORDER_UNKNOWN;
}

// ---------------------------------------------------------------------------------------------
// dates

const MONTHS: string[] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

function pad2(n: i32): string {
  return n < 10 ? "0" + n.toString() : n.toString();
}

function validDate(y: i32, m: i32, d: i32): bool {
  if (y < 1970 || y > 2100 || m < 1 || m > 12 || d < 1) return false;
  const days: i32[] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  if (d > days[m - 1]) return false;
  if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return false;
  return true;
}

function iso(y: i32, m: i32, d: i32): string {
  return y.toString() + "-" + pad2(m) + "-" + pad2(d);
}

/** Reads the run of digits at `i`; returns [value, end]; end == i when there is none. */
function digitsAt(s: string, i: i32): i32[] {
  let v = 0;
  let j = i;
  while (j < s.length && isDigit(s.charCodeAt(j)) && j - i < 5) {
    v = v * 10 + (s.charCodeAt(j) - 0x30);
    j++;
  }
  return [v, j];
}

function monthNamed(word: string): i32 {
  const w = word.toLowerCase();
  if (w.length < 3) return 0;
  for (let k = 0; k < MONTHS.length; k++) if (w.startsWith(MONTHS[k])) return k + 1;
  return 0;
}

/**
 * The first date on a line, as YYYY-MM-DD: `2025-03-14`, `2025/03/14`, `14.03.2025`,
 * `03/14/2025`, `14 Mar 2025`, `Mar 14, 2025`; "" when none. A number above 12 is the day; when
 * both could be the day, `order` decides ({@link DAY_FIRST}, {@link MONTH_FIRST}), and without
 * one, dots and dashes are read day first and slashes month first.
 */
export function findDate(line: string, order: i32 = DATE_ORDER_UNKNOWN): string {
  for (let i = 0; i < line.length; i++) {
    if (!isDigit(line.charCodeAt(i)) || (i > 0 && isDigit(line.charCodeAt(i - 1)))) continue;
    const a = digitsAt(line, i);
    const aLen = a[1] - i;
    if (a[1] >= line.length) continue;
    const sep = line.charCodeAt(a[1]);
    if (sep == 0x2d || sep == 0x2f || sep == 0x2e) {
      const b = digitsAt(line, a[1] + 1);
      if (b[1] == a[1] + 1 || b[1] >= line.length || line.charCodeAt(b[1]) != sep) continue;
      const c = digitsAt(line, b[1] + 1);
      const cLen = c[1] - b[1] - 1;
      if (cLen == 0) continue;
      if (aLen == 4) {
        if (validDate(a[0], b[0], c[0])) return iso(a[0], b[0], c[0]);
      } else if (cLen == 4 || cLen == 2) {
        const y = cLen == 2 ? 2000 + c[0] : c[0];
        let dayFirst = order == DAY_FIRST || (order == DATE_ORDER_UNKNOWN && (sep == 0x2e || sep == 0x2d));
        if (a[0] > 12) dayFirst = true;
        else if (b[0] > 12) dayFirst = false;
        if (dayFirst && validDate(y, b[0], a[0])) return iso(y, b[0], a[0]);
        if (!dayFirst && validDate(y, a[0], b[0])) return iso(y, a[0], b[0]);
      }
      continue;
    }
    // 14 Mar 2025
    if (aLen <= 2 && sep == 0x20) {
      const rest = tokens(line.substring(a[1]));
      if (rest.length >= 2) {
        const m = monthNamed(trimNoise(rest[0]));
        const y = I32.parseInt(trimNoise(rest[1]));
        if (m > 0 && validDate(y, m, a[0])) return iso(y, m, a[0]);
      }
    }
  }
  // Mar 14, 2025
  const toks = tokens(line);
  for (let i = 0; i + 2 < toks.length; i++) {
    const m = monthNamed(trimNoise(toks[i]));
    if (m == 0) continue;
    const d = I32.parseInt(trimNoise(toks[i + 1]));
    const y = I32.parseInt(trimNoise(toks[i + 2]));
    if (validDate(y, m, d)) return iso(y, m, d);
  }
  return "";
}

// ---------------------------------------------------------------------------------------------
// lines

function isSubtotalLine(lower: string): bool {
  return lower.indexOf("subtotal") >= 0 || lower.indexOf("sub total") >= 0 || lower.indexOf("sub-total") >= 0 || lower.indexOf("zwischensumme") >= 0 || lower.indexOf("sous-total") >= 0;
}

function isTotalLine(lower: string): bool {
  if (isSubtotalLine(lower)) return false;
  if (lower.indexOf("total tax") >= 0 || lower.indexOf("total savings") >= 0 || lower.indexOf("total discount") >= 0) return false;
  return lower.indexOf("total") >= 0 || lower.indexOf("amount due") >= 0 || lower.indexOf("balance due") >= 0 ||
    lower.indexOf("amount paid") >= 0 || lower.indexOf("summe") >= 0 || lower.indexOf("gesamt") >= 0 ||
    lower.indexOf("montant") >= 0 || lower.indexOf("totale") >= 0 || lower.indexOf("importe") >= 0;
}

function isTaxLine(lower: string): bool {
  const toks = tokens(lower);
  for (let i = 0; i < toks.length; i++) {
    const t = trimNoise(toks[i]);
    if (t == "tax" || t == "vat" || t == "gst" || t == "hst" || t == "tva" || t == "mwst" || t == "sales tax") return true;
  }
  return false;
}

/** Words that start lines which are never the merchant's name. */
const NOT_MERCHANT: string[] = ["date", "time", "receipt", "invoice", "order", "tel", "phone", "www", "http", "thank", "total", "subtotal", "paid", "cashier", "table"];

function looksLikeMerchant(line: string): bool {
  if (letterCount(line) < 3) return false;
  const lower = line.toLowerCase();
  for (let k = 0; k < NOT_MERCHANT.length; k++) if (lower.startsWith(NOT_MERCHANT[k])) return false;
  if (!isNaN(lastAmount(tokens(line)).value)) return false;
  return findDate(line).length == 0;
}

/** An item line: `2 x Cappuccino 9.00`, `1 x Claw Hammer : 24.50`, `3 X Notebook A5 26.97`. */
function parseItem(line: string): LineItem | null {
  const toks = tokens(line);
  if (toks.length < 3) return null;
  let q = trimNoise(toks[0]);
  let next = 1;
  // "2x" written together
  if (q.length >= 2 && (q.endsWith("x") || q.endsWith("X"))) {
    q = q.substring(0, q.length - 1);
  } else {
    const x = toks[1];
    if (!(x == "x" || x == "X" || x == "×" || x == "*" || x == "@")) return null;
    next = 2;
  }
  if (q.length == 0 || q.length > 4) return null;
  for (let i = 0; i < q.length; i++) if (!isDigit(q.charCodeAt(i))) return null;
  const quantity = <f64>I32.parseInt(q);
  if (quantity <= 0) return null;
  const last = lastAmount(toks);
  if (isNaN(last.value) || last.index < next + 1) return null;
  const description = trimNoise(toks.slice(next, last.index).join(" "));
  if (letterCount(description) < 2) return null;
  const item = new LineItem();
  item.description = collapseSpaces(description);
  item.quantity = quantity;
  item.amount = last.value;
  item.unitPrice = round2(last.value / quantity);
  return item;
}

/** A currency the text writes out: a code anywhere, else a sign anywhere; "" when neither. */
function explicitCurrency(lines: string[], origin: Origin): string {
  for (let i = 0; i < lines.length; i++) {
    const code = currencyCodeIn(lines[i]);
    if (code.length > 0) return code;
  }
  for (let i = 0; i < lines.length; i++) {
    const sign = currencySignIn(lines[i]);
    if (sign.length > 0) return resolveSign(sign, origin);
  }
  return "";
}

/**
 * Parses receipt text. `ocrConfidence` (0..1) scales the confidence, which otherwise says how
 * much of a receipt was found: a total (most), merchant, date, currency, and items that add up.
 */
export function parseReceipt(text: string, ocrConfidence: f64): Receipt {
  const r = new Receipt();
  const rawLines = text.split("\n");
  const lines = new Array<string>();
  for (let i = 0; i < rawLines.length; i++) {
    const l = collapseSpaces(rawLines[i]).trim();
    if (l.length > 0) lines.push(l);
  }

  const origin = originOf(lines);
  let totalCurrency = "";
  // The date order needs the currency, which may be on a line after the date: found first.
  let dateOrder = origin.dateOrder;
  if (dateOrder == DATE_ORDER_UNKNOWN) dateOrder = dateOrderOfCurrency(explicitCurrency(lines, origin));
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const lower = line.toLowerCase();
    const toks = tokens(line);
    const amount = lastAmount(toks).value;

    if (r.merchant.length == 0 && i < 6 && looksLikeMerchant(line)) r.merchant = collapseSpaces(trimNoise(line));
    if (r.date.length == 0 && lower.indexOf("date") >= 0) r.date = findDate(line, dateOrder);

    if (!isNaN(amount)) {
      if (isSubtotalLine(lower)) {
        r.subtotal = amount;
        continue;
      }
      if (isTotalLine(lower)) {
        // The last total line wins ("Total" before "Grand total"), but never a smaller one
        // after a larger one ("TOTAL 93.50" then "Total items 5.00").
        if (isNaN(r.total) || lower.indexOf("grand") >= 0 || amount >= r.total) {
          r.total = amount;
          const code = currencyCodeIn(line);
          totalCurrency = code.length > 0 ? code : resolveSign(currencySignIn(line), origin);
        }
        continue;
      }
      if (isTaxLine(lower)) {
        r.tax = amount;
        continue;
      }
      const item = parseItem(line);
      if (item !== null) r.items.push(item);
    }
  }
  if (r.date.length == 0) {
    for (let i = 0; i < lines.length && r.date.length == 0; i++) r.date = findDate(lines[i], dateOrder);
  }
  r.currency = totalCurrency;
  if (r.currency.length == 0) r.currency = explicitCurrency(lines, origin);
  if (r.currency.length == 0) r.currency = origin.currency;

  let score = 0.0;
  if (r.found) score += 0.5;
  if (r.merchant.length > 0) score += 0.15;
  if (r.date.length > 0) score += 0.15;
  if (r.currency.length > 0) score += 0.1;
  if (r.items.length > 0) {
    let sum = 0.0;
    for (let i = 0; i < r.items.length; i++) sum += r.items[i].amount;
    sum = round2(sum);
    const matches = (!isNaN(r.subtotal) && Math.abs(sum - r.subtotal) < 0.005) || (r.found && Math.abs(sum - r.total) < 0.005);
    score += matches ? 0.1 : 0.05;
  }
  const ocr = isNaN(ocrConfidence) ? 1.0 : Math.max(0.0, Math.min(1.0, ocrConfidence));
  r.confidence = score * (0.5 + 0.5 * ocr);
  return r;
}
