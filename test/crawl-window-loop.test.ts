import {
  type CrawlStepResult,
  crawlPage,
  crawlTargetToEnd,
  type FetchedPage,
  MAX_WINDOW_PAGES,
  openRun,
  type TimelinePageRequest,
} from '@birdfeed/crawl';
import {
  type BirdfeedDb,
  type Database,
  getCheckpoint,
  listGaps,
  migrate,
  openDatabase,
  spentToday,
  sql,
  upsertTarget,
} from '@birdfeed/db';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FakeTimeline } from './support/crawl-fake-timeline.ts';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';
import { runCli } from './support/run-cli.ts';

/*
 * A provider that pages in a loop must not be followed for ever by the worker path (which has
 * no page cap of its own: crawl-to-end's maxPages is the one-shot's): on agntdata every page is
 * a billed cent, on X each one comes off the shared rate limit. A repeated cursor ends the
 * window at once; anything else ends at MAX_WINDOW_PAGES. Either way the part not read is a
 * gap, and since_id moves no further than the window's newest id.
 */
let testDb: TestDatabase;
let database: Database;
let db: BirdfeedDb;
let nextUser = 4200n;

beforeAll(async () => {
  testDb = await createTestDatabase('crawl_window_loop');
  database = await openDatabase({ url: testDb.url, maxConnections: 2 });
  db = database.db;
  await migrate(db);
});

afterAll(async () => {
  await database?.close();
  await testDb?.drop();
});

const range = (from: bigint, count: number) =>
  Array.from({ length: count }, (_, i) => from + BigInt(i));

/** A target whose backfill is done, with since_id at `sinceId`. */
async function incrementalTarget(provider: 'x' | 'agntdata', sinceId: string) {
  nextUser += 1n;
  const userId = String(nextUser);
  await upsertTarget(db, { provider, userId });
  await db.execute(sql`INSERT INTO crawl_checkpoints (provider, user_id, since_id, backfill_done)
    VALUES (${provider}, ${userId}::bigint, ${sinceId}::bigint, true)`);
  return { provider, userId } as const;
}

/** From its second page on, serves the same page with the same token again and again. */
class RepeatingTimeline extends FakeTimeline {
  override async fetchTimelinePage(request: TimelinePageRequest): Promise<FetchedPage> {
    const fetched = await super.fetchTimelinePage({
      ...request,
      cursor: request.cursor == null ? null : '20',
    });
    if (request.cursor != null) fetched.page.cursor.next = '20';
    return fetched;
  }
}

/** Two pages that point at each other: a loop no single page shows. */
class PingPongTimeline extends FakeTimeline {
  override async fetchTimelinePage(request: TimelinePageRequest): Promise<FetchedPage> {
    const at = request.cursor === '20' ? '20' : '0';
    const fetched = await super.fetchTimelinePage({ ...request, cursor: at });
    fetched.page.cursor.next = at === '20' ? '0' : '20';
    return fetched;
  }
}

/** Drives the step as the worker does: page after page of one run, at most `limit` of them. */
async function driveRun(
  key: { provider: 'x' | 'agntdata'; userId: string },
  client: FakeTimeline,
  limit: number,
  extra: { maxWindowPages?: number } = {},
): Promise<{ steps: CrawlStepResult[] }> {
  const run = await openRun(db, key);
  const steps: CrawlStepResult[] = [];
  while (steps.length < limit) {
    const step = await crawlPage({ db, client, target: key, runId: run.id, ...extra });
    steps.push(step);
    if (step.next === 'done') break;
  }
  return { steps };
}

