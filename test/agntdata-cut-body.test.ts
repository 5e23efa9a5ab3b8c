import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BilledPageFailedError, crawlPage } from '@birdfeed/crawl';
import { type Database, migrate, openDatabase, rowsOf, sql, upsertTarget } from '@birdfeed/db';
import { createAgntdataClient, TransientError } from '@birdfeed/providers';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';

/**
 * agntdata bills every 2xx, also one whose body breaks off after the status line (a reset, a
 * body timeout): the crawl step counts it in the run and the day's spend, and the daily budget
 * holds — before, such a request gave its reserved cent back and every retry was bought free.
 */

let testDb: TestDatabase;
let database: Database;
let server: Server;
let requests = 0;

beforeAll(async () => {
  testDb = await createTestDatabase('agntdata_cut_body');
  database = await openDatabase({ url: testDb.url });
  await migrate(database.db);
  server = createServer((_req, res) => {
    requests += 1;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '5000' });
    res.write('{"success":true,"data":{"user":');
    setTimeout(() => res.socket?.destroy(), 20);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await database?.close();
  await testDb?.drop();
});

describe('an agntdata 200 whose body breaks off', () => {
  it('is counted as bought, and the daily budget stops the retries at its limit', async () => {
    const { db } = database;
    const key = { provider: 'agntdata', userId: '4242' } as const;
    await upsertTarget(db, key);
    const port = (server.address() as AddressInfo).port;
    const lines: Array<Record<string, unknown>> = [];
    const client = createAgntdataClient({
      baseUrl: `http://127.0.0.1:${port}`,
      apiKey: 'test-key',
      logger: pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) }),
      timeouts: { connectMs: 2_000, headersMs: 2_000, bodyMs: 2_000 },
    });
    try {
      const outcomes: string[] = [];
      for (let i = 0; i < 3; i += 1) {
        const step = await crawlPage({ db, client, target: key, dailyBudgetCents: 2 }).catch(
          (error: unknown) => error,
        );
        if (step instanceof TransientError || step instanceof BilledPageFailedError) {
          expect(step.status).toBe(200);
          // Marked by the HTTP exchange: the status line was 2xx and the body broke off.
          if (step instanceof TransientError) expect(step.bodyCut).toBe(true);
          // The second break in a row at the same position is not retried (each retry is bought).
          outcomes.push(step instanceof TransientError ? 'cut' : 'cut, not retried');
        } else outcomes.push((step as { outcome: string }).outcome);
      }
      expect(outcomes).toEqual(['cut', 'cut, not retried', 'budget_reached']);
      expect(requests).toBe(2);
      const [spend] = rowsOf<{ requests: number; cents: number }>(
        await db.execute(
          sql`select sum(requests)::int as requests, sum(cost_cents)::int as cents from provider_spend where provider = 'agntdata'`,
        ),
      );
      expect(spend).toEqual({ requests: 2, cents: 2 });
      const [runs] = rowsOf<{ cents: number }>(
        await db.execute(sql`select sum(cost_cents)::int as cents from crawl_runs`),
      );
      expect(runs?.cents).toBe(2);
      // The request's own log line says what it cost, and the status it came with.
      const failed = lines.filter((line) => line.msg === 'provider request failed');
      expect(failed.map((line) => [line.status, line.costCents])).toEqual([
        [200, 1],
        [200, 1],
      ]);
    } finally {
      await client.close();
    }
  });
});
