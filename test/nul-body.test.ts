import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { crawlPage } from '@birdfeed/crawl';
import { type Database, migrate, openDatabase, rowsOf, sql, upsertTarget } from '@birdfeed/db';
import { createAgntdataClient, createXClient, InvalidResponseError } from '@birdfeed/providers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';

/**
 * A body holding a raw NUL byte is invalid JSON, kept in raw_pages with its error. Postgres text
 * cannot hold NUL: the failure record was refused every time, so the invalid-body streak never
 * counted and the page was bought again forever (an agntdata cent each time).
 */

let testDb: TestDatabase;
let database: Database;
let server: Server;
let requests = 0;

beforeAll(async () => {
  testDb = await createTestDatabase('nul_body');
  database = await openDatabase({ url: testDb.url });
  await migrate(database.db);
  server = createServer((_req, res) => {
    requests += 1;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(Buffer.from('{"data":[{"id":"1","text":"a\u0000b"}]}'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await database?.close();
  await testDb?.drop();
});

describe('a provider body with a raw NUL byte', () => {
  it.each(['x', 'agntdata'] as const)(
    '%s: is kept with U+FFFD, counted as invalid, and the target is marked failing after 3',
    async (provider) => {
      const { db } = database;
      const key = { provider, userId: provider === 'x' ? '4242' : '4343' } as const;
      await upsertTarget(db, key);
      const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const client =
        provider === 'x'
          ? createXClient({ baseUrl, bearerToken: 'test-token' })
          : createAgntdataClient({ baseUrl, apiKey: 'test-key' });
      const before = requests;
      const outcomes: string[] = [];
      for (let i = 0; i < 4; i += 1) {
        const step = await crawlPage({ db, client, target: key }).then(
          (done) => done.outcome,
          (error: unknown) => (error instanceof InvalidResponseError ? 'invalid' : String(error)),
        );
        outcomes.push(step);
      }
      expect(outcomes).toEqual(['invalid', 'invalid', 'invalid', 'inactive']);
      expect(requests - before).toBe(3);
      const [target] = rowsOf<{ state: string }>(
        await db.execute(sql`select state from watch_targets
          where provider = ${provider} and user_id = ${key.userId}::bigint`),
      );
      expect(target?.state).toBe('failing');
      const pages = rowsOf<{ body: string; error: string }>(
        await db.execute(sql`select body, error from raw_pages
          where provider = ${provider} and user_id = ${key.userId}::bigint`),
      );
      expect(pages).toHaveLength(3);
      for (const page of pages) {
        expect(page.body).toBe('{"data":[{"id":"1","text":"a\uFFFDb"}]}');
        expect(page.error).toMatch(/not JSON at \$/);
      }
      const failures = rowsOf<{ n: number }>(
        await db.execute(sql`select count(*)::int as n from crawl_failures
          where provider = ${provider} and user_id = ${key.userId}::bigint`),
      );
      expect(failures[0]?.n).toBe(3);
    },
  );
});
