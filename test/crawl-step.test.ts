import { crawlPage, crawlTargetToEnd, openRun, recordJobFailure } from '@birdfeed/crawl';
import {
  type BirdfeedDb,
  claimDueTargets,
  closeOrphanedRun,
  type Database,
  finishRun,
  getCheckpoint,
  getRun,
  listFailures,
  listGaps,
  migrate,
  openDatabase,
  setTargetEnabled,
  spentToday,
  upsertTarget,
} from '@birdfeed/db';
import { InvalidResponseError } from '@birdfeed/providers';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeTimeline, type FakeTimelineOptions } from './support/crawl-fake-timeline.ts';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';

/** The checkpoint transitions of DESIGN.md, driven by a scripted provider against real Postgres. */

let testDb: TestDatabase;
let database: Database;
let db: BirdfeedDb;
let pool: pg.Pool;
let nextUser = 1000n;

async function query<T>(text: string, params: unknown[] = []): Promise<T[]> {
  return (await pool.query(text, params)).rows as T[];
}

beforeAll(async () => {
  testDb = await createTestDatabase('crawl_step');
  database = await openDatabase({ url: testDb.url });
  db = database.db;
  await migrate(db);
  pool = new pg.Pool({ connectionString: testDb.url, max: 2 });
  // Dropping the database at the end terminates idle clients; that is expected.
  pool.on('error', () => {});
});

afterAll(async () => {
  await pool?.end();
  await database?.close();
  await testDb?.drop();
});

const range = (from: bigint, count: number) =>
  Array.from({ length: count }, (_, i) => from + BigInt(i));

async function newTarget(provider: 'x' | 'agntdata', backfillDepth = 800) {
  nextUser += 1n;
  const userId = String(nextUser);
  await upsertTarget(db, { provider, userId, backfillDepth });
  return { provider, userId } as const;
}

/** The target's fake provider timeline, served `pageSize` tweets a page. */
function timelineOf(
  key: { provider: 'x' | 'agntdata'; userId: string },
  ids: bigint[],
  pageSize: number,
  options: Pick<FakeTimelineOptions, 'cap' | 'pinned'> = {},
): FakeTimeline {
  return new FakeTimeline({
    provider: key.provider,
    userId: key.userId,
    ids,
    pageSize,
    ...options,
  });
}

async function storedTweetIds(userId: string): Promise<string[]> {
  const rows = await query<{ id: string }>(
    'SELECT id::text AS id FROM tweets WHERE author_id = $1 ORDER BY id',
    [userId],
  );
  return rows.map((row) => row.id);
}

async function count(table: string, userId: string): Promise<number> {
  const [row] = await query<{ n: string }>(
    `SELECT count(*) AS n FROM ${table} WHERE user_id = $1`,
    [userId],
  );
  return Number(row?.n ?? 0);
}

/** provider_spend over every day (a test crossing midnight UTC still adds up). */
async function spentTotal(provider: string): Promise<{ requests: number; cents: number }> {
  const [row] = await query<{ requests: number; cents: number }>(
    `SELECT coalesce(sum(requests), 0)::int AS requests, coalesce(sum(cost_cents), 0)::int AS cents
     FROM provider_spend WHERE provider = $1`,
    [provider],
  );
  return row ?? { requests: 0, cents: 0 };
}

async function spentRequests(provider: string): Promise<number> {
  return (await spentTotal(provider)).requests;
}

