import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { crawlPage, crawlTargetToEnd } from '@birdfeed/crawl';
import {
  type Database,
  getTarget,
  migrate,
  openDatabase,
  rowsOf,
  sql,
  upsertTarget,
} from '@birdfeed/db';
import { createAgntdataClient } from '@birdfeed/providers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideOnError } from '../apps/worker/src/error-policy.ts';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';

/**
 * agntdata can answer 200 with its `{success:false}` envelope (a service-side error, a rate
 * limit, no credits left). The client maps it to the error the envelope names and says it is
 * not charged. Only a 2xx whose BODY broke off is billed: such an envelope must neither count
 * in the day's spend nor in the broken-body streak (which fails the page and marks the target
 * 'failing'), and "out of credits" must stay a stop-provider every time.
 */

let testDb: TestDatabase;
let database: Database;
let server: Server;
let body = '';

beforeAll(async () => {
  testDb = await createTestDatabase('agntdata_envelope_not_billed');
  database = await openDatabase({ url: testDb.url });
  await migrate(database.db);
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await database?.close();
  await testDb?.drop();
});

function client() {
  return createAgntdataClient({
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    apiKey: 'k',
    limit: 20,
  });
}

async function spentCents(): Promise<number> {
  const [spend] = rowsOf<{ cents: number }>(
    await database.db.execute(
      sql`select coalesce(sum(cost_cents), 0)::int as cents from provider_spend`,
    ),
  );
  return spend?.cents ?? 0;
}

describe('an agntdata 200 whose envelope says {success:false}', () => {
  it('a service-side error in it is a plain transient: not billed, the target stays active', async () => {
    const { db } = database;
    const key = { provider: 'agntdata', userId: '1001' } as const;
    await upsertTarget(db, key);
    body = JSON.stringify({
      success: false,
      error: { code: 'UPSTREAM_ERROR', message: 'upstream timed out' },
    });
    const agntdata = client();
    const outcomes: string[] = [];
    try {
      for (let run = 1; run <= 3; run += 1) {
        const summary = await crawlTargetToEnd({
          db,
          client: agntdata,
          target: key,
          dailyBudgetCents: 100,
          sleep: async () => {},
        });
        outcomes.push(`${summary.outcome}:${summary.errorName ?? ''}`);
      }
    } finally {
      await agntdata.close();
    }
    expect(outcomes).toEqual([
      'failed:TransientError',
      'failed:TransientError',
      'failed:TransientError',
    ]);
    expect((await getTarget(db, key))?.state).toBe('active');
    // Every reserved cent was given back.
    expect(await spentCents()).toBe(0);
    const [checkpoint] = rowsOf<{ streak: number }>(
      await db.execute(
        sql`select invalid_streak as streak from crawl_checkpoints where user_id = ${key.userId}::bigint`,
      ),
    );
    expect(checkpoint?.streak ?? 0).toBe(0);
  });

  it('out of credits in it stays a stop-provider, also the second time', async () => {
    const { db } = database;
    const key = { provider: 'agntdata', userId: '1002' } as const;
    await upsertTarget(db, key);
    body = JSON.stringify({
      success: false,
      error: { code: 'INSUFFICIENT_CREDITS', message: 'no credits left' },
    });
    const agntdata = client();
    const decisions: string[] = [];
    try {
      for (let i = 0; i < 3; i += 1) {
        const error = await crawlPage({ db, client: agntdata, target: key }).then(
          () => null,
          (e: unknown) => e,
        );
        decisions.push(`${(error as Error).name}:${decideOnError(error).action}`);
      }
    } finally {
      await agntdata.close();
    }
    expect(decisions).toEqual([
      'OutOfCreditsError:stop-provider',
      'OutOfCreditsError:stop-provider',
      'OutOfCreditsError:stop-provider',
    ]);
    expect((await getTarget(db, key))?.state).toBe('active');
    expect(await spentCents()).toBe(0);
  });
});
