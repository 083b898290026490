/**
 * docs/wire-protocol.md against the code, so that the page cannot drift from what the daemon
 * sends: every error code, every event type the sources emit, the payload fields of the events
 * a real daemon sends while it runs a job and changes a library, and the fields of
 * `core.methods` entries.
 */
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpacedriveClient } from '../../src/client/index.js';
import { ErrorCode } from '../../src/errors/index.js';
import type { CoreEvent } from '../../src/events/index.js';
import { REPO_ROOT, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';

const DOC = readFileSync(join(REPO_ROOT, 'docs', 'wire-protocol.md'), 'utf8');

/** The text under a heading (`## Error codes`, `### Event types`) up to the next heading of its level or above. */
function section(heading: string): string {
  const level = /^#+/.exec(heading)![0].length;
  const start = DOC.indexOf(`\n${heading}\n`);
  expect(start, `docs/wire-protocol.md has a "${heading}" section`).toBeGreaterThanOrEqual(0);
  const rest = DOC.slice(start + heading.length + 2);
  const next = rest.search(new RegExp(`\\n#{1,${level}} `));
  return next === -1 ? rest : rest.slice(0, next);
}

/** Rows of the first Markdown table in `text`, as cells (header and rule rows dropped). */
function tableRows(text: string): string[][] {
  const rows = text.split('\n').filter((l) => l.startsWith('|'));
  return rows.slice(2).map((l) => l.split('|').slice(1, -1).map((c) => c.trim()));
}

const backticked = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

interface DocumentedEvent {
  always: Set<string>;
  optional: Set<string>;
}

/** The event table: each type with the payload fields it always carries and those marked `?`. */
function documentedEvents(): Map<string, DocumentedEvent> {
  const out = new Map<string, DocumentedEvent>();
  for (const [typeCell, payloadCell] of tableRows(section('### Event types'))) {
    const [type] = backticked(typeCell!);
    const always = new Set<string>();
    const optional = new Set<string>();
    // Field names are the backticked words of the payload cell that are not inside parentheses
    // (those hold values and explanations: `null`, `{code, message}`, `file_moved`).
    let depth = 0;
    let plain = '';
    for (const ch of payloadCell!.split(' — ')[0]!) {
      if (ch === '(') depth++;
      else if (ch === ')') depth--;
      else if (depth === 0) plain += ch;
    }
    for (const m of plain.matchAll(/`([a-z_]+)`(\?)?/g)) (m[2] ? optional : always).add(m[1]!);
    out.set(type!, { always, optional });
  }
  return out;
}

/** Every `.emit('noun:verb'` in src/, the event types the daemon can send. */
function emittedEventTypes(): Set<string> {
  const types = new Set<string>();
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.name.endsWith('.ts')) for (const m of readFileSync(path, 'utf8').matchAll(/\.emit\(\s*'([a-z]+:[a-z_]+)'/g)) types.add(m[1]!);
    }
  };
  walk(join(REPO_ROOT, 'src'));
  return types;
}

describe('docs/wire-protocol.md lists what the code has', () => {
  it('every error code: the daemon sends it (the table) or a client makes it (the paragraph after)', () => {
    const errors = section('## Error codes');
    const [tablePart, clientPart] = errors.split('Codes clients produce themselves');
    const inTable = new Set(tableRows(tablePart!).flatMap((row) => backticked(row[0]!)));
    const clientOnly = new Set(backticked(clientPart!).filter((w) => /^[A-Z_]+$/.test(w)));
    const missing = Object.values(ErrorCode).filter((code) => !inTable.has(code) && !clientOnly.has(code));
    expect(missing, 'codes of src/errors that docs/wire-protocol.md does not list').toEqual([]);
    const unknown = [...inTable].filter((code) => !(Object.values(ErrorCode) as string[]).includes(code));
    expect(unknown, 'codes the table lists that src/errors does not have').toEqual([]);
  });

  it('every event type the sources emit, and none they do not', () => {
    const documented = [...documentedEvents().keys()].sort();
    expect(documented).toEqual([...emittedEventTypes()].sort());
  });

  it('no example in the page uses an event type the daemon does not send', () => {
    const known = emittedEventTypes();
    const named = [...DOC.matchAll(/"(job|entry|extension|library|location|sidecar):([a-z_]+)"/g)].map((m) => `${m[1]}:${m[2]}`);
    expect(named.filter((t) => !known.has(t))).toEqual([]);
  });
});

