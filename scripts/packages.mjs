#!/usr/bin/env node
/**
 * Fills the standalone npm packages under packages/ from dist (run by their `prepack`, so
 * `npm pack packages/<name>` makes an installable tarball):
 *
 *   packages/client   spacedrive-client: dist/client and every module it imports (relative
 *                     imports followed through the .js and .d.ts files), with no dependencies.
 *
 *   node scripts/packages.mjs client
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist');

/** Relative module specifiers in a .js or .d.ts file (imports, re-exports, import types). */
function relativeImports(text) {
  const out = new Set();
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) out.add(m[1]);
  return [...out];
}

/**
 * Copies `entry` (a dist-relative .js path) into `outDir` with what it needs: the .js files its
 * code imports (relative imports of .js files, followed) and the .d.ts files its types import
 * (relative imports of .d.ts files, followed). Returns the number of files.
 */
function copyClosure(entry, outDir) {
  let copied = 0;
  for (const ext of ['.js', '.d.ts']) {
    const seen = new Set();
    const queue = [join(DIST, entry.replace(/\.js$/, ext))];
    while (queue.length > 0) {
      const file = queue.pop();
      if (seen.has(file)) continue;
      seen.add(file);
      if (!existsSync(file)) throw new Error(`${relative(ROOT, file)} is missing: run npm run build first`);
      const target = join(outDir, relative(DIST, file));
      mkdirSync(dirname(target), { recursive: true });
      copyFileSync(file, target);
      copied++;
      for (const spec of relativeImports(readFileSync(file, 'utf8'))) queue.push(resolve(dirname(file), spec.replace(/\.js$/, ext)));
    }
  }
  return copied;
}

const PACKAGES = {
  client: () => {
    const out = join(ROOT, 'packages', 'client', 'dist');
    rmSync(out, { recursive: true, force: true });
    return copyClosure('client/index.js', out);
  },
};

const names = process.argv.slice(2);
for (const name of names.length > 0 ? names : Object.keys(PACKAGES)) {
  const fill = PACKAGES[name];
  if (!fill) {
    console.error(`unknown package '${name}' (known: ${Object.keys(PACKAGES).join(', ')})`);
    process.exit(2);
  }
  // stderr: npm pack --json prints its answer on stdout after prepack.
  console.error(`packages/${name}: ${fill()} files from dist`);
}
