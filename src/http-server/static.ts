/**
 * The dashboard's files: `dist/web/` (built by `npm run build` from `web/`) at `/`, with SPA
 * fallback to index.html, content types by extension, and a Content-Security-Policy that allows
 * nothing but this origin (no CDN: the build bundles everything).
 */
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context } from 'hono';

/** `dist/web/` of the repository, from src/http-server and dist/http-server alike. */
export const DEFAULT_WEB_ROOT = resolve(fileURLToPath(new URL('../../dist/web/', import.meta.url)));

export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; font-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
  '.webmanifest': 'application/manifest+json',
};

export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

const NOT_BUILT = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Spacedrive dashboard not built</title></head>
<body><h1>The dashboard is not built</h1><p>The daemon serves the dashboard from <code>dist/web/</code>, which is missing.
Build it with <code>npm run build</code> in the repository, then reload this page. The HTTP API (<code>/v1</code>) and GraphQL
(<code>/graphql</code>) work without it; see docs/http-api.md.</p></body></html>`;

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Serves `root` (GET/HEAD only): a file when the path names one, else index.html (SPA routes). */
export function serveDashboard(root: string = DEFAULT_WEB_ROOT) {
  return async (c: Context): Promise<Response> => {
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') return c.body(null, 405, { allow: 'GET, HEAD' });
    let rel: string;
    try {
      rel = decodeURIComponent(new URL(c.req.url).pathname);
    } catch {
      return c.body('bad path', 400);
    }
    const path = normalize(join(root, rel));
    if (path !== root && !path.startsWith(root + sep)) return c.body('not found', 404);
    let file = rel.endsWith('/') ? join(path, 'index.html') : path;
    if (!(await isFile(file))) {
      // A missing asset is a 404 (a broken build should not answer HTML for a script); any other
      // path is a dashboard route.
      if (/\.[a-z0-9]+$/i.test(rel) && rel !== '/index.html') return c.body('not found', 404, SECURITY_HEADERS);
      file = join(root, 'index.html');
      if (!(await isFile(file))) return c.html(NOT_BUILT, 200, SECURITY_HEADERS);
    }
    const body = await readFile(file);
    const immutable = file.startsWith(join(root, 'assets') + sep);
    const headers = {
      ...SECURITY_HEADERS,
      'content-type': CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    };
    return c.req.method === 'HEAD' ? c.body(null, 200, headers) : c.body(new Uint8Array(body), 200, headers);
  };
}
