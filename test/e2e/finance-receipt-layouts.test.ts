/**
 * The finance parser on receipt layouts unlike the samples' (which all name their currency
 * code and write ISO dates): receipts that give no currency sign or code, and dates such as
 * `03/04/2025` that read differently in London and in Austin. The text goes through the real
 * compiled extension in a real daemon (`query:finance:classify_receipt.v1` with `text`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpacedriveClient } from '../../src/client/index.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { FINANCE_EXTENSIONS, installExtensions } from './finance-helpers.js';

interface Layout {
  name: string;
  text: string;
  expected: { merchant?: string; date: string; total: number; currency: string };
}

const lines = (...l: string[]): string => l.join('\n') + '\n';

const LAYOUTS: Layout[] = [
  {
    name: 'a German Kassenbon: MwSt, comma decimals, tax classes after the amounts, no currency',
    text: lines(
      'REWE Markt GmbH',
      'Hauptstr. 12',
      '10115 Berlin',
      'Bio Vollmilch 3,5%        1,19 A',
      'Roggenbrot                2,49 A',
      'Kaffee Crema 1kg         12,99 A',
      'Zwischensumme            16,67',
      'SUMME                    16,67',
      'Bar                      20,00',
      'Rückgeld                  3,33',
      'MwSt  7%  Netto 15,58  MwSt 1,09',
      '03.04.2025 14:22  Bon 4711',
    ),
    expected: { merchant: 'REWE Markt GmbH', date: '2025-04-03', total: 16.67, currency: 'EUR' },
  },
  {
    name: 'a UK till receipt: a London postcode, 03/04/2025, no £',
    text: lines(
      'Tesco Stores Ltd',
      'Kensington High St',
      'London W8 5SE',
      '03/04/2025 18:42',
      'MILK SEMI SKIMMED 2PT      1.45',
      'BANANAS LOOSE              0.89',
      'SOURDOUGH LOAF             2.50',
      'TOTAL                      4.84',
      'VISA DEBIT                 4.84',
    ),
    expected: { merchant: 'Tesco Stores Ltd', date: '2025-04-03', total: 4.84, currency: 'GBP' },
  },
  {
    name: 'a UK receipt with only a VAT number to go by',
    text: lines('The Corner Cafe', 'VAT Reg No 123 4567 89', 'Date 03/04/2025', '1 x Latte 3.20', '1 x Scone 2.75', 'Total 5.95'),
    expected: { merchant: 'The Corner Cafe', date: '2025-04-03', total: 5.95, currency: 'GBP' },
  },
  {
    name: 'a US receipt: a state and ZIP, sales tax, no $',
    text: lines(
      "Joe's Hardware",
      '512 Congress Ave',
      'Austin, TX 78701',
      '03/04/2025 10:15 AM',
      '2 x Wood Screws 100pk     13.98',
      '1 x Paint Brush            6.49',
      'Subtotal                  20.47',
      'Sales Tax 8.25%            1.69',
      'Total                     22.16',
    ),
    expected: { merchant: "Joe's Hardware", date: '2025-03-04', total: 22.16, currency: 'USD' },
  },
  {
    name: 'a US receipt with a dashed date and only "Sales Tax" to go by',
    text: lines('Canada Dry Outlet', 'Date: 03-04-2025', '1 x Ginger Ale 12pk 7.99', 'Sales Tax 0.66', 'Total 8.65'),
    expected: { merchant: 'Canada Dry Outlet', date: '2025-03-04', total: 8.65, currency: 'USD' },
  },
  {
    name: 'a US receipt printed with a Pacific time (PST is no Canadian tax here) and a bare $',
    text: lines('Sunset Tacos', '03/04/2025 7:42 PM PST', '2 x Taco 7.00', 'Total $7.00'),
    expected: { merchant: 'Sunset Tacos', date: '2025-03-04', total: 7, currency: 'USD' },
  },
  {
    name: 'an Australian tax invoice: NSW postcode, ABN, GST, a bare $',
    text: lines(
      'Bean Scene Cafe',
      '45 George St',
      'Sydney NSW 2000',
      'ABN 12 345 678 901',
      'Tax Invoice 03/04/2025',
      '1 x Flat White             4.80',
      '1 x Banana Bread           5.50',
      'Total                    $10.30',
      'Includes GST               0.94',
    ),
    expected: { merchant: 'Bean Scene Cafe', date: '2025-04-03', total: 10.3, currency: 'AUD' },
  },
  {
    name: 'a New Zealand receipt: GST and the country named',
    text: lines('Kiwi Books', 'Wellington, New Zealand', '03/04/2025', '1 x Atlas 45.00', 'Total 45.00', 'GST 5.87'),
    expected: { merchant: 'Kiwi Books', date: '2025-04-03', total: 45, currency: 'NZD' },
  },
  {
    name: 'a Canadian receipt: GST and PST, a postal code, a bare $',
    text: lines('Maple Grocers', '88 Robson St', 'Vancouver BC V6B 2A7', 'Date: 2025-04-03', '1 x Maple Syrup 12.99', 'GST 0.65', 'PST 0.91', 'Total $14.55'),
    expected: { merchant: 'Maple Grocers', date: '2025-04-03', total: 14.55, currency: 'CAD' },
  },
  {
    name: 'a French ticket: TVA, TOTAL TTC, 03/04/2025',
    text: lines('Boulangerie Martin', '12 rue de la Paix', '75002 Paris', 'Date : 03/04/2025', '2 x Croissant 2,40', '1 x Baguette 1,20', 'TOTAL TTC 3,60', 'dont TVA 5,5% 0,19'),
    expected: { merchant: 'Boulangerie Martin', date: '2025-04-03', total: 3.6, currency: 'EUR' },
  },
  {
    name: 'a Swiss receipt: MWST and a CH- postcode',
    text: lines('Sprüngli', 'Bahnhofstrasse 21', 'CH-8001 Zürich', '03.04.2025', '1 x Luxemburgerli 24,50', 'Total 24,50', 'MWST 2,6% 0,62'),
    expected: { merchant: 'Sprüngli', date: '2025-04-03', total: 24.5, currency: 'CHF' },
  },
  {
    name: 'an Irish receipt: VAT, and the € it names beats what VAT suggests',
    text: lines('Bewley’s Cafe', 'Grafton Street, Dublin', 'Date 03/04/2025', '1 x Tea 3.50', 'Total €3.50', 'VAT 0.47'),
    expected: { merchant: 'Bewley’s Cafe', date: '2025-04-03', total: 3.5, currency: 'EUR' },
  },
];

describe('finance parser: receipts of other layouts, without currency signs, with local dates', { timeout: 120_000 }, () => {
  let d: TestDaemon;
  let client: SpacedriveClient;
  beforeAll(async () => {
    d = await startTestDaemon();
    await installExtensions(d, [...FINANCE_EXTENSIONS]);
    client = await d.client();
  });
  afterAll(async () => {
    await d?.stop();
  });

  // Both finance extensions (AssemblyScript and Rust) must read every layout alike.
  for (const ext of FINANCE_EXTENSIONS) {
  describe(ext, () => {
  async function classify(text: string): Promise<{ merchant: string | null; date: string | null; total: number | null; currency: string | null }> {
    return (await client.query(`query:${ext}:classify_receipt.v1` as 'query:finance:classify_receipt.v1', { text, use_model: false })) as never;
  }

  for (const layout of LAYOUTS) {
    it(`reads ${layout.name}`, async () => {
      expect(await classify(layout.text)).toMatchObject(layout.expected);
    });
  }

  it('takes a day or month above 12 as what it must be, whatever the country, and ISO dates as written', async () => {
    const uk = (date: string) => lines('Paper Stop', 'Leeds LS1 4DY', date, 'Total 2.00');
    expect((await classify(uk('04/13/2025'))).date).toBe('2025-04-13');
    expect((await classify(uk('2025-03-04'))).date).toBe('2025-03-04');
    const us = (date: string) => lines('Paper Stop', 'Denver, CO 80202', date, 'Total 2.00');
    expect((await classify(us('13/04/2025'))).date).toBe('2025-04-13');
    expect((await classify(us('2025-03-04'))).date).toBe('2025-03-04');
  });

  it('reads a named dollar as its country’s, and a code on the total line over every cue', async () => {
    expect((await classify(lines('Harbour Shop', 'Total NZ$12.00'))).currency).toBe('NZD');
    expect((await classify(lines('Harbour Shop', 'Total A$12.00'))).currency).toBe('AUD');
    expect((await classify(lines('Harbour Shop', 'Austin, TX 78701', 'Total CAD 12.00'))).currency).toBe('CAD');
  });

  it('gives no currency when nothing on the receipt says one, and reads such a slash date month first', async () => {
    const out = await classify(lines('Market Stall', '03/04/2025', 'Total 9.00'));
    expect(out).toMatchObject({ currency: null, date: '2025-03-04', total: 9 });
  });
  });
  }
});
