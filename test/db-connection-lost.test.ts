import { type Database, openDatabase, rowsOf, sql } from '@birdfeed/db';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { switchableProxy } from './support/net.ts';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';

/**
 * The server ends a connection while a transaction holds it (a restart, a failover, an
 * operator's pg_terminate_backend): the transaction fails, the process goes on, and the pool
 * serves the next statement on a new connection.
 */

let testDb: TestDatabase;
let database: Database;
let admin: pg.Client;

beforeAll(async () => {
  testDb = await createTestDatabase('connection_lost');
  database = await openDatabase({ url: testDb.url, maxConnections: 2 });
  admin = new pg.Client({ connectionString: testDb.url });
  await admin.connect();
});

afterAll(async () => {
  await admin?.end();
  await database?.close();
  await testDb?.drop();
});

describe('a connection lost inside a transaction', () => {
  it('fails that transaction without crashing the process, and the next statement works', async () => {
    const crashes: unknown[] = [];
    const onCrash = (error: unknown) => crashes.push(error);
    process.on('uncaughtException', onCrash);
    try {
      const failed = await database.db
        .transaction(async (tx) => {
          const [row] = rowsOf<{ pid: number }>(
            await tx.execute(sql`select pg_backend_pid() as pid`),
          );
          // Terminated between two statements of the transaction: the client is checked out
          // and idle, which is when pg-pool's own listener is off.
          await admin.query('select pg_terminate_backend($1)', [row?.pid]);
          await new Promise((resolve) => setTimeout(resolve, 200));
          await tx.execute(sql`select 1`);
        })
        .then(
          () => null,
          (error: unknown) => error,
        );
      expect(failed).toBeInstanceOf(Error);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(crashes).toEqual([]);
      const after = rowsOf<{ two: number }>(await database.db.execute(sql`select 2 as two`));
      expect(after).toEqual([{ two: 2 }]);
    } finally {
      process.off('uncaughtException', onCrash);
    }
  });

  it('a connection lost while `begin` is in flight gives its pool slot back: the pool never shrinks', async () => {
    // drizzle 0.45 ran `begin` outside its try/finally (drizzle-orm#6241, patched in
    // patches/): each such loss kept a client checked out for good, and a worker whose pool
    // lost all of them waited forever for a connection.
    const url = new URL(testDb.url);
    const proxy = await switchableProxy({ host: url.hostname, port: Number(url.port || 5432) });
    const proxied = new URL(testDb.url);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(proxy.port);
    const slots = 2;
    const small = await openDatabase({ url: proxied.toString(), maxConnections: slots });
    try {
      for (let round = 0; round <= slots; round += 1) {
        await small.db.execute(sql`select 1`);
        proxy.stall();
        const tx = small.db.transaction(async (t) => {
          await t.execute(sql`select 1`);
        });
        const settled = tx.then(
          () => 'committed',
          (error: unknown) => (error instanceof Error ? error.message : String(error)),
        );
        await new Promise((resolve) => setTimeout(resolve, 100));
        proxy.down();
        proxy.up();
        expect(await settled).toMatch(/begin|Connection terminated/);
      }
      // One more round than the pool has slots: with a leak, no client would be left.
      const next = await Promise.race([
        small.db.execute(sql`select 7 as n`).then((result) => rowsOf<{ n: number }>(result)),
        new Promise((resolve) => setTimeout(() => resolve('no connection after 5 s'), 5_000)),
      ]);
      expect(next).toEqual([{ n: 7 }]);
    } finally {
      await small.close();
      await proxy.close();
    }
  });
});
