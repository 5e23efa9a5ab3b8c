import { crawlPage, crawlTargetToEnd } from '@birdfeed/crawl';
import {
  type BirdfeedDb,
  type Database,
  getCheckpoint,
  getRun,
  listGaps,
  migrate,
  openDatabase,
  upsertTarget,
} from '@birdfeed/db';
import { rateLimitOf } from '@birdfeed/providers';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeTimeline } from './support/crawl-fake-timeline.ts';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';

/*
 * The until_id an X window goes on with after its token expired is trusted only while X honours
 * it: X forces a bound that left its newest 3,200 to its newest tweet (a second range, apart
 * from the one read), and a remainder that ends listing nothing may be the floor of the newest
 * 3,200 with no author count on the page to tell. Both restart the window from its top, where
 * the cap rule sees the whole window: every tweet at or below the final since_id is stored or
 * inside a recorded gap.
 */

let testDb: TestDatabase;
let database: Database;
let db: BirdfeedDb;
let pool: pg.Pool;

beforeAll(async () => {
  testDb = await createTestDatabase('x_until_guards');
  database = await openDatabase({ url: testDb.url });
  db = database.db;
  await migrate(db);
  pool = new pg.Pool({ connectionString: testDb.url, max: 2 });
  pool.on('error', () => {});
});

afterAll(async () => {
  await pool?.end();
  await database?.close();
  await testDb?.drop();
});

const range = (from: bigint, count: number) =>
  Array.from({ length: count }, (_, i) => from + BigInt(i));

const CAP = 30;

/**
 * An X target backfilled to since_id 1019 (cap 30), then 20 new tweets: its incremental window
 * reads two pages (2019..2010), its token expires, and it goes on below until_id 2010.
 */
async function boundedWindow(userId: string) {
  const key = { provider: 'x', userId } as const;
  await upsertTarget(db, { ...key, backfillDepth: 800 });
  const client = new FakeTimeline({ ...key, ids: range(1000n, 20), pageSize: 5, cap: CAP });
  const step = { db, client, target: key, pageSize: 5, timelineCap: CAP };
  await crawlTargetToEnd(step);
  expect((await getCheckpoint(db, key))?.sinceId).toBe('1019');
  client.add(...range(2000n, 20));
  const { runId } = await crawlPage(step);
  await crawlPage({ ...step, runId });
  client.faults.push({ kind: 'invalid-cursor' });
  expect((await crawlPage({ ...step, runId })).outcome).toBe('cursor_expired');
  expect((await getCheckpoint(db, key))?.windowUntilId).toBe('2010');
  return { key, client, runId, cap: CAP, step };
}

/** The bound 2010 no longer among the newest 30: X forces it to the top. */
async function forcedBound(userId: string) {
  const bounded = await boundedWindow(userId);
  bounded.client.add(...range(3000n, 40));
  return bounded;
}

/** Tweets at or below the final since_id that are neither stored nor inside a recorded gap. */
async function silentlyLost(key: { provider: 'x'; userId: string }, ids: bigint[]) {
  const { rows } = await pool.query<{ id: string }>(
    'SELECT id::text AS id FROM tweets WHERE author_id = $1',
    [key.userId],
  );
  const stored = new Set(rows.map((r) => BigInt(r.id)));
  const gaps = await listGaps(db, key);
  const inGap = (id: bigint) =>
    gaps.some(
      (g) =>
        (g.sinceId === null || id > BigInt(g.sinceId)) &&
        (g.oldestId === null || id < BigInt(g.oldestId)),
    );
  const since = BigInt((await getCheckpoint(db, key))?.sinceId ?? '0');
  return {
    gaps,
    lost: ids.filter((id) => id <= since && !stored.has(id) && !inGap(id)).map(String),
  };
}

async function spentXRequests(): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    "SELECT coalesce(sum(requests), 0)::int AS n FROM provider_spend WHERE provider = 'x'",
  );
  return rows[0]?.n ?? 0;
}