it.each(['agntdata', 'x'] as const)(
  '%s: a page of results handed back with the cursor it was asked with ends the window with a cursor_repeated gap',
  async (provider) => {
    const key = await incrementalTarget(provider, '1000');
    const client = new RepeatingTimeline({
      ...key,
      ids: range(10_000n, 200),
      pageSize: 20,
    });
    const before = await spentToday(db, 'agntdata');
    const { steps } = await driveRun(key, client, 60);
    // Page 1 (no cursor), page 2 (asked with '20', answered '20' again): the loop is seen there.
    expect(steps.map((step) => step.next)).toEqual(['page', 'done']);
    expect(client.requests).toHaveLength(2);
    expect(steps[1]).toMatchObject({ outcome: 'window_completed', runOutcome: 'succeeded' });
    // Newest first: page 1 is 10199..10180, page 2 (offset 20) 10179..10160.
    const gap = { sinceId: '1000', oldestId: '10160', reason: 'cursor_repeated' };
    expect(steps[1]?.gap).toEqual(gap);
    expect(await listGaps(db, key)).toMatchObject([gap]);
    // since_id moves to the window's newest: what lies below 10160 is the recorded gap.
    expect(await getCheckpoint(db, key)).toMatchObject({ sinceId: '10199', cursor: null });
    const after = await spentToday(db, 'agntdata');
    expect(after.costCents - before.costCents).toBe(provider === 'agntdata' ? 2 : 0);
    if (provider === 'agntdata') {
      // What a user reading `birdfeed status` sees.
      const status = await runCli('birdfeed', ['status', '--provider', provider], {
        DATABASE_URL: testDb.url,
        LOG_LEVEL: 'silent',
      });
      expect(status.code, status.stderr).toBe(0);
      expect(status.stdout).toContain(
        'gaps:       1; last between 1000 and 10160 (cursor_repeated: the provider handed back the cursor it was asked with; window ended)',
      );
    }
  },
);

it('an empty page with the same token is left to the empty-pages rule (asked again a few times)', async () => {
  const key = await incrementalTarget('agntdata', '1000');
  const client = new FakeTimeline({ ...key, ids: range(20_000n, 30), pageSize: 5 });
  // The fake answers an empty page with the token it was asked with.
  client.faults.push({ kind: 'none' }, { kind: 'empty-page' }, { kind: 'none' });
  const { steps } = await driveRun(key, client, 60);
  expect(steps.at(-1)?.next).toBe('done');
  // 6 pages of 5, the empty one in between: nothing skipped.
  expect(client.requests).toHaveLength(7);
  const gaps = await listGaps(db, key);
  expect(gaps.map((gap) => gap.reason)).toEqual(['agntdata_exhausted']);
});

it.each(['agntdata', 'x'] as const)(
  '%s: a loop of cursors no page shows ends at the window page cap, with a window_page_cap gap',
  async (provider) => {
    const key = await incrementalTarget(provider, '1000');
    const client = new PingPongTimeline({ ...key, ids: range(30_000n, 200), pageSize: 20 });
    const { steps } = await driveRun(key, client, 60, { maxWindowPages: 7 });
    expect(client.requests).toHaveLength(7);
    expect(steps.at(-1)).toMatchObject({ next: 'done', outcome: 'window_completed' });
    const gap = { sinceId: '1000', oldestId: '30160', reason: 'window_page_cap' };
    expect(steps.at(-1)?.gap).toEqual(gap);
    expect(await listGaps(db, key)).toMatchObject([gap]);
    expect((await getCheckpoint(db, key))?.sinceId).toBe('30199');
  },
);

it('a window that ends by itself on the cap-th page records no gap', async () => {
  const key = await incrementalTarget('x', '1000');
  // 35 tweets above since_id, 5 a page: 7 pages, the last without a next token.
  const client = new FakeTimeline({ ...key, ids: range(40_000n, 35), pageSize: 5 });
  const { steps } = await driveRun(key, client, 60, { maxWindowPages: 7 });
  expect(client.requests).toHaveLength(7);
  expect(steps.at(-1)).toMatchObject({ next: 'done', gap: null });
  expect(await listGaps(db, key)).toEqual([]);
  expect((await getCheckpoint(db, key))?.sinceId).toBe('40034');
});

it('a backfill deeper than the cap at one result per page is not cut short', async () => {
  nextUser += 1n;
  const key = { provider: 'agntdata', userId: String(nextUser) } as const;
  await upsertTarget(db, { ...key, backfillDepth: 30 });
  const client = new FakeTimeline({ ...key, ids: range(50_000n, 40), pageSize: 1 });
  const run = await crawlTargetToEnd({ db, client, target: key, pageSize: 1, maxWindowPages: 10 });
  expect(run).toMatchObject({ outcome: 'succeeded', pages: 30, gaps: [] });
  expect(await getCheckpoint(db, key)).toMatchObject({ sinceId: '50039', backfillDone: true });
});

it('the default caps leave room for X’s 3,200 tweets at its smallest page and a full backfill', () => {
  expect(MAX_WINDOW_PAGES.x).toBeGreaterThanOrEqual(3200 / 5);
  expect(MAX_WINDOW_PAGES.agntdata).toBeGreaterThanOrEqual(1000);
});
