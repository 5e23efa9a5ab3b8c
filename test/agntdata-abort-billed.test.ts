import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { crawlPage } from '@birdfeed/crawl';
import { type Database, migrate, openDatabase, rowsOf, sql, upsertTarget } from '@birdfeed/db';
import { createAgntdataClient, TransientError } from '@birdfeed/providers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';

/**
 * An agntdata request answered 200 (billed: "Credits are deducted ... on each successful API
 * call") whose body is still streaming when the job's deadline fires. The abort used to reach
 * the crawl step without the status it had seen, so the reserved cent was given back and every
 * retry of the page was bought outside the daily budget.
 */

let testDb: TestDatabase;
let database: Database;
let server: Server;
let requests = 0;

beforeAll(async () => {
  testDb = await createTestDatabase('abort_after_200');
  database = await openDatabase({ url: testDb.url });
  await migrate(database.db);
  server = createServer((_req, res) => {
    requests += 1;
    // Status line + headers at once (the call succeeded and is billed), then a slow body.
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '5000' });
    res.write('{"results":[');
    const timer = setTimeout(() => res.socket?.destroy(), 10_000);
    res.on('close', () => clearTimeout(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await database?.close();
  await testDb?.drop();
});

describe('an agntdata 200 whose body is cut by the job deadline (AbortSignal)', () => {
  it('counts the billed request in the daily spend and stops at the budget', async () => {
    const { db } = database;
    const key = { provider: 'agntdata', userId: '4343' } as const;
    await upsertTarget(db, key);
    const port = (server.address() as AddressInfo).port;
    const client = createAgntdataClient({
      baseUrl: `http://127.0.0.1:${port}`,
      apiKey: 'test-key',
      timeouts: { connectMs: 2_000, headersMs: 2_000, bodyMs: 5_000 },
    });
    try {
      const outcomes: string[] = [];
      // Three tries of the same page (the worker retries a timed-out page up to 8 times), each
      // given a 300 ms deadline, with a budget of 2 cents for the day.
      for (let i = 0; i < 3; i += 1) {
        const step = await crawlPage({
          db,
          client,
          target: key,
          dailyBudgetCents: 2,
          signal: AbortSignal.timeout(300),
        }).catch((error: unknown) => error);
        if (step instanceof TransientError) {
          // Marked at the source, and worded for any abort (a deadline, a Ctrl-C, a cancel).
          expect(step.bodyCut).toBe(true);
          expect(step.message).toContain('was aborted (its deadline, or a stop)');
        }
        outcomes.push(step instanceof Error ? step.name : (step as { outcome: string }).outcome);
      }
      const [spend] = rowsOf<{ requests: number | null; cents: number | null }>(
        await db.execute(
          sql`select sum(requests)::int as requests, sum(cost_cents)::int as cents from provider_spend where provider = 'agntdata'`,
        ),
      );
      // Each answered request is counted, and the budget stops the third before it goes out.
      expect(requests).toBe(2);
      // The second break at the same page fails it for good (a billed body that keeps breaking off).
      expect(outcomes).toEqual(['TransientError', 'BilledPageFailedError', 'budget_reached']);
      expect(spend?.cents).toBe(requests);
    } finally {
      await client.close();
    }
  });
});
