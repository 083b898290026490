//! The receipt parser: receipt text (a PDF's text layer, OCR output or a mail body) → merchant,
//! date, total, currency and line items, without any text model (a configured model only refines
//! the result, classify.rs). The same rules as the AssemblyScript finance extension
//! (extensions/finance/assembly/receipt.ts): OCR output is noisy ("~ TOTAL USD 51.23"), so every
//! rule looks for a shape (a money amount at the end of a line, a word on the line) rather than an
//! exact layout.

use spacedrive_sdk::prelude::*;

/// One line item: `2 x Cappuccino 9.00`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct LineItem {
    pub description: String,
    pub quantity: f64,
    pub unit_price: Option<f64>,
    pub amount: Option<f64>,
}

/// What the parser (or the model) found.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Receipt {
    pub merchant: Option<String>,
    /// YYYY-MM-DD
    pub date: Option<String>,
    pub total: Option<f64>,
    /// ISO 4217
    pub currency: Option<String>,
    pub items: Vec<LineItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtotal: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax: Option<f64>,
    #[schema(minimum = 0, maximum = 1)]
    pub confidence: f64,
    /// "parser" or "model"
    pub source: Source,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The text that was read (with include_text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Parser,
    Model,
}

impl Default for Source {
    fn default() -> Self {
        Source::Parser
    }
}

impl Receipt {
    /// A receipt must at least have a total.
    pub fn found(&self) -> bool {
        matches!(self.total, Some(t) if t > 0.0)
    }

    /// Amounts to cents and the confidence to three decimals, as the operations return them.
    pub fn rounded(mut self) -> Self {
        self.total = self.total.map(round2);
        self.subtotal = self.subtotal.map(round2);
        self.tax = self.tax.map(round2);
        for item in &mut self.items {
            item.amount = item.amount.map(round2);
            item.unit_price = item.unit_price.map(round2);
        }
        self.confidence = ((self.confidence * 1000.0).round() / 1000.0).max(0.0).min(1.0);
        self
    }
}

pub fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

// ---------------------------------------------------------------------------------------------
// characters

fn is_digit(c: char) -> bool {
    c.is_ascii_digit()
}

fn is_letter(c: char) -> bool {
    let n = c as u32;
    (0x41..=0x5a).contains(&n) || (0x61..=0x7a).contains(&n) || (0xc0..=0x24f).contains(&n)
}

fn is_alnum(c: char) -> bool {
    is_digit(c) || is_letter(c)
}

fn is_space(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\r' || c == '\u{a0}'
}

fn letter_count(s: &str) -> usize {
    s.chars().filter(|c| is_letter(*c)).count()
}

/// Drops characters that are neither letters, digits nor a bracket from both ends (OCR specks).
pub fn trim_noise(s: &str) -> String {
    let c: Vec<char> = s.chars().collect();
    let (mut a, mut b) = (0, c.len());
    while a < b && !is_alnum(c[a]) && c[a] != '$' && c[a] != '(' {
        a += 1;
    }
    while b > a && !is_alnum(c[b - 1]) && c[b - 1] != ')' {
        b -= 1;
    }
    c[a..b].iter().collect()
}