describe('a real daemon sends what docs/wire-protocol.md says', { timeout: 120_000 }, () => {
  let d: TestDaemon;
  let client: SpacedriveClient;
  beforeAll(async () => {
    d = await startTestDaemon();
    client = await d.client();
  });
  afterAll(async () => {
    await d?.stop();
  });

  it('core.methods entries have exactly the documented fields', async () => {
    const documented = tableRows(section('### `query` and `action`').split('`query:core.methods.v1` (payload')[1]!).map((row) => backticked(row[0]!)[0]);
    const { methods } = await client.query('query:core.methods.v1', {});
    expect(methods.length).toBeGreaterThan(0);
    for (const m of methods) expect(Object.keys(m).sort()).toEqual([...documented].sort());
  });

  it('events carry the fields the event table lists for their type', async () => {
    const documented = documentedEvents();
    const seen: CoreEvent[] = [];
    const events = client.subscribe(['*']);
    await events.ready;
    const last = new Set(['job:completed', 'sidecar:deleted', 'entry:deleted']);
    const collecting = (async () => {
      for await (const e of events) {
        seen.push(e);
        last.delete(e.type);
        if (last.size === 0) break;
      }
    })();

    // A job (queued, started, progress, completed) ...
    writeFileSync(join(d.dataDir, 'a.txt'), 'abc');
    mkdirSync(join(d.dataDir, 'out'));
    const { job_id } = (await client.action('action:files.copy.input.v1', { sources: [join(d.dataDir, 'a.txt')], destination: join(d.dataDir, 'out') })) as { job_id: string };
    // ... and a library with an entry and a sidecar, each created and deleted.
    const lib = (await client.action('action:libraries.create.input.v1', { name: 'doc-check' })) as { id: string };
    const entry = (await client.action('action:vdfs.create_entry.input.v1', { library_id: lib.id, name: 'n', path: 'p/n', entry_type: 'Note', content: Buffer.from('x').toString('base64') })) as { id: string };
    await client.action('action:vdfs.create_entry.input.v1', { library_id: lib.id, name: 'n2', path: 'p/n', entry_type: 'Note', if_exists: 'replace' });
    await client.action('action:vdfs.write_sidecar.input.v1', { library_id: lib.id, entry_id: entry.id, kind: 'note', format: 'txt', text: 't' });
    await client.action('action:vdfs.delete_sidecar.input.v1', { library_id: lib.id, entry_id: entry.id, kind: 'note' });
    await client.action('action:vdfs.delete_entry.input.v1', { library_id: lib.id, entry_id: entry.id });
    await collecting;

    const types = new Set(seen.map((e) => e.type));
    for (const t of ['job:queued', 'job:started', 'job:completed', 'library:created', 'entry:created', 'entry:updated', 'entry:deleted', 'sidecar:written', 'sidecar:deleted']) {
      expect(types, `saw a ${t} event`).toContain(t);
    }
    expect(seen.some((e) => e.payload.job_id === job_id)).toBe(true);
    for (const e of seen) {
      const doc = documented.get(e.type);
      expect(doc, `${e.type} is in the event table`).toBeDefined();
      const keys = Object.keys(e.payload);
      expect([...doc!.always].filter((k) => !keys.includes(k)), `${e.type}: documented fields missing from the payload`).toEqual([]);
      expect(keys.filter((k) => !doc!.always.has(k) && !doc!.optional.has(k)), `${e.type}: payload fields the table does not list`).toEqual([]);
    }
  });
});
