import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './daemon.js';

/** The package `npm run build` made for extensions/<id>/. */
export function builtExtension(id: string): string {
  return join(REPO_ROOT, 'build', 'extensions', id);
}

/**
 * A copy of a built extension package in `dir` with its manifest changed (same module, so the
 * same SHA-256): another id, other permissions or limits.
 */
export function packageVariant(id: string, dir: string, change: (manifest: Record<string, any>) => void): string {
  cpSync(builtExtension(id), dir, { recursive: true });
  const path = join(dir, 'manifest.json');
  const manifest = JSON.parse(readFileSync(path, 'utf8')) as Record<string, any>;
  change(manifest);
  writeFileSync(path, JSON.stringify(manifest, null, 2));
  return dir;
}

/**
 * An extension package for `wasm` (a module built by a test, e.g. from a `.wat` fixture) at
 * `root/id`, replacing any there: the module and a manifest that names its SHA-256, with
 * `manifest`'s fields (permissions, limits, config …) over the minimal ones.
 */
export function wasmPackage(root: string, id: string, wasm: Uint8Array, manifest: Record<string, unknown> = {}): string {
  const dir = join(root, id);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${id}.wasm`), wasm);
  const sha256 = createHash('sha256').update(wasm).digest('hex');
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ id, name: id, version: '1.0.0', module: `${id}.wasm`, sha256, abi_version: 1, ...manifest }));
  return dir;
}