/// Collapses runs of spaces into one (and drops leading ones).
fn collapse_spaces(s: &str) -> String {
    let mut out = String::new();
    let mut space = false;
    for c in s.chars() {
        if is_space(c) {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        out.push(c);
    }
    out
}

fn tokens(line: &str) -> Vec<String> {
    line.split(is_space).filter(|t| !t.is_empty()).map(|t| t.to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// amounts

fn is_currency_sign(c: char) -> bool {
    c == '$' || c == '€' || c == '£' || c == '¥'
}

/// A money amount written with two decimals (`34.49`, `1,234.56`, `1.234,56`, `$34.49`,
/// `NZ$34.49`, `€93,50`, `-3.00`); whole numbers are never amounts.
pub fn parse_amount(token: &str) -> Option<f64> {
    let mut t: Vec<char> = token.chars().collect();
    if let Some(dollar) = t.iter().position(|c| *c == '$') {
        if dollar > 0 && dollar <= 3 && t[..dollar].iter().all(|c| is_letter(*c)) {
            t.drain(..dollar);
        }
    }
    while let Some(&c) = t.first() {
        if is_currency_sign(c) || c == '+' {
            t.remove(0);
        } else {
            break;
        }
    }
    while let Some(&c) = t.last() {
        if is_currency_sign(c) || c == '*' {
            t.pop();
        } else {
            break;
        }
    }
    let mut negative = false;
    if t.first() == Some(&'-') {
        negative = true;
        t.remove(0);
    }
    let n = t.len();
    if n < 4 {
        return None;
    }
    let sep = t[n - 3];
    if sep != '.' && sep != ',' {
        return None;
    }
    if !is_digit(t[n - 1]) || !is_digit(t[n - 2]) {
        return None;
    }
    let mut whole = String::new();
    for &c in &t[..n - 3] {
        if is_digit(c) {
            whole.push(c);
        } else if c == ',' || c == '.' || c == '\'' || c == ' ' {
            // thousands separators
        } else {
            return None;
        }
    }
    if whole.is_empty() {
        return None;
    }
    let text = format!("{}.{}{}", whole, t[n - 2], t[n - 1]);
    let value: f64 = text.parse().ok()?;
    Some(if negative { -value } else { value })
}

/// The last money amount on a line and the index of its token.
fn last_amount(toks: &[String]) -> Option<(f64, usize)> {
    for i in (0..toks.len()).rev() {
        if let Some(v) = parse_amount(&toks[i]) {
            return Some((v, i));
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// currency

const CODES: &[&str] = &[
    "USD", "EUR", "GBP", "CAD", "AUD", "NZD", "CHF", "JPY", "CNY", "HKD", "SGD", "SEK", "NOK", "DKK", "PLN", "CZK", "HUF", "INR", "MXN", "BRL", "ZAR", "KRW", "TRY",
    "ILS", "AED",
];

fn currency_code_in(line: &str) -> Option<String> {
    for t in tokens(&line.to_uppercase()) {
        let t = trim_noise(&t);
        if CODES.contains(&t.as_str()) {
            return Some(t);
        }
    }
    None
}

/// `$` alone: which dollar depends on where the receipt comes from.
const BARE_DOLLAR: &str = "$";

fn currency_sign_in(line: &str) -> Option<String> {
    if line.contains('€') {
        return Some("EUR".into());
    }
    if line.contains('£') {
        return Some("GBP".into());
    }
    if line.contains('¥') {
        return Some("JPY".into());
    }
    let c: Vec<char> = line.chars().collect();
    let at = c.iter().position(|x| *x == '$')?;
    let mut start = at;
    while start > 0 && at - start < 3 && is_letter(c[start - 1]) {
        start -= 1;
    }
    if start > 0 && is_alnum(c[start - 1]) {
        return Some(BARE_DOLLAR.into());
    }
    let prefix: String = c[start..at].iter().collect::<String>().to_uppercase();
    Some(
        match prefix.as_str() {
            "A" | "AU" => "AUD",
            "NZ" => "NZD",
            "C" | "CA" => "CAD",
            "US" => "USD",
            "S" | "SG" => "SGD",
            "HK" => "HKD",
            _ => BARE_DOLLAR,
        }
        .into(),
    )
}

// ---------------------------------------------------------------------------------------------
// where the receipt was written: its currency and how it writes dates

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DateOrder {
    Unknown,
    DayFirst,
    MonthFirst,
}

const US_STATES: &[&str] = &[
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE",
    "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY",
];
const AU_STATES: &[&str] = &["NSW", "VIC", "QLD", "SA", "WA", "TAS", "ACT", "NT"];

/// Country names (lower case) and the country each names; longer names before those they contain.
const COUNTRY_NAMES: &[(&str, &str)] = &[
    ("united states", "US"),
    ("usa", "US"),
    ("u.s.a", "US"),
    ("new england", "US"),
    ("new mexico", "US"),
    ("new south wales", "AU"),
    ("united kingdom", "GB"),
    ("great britain", "GB"),
    ("england", "GB"),
    ("scotland", "GB"),
    ("wales", "GB"),
    ("northern ireland", "GB"),
    ("ireland", "IE"),
    ("éire", "IE"),
    ("deutschland", "DE"),
    ("germany", "DE"),
    ("österreich", "AT"),
    ("austria", "AT"),
    ("france", "FR"),
    ("españa", "ES"),
    ("spain", "ES"),
    ("italia", "IT"),
    ("italy", "IT"),
    ("nederland", "NL"),
    ("netherlands", "NL"),
    ("belgique", "BE"),
    ("belgië", "BE"),
    ("belgium", "BE"),
    ("portugal", "PT"),
    ("luxembourg", "LU"),
    ("schweiz", "CH"),
    ("suisse", "CH"),
    ("svizzera", "CH"),
    ("switzerland", "CH"),
    ("australia", "AU"),
    ("new zealand", "NZ"),
    ("aotearoa", "NZ"),
    ("canada", "CA"),
    ("india", "IN"),
    ("singapore", "SG"),
    ("japan", "JP"),
    ("sverige", "SE"),
    ("sweden", "SE"),
    ("norge", "NO"),
    ("norway", "NO"),
    ("danmark", "DK"),
    ("denmark", "DK"),
    ("méxico", "MX"),
    ("mexico", "MX"),
    ("south africa", "ZA"),
];

const COUNTRY_CURRENCIES: &[(&str, &str)] = &[
    ("US", "USD"),
    ("GB", "GBP"),
    ("IE", "EUR"),
    ("DE", "EUR"),
    ("AT", "EUR"),
    ("FR", "EUR"),
    ("ES", "EUR"),
    ("IT", "EUR"),
    ("NL", "EUR"),
    ("BE", "EUR"),
    ("PT", "EUR"),
    ("LU", "EUR"),
    ("CH", "CHF"),
    ("AU", "AUD"),
    ("NZ", "NZD"),
    ("CA", "CAD"),
    ("IN", "INR"),
    ("SG", "SGD"),
    ("JP", "JPY"),
    ("SE", "SEK"),
    ("NO", "NOK"),
    ("DK", "DKK"),
    ("MX", "MXN"),
    ("ZA", "ZAR"),
];

/// Tax words, the country each points to, and the countries it agrees with (specific first).
const TAX_WORDS: &[(&str, &str, &str)] = &[
    ("GSTIN", "IN", "IN"),
    ("CGST", "IN", "IN"),
    ("SGST", "IN", "IN"),
    ("HST", "CA", "CA"),
    ("QST", "CA", "CA"),
    ("TPS", "CA", "CA"),
    ("TVQ", "CA", "CA"),
    ("ABN", "AU", "AU"),
    ("MWST", "DE", "DE AT CH"),
    ("UST", "DE", "DE AT"),
    ("MEHRWERTSTEUER", "DE", "DE AT CH"),
    ("TVA", "FR", "FR BE LU CH"),
    ("IVA", "ES", "ES IT PT MX"),
    ("BTW", "NL", "NL BE"),
    ("GST", "AU", "AU NZ CA SG IN"),
    ("VAT", "GB", "GB IE ZA DE AT FR ES IT NL BE PT LU CH"),
];

/// The country a receipt comes from (ISO 3166; empty when nothing says) and what follows.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub country: String,
}

impl Origin {
    fn currency(&self) -> Option<String> {
        COUNTRY_CURRENCIES.iter().find(|(c, _)| *c == self.country).map(|(_, cur)| cur.to_string())
    }

    fn date_order(&self) -> DateOrder {
        match self.country.as_str() {
            "" | "CA" | "JP" => DateOrder::Unknown,
            "US" => DateOrder::MonthFirst,
            _ => DateOrder::DayFirst,
        }
    }

    fn dollar(&self) -> &'static str {
        match self.country.as_str() {
            "AU" => "AUD",
            "NZ" => "NZD",
            "CA" => "CAD",
            "SG" => "SGD",
            "MX" => "MXN",
            _ => "USD",
        }
    }
}

fn all_digits(s: &str, len: usize) -> bool {
    s.chars().count() == len && s.chars().all(is_digit)
}

fn is_zip(s: &str) -> bool {
    let c: Vec<char> = s.chars().collect();
    if c.len() == 10 && c[5] == '-' {
        return all_digits(&s[..5], 5) && all_digits(&s[6..], 4);
    }
    all_digits(s, 5)
}

fn is_upper(c: char) -> bool {
    c.is_ascii_uppercase()
}

fn is_uk_outward(s: &str) -> bool {
    let c: Vec<char> = s.chars().collect();
    if c.len() < 2 || c.len() > 4 || !is_upper(c[0]) {
        return false;
    }
    let mut i = 1;
    if is_upper(c[i]) {
        i += 1;
    }
    if i >= c.len() || !is_digit(c[i]) {
        return false;
    }
    i += 1;
    if i < c.len() && (is_digit(c[i]) || is_upper(c[i])) {
        i += 1;
    }
    i == c.len()
}

fn is_uk_inward(s: &str) -> bool {
    let c: Vec<char> = s.chars().collect();
    c.len() == 3 && is_digit(c[0]) && is_upper(c[1]) && is_upper(c[2])
}

fn is_canadian_postal(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    a.len() == 3 && b.len() == 3 && is_upper(a[0]) && is_digit(a[1]) && is_upper(a[2]) && is_digit(b[0]) && is_upper(b[1]) && is_digit(b[2])
}

fn address_country(line: &str) -> Option<&'static str> {
    let toks = tokens(line);
    for i in 0..toks.len() {
        let t = trim_noise(&toks[i]);
        let next = toks.get(i + 1).map(|n| trim_noise(n)).unwrap_or_default();
        if US_STATES.contains(&t.as_str()) && is_zip(&next) {
            return Some("US");
        }
        if AU_STATES.contains(&t.as_str()) && all_digits(&next, 4) {
            return Some("AU");
        }
        if is_canadian_postal(&t, &next) {
            return Some("CA");
        }
        if is_uk_outward(&t) && is_uk_inward(&next) {
            return Some("GB");
        }
        if t.chars().count() == 7 && t.starts_with("CH-") && all_digits(&t[3..], 4) {
            return Some("CH");
        }
    }
    None
}

/// Whether `word` occurs in `text` with no letter or digit right before or after it.
fn has_word(text: &str, word: &str) -> bool {
    let mut from = 0;
    while let Some(pos) = text[from..].find(word) {
        let at = from + pos;
        let end = at + word.len();
        let before = text[..at].chars().next_back().map(|c| !is_alnum(c)).unwrap_or(true);
        let after = text[end..].chars().next().map(|c| !is_alnum(c)).unwrap_or(true);
        if before && after {
            return true;
        }
        from = at + text[at..].chars().next().map(|c| c.len_utf8()).unwrap_or(1);
    }
    false
}

/// Where a receipt comes from, by the strongest cue: an address format, then a tax word (made
/// more precise by a country name that agrees with it), then a country name.
pub fn origin_of(lines: &[String]) -> Origin {
    let mut upper_words: Vec<String> = Vec::new();
    let mut address = None;
    for line in lines {
        if address.is_none() {
            address = address_country(line);
        }
        for t in tokens(line) {
            upper_words.push(trim_noise(&t).to_uppercase());
        }
    }
    if let Some(a) = address {
        return Origin { country: a.into() };
    }
    let lower = lines.join("\n").to_lowercase();
    let mut named = COUNTRY_NAMES.iter().find(|(name, _)| has_word(&lower, name)).map(|(_, c)| c.to_string()).unwrap_or_default();
    let listed = |w: &str| upper_words.iter().any(|u| u == w);
    if named.is_empty() && listed("UK") {
        named = "GB".into();
    }
    let mut tax: Option<(&str, &str)> = None;
    if listed("GST") && listed("PST") {
        tax = Some(("CA", "CA"));
    }
    if tax.is_none() {
        tax = TAX_WORDS.iter().find(|(w, _, _)| listed(w)).map(|(_, c, agree)| (*c, *agree));
    }
    if tax.is_none() && has_word(&lower, "sales tax") {
        tax = Some(("US", "US"));
    }
    let country = match tax {
        Some((c, agreeing)) => {
            if !named.is_empty() && agreeing.split(' ').any(|a| a == named) {
                named
            } else {
                c.to_string()
            }
        }
        None => named,
    };
    Origin { country }
}

fn resolve_sign(sign: &str, origin: &Origin) -> String {
    if sign == BARE_DOLLAR {
        origin.dollar().into()
    } else {
        sign.into()
    }
}

fn date_order_of_currency(currency: Option<&str>) -> DateOrder {
    match currency {
        Some("USD") => DateOrder::MonthFirst,
        Some("GBP") | Some("EUR") | Some("AUD") | Some("NZD") | Some("CHF") | Some("INR") | Some("SEK") | Some("NOK") | Some("DKK") | Some("ZAR") | Some("MXN") => {
            DateOrder::DayFirst
        }
        _ => DateOrder::Unknown,
    }
}

// ---------------------------------------------------------------------------------------------
// dates

const MONTHS: &[&str] = &["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

fn valid_date(y: i64, m: i64, d: i64) -> bool {
    if !(1970..=2100).contains(&y) || !(1..=12).contains(&m) || d < 1 {
        return false;
    }
    let days = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if d > days[(m - 1) as usize] {
        return false;
    }
    !(m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
}

fn iso(y: i64, m: i64, d: i64) -> String {
    format!("{}-{:02}-{:02}", y, m, d)
}

/// The run of (at most 5) digits at `i`: (value, end); end == i when there is none.
fn digits_at(c: &[char], i: usize) -> (i64, usize) {
    let (mut v, mut j) = (0i64, i);
    while j < c.len() && is_digit(c[j]) && j - i < 5 {
        v = v * 10 + (c[j] as i64 - '0' as i64);
        j += 1;
    }
    (v, j)
}

fn month_named(word: &str) -> i64 {
    let w = word.to_lowercase();
    if w.chars().count() < 3 {
        return 0;
    }
    MONTHS.iter().position(|m| w.starts_with(m)).map(|i| i as i64 + 1).unwrap_or(0)
}

/// AssemblyScript's `I32.parseInt`: leading digits (after an optional sign), 0 when none.
fn parse_int(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, rest) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).take(9).collect();
    let v: i64 = digits.parse().unwrap_or(0);
    if neg {
        -v
    } else {
        v
    }
}

/// The first date on a line as YYYY-MM-DD (`2025-03-14`, `14.03.2025`, `03/14/2025`,
/// `14 Mar 2025`, `Mar 14, 2025`); a number above 12 is the day, else `order` decides, and
/// without one dots and dashes read day first, slashes month first.
pub fn find_date(line: &str, order: DateOrder) -> Option<String> {
    let c: Vec<char> = line.chars().collect();
    for i in 0..c.len() {
        if !is_digit(c[i]) || (i > 0 && is_digit(c[i - 1])) {
            continue;
        }
        let (a, a_end) = digits_at(&c, i);
        let a_len = a_end - i;
        if a_end >= c.len() {
            continue;
        }
        let sep = c[a_end];
        if sep == '-' || sep == '/' || sep == '.' {
            let (b, b_end) = digits_at(&c, a_end + 1);
            if b_end == a_end + 1 || b_end >= c.len() || c[b_end] != sep {
                continue;
            }
            let (cc, c_end) = digits_at(&c, b_end + 1);
            let c_len = c_end - b_end - 1;
            if c_len == 0 {
                continue;
            }
            if a_len == 4 {
                if valid_date(a, b, cc) {
                    return Some(iso(a, b, cc));
                }
            } else if c_len == 4 || c_len == 2 {
                let y = if c_len == 2 { 2000 + cc } else { cc };
                let mut day_first = order == DateOrder::DayFirst || (order == DateOrder::Unknown && (sep == '.' || sep == '-'));
                if a > 12 {
                    day_first = true;
                } else if b > 12 {
                    day_first = false;
                }
                if day_first && valid_date(y, b, a) {
                    return Some(iso(y, b, a));
                }
                if !day_first && valid_date(y, a, b) {
                    return Some(iso(y, a, b));
                }
            }
            continue;
        }
        if a_len <= 2 && sep == ' ' {
            let rest: String = c[a_end..].iter().collect();
            let rest = tokens(&rest);
            if rest.len() >= 2 {
                let m = month_named(&trim_noise(&rest[0]));
                let y = parse_int(&trim_noise(&rest[1]));
                if m > 0 && valid_date(y, m, a) {
                    return Some(iso(y, m, a));
                }
            }
        }
    }
    let toks = tokens(line);
    for i in 0..toks.len().saturating_sub(2) {
        let m = month_named(&trim_noise(&toks[i]));
        if m == 0 {
            continue;
        }
        let d = parse_int(&trim_noise(&toks[i + 1]));
        let y = parse_int(&trim_noise(&toks[i + 2]));
        if valid_date(y, m, d) {
            return Some(iso(y, m, d));
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// lines

fn is_subtotal_line(lower: &str) -> bool {
    ["subtotal", "sub total", "sub-total", "zwischensumme", "sous-total"].iter().any(|w| lower.contains(w))
}

fn is_total_line(lower: &str) -> bool {
    if is_subtotal_line(lower) || lower.contains("total tax") || lower.contains("total savings") || lower.contains("total discount") {
        return false;
    }
    ["total", "amount due", "balance due", "amount paid", "summe", "gesamt", "montant", "totale", "importe"].iter().any(|w| lower.contains(w))
}

fn is_tax_line(lower: &str) -> bool {
    tokens(lower).iter().any(|t| matches!(trim_noise(t).as_str(), "tax" | "vat" | "gst" | "hst" | "tva" | "mwst" | "sales tax"))
}

const NOT_MERCHANT: &[&str] = &["date", "time", "receipt", "invoice", "order", "tel", "phone", "www", "http", "thank", "total", "subtotal", "paid", "cashier", "table"];

fn looks_like_merchant(line: &str) -> bool {
    if letter_count(line) < 3 {
        return false;
    }
    let lower = line.to_lowercase();
    if NOT_MERCHANT.iter().any(|w| lower.starts_with(w)) {
        return false;
    }
    if last_amount(&tokens(line)).is_some() {
        return false;
    }
    find_date(line, DateOrder::Unknown).is_none()
}

/// An item line: `2 x Cappuccino 9.00`, `1 x Claw Hammer : 24.50`, `3X Notebook A5 26.97`.
fn parse_item(line: &str) -> Option<LineItem> {
    let toks = tokens(line);
    if toks.len() < 3 {
        return None;
    }
    let mut q = trim_noise(&toks[0]);
    let mut next = 1;
    if q.chars().count() >= 2 && (q.ends_with('x') || q.ends_with('X')) {
        q.pop();
    } else {
        let x = toks[1].as_str();
        if !matches!(x, "x" | "X" | "×" | "*" | "@") {
            return None;
        }
        next = 2;
    }
    if q.is_empty() || q.chars().count() > 4 || !q.chars().all(is_digit) {
        return None;
    }
    let quantity = parse_int(&q) as f64;
    if quantity <= 0.0 {
        return None;
    }
    let (amount, index) = last_amount(&toks)?;
    if index < next + 1 {
        return None;
    }
    let description = trim_noise(&toks[next..index].join(" "));
    if letter_count(&description) < 2 {
        return None;
    }
    Some(LineItem { description: collapse_spaces(&description), quantity, unit_price: Some(round2(amount / quantity)), amount: Some(amount) })
}

fn explicit_currency(lines: &[String], origin: &Origin) -> Option<String> {
    if let Some(code) = lines.iter().find_map(|l| currency_code_in(l)) {
        return Some(code);
    }
    lines.iter().find_map(|l| currency_sign_in(l)).map(|s| resolve_sign(&s, origin))
}

/// Parses receipt text. `ocr_confidence` (0..1) scales the confidence, which otherwise says how
/// much of a receipt was found: a total (most), merchant, date, currency, items that add up.
pub fn parse_receipt(text: &str, ocr_confidence: f64) -> Receipt {
    let mut r = Receipt::default();
    let lines: Vec<String> = text.split('\n').map(|l| collapse_spaces(l).trim().to_string()).filter(|l| !l.is_empty()).collect();
    let origin = origin_of(&lines);
    let mut total_currency: Option<String> = None;
    let mut date_order = origin.date_order();
    if date_order == DateOrder::Unknown {
        date_order = date_order_of_currency(explicit_currency(&lines, &origin).as_deref());
    }
    for (i, line) in lines.iter().enumerate() {
        let lower = line.to_lowercase();
        let toks = tokens(line);
        if r.merchant.is_none() && i < 6 && looks_like_merchant(line) {
            r.merchant = Some(collapse_spaces(&trim_noise(line)));
        }
        if r.date.is_none() && lower.contains("date") {
            r.date = find_date(line, date_order);
        }
        if let Some((amount, _)) = last_amount(&toks) {
            if is_subtotal_line(&lower) {
                r.subtotal = Some(amount);
                continue;
            }
            if is_total_line(&lower) {
                // The last total line wins, but never a smaller one after a larger one.
                if r.total.is_none() || lower.contains("grand") || amount >= r.total.unwrap() {
                    r.total = Some(amount);
                    total_currency = currency_code_in(line).or_else(|| currency_sign_in(line).map(|s| resolve_sign(&s, &origin)));
                }
                continue;
            }
            if is_tax_line(&lower) {
                r.tax = Some(amount);
                continue;
            }
            if let Some(item) = parse_item(line) {
                r.items.push(item);
            }
        }
    }
    if r.date.is_none() {
        r.date = lines.iter().find_map(|l| find_date(l, date_order));
    }
    r.currency = total_currency.or_else(|| explicit_currency(&lines, &origin)).or_else(|| origin.currency());

    let mut score = 0.0;
    if r.found() {
        score += 0.5;
    }
    if r.merchant.is_some() {
        score += 0.15;
    }
    if r.date.is_some() {
        score += 0.15;
    }
    if r.currency.is_some() {
        score += 0.1;
    }
    if !r.items.is_empty() {
        let sum = round2(r.items.iter().map(|i| i.amount.unwrap_or(0.0)).sum());
        let matches = r.subtotal.map(|s| (sum - s).abs() < 0.005).unwrap_or(false) || (r.found() && (sum - r.total.unwrap()).abs() < 0.005);
        score += if matches { 0.1 } else { 0.05 };
    }
    let ocr = if ocr_confidence.is_nan() { 1.0 } else { ocr_confidence.max(0.0).min(1.0) };
    r.confidence = score * (0.5 + 0.5 * ocr);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_mail_body() {
        let r = parse_receipt("Lakeside Taxi\n400 Shore Drive, Chicago IL\nDate: 2025-03-21  Time: 23:14\n1 x Fare 11.4 mi      31.40\n1 x Tip   6.00\nSubtotal  37.40\nTOTAL USD 37.40\n", 1.0);
        assert_eq!(r.merchant.as_deref(), Some("Lakeside Taxi"));
        assert_eq!(r.date.as_deref(), Some("2025-03-21"));
        assert_eq!(r.total, Some(37.4));
        assert_eq!(r.currency.as_deref(), Some("USD"));
        assert_eq!(r.items.len(), 2);
        assert_eq!(r.items[0].description, "Fare 11.4 mi");
    }

    #[test]
    fn european_and_symbol_amounts() {
        let r = parse_receipt("Café Central\n14.03.2025\n2 x Melange 9,80\nGesamt € 1.234,56\n", 1.0);
        assert_eq!((r.merchant.as_deref(), r.date.as_deref(), r.total, r.currency.as_deref()), (Some("Café Central"), Some("2025-03-14"), Some(1234.56), Some("EUR")));
        let us = parse_receipt("Corner Deli\nMar 7, 2025\nAmount due $12.50", 1.0);
        assert_eq!((us.merchant.as_deref(), us.date.as_deref(), us.total, us.currency.as_deref()), (Some("Corner Deli"), Some("2025-03-07"), Some(12.5), Some("USD")));
        let none = parse_receipt("Hi Alex,\nAre we still on for lunch on Friday?\nSam", 1.0);
        assert!(none.total.is_none() && none.confidence < 0.5);
    }
}
