/**
 * Headless Chromium for the dashboard's browser tests: Debian's `chromium` (installed by
 * scripts/test-env.sh) driven by playwright-core, with a fresh profile each launch, and a real
 * daemon serving the HTTP API and the dashboard on a free loopback port.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { makeTempDir, REPO_ROOT, startTestDaemon, type TestDaemon } from './daemon.js';

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = join(REPO_ROOT, 'test-artifacts', 'dashboard');

/** The flags issue 14 asks for: no sandbox (containers), no GPU, nothing phoning home. */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchChromium(): Promise<TestBrowser> {
  const profile = makeTempDir('sd-chromium-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 800 },
    acceptDownloads: false,
  });
  return {
    context,
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

export interface HttpDaemon {
  daemon: TestDaemon;
  url: string;
  token: string;
}

/** A daemon with `--http 127.0.0.1:<free port>`, answering HTTP, and its token (`spacedrive daemon token`). */
export async function startHttpDaemon(): Promise<HttpDaemon> {
  const port = await freePort();
  const daemon = await startTestDaemon({ args: ['--http', `127.0.0.1:${port}`] });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const res = await fetch(`${url}/v1/session`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the daemon's HTTP server did not answer at ${url}:\n${daemon.logs()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const r = await daemon.cli(['daemon', 'token']);
  if (r.code !== 0) throw new Error(`spacedrive daemon token exited ${r.code}: ${r.stderr}`);
  return { daemon, url, token: r.stdout.trim() };
}

export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}
