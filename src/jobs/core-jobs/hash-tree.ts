/**
 * `files.hash_tree`: walks a directory and computes the SHA-256 of every regular file, resumably.
 * The checkpoint holds the entries hashed so far (so a resumed run skips them); the output is
 * the manifest, optionally also written to `manifest_path` in `sha256sum` format.
 *
 * Trade-off: the state grows with the number of files hashed (about 100 bytes each), so the
 * checkpoint is written at most every {@link CHECKPOINT_EVERY_MS} rather than after every file;
 * a resumed run re-hashes at most that much work.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, rename, stat, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { ErrorCode, SpacedriveError } from '../../errors/index.js';
import type { JobTypeDefinition } from '../types.js';

const CHECKPOINT_EVERY_MS = 200;

interface HashParams {
  root: string;
  manifest_path?: string;
}

/** [relative path, size, sha256 hex] */
type Entry = [string, number, string];

interface HashState {
  done: number;
  entries: Entry[];
}

async function listFiles(root: string): Promise<Array<{ path: string; size: number }>> {
  const out: Array<{ path: string; size: number }> = [];
  async function walk(dir: string): Promise<void> {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) out.push({ path: p, size: (await stat(p)).size });
    }
  }
  await walk(root);
  return out;
}

function sha256(path: string, signal: AbortSignal): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const hash = createHash('sha256');
    const stream = createReadStream(path, { signal });
    stream.on('data', (chunk) => hash.update(chunk));
    stream.on('error', reject);
    stream.on('end', () => resolvePromise(hash.digest('hex')));
  });
}

export const hashTreeJob: JobTypeDefinition = {
  type: 'files.hash_tree',
  version: 1,
  resumable: true,
  description: 'Computes the SHA-256 of every file under a directory; outputs a manifest (and writes it in sha256sum format if asked).',
  paramsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['root'],
    properties: {
      root: { type: 'string', minLength: 1, description: 'Directory to hash.' },
      manifest_path: { type: 'string', minLength: 1, description: 'Also write the manifest here (sha256sum format).' },
    },
  },
  stallTimeoutMs: 3_600_000,
  touches: (params) => {
    const { root, manifest_path } = params as HashParams;
    return [
      { path: root, access: 'read', what: 'files.hash_tree root' },
      ...(manifest_path ? [{ path: manifest_path, access: 'write' as const, what: 'files.hash_tree manifest_path' }] : []),
    ];
  },
  async run(ctx) {
    const params = ctx.params as HashParams;
    const root = resolve(params.root);
    let info;
    try {
      info = await stat(root);
    } catch {
      throw new SpacedriveError(ErrorCode.NOT_FOUND, `hash_tree: ${root} does not exist`, { path: root });
    }
    if (!info.isDirectory()) throw new SpacedriveError(ErrorCode.INVALID_INPUT, `invalid input: field 'root': ${root} is not a directory`);
    const files = await listFiles(root);
    const totalBytes = files.reduce((n, f) => n + f.size, 0);
    const state: HashState = (ctx.state as HashState | null) ?? { done: 0, entries: [] };
    let bytesDone = state.entries.reduce((n, e) => n + e[1], 0);
    let lastCheckpoint = 0;
    for (let i = state.done; i < files.length; i++) {
      const f = files[i]!;
      let digest: string;
      try {
        digest = await sha256(f.path, ctx.signal);
      } catch (err) {
        if (ctx.interrupt() !== 'continue') return { status: 'interrupted', state };
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          ctx.log('warn', `${f.path} disappeared before it was hashed`);
          state.done = i + 1;
          continue;
        }
        throw err;
      }
      state.entries.push([relative(root, f.path), f.size, digest]);
      state.done = i + 1;
      bytesDone += f.size;
      const now = Date.now();
      const last = i === files.length - 1;
      if (last || now - lastCheckpoint >= CHECKPOINT_EVERY_MS) {
        lastCheckpoint = now;
        const r = await ctx.progress({
          state,
          fraction: totalBytes > 0 ? bytesDone / totalBytes : state.done / files.length,
          itemsDone: state.done,
          itemsTotal: files.length,
          bytesDone,
          bytesTotal: totalBytes,
          message: relative(root, f.path),
        });
        if (r !== 'continue') return { status: 'interrupted', state };
      } else if (ctx.interrupt() !== 'continue') {
        return { status: 'interrupted', state };
      }
    }
    if (params.manifest_path) {
      const target = resolve(params.manifest_path);
      const text = state.entries.map(([p, , h]) => `${h}  ./${p}\n`).join('');
      await writeFile(`${target}.tmp`, text);
      await rename(`${target}.tmp`, target);
    }
    return {
      status: 'completed',
      output: {
        root,
        files: state.entries.length,
        bytes: bytesDone,
        manifest: state.entries.map(([path, size, hash]) => ({ path, size, sha256: hash })),
        ...(params.manifest_path ? { manifest_path: resolve(params.manifest_path) } : {}),
      },
    };
  },
};