describe('crawl step (X semantics)', () => {
  it('backfills to the configured depth, then asks with since_id on every page of the next window', async () => {
    const key = await newTarget('x', 120);
    const client = timelineOf(key, range(5_000n, 250), 50);
    const first = await crawlTargetToEnd({ db, client, target: key, pageSize: 50 });
    expect(first).toMatchObject({
      outcome: 'succeeded',
      kind: 'backfill',
      pages: 3,
      tweetsNew: 120,
    });
    expect(client.requests.map((r) => r.maxResults)).toEqual([50, 50, 20]);
    const afterBackfill = await getCheckpoint(db, key);
    expect(afterBackfill).toMatchObject({
      sinceId: '5249',
      cursor: null,
      windowStartedAt: null,
      backfillDone: true,
    });
    expect(await storedTweetIds(key.userId)).toHaveLength(120);

    client.add(...range(6_000n, 70));
    client.requests.length = 0;
    const second = await crawlTargetToEnd({ db, client, target: key, pageSize: 50 });
    expect(second).toMatchObject({
      outcome: 'succeeded',
      kind: 'incremental',
      pages: 2,
      tweetsNew: 70,
      tweetsUpdated: 0,
    });
    expect(client.requests.map((r) => [r.sinceId, r.cursor])).toEqual([
      ['5249', null],
      ['5249', '50'],
    ]);
    expect((await getCheckpoint(db, key))?.sinceId).toBe('6069');
    const run = await getRun(db, second.runId as string);
    expect(run).toMatchObject({ outcome: 'succeeded', pages: 2, requests: 2, tweetsNew: 70 });

    // Nothing new: one request, since_id stays.
    const third = await crawlTargetToEnd({ db, client, target: key, pageSize: 50 });
    expect(third).toMatchObject({ outcome: 'succeeded', pages: 1, tweetsNew: 0 });
    expect((await getCheckpoint(db, key))?.sinceId).toBe('6069');
  });

  it('moves since_id only when the window is complete, and a page with no results but a next token does not end it', async () => {
    const key = await newTarget('x', 100);
    const client = timelineOf(key, range(10_000n, 60), 25);
    await crawlTargetToEnd({ db, client, target: key, pageSize: 25 });
    client.add(...range(20_000n, 40));
    client.faults.push({ kind: 'empty-page' });
    const step1 = await crawlPage({ db, client, target: key, pageSize: 25 });
    expect(step1).toMatchObject({
      next: 'page',
      outcome: 'page',
      timelineTweets: 0,
      sinceId: '10059',
      cursor: '0',
    });
    const step2 = await crawlPage({ db, client, target: key, runId: step1.runId, pageSize: 25 });
    expect(step2).toMatchObject({ next: 'page', timelineTweets: 25, sinceId: '10059' });
    expect((await getCheckpoint(db, key))?.windowNewestId).toBe('20039');
    const step3 = await crawlPage({ db, client, target: key, runId: step1.runId, pageSize: 25 });
    expect(step3).toMatchObject({
      next: 'done',
      outcome: 'window_completed',
      sinceId: '20039',
      runOutcome: 'succeeded',
    });
  });

  it('an expired cursor: the window goes on below the oldest tweet it read (until_id), its newest id and counts kept', async () => {
    const key = await newTarget('x', 30);
    const client = timelineOf(key, range(30_000n, 30), 10);
    await crawlTargetToEnd({ db, client, target: key, pageSize: 10 });
    client.add(...range(31_000n, 25));
    client.requests.length = 0;
    const step1 = await crawlPage({ db, client, target: key, pageSize: 10 });
    expect(step1.cursor).toBe('10');
    client.faults.push({ kind: 'invalid-cursor' });
    const step2 = await crawlPage({ db, client, target: key, runId: step1.runId, pageSize: 10 });
    expect(step2).toMatchObject({
      next: 'page',
      outcome: 'cursor_expired',
      sinceId: '30029',
      cursor: null,
      windowPages: 1,
    });
    expect(await getCheckpoint(db, key)).toMatchObject({
      sinceId: '30029',
      cursor: null,
      windowNewestId: '31024',
      windowOldestId: '31015',
      windowUntilId: '31015',
      windowPages: 1,
      windowFetched: 10,
    });
    // The remainder's own token expires too: the bound moves down to the new oldest tweet.
    client.faults.push({ kind: 'none' }, { kind: 'invalid-cursor' });
    const rest = await crawlTargetToEnd({ db, client, target: key, pageSize: 10 });
    expect(rest).toMatchObject({
      outcome: 'succeeded',
      runId: step1.runId,
      sinceId: '31024',
      cursorRestarts: 1,
    });
    // Page 1, the rejected page 2, then the rest strictly below the oldest tweet read, the same
    // until_id on each of its pages: no page is asked for twice.
    expect(client.requests.map((r) => [r.sinceId, r.untilId ?? null, r.cursor])).toEqual([
      ['30029', null, null],
      ['30029', null, '10'],
      ['30029', '31015', null],
      ['30029', '31015', '10'],
      ['30029', '31005', null],
    ]);
    expect(await getRun(db, step1.runId)).toMatchObject({
      outcome: 'succeeded',
      pages: 3,
      requests: 5,
      tweetsNew: 25,
      tweetsUpdated: 0,
    });
    expect(await storedTweetIds(key.userId)).toHaveLength(55);
    expect(await getCheckpoint(db, key)).toMatchObject({
      cursor: null,
      windowUntilId: null,
      windowPages: 0,
      windowStartedAt: null,
    });
  });

  it('a 400 for a request bounded by until_id restarts the window from since_id without the bound; without a bound a 400 fails the step', async () => {
    const key = await newTarget('x', 30);
    const client = timelineOf(key, range(34_000n, 30), 10);
    await crawlTargetToEnd({ db, client, target: key, pageSize: 10 });
    client.add(...range(35_000n, 25));
    client.requests.length = 0;
    const first = await crawlPage({ db, client, target: key, pageSize: 10 });
    client.faults.push({ kind: 'invalid-cursor' }, { kind: 'bad-request' });
    await crawlPage({ db, client, target: key, runId: first.runId, pageSize: 10 });
    expect(await getCheckpoint(db, key)).toMatchObject({ windowUntilId: '35015' });
    const refused = await crawlPage({ db, client, target: key, runId: first.runId, pageSize: 10 });
    expect(refused).toMatchObject({ next: 'page', outcome: 'cursor_expired', cursor: null });
    expect(await getCheckpoint(db, key)).toMatchObject({
      sinceId: '34029',
      windowUntilId: null,
      windowPages: 0,
    });
    const rest = await crawlTargetToEnd({ db, client, target: key, pageSize: 10 });
    expect(rest).toMatchObject({ outcome: 'succeeded', runId: first.runId, sinceId: '35024' });
    expect(client.requests.map((r) => [r.untilId ?? null, r.cursor])).toEqual([
      [null, null],
      [null, '10'],
      ['35015', null],
      [null, null],
      [null, '10'],
      [null, '20'],
    ]);
    expect(await storedTweetIds(key.userId)).toHaveLength(55);

    // The same 400 on a window without a bound is no reason to restart: it fails as before.
    client.add(...range(36_000n, 5));
    client.faults.push({ kind: 'bad-request' });
    await expect(crawlPage({ db, client, target: key, pageSize: 10 })).rejects.toThrow(/400/);
    expect(await getCheckpoint(db, key)).toMatchObject({ sinceId: '35024', windowUntilId: null });
  });

  it('an expired cursor before the window listed anything restarts it from since_id (X), as any expired agntdata cursor does', async () => {
    const x = await newTarget('x', 30);
    const xClient = timelineOf(x, range(32_000n, 30), 10);
    await crawlTargetToEnd({ db, client: xClient, target: x, pageSize: 10 });
    xClient.add(...range(33_000n, 15));
    xClient.requests.length = 0;
    // The window's only page so far was empty (with a next token): no id to go below.
    xClient.faults.push({ kind: 'empty-page' }, { kind: 'invalid-cursor' });
    const first = await crawlPage({ db, client: xClient, target: x, pageSize: 10 });
    const expired = await crawlPage({
      db,
      client: xClient,
      target: x,
      runId: first.runId,
      pageSize: 10,
    });
    expect(expired).toMatchObject({ outcome: 'cursor_expired', cursor: null, windowPages: 0 });
    expect(await getCheckpoint(db, x)).toMatchObject({ windowUntilId: null, windowOldestId: null });
    await crawlTargetToEnd({ db, client: xClient, target: x, pageSize: 10 });
    expect(xClient.requests.slice(2).map((r) => [r.untilId ?? null, r.cursor])).toEqual([
      [null, null],
      [null, '10'],
    ]);
    expect(await getCheckpoint(db, x)).toMatchObject({ sinceId: '33014' });

    // agntdata has no until_id: its window starts over from the top, the pages re-read are
    // upserts.
    const a = await newTarget('agntdata', 3200);
    const aClient = timelineOf(a, range(34_000n, 25), 10);
    const opened = await crawlPage({ db, client: aClient, target: a, pageSize: 10 });
    aClient.faults.push({ kind: 'invalid-cursor' });
    const aExpired = await crawlPage({
      db,
      client: aClient,
      target: a,
      runId: opened.runId,
      pageSize: 10,
    });
    expect(aExpired).toMatchObject({ outcome: 'cursor_expired', cursor: null, windowPages: 0 });
    expect(await getCheckpoint(db, a)).toMatchObject({ windowUntilId: null, windowNewestId: null });
    await crawlTargetToEnd({ db, client: aClient, target: a, pageSize: 10 });
    expect(aClient.requests.map((r) => [r.untilId ?? null, r.cursor])).toEqual([
      [null, null],
      [null, '10'],
      [null, null],
      [null, '10'],
      [null, '20'],
    ]);
    expect(await storedTweetIds(a.userId)).toHaveLength(25);
  });

  it('records a gap when a window returns the whole cap without reaching since_id', async () => {
    const key = await newTarget('x', 10);
    const client = timelineOf(key, range(40_000n, 50), 10, { cap: 100 });
    await crawlTargetToEnd({ db, client, target: key, pageSize: 10, timelineCap: 100 });
    expect((await getCheckpoint(db, key))?.sinceId).toBe('40049');
    client.add(...range(41_000n, 150)); // 150 new, only the newest 100 reachable
    const summary = await crawlTargetToEnd({
      db,
      client,
      target: key,
      pageSize: 50,
      timelineCap: 100,
    });
    expect(summary.gaps).toEqual([
      { sinceId: '40049', oldestId: '41050', reason: 'x_timeline_cap' },
    ]);
    const gaps = await listGaps(db, key);
    expect(gaps.map((g) => [g.sinceId, g.oldestId])).toEqual([['40049', '41050']]);
    expect((await getCheckpoint(db, key))?.sinceId).toBe('41149');
  });

  it('marks a suspended account and stops scheduling it', async () => {
    const key = await newTarget('x');
    const client = timelineOf(key, range(50_000n, 5), 10);
    client.faults.push({ kind: 'unavailable', reason: 'suspended' });
    const summary = await crawlTargetToEnd({ db, client, target: key });
    expect(summary).toMatchObject({ outcome: 'unavailable', requests: 1 });
    expect(client.requests).toHaveLength(1);
    const claimed = await claimDueTargets(db, {
      limit: 100,
      now: new Date(Date.now() + 86_400_000),
    });
    expect(claimed.map((t) => t.userId)).not.toContain(key.userId);
    const [row] = await query<{ state: string }>(
      'SELECT state FROM watch_targets WHERE user_id = $1',
      [key.userId],
    );
    expect(row?.state).toBe('suspended');
  });

  it('keeps an invalid body in raw_pages with the error, writes none of its rows, and records one failure', async () => {
    const key = await newTarget('x');
    const client = timelineOf(key, range(60_000n, 5), 10);
    client.faults.push({ kind: 'invalid-body' });
    const error = await crawlPage({ db, client, target: key }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidResponseError);
    expect(await storedTweetIds(key.userId)).toEqual([]);
    const raw = await query<{ body: string; error: string }>(
      'SELECT body, error FROM raw_pages WHERE user_id = $1',
      [key.userId],
    );
    expect(raw).toEqual([
      { body: '{"data":[{"id":1}]}', error: expect.stringContaining('data[0].id') },
    ]);
    const cp = await getCheckpoint(db, key);
    await recordJobFailure(db, { ...key, jobId: 'job-1', attempt: 3, error });
    const failures = await listFailures(db, key);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({
      errorName: 'InvalidResponseError',
      jobId: 'job-1',
      attempt: 3,
      runId: cp?.runId,
    });
    expect(failures[0]?.rawPageId).not.toBeNull();
    expect((await getRun(db, cp?.runId as string))?.outcome).toBe('failed');
    // The next run resumes the same window and succeeds.
    const retry = await crawlTargetToEnd({ db, client, target: key });
    expect(retry.outcome).toBe('succeeded');
    expect(await storedTweetIds(key.userId)).toHaveLength(5);
  });

  it('with a statement timeout, a page stuck on a lock fails the step and writes nothing', async () => {
    const key = await newTarget('x', 40);
    const client = timelineOf(key, range(77_000n, 40), 20);
    const step1 = await crawlPage({ db, client, target: key, pageSize: 20 });
    const timed = await openDatabase({
      url: testDb.url,
      maxConnections: 2,
      // Long enough for a slow connect or commit on a loaded machine (it also bounds the pool's
      // wait), far shorter than the lock is held.
      statementTimeoutMs: 2_000,
    });
    const holder = await pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(
        "SELECT 1 FROM crawl_checkpoints WHERE provider = 'x' AND user_id = $1 FOR UPDATE",
        [key.userId],
      );
      const started = Date.now();
      const error = await crawlPage({
        db: timed.db,
        client,
        target: key,
        runId: step1.runId,
        pageSize: 20,
      }).catch((e: unknown) => e);
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(JSON.stringify(error)).toContain('57014'); // query_canceled
      await holder.query('ROLLBACK');
      expect(await storedTweetIds(key.userId)).toHaveLength(20);
      expect((await getCheckpoint(db, key))?.windowPages).toBe(1);
      // The page was not written, but its request was made: it counts (the retry makes another).
      expect(await getRun(db, step1.runId)).toMatchObject({ pages: 1, requests: 2 });
      // The lock gone, the same step goes through.
      const step2 = await crawlPage({
        db: timed.db,
        client,
        target: key,
        runId: step1.runId,
        pageSize: 20,
      });
      expect(step2).toMatchObject({ outcome: 'window_completed', next: 'done' });
      expect(await storedTweetIds(key.userId)).toHaveLength(40);
    } finally {
      holder.release();
      await timed.close();
    }
  });

  it('a final failure recorded after the scheduler closed its run as orphaned relabels it failed', async () => {
    const key = await newTarget('x');
    const run = await openRun(db, key);
    // The scheduler's tick came between BullMQ dropping the failed job and the worker's record.
    expect(await closeOrphanedRun(db, run.id)).toBe(true);
    const error = new Error('boom');
    const recorded = await recordJobFailure(db, { ...key, runId: run.id, jobId: 'j', error });
    expect(recorded.runFinished).toBe(true);
    expect(await getRun(db, run.id)).toMatchObject({ outcome: 'failed', error: 'Error: boom' });
    // Any other first outcome stands: a late failure does not undo a succeeded run.
    const other = await newTarget('x');
    const done = await openRun(db, other);
    await finishRun(db, done.id, 'succeeded');
    await recordJobFailure(db, { ...other, runId: done.id, jobId: 'k', error });
    expect((await getRun(db, done.id))?.outcome).toBe('succeeded');
  });

  it('ends a stale execution when the winner closed the window', async () => {
    const key = await newTarget('x', 40);
    const client = timelineOf(key, range(75_000n, 40), 20);
    const step1 = await crawlPage({ db, client, target: key, pageSize: 20 });
    expect(step1.next).toBe('page');
    client.holdUntil(2);
    const [a, b] = await Promise.all([
      crawlPage({ db, client, target: key, runId: step1.runId, pageSize: 20 }),
      crawlPage({ db, client, target: key, runId: step1.runId, pageSize: 20 }),
    ]);
    expect([a.outcome, b.outcome].sort()).toEqual(['stale', 'window_completed']);
    expect([a.next, b.next]).toEqual(['done', 'done']);
    expect(await getRun(db, step1.runId)).toMatchObject({ outcome: 'succeeded', pages: 2 });
  });

  it('a page whose values no column takes is kept in raw_pages, counted, and fails for good', async () => {
    const key = await newTarget('agntdata');
    const client = timelineOf(key, range(95_000n, 5), 10);
    client.faults.push({ kind: 'unstorable' });
    const error = await crawlPage({ db, client, target: key }).catch((e: unknown) => e);
    // An InvalidResponseError: the worker fails the job instead of fetching it again.
    expect(error).toBeInstanceOf(InvalidResponseError);
    expect((error as InvalidResponseError).path).toBe('tweets[0].likeCount');
    expect(await storedTweetIds(key.userId)).toEqual([]);
    const raw = await query<{ error: string }>('SELECT error FROM raw_pages WHERE user_id = $1', [
      key.userId,
    ]);
    expect(raw).toHaveLength(1);
    expect(raw[0]?.error).toContain('not a count: 1.5');
    const cp = await getCheckpoint(db, key);
    expect(await getRun(db, cp?.runId as string)).toMatchObject({ requests: 1, costCents: 1 });
    expect(await listFailures(db, key)).toHaveLength(1);
  });

  it('a page a CHECK constraint refuses (one the row check does not know) fails for good, like an invalid body', async () => {
    const key = await newTarget('agntdata');
    const client = timelineOf(key, range(96_000n, 5), 10);
    // Stands for a constraint the normalizer and the row check do not agree with yet.
    await query('ALTER TABLE tweets ADD CONSTRAINT test_no_96002_check CHECK (id <> 96002)');
    try {
      const error = await crawlPage({ db, client, target: key }).catch((e: unknown) => e);
      // Not retried (the same page would be refused again, and fetched and paid for again).
      expect(error).toBeInstanceOf(InvalidResponseError);
      expect((error as Error).message).toContain(
        'the page cannot be stored: new row for relation "tweets" violates check constraint "test_no_96002_check"',
      );
      expect(await storedTweetIds(key.userId)).toEqual([]);
      const raw = await query<{ error: string }>('SELECT error FROM raw_pages WHERE user_id = $1', [
        key.userId,
      ]);
      expect(raw).toHaveLength(1);
      expect(raw[0]?.error).toContain('test_no_96002_check');
      expect(await listFailures(db, key)).toHaveLength(1);
    } finally {
      await query('ALTER TABLE tweets DROP CONSTRAINT test_no_96002_check');
    }
  });

  it('opens a run attached to a new checkpoint, adopts it while it runs, and opens the next after', async () => {
    const key = await newTarget('x', 20);
    const run = await openRun(db, key);
    expect(run).toMatchObject({ ...key, kind: 'backfill', outcome: 'running', pages: 0 });
    expect(await getCheckpoint(db, key)).toMatchObject({ runId: run.id, sinceId: null });
    expect((await openRun(db, key)).id).toBe(run.id);
    const client = timelineOf(key, range(80_000n, 20), 20);
    const step = await crawlPage({ db, client, target: key, runId: run.id, pageSize: 20 });
    expect(step).toMatchObject({ next: 'done', runOutcome: 'succeeded', sinceId: '80019' });
    const next = await openRun(db, key);
    expect(next.id).not.toBe(run.id);
    expect(next).toMatchObject({ kind: 'incremental', outcome: 'running' });
    expect((await getCheckpoint(db, key))?.runId).toBe(next.id);
  });

  it('does not double anything when the same step runs twice at once', async () => {
    const key = await newTarget('x', 100);
    const client = timelineOf(key, range(70_000n, 100), 20);
    const step1 = await crawlPage({ db, client, target: key, pageSize: 20 });
    const spendBefore = await spentRequests('x');
    client.holdUntil(2);
    const [a, b] = await Promise.all([
      crawlPage({ db, client, target: key, runId: step1.runId, pageSize: 20 }),
      crawlPage({ db, client, target: key, runId: step1.runId, pageSize: 20 }),
    ]);
    expect([a.outcome, b.outcome].sort()).toEqual(['page', 'stale']);
    // The window is still open and this run's: the stale execution says "next page" too (the
    // winner may be a step whose job was given up at its deadline, whose result nobody reads).
    expect([a.next, b.next]).toEqual(['page', 'page']);
    const run = await getRun(db, step1.runId);
    // The losing execution's page rolled back whole; its request was still made and counts.
    expect(run).toMatchObject({ pages: 2, tweetsNew: 40, requests: 3 });
    expect((await getCheckpoint(db, key))?.windowPages).toBe(2);
    expect(await count('raw_pages', key.userId)).toBe(2);
    expect((await spentRequests('x')) - spendBefore).toBe(2);
    expect([a.requests, b.requests]).toEqual([1, 1]);
  });
});

