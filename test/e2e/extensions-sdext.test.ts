/**
 * `spacedrive extensions install` of a .sdext file and of a URL: checksums are verified before
 * anything is installed, the permissions are shown as for a folder, plain http is refused unless
 * allowed (https in real use; a local http server stands in here).
 */
import { createServer, type Server } from 'node:http';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSdext } from '../../src/authoring/sdext.js';
import { makeTempDir, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { builtExtension } from '../helpers/packages.js';

describe('extensions install <file.sdext | URL>', () => {
  const work = makeTempDir('sd-sdext-');
  let daemon: TestDaemon;
  let server: Server;
  let base = '';
  let good: Buffer;

  beforeAll(async () => {
    const dir = builtExtension('hello');
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { module: string };
    good = await writeSdext({ 'manifest.json': readFileSync(join(dir, 'manifest.json')), [manifest.module]: readFileSync(join(dir, manifest.module)) });
    writeFileSync(join(work, 'hello-0.1.0.sdext'), good);
    // The same archive with one byte of the module changed (the checksums no longer match).
    const tar = gunzipSync(good);
    const at = tar.indexOf(Buffer.from([0x00, 0x61, 0x73, 0x6d]));
    tar[at + 100] = tar[at + 100]! ^ 0xff;
    writeFileSync(join(work, 'tampered.sdext'), gzipSync(tar));
    server = createServer((req, res) => {
      const name = (req.url ?? '/').slice(1);
      try {
        const body = readFileSync(join(work, name));
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length }).end(body);
      } catch {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    daemon = await startTestDaemon();
  });

  afterAll(async () => {
    await daemon?.stop();
    await new Promise((r) => server?.close(r));
    rmSync(work, { recursive: true, force: true });
  });

  it('refuses a tampered file before installing anything', async () => {
    const r = await daemon.cli(['extensions', 'install', join(work, 'tampered.sdext'), '--yes']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('CHECKSUM_MISMATCH');
    const list = await daemon.cli(['--json', 'extensions', 'list']);
    expect(JSON.parse(list.stdout).extensions).toEqual([]);
  });

  it('without --yes off a terminal: shows nothing installed and asks for --yes, as for a folder', async () => {
    const r = await daemon.cli(['extensions', 'install', join(work, 'hello-0.1.0.sdext')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('pass --yes');
  });

  it('refuses plain http unless allowed; installs from a URL', async () => {
    const refused = await daemon.cli(['extensions', 'install', `${base}/hello-0.1.0.sdext`, '--yes']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('use https');
    const missing = await daemon.cli(['extensions', 'install', `${base}/nothing.sdext`, '--yes'], { env: { SPACEDRIVE_ALLOW_HTTP_PACKAGES: '1' } });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('HTTP 404');
    const installed = await daemon.cli(['extensions', 'install', `${base}/hello-0.1.0.sdext`, '--yes'], { env: { SPACEDRIVE_ALLOW_HTTP_PACKAGES: '1' } });
    expect(installed.code, installed.stderr).toBe(0);
    expect(installed.stdout).toContain('installed hello 0.1.0');
    const client = await daemon.client();
    expect(await client.query('query:hello:greet.v1' as never, { name: 'Ada' } as never)).toEqual({ greeting: 'Hello, Ada!' });
  });
});
