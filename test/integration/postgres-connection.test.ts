import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratePostgres, openPostgres, type PostgresDatabase } from '../../src/storage/postgres/index.js';
import { ErrorCode } from '../../src/errors/index.js';
import { createTestDatabase, terminateConnections, type TestDatabase } from '../helpers/postgres.js';
import { waitFor } from '../helpers/wait.js';

describe('PostgreSQL connection and migrations', () => {
  let testDb: TestDatabase;
  const opened: PostgresDatabase[] = [];
  const open = (applicationName = 'sd-test') => {
    const db = openPostgres({ url: testDb.url, applicationName, poolSize: 4 });
    opened.push(db);
    return db;
  };

  beforeAll(async () => {
    testDb = await createTestDatabase('connection');
  });
  afterAll(async () => {
    await Promise.all(opened.map((db) => db.close()));
    await testDb?.drop();
  });

  it('applies each migration exactly once when several nodes start at once', async () => {
    const migrations = [
      { version: 1, name: 'counter table', sql: 'CREATE TABLE counter (n INTEGER NOT NULL); INSERT INTO counter VALUES (0)' },
      { version: 2, name: 'bump', sql: 'UPDATE counter SET n = n + 1' },
    ];
    const nodes = [open(), open(), open()];
    const results = await Promise.all(nodes.map((db) => migratePostgres(db, 'demo', migrations)));
    expect(results.map((r) => r.applied.length).sort()).toEqual([0, 0, 2]);
    expect(await nodes[0]!.query('SELECT n FROM counter')).toEqual([{ n: 1 }]);
    // A database newer than the build is refused, not written to.
    await expect(migratePostgres(nodes[1]!, 'demo', migrations.slice(0, 1))).rejects.toMatchObject({ code: ErrorCode.CONFIG_INVALID });
  });

  it('rolls a failed transaction back and keeps the pool usable', async () => {
    const db = open();
    await db.execute('CREATE TABLE t (id INTEGER PRIMARY KEY)');
    await expect(db.transaction(async (tx) => {
      await tx.execute('INSERT INTO t VALUES (1)');
      await tx.execute('INSERT INTO t VALUES (1)');
    })).rejects.toMatchObject({ code: '23505' });
    expect(await db.query('SELECT count(*)::int AS n FROM t')).toEqual([{ n: 0 }]);
  });

  it('says STORE_UNAVAILABLE when the server is unreachable', async () => {
    const db = openPostgres({ url: 'postgres://127.0.0.1:1/nothing', connectTimeoutMs: 500 });
    opened.push(db);
    await expect(db.query('SELECT 1')).rejects.toMatchObject({ code: ErrorCode.STORE_UNAVAILABLE });
    expect(db.available).toBe(false);
  });

  it('delivers notifications, and after its connection is terminated reconnects and tells subscribers to poll', async () => {
    const db = open('sd-listen-test');
    const got: string[] = [];
    let reconnects = 0;
    await db.listen('sd_test_channel', (p) => got.push(p), () => { reconnects++; });
    await db.notify('sd_test_channel', 'one');
    await waitFor(() => got.includes('one'), 'the first notification');
    expect(await terminateConnections(testDb.name, 'sd-listen-test')).toBeGreaterThan(0);
    await waitFor(() => reconnects > 0, 'the listener to reconnect');
    // The pool's connections were terminated too: the next query fails or reconnects, never hangs.
    await db.query('SELECT 1').catch((err) => expect(err).toMatchObject({ code: ErrorCode.STORE_UNAVAILABLE }));
    await db.notify('sd_test_channel', 'two');
    await waitFor(() => got.includes('two'), 'a notification after the reconnect');
    expect(db.available).toBe(true);
  });
});
