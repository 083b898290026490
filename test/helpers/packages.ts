import { cpSync, readFileSync, writeFileSync } from 'node:fs';
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
