/** `spacedrive extension pack`: builds the project and writes `<id>-<version>.sdext` (see ./sdext.ts). */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadOptions } from '../config/index.js';
import { readPackage } from '../extensions/manifest.js';
import { buildProject, type BuildResult } from './build.js';
import { readProject } from './project.js';
import { writeSdext } from './sdext.js';

export interface PackResult {
  path: string;
  bytes: number;
  id: string;
  version: string;
  files: string[];
  build: BuildResult | null;
}

/** Packs the project in `dir` (built first unless `build: false`) into `out` (default `<dir>/<id>-<version>.sdext`). */
export async function packProject(dir: string, opts: { out?: string; build?: boolean } = {}): Promise<PackResult> {
  const project = readProject(dir);
  const build = opts.build === false ? null : await buildProject(project.dir, { listRegistrations: false });
  // What goes in is exactly what would be installed from build/: read and checked the same way.
  const pkg = await readPackage(project.buildDir, loadOptions({ env: {}, overrides: { dataDir: join(project.dir, '.spacedrive', 'host') } }).extensions);
  const files: Record<string, Uint8Array> = {
    'manifest.json': readFileSync(join(project.buildDir, 'manifest.json')),
    [pkg.manifest.module]: pkg.wasm,
  };
  const readme = join(project.dir, 'README.md');
  if (existsSync(readme)) files['README.md'] = readFileSync(readme);
  const out = resolve(project.dir, opts.out ?? `${pkg.manifest.id}-${pkg.manifest.version}.sdext`);
  const bytes = await writeSdext(files);
  writeFileSync(out, bytes);
  return { path: out, bytes: bytes.length, id: pkg.manifest.id, version: pkg.manifest.version, files: [...Object.keys(files).sort(), 'CHECKSUMS.sha256'], build };
}
