/**
 * An extension project on disk, as `spacedrive extension new` lays it out:
 *
 *   manifest.json        the manifest without `module` and `sha256` (the build fills those in)
 *   src/index.ts         AssemblyScript sources (or Cargo.toml + src/lib.rs for Rust)
 *   test/*.test.ts       tests using spacedrive-extensions/testing
 *   build/               the built package: <id>.wasm and manifest.json, installable as is
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ErrorCode, SpacedriveError } from '../errors/index.js';

export type ProjectLanguage = 'assemblyscript' | 'rust';

export const EXTENSION_ID_PATTERN = /^[a-z][a-z0-9_-]{0,63}$/;

export interface ExtensionProject {
  /** Absolute path of the project. */
  dir: string;
  language: ProjectLanguage;
  /** The manifest template (manifest.json as written by the author). */
  manifest: Record<string, unknown> & { id: string; version: string };
  /** Where the built package goes. */
  buildDir: string;
  /** Folders whose changes need a rebuild (`extension dev` watches them). */
  sourceDirs: string[];
}

function projectError(dir: string, message: string, details: Record<string, unknown> = {}): SpacedriveError {
  return new SpacedriveError(ErrorCode.EXTENSION_INVALID, `${message} (project ${dir})`, { project: dir, ...details });
}

/** Reads the project in `path` (default: the working directory). */
export function readProject(path: string): ExtensionProject {
  const dir = resolve(path);
  if (!existsSync(dir)) throw new SpacedriveError(ErrorCode.NOT_FOUND, `no extension project at ${dir}`, { project: dir });
  const manifestPath = join(dir, 'manifest.json');
  let text: string;
  try {
    text = readFileSync(manifestPath, 'utf8');
  } catch {
    throw projectError(dir, "no manifest.json: not an extension project (create one with 'spacedrive extension new <id>')");
  }
  let manifest: unknown;
  try {
    manifest = JSON.parse(text);
  } catch (err) {
    throw projectError(dir, `manifest.json is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof manifest !== 'object' || manifest === null || Array.isArray(manifest)) throw projectError(dir, 'manifest.json must hold an object');
  const m = manifest as Record<string, unknown>;
  if (typeof m.id !== 'string' || !EXTENSION_ID_PATTERN.test(m.id)) {
    throw projectError(dir, `manifest.json: id ${JSON.stringify(m.id)} is not a valid extension id (${EXTENSION_ID_PATTERN})`, { field: 'id' });
  }
  if (typeof m.version !== 'string') throw projectError(dir, 'manifest.json: version must be a string such as "0.1.0"', { field: 'version' });
  const rust = existsSync(join(dir, 'Cargo.toml'));
  if (!rust && !existsSync(join(dir, 'src', 'index.ts'))) {
    throw projectError(dir, 'neither src/index.ts (AssemblyScript) nor Cargo.toml (Rust) found');
  }
  return {
    dir,
    language: rust ? 'rust' : 'assemblyscript',
    manifest: m as ExtensionProject['manifest'],
    buildDir: join(dir, 'build'),
    sourceDirs: [join(dir, 'src'), manifestPath, ...(rust ? [join(dir, 'Cargo.toml')] : [])],
  };
}
