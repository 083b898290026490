#!/usr/bin/env node
/**
 * Builds the web dashboard (web/, Vite + Preact) into dist/web/, which the daemon serves at `/`
 * when started with --http (docs/http-api.md). Incremental: the build is skipped when nothing it
 * is built from changed — web/'s files, and the versions of vite, preact and the preset pinned in
 * package-lock.json — compared by content hash with dist/web/.source-hash.
 *
 *   node scripts/build-web.mjs           build when changed (npm run build:web)
 *   node scripts/build-web.mjs --force   build anyway
 *
 * Also imported by scripts/prepare.mjs (`buildWeb`).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const THIS_SCRIPT = fileURLToPath(import.meta.url);
const ROOT = resolve(dirname(THIS_SCRIPT), '..');
const WEB = join(ROOT, 'web');
const OUT = join(ROOT, 'dist', 'web');
const HASH_FILE = join(OUT, '.source-hash');

function filesUnder(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else out.push(path);
  }
  return out.sort();
}

/** What the output depends on: every source file's path and content, and the toolchain's versions. */
export function webSourceHash() {
  const h = createHash('sha256');
  for (const file of filesUnder(WEB)) {
    h.update(relative(ROOT, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8'));
  for (const pkg of ['vite', 'preact', '@preact/preset-vite']) h.update(`${pkg}@${lock.packages?.[`node_modules/${pkg}`]?.version ?? '?'}\0`);
  return h.digest('hex');
}

/** Resolves `{ built: boolean, ms }`; throws with vite's message when the build fails. */
export async function buildWeb({ force = false } = {}) {
  const started = performance.now();
  const hash = webSourceHash();
  if (!force && existsSync(join(OUT, 'index.html')) && existsSync(HASH_FILE) && readFileSync(HASH_FILE, 'utf8') === hash) {
    return { built: false, ms: performance.now() - started };
  }
  const { build } = await import('vite');
  await build({ configFile: join(WEB, 'vite.config.mjs'), logLevel: 'warn' });
  writeFileSync(HASH_FILE, hash);
  return { built: true, ms: performance.now() - started };
}

if (process.argv[1] && resolve(process.argv[1]) === THIS_SCRIPT) {
  try {
    const { built, ms } = await buildWeb({ force: process.argv.includes('--force') });
    process.stderr.write(`[web] ${built ? `built dist/web in ${(ms / 1000).toFixed(1)} s` : 'dist/web up to date'}\n`);
  } catch (err) {
    process.stderr.write(`[web] build failed: ${err?.message ?? err}\n`);
    process.exit(1);
  }
}