describe('watch targets', () => {
  it('a shorter interval brings the next due time forward; a longer one keeps it', async () => {
    const key = await newTarget('x');
    await upsertTarget(db, { ...key, intervalSeconds: 30 * 86_400 });
    // Just crawled: due again in 30 days.
    await query(
      `UPDATE watch_targets SET last_run_at = now(), next_due_at = now() + interval '30 days'
       WHERE provider = 'x' AND user_id = $1`,
      [key.userId],
    );
    const { target } = await upsertTarget(db, { ...key, intervalSeconds: 900 });
    const inMs = target.nextDueAt.getTime() - Date.now();
    expect(inMs).toBeGreaterThan(800_000);
    expect(inMs).toBeLessThan(905_000);
    const longer = await upsertTarget(db, { ...key, intervalSeconds: 7 * 86_400 });
    expect(longer.target.nextDueAt.getTime()).toBe(target.nextDueAt.getTime());
    // Not touching the interval leaves the due time alone.
    const renamed = await upsertTarget(db, { ...key, username: 'renamed' });
    expect(renamed.target.nextDueAt.getTime()).toBe(target.nextDueAt.getTime());
  });
});

describe('crawl step (agntdata semantics)', () => {
  it('stops a run under way at the daily budget, before the request, and ends its window with a budget gap', async () => {
    const key = await newTarget('agntdata');
    const client = timelineOf(key, range(96_000n, 30), 10);
    const spent = await spentToday(db, 'agntdata');
    // Room for exactly one more page today.
    const dailyBudgetCents = spent.costCents + 1;
    const step1 = await crawlPage({ db, client, target: key, dailyBudgetCents });
    expect(step1).toMatchObject({ outcome: 'page', next: 'page', costCents: 1 });
    const asked = client.requests.length;
    const step2 = await crawlPage({
      db,
      client,
      target: key,
      runId: step1.runId,
      dailyBudgetCents,
    });
    expect(step2).toMatchObject({ outcome: 'budget_reached', next: 'done', requests: 0 });
    expect(client.requests.length).toBe(asked);
    expect(await getRun(db, step1.runId)).toMatchObject({
      outcome: 'cancelled',
      error: expect.stringContaining('daily budget reached'),
    });
    expect((await spentToday(db, 'agntdata')).costCents).toBe(dailyBudgetCents);
    // The cursor would expire before the next day's budget: the backfill is done at the depth
    // read (10 of 30), the rest is a budget gap, and the next run buys none of it again.
    const read = await storedTweetIds(key.userId);
    expect(read).toHaveLength(10);
    expect(step2.gap).toEqual({ sinceId: null, oldestId: read[0], reason: 'budget' });
    expect(await getCheckpoint(db, key)).toMatchObject({
      backfillDone: true,
      sinceId: read.at(-1),
      cursor: null,
    });
    const rest = await crawlTargetToEnd({ db, client, target: key });
    expect(rest).toMatchObject({ outcome: 'succeeded', kind: 'incremental', pages: 1 });
    expect(await storedTweetIds(key.userId)).toEqual(read);
  });

  it("counts a billed request whose body failed the schema in the run and the day's spend", async () => {
    const key = await newTarget('agntdata');
    const client = timelineOf(key, range(90_000n, 5), 10);
    const before = await spentTotal('agntdata');
    client.faults.push({ kind: 'invalid-body' });
    const error = await crawlPage({ db, client, target: key }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidResponseError);
    const after = await spentTotal('agntdata');
    expect(after.cents - before.cents).toBe(1);
    expect(after.requests - before.requests).toBe(1);
    const cp = await getCheckpoint(db, key);
    expect(await getRun(db, cp?.runId as string)).toMatchObject({
      pages: 0,
      requests: 1,
      costCents: 1,
    });
    expect(await storedTweetIds(key.userId)).toEqual([]);
  });

  it("takes the budget's last cent for one request only when several steps ask at once", async () => {
    const keys = await Promise.all([1, 2, 3, 4].map(() => newTarget('agntdata')));
    const clients = keys.map((key, i) => timelineOf(key, range(97_000n + BigInt(i) * 100n, 5), 10));
    const dailyBudgetCents = (await spentToday(db, 'agntdata')).costCents + 1;
    const steps = await Promise.all(
      keys.map((key, i) =>
        crawlPage({ db, client: clients[i] as FakeTimeline, target: key, dailyBudgetCents }),
      ),
    );
    expect(clients.reduce((sum, client) => sum + client.requests.length, 0)).toBe(1);
    expect(steps.filter((step) => step.outcome === 'budget_reached')).toHaveLength(3);
    expect((await spentToday(db, 'agntdata')).costCents).toBe(dailyBudgetCents);
  });

  it('gives the reserved cent back when the request was not billed', async () => {
    const key = await newTarget('agntdata');
    const client = timelineOf(key, range(98_000n, 5), 10);
    const before = await spentTotal('agntdata');
    client.faults.push({ kind: 'rate-limited' });
    const dailyBudgetCents = before.cents + 5;
    const error = await crawlPage({ db, client, target: key, dailyBudgetCents }).catch(
      (e: unknown) => e,
    );
    expect((error as Error).name).toBe('RateLimitedError');
    expect(await spentTotal('agntdata')).toEqual(before);
    const step = await crawlPage({ db, client, target: key, dailyBudgetCents });
    expect(step).toMatchObject({ outcome: 'window_completed', costCents: 1 });
    expect(await spentTotal('agntdata')).toEqual({
      requests: before.requests + 1,
      cents: before.cents + 1,
    });
  });

  it('marks the target failing after the same page came back invalid three times in a row', async () => {
    const key = await newTarget('agntdata', 20);
    const client = timelineOf(key, range(99_000n, 40), 10);
    // A streak broken by a page written does not count: invalid, page, then three at page 2.
    client.faults.push({ kind: 'invalid-body' });
    await expect(crawlPage({ db, client, target: key })).rejects.toThrow(InvalidResponseError);
    const first = await crawlPage({ db, client, target: key });
    expect(first.outcome).toBe('page');
    for (let i = 1; i <= 3; i += 1) {
      client.faults.push({ kind: 'invalid-body' });
      const error = await crawlPage({ db, client, target: key }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidResponseError);
      await recordJobFailure(db, { ...key, jobId: `poison-${i}`, attempt: 1, error });
      const [target] = await query<{ state: string; state_reason: string | null }>(
        'SELECT state, state_reason FROM watch_targets WHERE user_id = $1',
        [key.userId],
      );
      expect(target?.state).toBe(i < 3 ? 'active' : 'failing');
      if (i === 3) {
        expect(target?.state_reason).toContain('3 times in a row');
        expect(target?.state_reason).toContain(`birdfeed watchlist enable ${key.userId}`);
      }
    }
    // Not asked again (no request, nothing billed) until an operator re-enables it; the
    // window then resumes where it stopped.
    const asked = client.requests.length;
    const inactive = await crawlPage({ db, client, target: key });
    expect(inactive).toMatchObject({ outcome: 'inactive', requests: 0 });
    expect(client.requests.length).toBe(asked);
    const claimed = await claimDueTargets(db, {
      limit: 100,
      now: new Date(Date.now() + 86_400_000),
    });
    expect(claimed.map((t) => t.userId)).not.toContain(key.userId);
    const failures = await listFailures(db, key);
    expect(failures[0]?.errorMessage).toContain('target marked failing');
    await setTargetEnabled(db, key, true);
    const resumed = await crawlTargetToEnd({ db, client, target: key });
    expect(resumed.outcome).toBe('succeeded');
    expect(await storedTweetIds(key.userId)).toHaveLength(20);
  });

  it('does not end the window at an old pinned item listed before newer ones', async () => {
    const key = await newTarget('agntdata', 20);
    const client = timelineOf(key, range(95_000n, 20), 10, { pinned: 95_000n });
    const backfill = await crawlTargetToEnd({ db, client, target: key, pageSize: 10 });
    expect(backfill.outcome).toBe('succeeded');
    const sinceId = (await getCheckpoint(db, key))?.sinceId;
    expect(sinceId).toBe('95019');
    client.add(...range(95_100n, 25));
    const incremental = await crawlTargetToEnd({ db, client, target: key, pageSize: 10 });
    // Page 1 opens with 95000 (≤ since_id): with the oldest id deciding, the window ended there
    // and the 15 newer tweets on pages 2–3 were lost without a gap.
    expect(incremental).toMatchObject({ outcome: 'succeeded', gaps: [] });
    expect(incremental.pages).toBeGreaterThanOrEqual(3);
    const stored = await storedTweetIds(key.userId);
    for (const id of range(95_100n, 25)) expect(stored).toContain(String(id));
    expect((await getCheckpoint(db, key))?.sinceId).toBe('95124');
  });

  it('stops at the first page that reaches since_id and records a gap when pages run out first', async () => {
    const key = await newTarget('agntdata', 40);
    const client = timelineOf(key, range(80_000n, 100), 20);
    const backfill = await crawlTargetToEnd({ db, client, target: key, pageSize: 20 });
    expect(backfill).toMatchObject({ outcome: 'succeeded', pages: 2, costCents: 2 });
    expect((await getCheckpoint(db, key))?.sinceId).toBe('80099');
    client.add(...range(81_000n, 30));
    client.requests.length = 0;
    const incremental = await crawlTargetToEnd({ db, client, target: key, pageSize: 20 });
    expect(incremental).toMatchObject({ outcome: 'succeeded', pages: 2, tweetsNew: 30, gaps: [] });
    expect(client.requests.every((r) => r.sinceId === undefined)).toBe(true);
    expect((await getCheckpoint(db, key))?.sinceId).toBe('81029');

    // The provider forgot everything up to since_id: the window runs out without reaching it.
    client.ids = [];
    client.add(...range(82_000n, 15));
    const exhausted = await crawlTargetToEnd({ db, client, target: key, pageSize: 20 });
    expect(exhausted.gaps).toEqual([
      { sinceId: '81029', oldestId: '82000', reason: 'agntdata_exhausted' },
    ]);
    const [spend] = await query<{ cost_cents: number }>(
      "SELECT cost_cents FROM provider_spend WHERE provider = 'agntdata'",
    );
    expect(spend?.cost_cents).toBeGreaterThanOrEqual(5);
  });
});

