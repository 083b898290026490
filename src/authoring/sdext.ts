/**
 * The `.sdext` file: one extension package in one file, made by `spacedrive extension pack` and
 * installed by `spacedrive extensions install <file.sdext | https URL>`.
 *
 * Format (docs/extension-authoring.md): a gzip-compressed POSIX tar archive of regular files at
 * its top level only —
 *
 *   manifest.json       the built manifest (`module` and `sha256` filled in)
 *   <module>.wasm       the module the manifest names
 *   README.md           when the project has one
 *   CHECKSUMS.sha256    `<sha-256 hex>  <name>` per line for every other file (sha256sum's format)
 *
 * Reading checks, before anything is installed: every entry is a regular file with a plain
 * name, the archive holds nothing unlisted and nothing listed is missing, each file's SHA-256
 * equals its line, sizes stay under {@link MAX_SDEXT_BYTES}; then the manifest and module are
 * checked as for a folder (the manifest's own `sha256` of the module included).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
import { ErrorCode, SpacedriveError } from '../errors/index.js';

export const CHECKSUMS_FILE = 'CHECKSUMS.sha256';
/** Largest `.sdext` (compressed and uncompressed) accepted. */
export const MAX_SDEXT_BYTES = 256 * 1024 * 1024;

interface TarHeader {
  name: string;
  size?: number;
  type?: string;
  mode?: number;
  mtime?: Date;
}
interface TarPack extends NodeJS.ReadableStream {
  entry(header: TarHeader, data: Buffer, cb: (err?: Error | null) => void): void;
  finalize(): void;
}
interface TarExtract extends NodeJS.WritableStream {
  on(event: 'entry', listener: (header: TarHeader, stream: NodeJS.ReadableStream, next: () => void) => void): this;
  on(event: 'finish' | 'error', listener: (err?: Error) => void): this;
}
// tar-stream ships no types; the two functions used are declared above.
const tar = createRequire(import.meta.url)('tar-stream') as { pack(): TarPack; extract(): TarExtract };

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function invalid(file: string, message: string, details: Record<string, unknown> = {}): SpacedriveError {
  return new SpacedriveError(ErrorCode.EXTENSION_INVALID, `${basename(file)}: ${message}`, { file, ...details });
}

/** The `.sdext` bytes of these files (name → content); CHECKSUMS.sha256 is added. */
export async function writeSdext(files: Record<string, Uint8Array>): Promise<Buffer> {
  const names = Object.keys(files).sort();
  const checksums = names.map((n) => `${sha256(files[n]!)}  ${n}\n`).join('');
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((resolve, reject) => {
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  // A fixed time: packing the same build twice gives the same file.
  const mtime = new Date(0);
  const add = (name: string, data: Buffer) => new Promise<void>((resolve, reject) => pack.entry({ name, mode: 0o644, mtime }, data, (err) => (err ? reject(err) : resolve())));
  for (const name of names) await add(name, Buffer.from(files[name]!));
  await add(CHECKSUMS_FILE, Buffer.from(checksums));
  pack.finalize();
  await ended;
  return gzipSync(Buffer.concat(chunks), { level: 9 });
}

/** The files of a `.sdext`, each checked against CHECKSUMS.sha256; EXTENSION_INVALID / CHECKSUM_MISMATCH otherwise. */
export async function readSdext(path: string, bytes?: Buffer): Promise<Map<string, Buffer>> {
  const packed = bytes ?? readFileSync(path);
  if (packed.length > MAX_SDEXT_BYTES) throw invalid(path, `is ${packed.length} bytes, over the ${MAX_SDEXT_BYTES}-byte limit`);
  let raw: Buffer;
  try {
    raw = gunzipSync(packed, { maxOutputLength: MAX_SDEXT_BYTES });
  } catch (err) {
    throw invalid(path, `is not a .sdext file (not gzip-compressed, or over ${MAX_SDEXT_BYTES} bytes unpacked): ${(err as Error).message}`);
  }
  const files = new Map<string, Buffer>();
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const name = header.name;
      if ((header.type ?? 'file') !== 'file') {
        reject(invalid(path, `entry '${name}' is a ${header.type}; a .sdext holds only regular files`, { entry: name }));
        return;
      }
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || files.has(name)) {
        reject(invalid(path, `entry '${name}' is not a plain file name at the top level (or appears twice)`, { entry: name }));
        return;
      }
      const parts: Buffer[] = [];
      stream.on('data', (c: Buffer) => parts.push(c));
      stream.on('end', () => {
        files.set(name, Buffer.concat(parts));
        next();
      });
      stream.on('error', reject);
    });
    extract.on('finish', () => resolve());
    extract.on('error', (err) => reject(invalid(path, `is not a valid archive: ${err?.message}`)));
  });
  extract.end(raw);
  await done;
  const listing = files.get(CHECKSUMS_FILE);
  if (!listing) throw invalid(path, `has no ${CHECKSUMS_FILE}`);
  const listed = new Map<string, string>();
  for (const line of listing.toString('utf8').split('\n')) {
    if (line.trim() === '') continue;
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (!m) throw invalid(path, `${CHECKSUMS_FILE}: cannot read the line '${line}'`);
    listed.set(m[2]!, m[1]!);
  }
  for (const [name, data] of files) {
    if (name === CHECKSUMS_FILE) continue;
    const expected = listed.get(name);
    if (expected === undefined) throw invalid(path, `holds '${name}', which ${CHECKSUMS_FILE} does not list`, { entry: name });
    const actual = sha256(data);
    if (actual !== expected) {
      throw new SpacedriveError(ErrorCode.CHECKSUM_MISMATCH, `${basename(path)}: SHA-256 of '${name}' is ${actual} but ${CHECKSUMS_FILE} says ${expected}: the file is damaged or was changed`, { file: path, entry: name, expected, actual });
    }
  }
  for (const name of listed.keys()) {
    if (!files.has(name)) throw invalid(path, `${CHECKSUMS_FILE} lists '${name}', which the archive does not hold`, { entry: name });
  }
  if (!files.has('manifest.json')) throw invalid(path, 'has no manifest.json');
  files.delete(CHECKSUMS_FILE);
  return files;
}

/** Unpacks a checked `.sdext` into a new temporary folder (an installable package); `cleanup` removes it. */
export async function unpackSdext(path: string, bytes?: Buffer): Promise<{ dir: string; cleanup: () => void }> {
  const files = await readSdext(path, bytes);
  const dir = mkdtempSync(join(tmpdir(), 'sdext-'));
  try {
    for (const [name, data] of files) writeFileSync(join(dir, name), data);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
