/**
 * The web dashboard in headless Chromium (playwright-core driving Debian's chromium) against a
 * real daemon started with --http: log in with the token, install an extension after its
 * permissions are shown, dispatch a job from the form generated from its params schema and
 * watch its bar move (over the event stream, with no polling) to completed, pause and resume a
 * job, disable the extension, call finance:classify_receipt from the methods explorer with a PDF
 * and see its total. A screenshot of each page is written under test-artifacts/dashboard/.
 */
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactPath, launchChromium, startHttpDaemon, type HttpDaemon, type TestBrowser } from '../helpers/browser.js';
import { REPO_ROOT } from '../helpers/daemon.js';
import { installExtensions, sampleReceipts, SAMPLES } from './finance-helpers.js';

const HELLO = join(REPO_ROOT, 'build', 'extensions', 'hello');

describe('web dashboard in headless Chromium', () => {
  let h: HttpDaemon;
  let browser: TestBrowser;
  let page: Page;

  beforeAll(async () => {
    h = await startHttpDaemon();
    await installExtensions(h.daemon, ['finance']);
    browser = await launchChromium();
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.setDefaultTimeout(15_000);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await h?.daemon.stop();
  });

  /** The whole page, from its top (a sticky header would be drawn where the page was scrolled to). */
  async function screenshot(name: string): Promise<void> {
    await page.evaluate('window.scrollTo(0, 0)');
    await page.screenshot({ path: artifactPath(name), fullPage: true });
  }

  /** A link of the main navigation. */
  const nav = (name: string) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });

  /** The attribute's values seen until `done` holds, sampled as the page changes it. */
  async function watchAttribute(selector: string, attribute: string, done: (value: string | null) => boolean, timeoutMs = 20_000): Promise<string[]> {
    const seen: string[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await page.locator(selector).first().getAttribute(attribute);
      if (v !== null && seen[seen.length - 1] !== v) seen.push(v);
      if (done(v)) return seen;
      if (Date.now() > deadline) throw new Error(`timed out watching ${selector}[${attribute}]; seen: ${seen.join(', ')}`);
      await page.waitForTimeout(20);
    }
  }

  it('refuses a wrong token and logs in with the one `spacedrive daemon token` prints', async () => {
    await page.goto(`${h.url}/`);
    await page.getByLabel('Token').fill('not-the-token-0123456789');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toContain('not the daemon');
    await screenshot('login.png');

    await page.getByLabel('Token').fill(h.token);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page.locator('[data-events="open"]').waitFor();
    // The session is an HttpOnly cookie: the page's script cannot read it.
    expect(await page.evaluate<string>('document.cookie')).not.toContain('sd_session');
    const cookies = await browser.context.cookies(h.url);
    expect(cookies.find((c) => c.name === 'sd_session')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
  });

  it('installs an extension from its package files once its permissions are confirmed', async () => {
    await nav('Extensions').click();
    await page.getByRole('heading', { name: 'Extensions', level: 1 }).waitFor();
    await page.locator('[data-extension="finance"]').waitFor();
    await page.locator('#package-files').setInputFiles([join(HELLO, 'manifest.json'), join(HELLO, 'hello.wasm')]);

    const dialog = page.getByRole('dialog');
    await dialog.getByRole('heading', { name: /Install Hello \(hello\) 0\.1\.0/ }).waitFor();
    // Each grant in words, as the CLI's confirmation lists them.
    await expect(dialog.locator('[data-grant="libraries"]').textContent()).resolves.toContain('May read and change every library.');
    await expect(dialog.locator('[data-grant="network"]').textContent()).resolves.toContain('No network access.');
    await expect(dialog.textContent()).resolves.toContain('16 MiB of memory per instance');
    await screenshot('extensions-confirm.png');
    // Nothing is installed before the answer.
    expect((await h.daemon.cli(['--json', 'extensions', 'list'])).stdout).not.toContain('"hello"');

    await dialog.getByRole('button', { name: 'Install with these permissions' }).click();
    await page.locator('[data-extension="hello"][data-state="loaded"]').waitFor();
    await page.getByRole('status').filter({ hasText: 'Installed hello 0.1.0.' }).waitFor();
    const card = page.locator('[data-extension="hello"]');
    await card.getByText('Permissions').click();
    await expect(card.locator('[data-grant="call"]').textContent()).resolves.toContain('Calls only its own methods.');
    await expect(card.getByRole('table').textContent()).resolves.toMatch(/calls\d+/);
    await card.getByRole('button', { name: 'Reload' }).click();
    await page.getByRole('status').filter({ hasText: 'Reloaded hello.' }).waitFor();
    await page.locator('[data-extension="hello"][data-state="loaded"]').waitFor();
    await screenshot('extensions.png');
  });

  it('dispatches a job from the form its params schema generates, pauses and resumes it, and shows it completed with its log', async () => {
    await nav('Jobs').click();
    await page.getByRole('button', { name: 'Dispatch a job' }).click();
    await page.getByLabel('Job type').selectOption('hello:countdown');
    await page.locator('#param-from').fill('20');
    await page.locator('#param-delay_ms').fill('150');
    await page.getByRole('button', { name: 'Dispatch', exact: true }).click();
    await page.waitForURL(/\/jobs\/[0-9a-f-]{8,}/);
    const jobId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!);

    const progress = page.locator('section[data-job-id] progress.bar');
    const before = await watchAttribute('section[data-job-id] progress.bar', 'data-fraction', (v) => Number(v) >= 0.2);

    await page.getByRole('button', { name: 'Pause' }).click();
    await page.locator('#job-title [data-status="paused"]').waitFor();
    const pausedAt = Number(await progress.getAttribute('data-fraction'));
    await page.waitForTimeout(500);
    expect(Number(await progress.getAttribute('data-fraction'))).toBe(pausedAt);
    await expect(page.getByRole('button', { name: 'Resume' }).isEnabled()).resolves.toBe(true);
    await screenshot('job-paused.png');

    await page.getByRole('button', { name: 'Resume' }).click();
    const after = await watchAttribute('section[data-job-id] progress.bar', 'data-fraction', (v) => v === '1');
    await page.locator('#job-title [data-status="completed"]').waitFor();
    // The bar moved: fractions between 0 and 1 were shown before and after the pause, rising.
    const between = [...before, ...after].filter((v) => v !== '' && Number(v) > 0 && Number(v) < 1).map(Number);
    expect(new Set(between).size, between.join(', ')).toBeGreaterThanOrEqual(2);
    expect([...between].sort((a, b) => a - b)).toEqual(between);
    // The log came live, with the resume from its checkpoint; the checkpoint is shown.
    await page.getByLabel('job log').getByText(/resuming countdown at/).waitFor();
    await expect(page.getByLabel('params').textContent()).resolves.toContain('"from": 20');
    await expect(page.getByLabel('last checkpoint').textContent()).resolves.toContain('remaining');
    await screenshot('job.png');

    const client = await h.daemon.client();
    expect((await client.query('query:jobs.get_status.v1', { job_id: jobId })).status).toBe('completed');
  });

  it("updates the jobs list from the event stream: a job dispatched elsewhere appears and its bar moves to completed without the list being read again", async () => {
    await nav('Jobs').click();
    await page.locator('select[name="type"]').selectOption('hello:countdown');
    await page.locator('[data-count="1"]').waitFor();
    await page.waitForURL((u) => u.search === '?type=hello%3Acountdown');
    const listReads: string[] = [];
    const onRequest = (r: { url(): string }) => {
      if (/\/v1\/jobs(\?|$)/.test(new URL(r.url()).pathname + new URL(r.url()).search)) listReads.push(r.url());
    };
    page.on('request', onRequest);
    try {
      // Dispatched over the Unix socket, not by this page.
      const client = await h.daemon.client();
      const { job_id: jobId } = await client.action('action:jobs.dispatch.input.v1', { job_type: 'hello:countdown', params: { from: 12, delay_ms: 120 } });
      await page.locator('[data-count="2"]').waitFor();
      const row = `[role="row"]:has(a[aria-label^="job ${jobId}"])`;
      const seen = await watchAttribute(`${row} progress.bar`, 'data-fraction', (v) => v === '1');
      expect(seen.filter((v) => v !== '' && Number(v) > 0 && Number(v) < 1).length).toBeGreaterThanOrEqual(1);
      await page.locator(`${row} [data-status="completed"]`).waitFor();
    } finally {
      page.off('request', onRequest);
    }
    expect(listReads).toEqual([]);
    await page.locator('select[name="type"]').selectOption('');
    await screenshot('jobs.png');
  });

  it('cancels a running job and retries it from scratch', async () => {
    const client = await h.daemon.client();
    const { job_id: jobId } = await client.action('action:jobs.dispatch.input.v1', { job_type: 'hello:countdown', params: { from: 200, delay_ms: 100 } });
    await page.goto(`${h.url}/jobs/${jobId}`);
    await page.locator('#job-title [data-status="running"]').waitFor();
    await page.getByLabel('last checkpoint').filter({ hasText: 'remaining' }).waitFor();
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.locator('#job-title [data-status="cancelled"]').waitFor();
    await expect(page.getByRole('button', { name: 'Pause' }).isDisabled()).resolves.toBe(true);

    await page.getByLabel('from scratch').check();
    await page.getByRole('button', { name: 'Retry' }).click();
    await page.locator('#job-title [data-status="queued"], #job-title [data-status="running"]').first().waitFor();
    await page.getByLabel('job log').getByText('retried from scratch').waitFor();
    const retried = await client.query('query:jobs.get_status.v1', { job_id: jobId });
    expect(['queued', 'running']).toContain(retried.status);
    // From scratch: the countdown starts over (its log says nothing of resuming).
    await expect(page.getByLabel('job log').textContent()).resolves.not.toMatch(/resuming countdown/);
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.locator('#job-title [data-status="cancelled"]').waitFor();
  });

  it('disables an extension, then uninstalls it after asking', async () => {
    await nav('Extensions').click();
    const card = page.locator('[data-extension="hello"]');
    await card.getByRole('button', { name: 'Disable' }).click();
    await page.locator('[data-extension="hello"][data-state="disabled"]').waitFor();
    await card.getByRole('button', { name: 'Enable' }).waitFor();
    // Its counters count the two countdowns completed above.
    await expect(card.getByRole('table').textContent()).resolves.toContain('jobs completed / failed2 / 0');
    const listed = JSON.parse((await h.daemon.cli(['--json', 'extensions', 'list'])).stdout) as { extensions: Array<{ id: string; state: string }> };
    expect(listed.extensions.find((e) => e.id === 'hello')?.state).toBe('disabled');
    await screenshot('extensions-disabled.png');

    // Uninstalling asks first; cancelling keeps it.
    await card.getByRole('button', { name: 'Uninstall' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    await expect(page.locator('[data-extension="hello"]').count()).resolves.toBe(1);
    await card.getByRole('button', { name: 'Uninstall' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Uninstall' }).click();
    await page.locator('[data-extension="hello"]').waitFor({ state: 'detached' });
    const after = JSON.parse((await h.daemon.cli(['--json', 'extensions', 'list'])).stdout) as { extensions: Array<{ id: string }> };
    expect(after.extensions.map((e) => e.id)).toEqual(['finance']);

    // Installed again from its folder, without enabling it.
    await page.getByLabel('enable it now').uncheck();
    await page.locator('#package-folder').setInputFiles(HELLO);
    await page.getByRole('dialog').getByRole('button', { name: 'Install with these permissions' }).click();
    await page.locator('[data-extension="hello"][data-state="disabled"]').waitFor();
  });

  it('calls finance:classify_receipt from the methods explorer with a PDF and shows the total, the CLI command and a GraphQL query that works', async () => {
    const receipt = sampleReceipts.find((r) => r.format === 'pdf-text')!;
    const pdf = join(SAMPLES, 'receipts', receipt.file);
    await nav('Methods').click();
    await page.getByLabel('Filter methods').fill('classify_receipt');
    await page.getByRole('link', { name: 'query:finance:classify_receipt.v1' }).click();
    await page.getByRole('heading', { name: 'query:finance:classify_receipt.v1' }).waitFor();
    // The page has an address of its own, which loads it again.
    expect(new URL(page.url()).searchParams.get('method')).toBe('query:finance:classify_receipt.v1');
    await page.reload();
    await page.getByRole('heading', { name: 'query:finance:classify_receipt.v1' }).waitFor();
    await expect(page.title()).resolves.toBe('query:finance:classify_receipt.v1 — Spacedrive');
    await page.locator('#in-pdf').setInputFiles(pdf);
    await page.getByRole('button', { name: 'Run query' }).click();
    const result = page.getByRole('region', { name: 'Result' });
    await result.locator('[data-ok="true"], pre').first().waitFor();
    await expect(result.textContent()).resolves.toContain(`"total": ${receipt.total}`);
    await expect(result.getAttribute('data-ok')).resolves.toBe('true');

    const cli = await page.getByLabel('CLI command', { exact: true }).textContent();
    expect(cli).toBe(`spacedrive query finance:classify_receipt --pdf ${basename(pdf)}`);
    const graphql = (await page.getByLabel('GraphQL', { exact: true }).textContent())!;
    expect(graphql).toContain(`finance_classifyReceipt(pdf: "<base64 of ${basename(pdf)}>")`);
    await screenshot('methods.png');

    // The document shown is one the daemon's GraphQL endpoint answers with the same total.
    const query = graphql.replace(`<base64 of ${basename(pdf)}>`, readFileSync(pdf).toString('base64'));
    const res = await fetch(`${h.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${h.token}` },
      body: JSON.stringify({ query }),
    });
    const body = (await res.json()) as { data?: { finance_classifyReceipt?: { _json?: { total?: number } } }; errors?: unknown };
    expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
    expect(body.data?.finance_classifyReceipt?._json?.total).toBe(receipt.total);
  });

  it('shows the overview with the jobs of the last hour and the libraries, in light and dark, from the keyboard', async () => {
    await nav('Overview').click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page.locator('[data-testid="daemon-version"]').filter({ hasText: /^v\d/ }).waitFor();
    await expect(page.locator('#chart-desc').textContent()).resolves.toMatch(/^2 completed and 0 failed in the last hour/);
    await expect(page.locator('svg rect.ok').count()).resolves.toBeGreaterThanOrEqual(1);
    await page.getByRole('table', { name: 'Libraries' }).waitFor();
    await screenshot('overview.png');

    // Keyboard: after a load the first Tab reaches the skip link, which moves focus to the page's content.
    await page.reload();
    await page.locator('[data-testid="daemon-version"]').filter({ hasText: /^v\d/ }).waitFor();
    await page.keyboard.press('Tab');
    await expect(page.evaluate<string | undefined>('document.activeElement?.textContent')).resolves.toBe('Skip to content');
    await page.keyboard.press('Enter');
    await expect(page.evaluate<string | undefined>('document.activeElement?.id')).resolves.toBe('main');
    // A link followed from the keyboard opens its page with the focus on that page's content.
    await nav('Jobs').focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Jobs', level: 1 }).waitFor();
    await expect(page.evaluate<string | undefined>('document.activeElement?.id')).resolves.toBe('main');
    await nav('Overview').click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    const theme = page.getByRole('button', { name: /Colour theme/ });
    await theme.press('Enter');
    await page.getByRole('button', { name: /Colour theme: light/ }).waitFor();
    await theme.press('Enter');
    await page.getByRole('button', { name: /Colour theme: dark/ }).waitFor();
    await expect(page.evaluate<string | undefined>('document.documentElement.dataset.theme')).resolves.toBe('dark');
    const bg = await page.evaluate<string>('getComputedStyle(document.body).backgroundColor');
    expect(bg).toBe('rgb(18, 20, 25)');
    await screenshot('overview-dark.png');
  });
  it('keeps only the rows in view in the DOM for a long list, which scrolls to its end from the keyboard', async () => {
    const client = await h.daemon.client();
    const runAt = new Date(Date.now() + 24 * 3600 * 1000).toISOString();
    const ids: string[] = [];
    for (let i = 0; i < 400; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: 50 }, (_, k) =>
          client.action('action:jobs.dispatch.input.v1', { job_type: 'files.copy', params: { sources: [`/nonexistent/${i + k}`], destination: '/nonexistent/out' }, run_at: runAt }),
        ),
      );
      ids.push(...batch.map((r) => r.job_id));
    }
    await nav('Jobs').click();
    await page.locator('select[name="type"]').selectOption('files.copy');
    await page.locator('[data-count="400"]').waitFor();
    const table = page.getByRole('table', { name: 'Jobs' });
    await expect(table.getAttribute('aria-rowcount')).resolves.toBe('401');
    const rendered = await table.locator('[role="row"]').count();
    expect(rendered).toBeGreaterThan(5);
    expect(rendered).toBeLessThan(60);
    // Waiting jobs say what for (the events announce the jobs; their rows are then read in one request).
    await table.locator('[role="row"][aria-rowindex="2"] .vt-waiting').filter({ hasText: /^start at / }).waitFor();
    await expect(table.locator('[role="row"][aria-rowindex="2"] .vt-waiting span').getAttribute('title')).resolves.toBe(`run_at ${runAt}`);

    // The oldest of them is last; End in the focused table scrolls there and draws it.
    const oldest = (await client.query('query:jobs.get_status.v1', { job_id: ids[0]! })).job_id;
    await expect(page.locator(`a[aria-label^="job ${oldest}"]`).count()).resolves.toBe(0);
    await table.locator('.vt-body').focus();
    await page.keyboard.press('End');
    await page.locator(`a[aria-label^="job ${oldest}"]`).waitFor();
    expect(await table.locator('[role="row"]').count()).toBeLessThan(60);
    await screenshot('jobs-many.png');
  });
});
