/**
 * Bench section `library`: entries, sidecars and the indexing job, in-process on a real core.
 * Each figure is compared with the bare operation underneath it, measured in the same run:
 *  - create_entry (validation, JSON, unique checks, events) vs a bare SQLite insert of the same
 *    row (WAL, synchronous NORMAL);
 *  - write_sidecar (checksum, temp file, fsync, rename, index row) vs temp file + fsync + rename;
 *  - read_sidecar (checksum verified, row read before and after) vs readFile + SHA-256;
 *  - locations.index of a generated tree vs walking it and hashing every file with no database;
 *    a rescan of the unchanged tree vs the first index (unchanged files are not hashed again).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readdirSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { loadOptions } from '../config/index.js';
import { Core } from '../core/index.js';
import { silentLogger } from '../logging/index.js';
import { check, measure, measureSync, type BenchSection, type Measurement } from './harness.js';

const TREE_FILES = 2000;
const TREE_FILE_BYTES = 32 * 1024;

function jobMeasurement(name: string, files: number, seconds: number, note?: string): Measurement {
  const us = (seconds * 1e6) / files;
  return { name, ops: files, seconds, opsPerSec: files / seconds, p50Us: us, p99Us: us, ...(note ? { note } : {}) };
}

async function waitJob(core: Core, id: string): Promise<void> {
  for (;;) {
    const j = await core.jobs.get(id);
    if (j.status === 'completed') return;
    if (j.status === 'failed' || j.status === 'cancelled') throw new Error(`index job ${j.status}: ${j.lastError?.message}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(join(dir, e.name)) : [join(dir, e.name)]));
}

export async function run(): Promise<BenchSection> {
  const dir = mkdtempSync(join(tmpdir(), 'sd-bench-lib-'));
  const core = await Core.create(loadOptions({ overrides: { dataDir: join(dir, 'data'), extensions: { autoload: false } }, env: {} }), { logger: silentLogger() });
  const rows: Measurement[] = [];
  try {
    // Entries.
    const raw = new Database(join(dir, 'raw.db'));
    raw.pragma('journal_mode = WAL');
    raw.pragma('synchronous = NORMAL');
    raw.exec('CREATE TABLE entries (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, name TEXT, path TEXT UNIQUE, entry_type TEXT, metadata TEXT, created_at INTEGER, updated_at INTEGER)');
    const insert = raw.prepare('INSERT INTO entries (id, name, path, entry_type, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
    let n = 0;
    const bare = measureSync('bare SQLite insert (baseline)', () => {
      n++;
      insert.run(randomUUID(), `r${n}.eml`, `raw/${n}.eml`, 'FinancialDocument', JSON.stringify({ vendor: n % 7 === 0 ? 'Acme' : 'Shop', total: n }), Date.now(), Date.now());
    }, { ops: 5000, warmup: 500 });
    rows.push(bare);
    raw.close();
    let m = 0;
    const create = await measure(
      'vdfs.create_entry (in-process execute)',
      () => {
        m++;
        return core.execute('action:vdfs.create_entry.input.v1', { name: `r${m}.eml`, path: `receipts/${m}.eml`, entry_type: 'FinancialDocument', metadata: { vendor: m % 7 === 0 ? 'Acme' : 'Shop', total: m } });
      },
      { ops: 5000, warmup: 500 },
    );
    rows.push(create);
    const page = await measure('vdfs.list_entries, metadata filter, 100 of 5,500', () => core.execute('query:vdfs.list_entries.v1', { metadata: { vendor: 'Shop' }, limit: 100 }), { ops: 300, warmup: 30 });
    rows.push(page);

    // Sidecars.
    const entry = (await core.execute('action:vdfs.create_entry.input.v1', { name: 'scan', path: 'scan.png', entry_type: 'File', content: randomBytes(64).toString('base64') })) as { id: string };
    const payload = randomBytes(4096);
    const b64 = payload.toString('base64');
    const rawDir = join(dir, 'raw-sidecars');
    mkdirSync(rawDir);
    let k = 0;
    const rawWrite = await measure('temp file + fsync + rename, 4 KiB (baseline)', () => {
      const target = join(rawDir, 'thumb.bin');
      const tmp = `${target}.${k++}.tmp`;
      const fd = openSync(tmp, 'wx');
      writeSync(fd, payload);
      fsyncSync(fd);
      closeSync(fd);
      renameSync(tmp, target);
      createHash('sha256').update(payload).digest('hex');
    }, { ops: 300, warmup: 30 });
    rows.push(rawWrite);
    const write = await measure('vdfs.write_sidecar, 4 KiB replace', () => core.execute('action:vdfs.write_sidecar.input.v1', { entry_id: entry.id, kind: 'thumb', format: 'bin', data: b64 }), { ops: 300, warmup: 30 });
    rows.push(write);
    const rawRead = await measure('readFile + SHA-256, 4 KiB (baseline)', async () => createHash('sha256').update(await readFile(join(rawDir, 'thumb.bin'))).digest('hex'), { ops: 3000, warmup: 300 });
    rows.push(rawRead);
    const read = await measure('vdfs.read_sidecar, 4 KiB verified', () => core.execute('query:vdfs.read_sidecar.v1', { entry_id: entry.id, kind: 'thumb' }), { ops: 3000, warmup: 300 });
    rows.push(read);

    // Indexing.
    const tree = join(dir, 'tree');
    for (let i = 0; i < TREE_FILES; i++) {
      const d = join(tree, `d${i % 20}`);
      if (i < 20) mkdirSync(d, { recursive: true });
      writeFileSync(join(d, `f${i}.bin`), randomBytes(TREE_FILE_BYTES));
    }
    let t0 = performance.now();
    // Async reads, one file after another: what a daemon that must not block its event loop can do.
    for (const f of listFiles(tree)) createHash('sha256').update(await readFile(f)).digest('hex');
    const hashOnly = jobMeasurement(`walk + readFile + SHA-256 of ${TREE_FILES} × 32 KiB, no database (baseline)`, TREE_FILES, (performance.now() - t0) / 1000);
    rows.push(hashOnly);
    t0 = performance.now();
    const added = (await core.execute('action:locations.add.input.v1', { path: tree })) as { job_id: string; location: { id: string } };
    await waitJob(core, added.job_id);
    const index = jobMeasurement(`locations.index, first run (${TREE_FILES} files)`, TREE_FILES, (performance.now() - t0) / 1000, 'dispatch to completed');
    rows.push(index);
    t0 = performance.now();
    const rescan = (await core.execute('action:locations.rescan.input.v1', { location_id: added.location.id })) as { job_id: string };
    await waitJob(core, rescan.job_id);
    const unchanged = jobMeasurement('locations.index, rescan of the unchanged tree', TREE_FILES, (performance.now() - t0) / 1000, 'stat only');
    rows.push(unchanged);

    return {
      title: 'Library: entries, sidecars, indexing (in-process)',
      rows,
      checks: [
        check('create_entry ops/s ÷ bare insert ops/s', create.opsPerSec / bare.opsPerSec, '>=', 0.1),
        check('write_sidecar ops/s ÷ temp+fsync+rename ops/s', write.opsPerSec / rawWrite.opsPerSec, '>=', 0.5),
        check('read_sidecar ops/s ÷ readFile+SHA-256 ops/s', read.opsPerSec / rawRead.opsPerSec, '>=', 0.25),
        check('index files/s ÷ walk+hash files/s', index.opsPerSec / hashOnly.opsPerSec, '>=', 0.3),
        check('unchanged rescan files/s ÷ first index files/s', unchanged.opsPerSec / index.opsPerSec, '>=', 1.5),
      ],
    };
  } finally {
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
