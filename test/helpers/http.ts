/**
 * HTTP helpers for tests of the daemon's HTTP API (docs/http-api.md): a real daemon started with
 * `--http 127.0.0.1:0`, its URL read from the `daemon listening` log line, its token, and a raw
 * `node:http` request for what fetch will not send (a forged Host header).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join, relative } from 'node:path';
import { startTestDaemon, type TestDaemon } from './daemon.js';
import { waitFor } from './wait.js';

export interface HttpTestDaemon {
  daemon: TestDaemon;
  url: string;
  port: number;
  token: string;
  /** fetch with the bearer token. */
  api(path: string, init?: RequestInit): Promise<Response>;
}

export async function startHttpDaemon(opts: Parameters<typeof startTestDaemon>[0] = {}): Promise<HttpTestDaemon> {
  const daemon = await startTestDaemon({ ...opts, args: ['--http', '127.0.0.1:0', ...(opts.args ?? [])] });
  const url = await waitFor(() => /"httpUrl":"(http:[^"]+)"/.exec(daemon.logs())?.[1], 'the daemon to log its HTTP URL');
  const token = (await daemon.cli(['daemon', 'token'])).stdout.trim();
  const port = Number(new URL(url).port);
  return {
    daemon,
    url,
    port,
    token,
    api: (path, init = {}) => fetch(url + path, { ...init, headers: { authorization: `Bearer ${token}`, ...((init.headers as Record<string, string>) ?? {}) } }),
  };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request with exactly these headers (node:http lets a test forge Host, which fetch does not). */
export function rawRequest(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, setHost: headers.host === undefined && headers.Host === undefined }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A package directory's files as `POST /v1/extensions/install` takes them in JSON (base64). */
export function packageAsJson(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else files[relative(dir, p)] = readFileSync(p).toString('base64');
    }
  };
  walk(dir);
  return files;
}
