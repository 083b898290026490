/**
 * Where the authoring tools find their compilers: the AssemblyScript compiler, json-as and vitest
 * come from this package's own installation (the `spacedrive` CLI the author runs), so a project
 * made by `spacedrive extension new` builds and tests without installing anything of its own.
 */
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, SpacedriveError } from '../errors/index.js';

/** The root of this package (holds package.json, dist/, sdk/). */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The AssemblyScript SDK shipped with this package. */
export const AS_SDK_DIR = join(PACKAGE_ROOT, 'sdk', 'assemblyscript');
/** The Rust SDK shipped with this package (crates spacedrive-sdk and spacedrive-sdk-macros). */
export const RUST_SDK_DIR = join(PACKAGE_ROOT, 'sdk', 'rust');

const require = createRequire(join(PACKAGE_ROOT, 'package.json'));

/** The directory of an installed package of this package's dependencies, or undefined. */
export function packageDir(name: string): string | undefined {
  try {
    return dirname(require.resolve(`${name}/package.json`));
  } catch {
    // Packages whose "exports" hide package.json: walk up from their main entry.
    try {
      let dir = dirname(require.resolve(name));
      while (!existsSync(join(dir, 'package.json'))) {
        const up = dirname(dir);
        if (up === dir) return undefined;
        dir = up;
      }
      return dir;
    } catch {
      return undefined;
    }
  }
}

function missing(what: string, name: string): SpacedriveError {
  return new SpacedriveError(
    ErrorCode.EXTENSION_INVALID,
    `${what} needs the '${name}' package next to the spacedrive CLI (${PACKAGE_ROOT}); install it there (npm install ${name})`,
    { package: name },
  );
}

/** The compiler's JavaScript API (`assemblyscript/asc`), by path. */
export function ascModule(): string {
  const dir = packageDir('assemblyscript');
  const entry = dir && join(dir, 'dist', 'asc.js');
  if (!entry || !existsSync(entry)) throw missing('building AssemblyScript', 'assemblyscript');
  return entry;
}

/** json-as's transform, by absolute path (asc resolves a bare transform name from its working directory). */
export function jsonAsTransform(): string {
  const dir = packageDir('json-as');
  if (!dir) throw missing('building AssemblyScript', 'json-as');
  const main = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { main?: string }).main ?? 'transform/lib/index.js';
  return join(dir, main);
}

/** The SDK's own transform: JSON Schemas of `@json` classes for `schemaOf<T>()` and the typed registrations. */
export function sdkSchemaTransform(): string {
  return join(AS_SDK_DIR, 'transform', 'index.js');
}

export function toolVersion(name: string): string {
  const dir = packageDir(name);
  if (!dir) return 'missing';
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Links `target` at `link` unless a link to it is already there. */
function ensureLink(link: string, target: string): void {
  try {
    const st = lstatSync(link);
    if (st.isSymbolicLink() && resolve(dirname(link), readlinkSync(link)) === target) return;
    rmSync(link, { recursive: true, force: true });
  } catch {
    // not there yet
  }
  try {
    symlinkSync(target, link, 'dir');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/**
 * The AssemblyScript library folder for `--path`: links to the SDK, json-as and json-as's own
 * AssemblyScript dependencies, in `<project>/.spacedrive/as-packages`. A project that ran
 * `npm install` has them in node_modules as well; asc prefers those (its node_modules lookup
 * comes before `--path`).
 */
export function asPackagesDir(projectDir: string): string {
  const dir = join(projectDir, '.spacedrive', 'as-packages');
  mkdirSync(dir, { recursive: true });
  ensureLink(join(dir, 'spacedrive-sdk'), AS_SDK_DIR);
  const jsonAs = packageDir('json-as');
  if (!jsonAs) throw missing('building AssemblyScript', 'json-as');
  ensureLink(join(dir, 'json-as'), jsonAs);
  const deps = Object.keys((JSON.parse(readFileSync(join(jsonAs, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {});
  const jsonAsRequire = createRequire(join(jsonAs, 'package.json'));
  for (const dep of deps) {
    try {
      ensureLink(join(dir, dep), dirname(jsonAsRequire.resolve(`${dep}/package.json`)));
    } catch {
      // A dependency without a resolvable package.json is not an AssemblyScript library.
    }
  }
  return dir;
}