describe('an X window whose until_id bound was forced to the top (cap)', () => {
  it('records a gap covering every tweet it did not read', async () => {
    // Meanwhile (a paused queue, a disabled target) the account posts more than the cap.
    const { key, client, step } = await forcedBound('777001');
    expect((await crawlTargetToEnd(step)).outcome).toBe('succeeded');
    const { gaps, lost } = await silentlyLost(key, client.ids);
    expect(gaps).not.toEqual([]);
    expect(lost).toEqual([]);
  });
});

describe('a resumed X window whose remainder fell below the cap floor', () => {
  it('records the gap when the page below until_id comes back empty (no author count on it)', async () => {
    // 20 posted during the pause: the newest 30 are now 3019..3000 and 2019..2010. The bound
    // 2010 is still reachable (not forced), everything below it (2009..2000) is not: X answers
    // result_count 0, no next_token, no includes (so no tweet_count to see the posting by).
    const { key, client, step } = await boundedWindow('777004');
    client.add(...range(3000n, 20));
    expect((await crawlTargetToEnd(step)).outcome).toBe('succeeded');
    expect((await silentlyLost(key, client.ids)).lost).toEqual([]);
  });
});

describe('a fetched page whose step then throws', () => {
  it('keeps the window the page described on the error the worker sees (remaining 0 held)', async () => {
    const key = { provider: 'x', userId: '777002' } as const;
    await upsertTarget(db, { ...key, backfillDepth: 800 });
    const inner = new FakeTimeline({ ...key, ids: range(5000n, 20), pageSize: 5 });
    const spent = { limit: 900, remaining: 0, resetAt: new Date(Date.now() + 120_000) };
    const client = {
      provider: 'x' as const,
      fetchTimelinePage: async (request: Parameters<FakeTimeline['fetchTimelinePage']>[0]) => ({
        ...(await inner.fetchTimelinePage(request)),
        rateLimit: spent,
      }),
    };
    // A 200 that passes the schema but that no column takes: the step throws (fails for good).
    inner.faults.push({ kind: 'unstorable' });
    const error = await crawlPage({ db, client, target: key, pageSize: 5 }).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).not.toBeNull();
    // The worker holds on what rateLimitOf(error) returns when the step throws.
    expect(rateLimitOf(error)).toMatchObject({ remaining: 0 });
  });
});

describe('a page that restarts the window (until_id forced to the top)', () => {
  it('counts its request in provider_spend, as any 200 page X served', async () => {
    const { key, client, runId, cap } = await forcedBound('888001');
    const spent = await spentXRequests();
    const runBefore = (await getRun(db, runId))?.requests ?? 0;
    const step = await crawlPage({ db, client, target: key, runId, pageSize: 5, timelineCap: cap });
    expect(step.outcome).toBe('cursor_expired');
    expect(step.requests).toBe(1);
    expect(((await getRun(db, runId))?.requests ?? 0) - runBefore).toBe(1);
    // One 200 from X: the day's spend of X requests must see it.
    expect((await spentXRequests()) - spent).toBe(1);
  });

  it('run twice at once: the losing execution still counts the request it made', async () => {
    const { key, client, runId, cap } = await forcedBound('888002');
    const runBefore = (await getRun(db, runId))?.requests ?? 0;
    const asked = client.requests.length;
    client.holdUntil(2);
    const [a, b] = await Promise.all([
      crawlPage({ db, client, target: key, runId, pageSize: 5, timelineCap: cap }),
      crawlPage({ db, client, target: key, runId, pageSize: 5, timelineCap: cap }),
    ]);
    expect(client.requests.length - asked).toBe(2);
    expect([a.outcome, b.outcome].sort()).toEqual(['cursor_expired', 'stale']);
    // Two requests were made; the run must say 2 (the page path's stale loser counts its own).
    expect(((await getRun(db, runId))?.requests ?? 0) - runBefore).toBe(2);
    expect(a.requests + b.requests).toBe(2);
  });
});
