/**
 * A node's id: stable for its data directory (kept in `<dataDir>/node-id`), so that a restarted
 * daemon is the same node — it takes back what its earlier incarnation was running, and jobs
 * with an affinity to it (they name its local paths) still find it. Each process start is a new
 * *incarnation* with its own lease owner id, `<node id>/<pid>-<random>`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

const VALID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function nodeIdentity(dataDir: string): { nodeId: string; workerId: string } {
  const file = join(dataDir, 'node-id');
  let nodeId: string | undefined;
  try {
    const text = readFileSync(file, 'utf8').trim();
    if (VALID.test(text)) nodeId = text;
  } catch {
    // Not made yet.
  }
  if (!nodeId) {
    const host = hostname().toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'node';
    nodeId = `${host}-${randomBytes(3).toString('hex')}`;
    try {
      // `wx`: two processes starting on one data directory at once keep the first one's id.
      writeFileSync(file, `${nodeId}\n`, { flag: 'wx', mode: 0o600 });
    } catch {
      nodeId = readFileSync(file, 'utf8').trim();
    }
  }
  return { nodeId, workerId: `${nodeId}/${process.pid}-${randomUUID().slice(0, 8)}` };
}
