#!/usr/bin/env node
/**
 * `npm run abi`: writes docs/extension-abi.json, the machine-readable description of extension
 * ABI v1, from the host's code as compiled into dist (src/authoring/abi-description.ts).
 * `--check` exits 1 when the file is not current instead of writing it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'docs', 'extension-abi.json');
const { abiDescriptionJson } = await import(pathToFileURL(join(ROOT, 'dist', 'authoring', 'abi-description.js')).href);
const text = abiDescriptionJson();
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(OUT, 'utf8');
  } catch {
    // missing
  }
  if (current !== text) {
    console.error('docs/extension-abi.json is not current: run npm run abi');
    process.exit(1);
  }
  console.log('docs/extension-abi.json is current');
} else {
  writeFileSync(OUT, text);
  console.log(`wrote docs/extension-abi.json (${text.length} bytes)`);
}
