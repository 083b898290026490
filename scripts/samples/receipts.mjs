// The sample receipts: known merchants, dates, currencies, line items and totals, and the
// format each one is written in. Amounts are kept in cents so totals add up exactly.

/** @typedef {{ description: string, quantity: number, unit_cents: number }} Item */
/**
 * @typedef {{
 *   id: string, format: 'pdf-text' | 'pdf-scanned' | 'png' | 'jpeg', merchant: string, address: string,
 *   date: string, time: string, number: string, currency: string, tax_rate: number, payment: string,
 *   items: Item[], rotate_degrees?: number, noise?: number,
 * }} ReceiptSpec
 */

/** @type {ReceiptSpec[]} */
export const RECEIPTS = [
  {
    id: 'blue-bottle-2025-03-14',
    format: 'pdf-text',
    merchant: 'Blue Bottle Coffee',
    address: '66 Mint Street, San Francisco CA',
    date: '2025-03-14',
    time: '08:42',
    number: '100234',
    currency: 'USD',
    tax_rate: 0.08625,
    payment: 'VISA **** 4242',
    items: [
      { description: 'Cappuccino', quantity: 2, unit_cents: 450 },
      { description: 'Croissant', quantity: 1, unit_cents: 375 },
      { description: 'Cold Brew Beans 340g', quantity: 1, unit_cents: 1900 },
    ],
  },
  {
    id: 'hardware-haven-2025-02-03',
    format: 'pdf-scanned',
    merchant: 'Hardware Haven',
    address: '1200 Oak Avenue, Portland OR',
    date: '2025-02-03',
    time: '16:05',
    number: 'HH-55821',
    currency: 'USD',
    tax_rate: 0,
    payment: 'CASH',
    items: [
      { description: 'Wood Screws 100pk', quantity: 2, unit_cents: 699 },
      { description: 'Claw Hammer', quantity: 1, unit_cents: 2450 },
      { description: 'Sandpaper Assorted', quantity: 3, unit_cents: 425 },
    ],
    rotate_degrees: 1.2,
    noise: 0.0025,
  },
  {
    id: 'green-grocer-2025-01-27',
    format: 'png',
    merchant: 'Green Grocer Market',
    address: '8 Harbour Road, Bristol',
    date: '2025-01-27',
    time: '12:18',
    number: '004417',
    currency: 'GBP',
    tax_rate: 0,
    payment: 'MASTERCARD **** 1881',
    items: [
      { description: 'Organic Apples 1kg', quantity: 1, unit_cents: 320 },
      { description: 'Sourdough Loaf', quantity: 1, unit_cents: 450 },
      { description: 'Free Range Eggs 12', quantity: 2, unit_cents: 389 },
    ],
  },
  {
    id: 'bistro-lumiere-2025-04-02',
    format: 'jpeg',
    merchant: 'Bistro Lumiere',
    address: '14 Rue Cler, Paris',
    date: '2025-04-02',
    time: '20:31',
    number: 'T12-0931',
    currency: 'EUR',
    tax_rate: 0.1,
    payment: 'VISA **** 0077',
    items: [
      { description: 'Soupe a l oignon', quantity: 2, unit_cents: 950 },
      { description: 'Steak Frites', quantity: 2, unit_cents: 2400 },
      { description: 'Carafe Vin Rouge', quantity: 1, unit_cents: 1800 },
    ],
  },
  {
    id: 'northwind-books-2025-05-19',
    format: 'pdf-text',
    merchant: 'Northwind Books',
    address: '221 King Street, Toronto ON',
    date: '2025-05-19',
    time: '11:02',
    number: 'NB-88310',
    currency: 'CAD',
    tax_rate: 0.13,
    payment: 'AMEX **** 3005',
    items: [
      { description: 'The Pragmatic Programmer', quantity: 1, unit_cents: 6499 },
      { description: 'Notebook A5', quantity: 3, unit_cents: 899 },
    ],
  },
  {
    id: 'pacific-fuel-2025-06-08',
    format: 'pdf-scanned',
    merchant: 'Pacific Fuel Stop',
    address: 'Highway 1 Exit 42, Monterey CA',
    date: '2025-06-08',
    time: '07:55',
    number: 'PF-20931',
    currency: 'USD',
    tax_rate: 0,
    payment: 'VISA **** 9911',
    items: [
      { description: 'Unleaded 38.2 L', quantity: 1, unit_cents: 6112 },
      { description: 'Bottled Water', quantity: 2, unit_cents: 199 },
    ],
    rotate_degrees: -0.8,
    noise: 0.002,
  },
];

/** Line amounts, subtotal, tax and total in cents (tax rounded half up, as tills do). */
export function totals(spec) {
  const lines = spec.items.map((it) => ({ ...it, amount_cents: it.quantity * it.unit_cents }));
  const subtotal = lines.reduce((s, l) => s + l.amount_cents, 0);
  const tax = Math.round(subtotal * spec.tax_rate);
  return { lines, subtotal, tax, total: subtotal + tax };
}

export const money = (cents) => (cents / 100).toFixed(2);

/**
 * The receipt as lines of text, the same for every format, so that what the PDF text layer
 * holds and what the images show agree. Each line is [left, right] (right-aligned column).
 */
export function receiptLines(spec) {
  const t = totals(spec);
  /** @type {Array<{ left: string, right?: string, style?: 'title' | 'rule' | 'bold' }>} */
  const out = [
    { left: spec.merchant, style: 'title' },
    { left: spec.address },
    { left: `Date: ${spec.date}  Time: ${spec.time}` },
    { left: `Receipt: ${spec.number}` },
    { left: '', style: 'rule' },
  ];
  for (const l of t.lines) out.push({ left: `${l.quantity} x ${l.description}`, right: money(l.amount_cents) });
  out.push({ left: '', style: 'rule' });
  out.push({ left: 'Subtotal', right: money(t.subtotal) });
  if (t.tax > 0) out.push({ left: `Tax ${(spec.tax_rate * 100).toFixed(3).replace(/\.?0+$/, '')}%`, right: money(t.tax) });
  out.push({ left: `TOTAL ${spec.currency}`, right: money(t.total), style: 'bold' });
  out.push({ left: `Paid by ${spec.payment}` });
  out.push({ left: 'Thank you for your visit!' });
  return out;
}

/** The receipt as plain text (for an email body), columns padded with spaces. */
export function receiptText(spec, width = 44) {
  return receiptLines(spec)
    .map((l) => (l.style === 'rule' ? '-'.repeat(width) : l.right ? l.left.padEnd(width - l.right.length) + l.right : l.left))
    .join('\n');
}

/** What index.json says about a receipt: what a parser must find. */
export function expected(spec) {
  const t = totals(spec);
  return {
    merchant: spec.merchant,
    date: spec.date,
    currency: spec.currency,
    subtotal: Number(money(t.subtotal)),
    tax: Number(money(t.tax)),
    total: Number(money(t.total)),
    items: t.lines.map((l) => ({
      description: l.description,
      quantity: l.quantity,
      unit_price: Number(money(l.unit_cents)),
      amount: Number(money(l.amount_cents)),
    })),
  };
}