describe('windows that find nothing, empty pages and pinned tweets', () => {
  it.each(['x', 'agntdata'] as const)(
    '%s: a target whose first window found nothing reads all it posts later, not cut at the depth',
    async (provider) => {
      const key = await newTarget(provider, 10);
      const client = timelineOf(key, [], 5);
      const first = await crawlTargetToEnd({ db, client, target: key, pageSize: 5 });
      expect(first).toMatchObject({ outcome: 'succeeded', kind: 'backfill', tweetsNew: 0 });
      expect(await getCheckpoint(db, key)).toMatchObject({ sinceId: null, backfillDone: true });

      const from = provider === 'x' ? 7_000n : 8_000n;
      client.add(...range(from, 41));
      const second = await crawlTargetToEnd({ db, client, target: key, pageSize: 5 });
      // It was a backfill again (since_id still NULL), stopped at 10 of 41 and moved since_id
      // to the newest: 31 tweets lost, no gap.
      expect(second).toMatchObject({
        outcome: 'succeeded',
        kind: 'incremental',
        tweetsNew: 41,
        gaps: [],
      });
      expect(await storedTweetIds(key.userId)).toHaveLength(41);
      expect((await getCheckpoint(db, key))?.sinceId).toBe(String(from + 40n));
      const [run] = await query<{ kind: string }>(
        'SELECT kind FROM crawl_runs WHERE user_id = $1 ORDER BY id DESC LIMIT 1',
        [key.userId],
      );
      expect(run?.kind).toBe('incremental');
    },
  );

  it('agntdata: an empty page with a continuation token mid-window does not end it', async () => {
    const key = await newTarget('agntdata');
    const client = timelineOf(key, range(9_000n, 15), 5);
    await crawlTargetToEnd({ db, client, target: key, pageSize: 5 });
    expect((await getCheckpoint(db, key))?.sinceId).toBe('9014');
    client.add(...range(9_100n, 30));
    client.faults.push({ kind: 'none' }, { kind: 'empty-page' });
    client.requests.length = 0;
    const run = await crawlTargetToEnd({ db, client, target: key, pageSize: 5 });
    // The empty second page ended the window: 25 tweets skipped, a gap, since_id at 9129.
    expect(run).toMatchObject({ outcome: 'succeeded', tweetsNew: 30, gaps: [] });
    expect(await storedTweetIds(key.userId)).toHaveLength(45);
    expect(client.requests).toHaveLength(8); // 6 pages of new tweets, the empty one, 9014's
    expect((await getCheckpoint(db, key))?.sinceId).toBe('9129');
  });

  it.each([
    ['x', 10],
    ['agntdata', 3],
  ] as const)(
    '%s: the window ends at empty page number %i in a row, with an empty_pages gap',
    async (provider, limit) => {
      const key = await newTarget(provider);
      const base = provider === 'x' ? 11_000n : 12_000n;
      const id = (offset: number) => String(base + BigInt(offset));
      const client = timelineOf(key, range(base, 15), 5);
      await crawlTargetToEnd({ db, client, target: key, pageSize: 5 });
      client.add(...range(base + 100n, 30));
      client.faults.push({ kind: 'none' }, ...Array(limit).fill({ kind: 'empty-page' }));
      client.requests.length = 0;
      const run = await crawlTargetToEnd({ db, client, target: key, pageSize: 5 });
      expect(client.requests).toHaveLength(1 + limit);
      // The smallest id the window listed: on its first page, not its last (empty) one.
      const gap = { sinceId: id(14), oldestId: id(125), reason: 'empty_pages' };
      expect(run.gaps).toEqual([gap]);
      expect(await listGaps(db, key)).toMatchObject([gap]);
      expect(await getCheckpoint(db, key)).toMatchObject({
        sinceId: id(129),
        windowEmptyPages: 0,
        windowOldestId: null,
      });
    },
  );

  it('agntdata: a pinned since_id listed first does not hide a list that ends above it', async () => {
    const key = await newTarget('agntdata');
    const client = timelineOf(key, [300_000n], 5, { pinned: 300_000n });
    await crawlTargetToEnd({ db, client, target: key, pageSize: 5 });
    expect((await getCheckpoint(db, key))?.sinceId).toBe('300000');
    client.add(300_010n, 300_020n);
    // One page: the pinned tweet (= since_id) first, then the two new ones, no token. A short
    // list and a list cut above since_id look the same: the gap is said, possibly for nothing.
    const run = await crawlTargetToEnd({ db, client, target: key, pageSize: 5 });
    expect(run).toMatchObject({ outcome: 'succeeded', tweetsNew: 2 });
    expect(run.gaps).toEqual([
      { sinceId: '300000', oldestId: '300010', reason: 'agntdata_exhausted' },
    ]);
    expect((await getCheckpoint(db, key))?.sinceId).toBe('300020');
  });

  it('agntdata: an old pinned tweet hides no gap, and no gap reaches below since_id', async () => {
    const key = await newTarget('agntdata');
    const client = timelineOf(key, range(13_000n, 10), 5, { pinned: 12_000n });
    client.add(12_000n);
    await crawlTargetToEnd({ db, client, target: key, pageSize: 5 });
    expect((await getCheckpoint(db, key))?.sinceId).toBe('13009');
    // The service forgets everything up to since_id (the pinned tweet is still listed first),
    // then lists 7 new ones.
    client.ids = [];
    client.add(...range(13_100n, 7));
    const cut = await crawlTargetToEnd({ db, client, target: key, pageSize: 5 });
    expect(cut.gaps).toEqual([
      { sinceId: '13009', oldestId: '13100', reason: 'agntdata_exhausted' },
    ]);

    // Empty pages after a first page that opens with the pinned tweet: the gap starts at the
    // oldest id listed in order, never at the pinned one below since_id.
    client.add(...range(13_200n, 30));
    client.faults.push({ kind: 'none' }, ...Array(3).fill({ kind: 'empty-page' }));
    const stuck = await crawlTargetToEnd({ db, client, target: key, pageSize: 5 });
    expect(stuck.gaps).toEqual([{ sinceId: '13106', oldestId: '13225', reason: 'empty_pages' }]);
  });

  it('agntdata: a backfill follows 3 empty pages at most, then is done with an empty_pages gap', async () => {
    const key = await newTarget('agntdata', 100);
    const client = timelineOf(key, range(14_000n, 12), 5);
    client.faults.push({ kind: 'none' }, ...Array(3).fill({ kind: 'empty-page' }));
    const run = await crawlTargetToEnd({ db, client, target: key, pageSize: 5 });
    expect(client.requests).toHaveLength(4);
    expect(run).toMatchObject({ outcome: 'succeeded', kind: 'backfill', costCents: 4 });
    expect(run.gaps).toEqual([{ sinceId: null, oldestId: '14007', reason: 'empty_pages' }]);
    expect(await getCheckpoint(db, key)).toMatchObject({ sinceId: '14011', backfillDone: true });
  });

  it('x: a backfill given up on empty pages before it listed a tweet says so on its run, and the third in a row marks the target failing until re-enabled', async () => {
    const key = await newTarget('x', 20);
    const client = timelineOf(key, range(16_000n, 200), 5);
    for (let inARow = 1; inARow <= 3; inARow += 1) {
      client.faults.push(...Array(10).fill({ kind: 'empty-page' }));
      const asked = client.requests.length;
      const run = await crawlTargetToEnd({ db, client, target: key, pageSize: 5 });
      // Each run buys the 10 empty pages, no more.
      expect(client.requests.length - asked).toBe(10);
      expect(run).toMatchObject({
        outcome: 'succeeded',
        kind: 'backfill',
        gaps: [],
        tweetsNew: 0,
        emptyGiveUp: { inARow },
      });
      // Before: a plain success with no word of the pages it gave up on.
      const [stored] = await query<{ outcome: string; error: string | null }>(
        'SELECT outcome, error FROM crawl_runs WHERE id = $1',
        [run.runId],
      );
      expect(stored?.outcome).toBe('succeeded');
      expect(stored?.error).toContain('gave up after 10 empty pages in a row');
      expect(stored?.error).toContain('the backfill is not done');
      expect(await getCheckpoint(db, key)).toMatchObject({
        sinceId: null,
        backfillDone: false,
        emptyGiveUps: inARow,
      });
      const [target] = await query<{ state: string; state_reason: string | null }>(
        'SELECT state, state_reason FROM watch_targets WHERE user_id = $1',
        [key.userId],
      );
      expect(target?.state).toBe(inARow < 3 ? 'active' : 'failing');
      if (inARow === 3) {
        expect(run.emptyGiveUp?.failing).toBe(target?.state_reason);
        expect(target?.state_reason).toContain('3 runs in a row gave up after 10 empty pages');
        expect(target?.state_reason).toContain(
          `birdfeed watchlist enable ${key.userId} --provider x`,
        );
        expect(stored?.error).toContain('target marked failing');
      }
    }
    // Not asked again (not one request) until an operator re-enables it.
    const asked = client.requests.length;
    expect(asked).toBe(30);
    const inactive = await crawlPage({ db, client, target: key });
    expect(inactive).toMatchObject({ outcome: 'inactive', requests: 0 });
    const claimed = await claimDueTargets(db, {
      limit: 100,
      now: new Date(Date.now() + 86_400_000),
    });
    expect(claimed.map((t) => t.userId)).not.toContain(key.userId);
    expect(client.requests.length).toBe(asked);
    await setTargetEnabled(db, key, true);
    expect(await getCheckpoint(db, key)).toMatchObject({ emptyGiveUps: 0 });
    const resumed = await crawlTargetToEnd({ db, client, target: key, pageSize: 5 });
    expect(resumed).toMatchObject({
      outcome: 'succeeded',
      kind: 'backfill',
      tweetsNew: 20,
      emptyGiveUp: null,
      error: null,
    });
    expect(await getCheckpoint(db, key)).toMatchObject({ sinceId: '16199', backfillDone: true });
  });

  it('agntdata: empty give-ups count across runs (3 billed pages each), and a page that lists a tweet clears the count', async () => {
    const key = await newTarget('agntdata', 100);
    const client = timelineOf(key, range(17_000n, 12), 5);
    for (let inARow = 1; inARow <= 2; inARow += 1) {
      client.faults.push(...Array(3).fill({ kind: 'empty-page' }));
      const run = await crawlTargetToEnd({ db, client, target: key, pageSize: 5 });
      expect(run).toMatchObject({
        outcome: 'succeeded',
        kind: 'backfill',
        costCents: 3,
        gaps: [],
        emptyGiveUp: { inARow, failing: null },
      });
      expect(run.error).toContain('3 empty pages in a row (each with a next token, each billed)');
      expect(await getCheckpoint(db, key)).toMatchObject({ emptyGiveUps: inARow });
    }
    // The next window's first page lists tweets: the count is cleared with that page, while
    // the window is still open.
    const first = await crawlPage({ db, client, target: key, pageSize: 5 });
    expect(first).toMatchObject({ outcome: 'page', timelineTweets: 5 });
    expect(await getCheckpoint(db, key)).toMatchObject({ emptyGiveUps: 0, windowPages: 1 });
    // Given up on empty pages after listing tweets: done with its gap, not a give-up counted.
    client.faults.push(...Array(3).fill({ kind: 'empty-page' }));
    const rest = await crawlTargetToEnd({ db, client, target: key, pageSize: 5 });
    expect(rest).toMatchObject({ outcome: 'succeeded', emptyGiveUp: null, error: null });
    expect(rest.gaps).toEqual([{ sinceId: null, oldestId: '17007', reason: 'empty_pages' }]);
    expect(await getCheckpoint(db, key)).toMatchObject({
      sinceId: '17011',
      backfillDone: true,
      emptyGiveUps: 0,
    });
    // 2 runs of 3 billed empty pages, then 1 page of tweets and 3 empty ones.
    expect(client.requests).toHaveLength(10);
    const [{ state } = { state: '' }] = await query<{ state: string }>(
      'SELECT state FROM watch_targets WHERE user_id = $1',
      [key.userId],
    );
    expect(state).toBe('active');
  });

  it('x: an incremental window given up on empty pages with nothing listed is counted too, and a window that completes clears it', async () => {
    const key = await newTarget('x', 10);
    const client = timelineOf(key, range(18_000n, 10), 5);
    await crawlTargetToEnd({ db, client, target: key, pageSize: 5 });
    expect(await getCheckpoint(db, key)).toMatchObject({ sinceId: '18009', backfillDone: true });
    client.add(...range(18_100n, 5));
    client.faults.push(...Array(10).fill({ kind: 'empty-page' }));
    const gaveUp = await crawlTargetToEnd({ db, client, target: key, pageSize: 5 });
    expect(gaveUp).toMatchObject({
      outcome: 'succeeded',
      kind: 'incremental',
      gaps: [],
      emptyGiveUp: { inARow: 1, failing: null },
    });
    expect(gaveUp.error).toContain('since_id did not move');
    expect(await getCheckpoint(db, key)).toMatchObject({ sinceId: '18009', emptyGiveUps: 1 });
    // One page with the 5 new tweets and no next token: the window completes on it.
    const next = await crawlTargetToEnd({ db, client, target: key, pageSize: 5 });
    expect(next).toMatchObject({ tweetsNew: 5, pages: 1, emptyGiveUp: null, error: null });
    expect(await getCheckpoint(db, key)).toMatchObject({ sinceId: '18104', emptyGiveUps: 0 });
  });

  it('x: a backfill given up on empty pages is not done, and records no gap when it listed nothing', async () => {
    const key = await newTarget('x', 20);
    const client = timelineOf(key, range(15_000n, 200), 5);
    client.faults.push(...Array(10).fill({ kind: 'empty-page' }));
    const first = await crawlTargetToEnd({ db, client, target: key, pageSize: 5 });
    expect(first).toMatchObject({ outcome: 'succeeded', kind: 'backfill', gaps: [], tweetsNew: 0 });
    expect(await getCheckpoint(db, key)).toMatchObject({ sinceId: null, backfillDone: false });
    // The next run backfills again, to the depth: not an incremental read of all 200.
    const second = await crawlTargetToEnd({ db, client, target: key, pageSize: 5 });
    expect(second).toMatchObject({ kind: 'backfill', tweetsNew: 20 });
    expect(await getCheckpoint(db, key)).toMatchObject({ sinceId: '15199', backfillDone: true });
  });
});
