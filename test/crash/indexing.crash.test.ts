/**
 * The `locations.index` job killed mid-way: the real daemon process gets SIGKILL three times
 * while it indexes a generated tree, and is restarted each time. Asserted: the job finishes with
 * exactly one entry per file (right paths, hashes and sizes), and each resumed run continued
 * from its checkpoint rather than starting over (files seen again after a kill are at most those
 * done after the last checkpoint).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SpacedriveClient } from '../../src/client/index.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';

type Status = { status: string; runs: number; state: { done: number; phase: string } | null; output: Record<string, number> | null };
type Entry = { path: string; content_hash: string; size: number };

const FILES = 8000;
const KILLS = 3;
/** The job checkpoints at least every 500 files (src/library/index-job.ts). */
const MAX_FILES_BETWEEN_CHECKPOINTS = 500;

describe('locations.index survives kill -9 of the daemon', () => {
  let d: TestDaemon | undefined;
  afterAll(async () => {
    await d?.stop();
  });

  it(`three kills while indexing ${FILES} files: one entry per file, resumed from checkpoints`, { timeout: 300_000 }, async () => {
    d = await startTestDaemon();
    const daemon = d;
    const root = join(daemon.dataDir, 'tree');
    const expected = new Map<string, { hash: string; size: number }>();
    for (let i = 0; i < FILES; i++) {
      const dir = join(root, `a${i % 13}`, `b${i % 7}`);
      if (i < 13 * 7) mkdirSync(dir, { recursive: true });
      const bytes = randomBytes(4096 + (i % 8) * 1024);
      const path = join(dir, `file-${i}.bin`);
      writeFileSync(path, bytes);
      expected.set(path, { hash: createHash('sha256').update(bytes).digest('hex'), size: bytes.length });
    }
    let client: SpacedriveClient = await daemon.client();
    const added = (await client.action('action:locations.add.input.v1', { path: root })) as { job_id: string; location: { id: string } };
    const status = () => client.query('query:jobs.get_status.v1', { job_id: added.job_id }) as Promise<Status>;

    const killedAt: number[] = [];
    for (let k = 0; k < KILLS; k++) {
      // Wait until a checkpoint beyond the previous kill is durable, then kill mid-walk.
      const target = Math.round(((k + 1) * FILES) / (KILLS + 2));
      let s = await status();
      while ((s.state?.done ?? 0) < target) {
        expect(s.status, `the job finished before kill ${k + 1}: make the tree bigger`).not.toBe('completed');
        await new Promise((r) => setTimeout(r, 5));
        s = await status();
      }
      killedAt.push(s.state!.done);
      await daemon.kill('SIGKILL');
      await daemon.restart();
      client = await daemon.client();
    }

    const s = await waitFor(async () => {
      const st = await status();
      return ['completed', 'failed', 'cancelled'].includes(st.status) ? st : null;
    }, 'the indexing job to finish', 120_000);
    expect(s.status).toBe('completed');
    expect(s.runs).toBe(KILLS + 1);
    const out = s.output!;
    expect(out.files).toBe(FILES);
    expect(out.added + out.unchanged).toBe(FILES);
    expect(out.removed).toBe(0);
    // Seen again only what was done after the last checkpoint of each killed run.
    expect(out.unchanged).toBeLessThanOrEqual(KILLS * MAX_FILES_BETWEEN_CHECKPOINTS);
    expect(out.added).toBeGreaterThan(FILES - KILLS * MAX_FILES_BETWEEN_CHECKPOINTS - 1);

    const entries: Entry[] = [];
    let cursor: string | null = null;
    do {
      const page = (await client.query('query:vdfs.list_entries.v1', { location_id: added.location.id, limit: 1000, ...(cursor ? { cursor } : {}) })) as { entries: Entry[]; next_cursor: string | null };
      entries.push(...page.entries);
      cursor = page.next_cursor;
    } while (cursor);
    expect(entries).toHaveLength(FILES);
    expect(new Set(entries.map((e) => e.path)).size).toBe(FILES);
    for (const e of entries) {
      const want = expected.get(e.path);
      expect(want, `unexpected entry ${e.path}`).toBeDefined();
      expect(e.content_hash).toBe(want!.hash);
      expect(e.size).toBe(want!.size);
    }
    // A spot check that the hashes are of the files' real bytes.
    const one = entries[FILES >> 1]!;
    expect(createHash('sha256').update(readFileSync(one.path)).digest('hex')).toBe(one.content_hash);
    expect(killedAt.every((n, i) => i === 0 || n > killedAt[i - 1]!)).toBe(true);
    const info = (await client.query('query:libraries.info.v1', {})) as { entries: number };
    expect(info.entries).toBe(FILES);
  });
});
