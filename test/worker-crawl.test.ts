import { createRedisConnection, queueStatus } from '@birdfeed/jobs';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSchedulerEnv } from '../apps/scheduler/src/env.ts';
import { startScheduler } from '../apps/scheduler/src/main.ts';
import { parseWorkerEnv } from '../apps/worker/src/env.ts';
import { startWorkers } from '../apps/worker/src/main.ts';
import {
  type CrawlFixture,
  checkpointOf,
  createCrawlFixture,
  diffWithTruth,
  isExact,
  runOutcomes,
  waitUntil,
  watchAccounts,
} from '../apps/worker/test/harness.ts';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';
import { TEST_REDIS_URL, testRedisPrefix } from './support/redis.ts';

/**
 * The whole BullMQ pipeline in one process: scheduler tick → first-page jobs → workers running
 * the crawl step page by page against the sandbox over HTTP → Postgres. The database must
 * equal the sandbox's truth exactly.
 */

let testDb: TestDatabase;
let fixture: CrawlFixture;
const silent = pino({ level: 'silent' });

beforeAll(async () => {
  testDb = await createTestDatabase('worker_crawl');
  fixture = await createCrawlFixture({
    databaseUrl: testDb.url,
    redisUrl: TEST_REDIS_URL,
    prefix: testRedisPrefix('crawl'),
    dropDatabase: () => testDb.drop(),
    sandbox: {
      seed: 'worker-crawl',
      accounts: 20,
      specialAccounts: false,
      // 40..211 tweets: one to five pages of 50.
      tweetsPerAccount: (index) => 40 + index * 9,
      frozen: true,
      xRateLimit: 100_000,
      agntdataRequestsPerMinute: 100_000,
    },
  });
});

afterAll(async () => {
  await fixture?.close();
});

describe('BullMQ crawl', () => {
  it('a full crawl of 20 sandbox accounts equals the truth exactly', async () => {
    const accounts = fixture.sandbox.accounts().map((account) => account.id);
    expect(accounts).toHaveLength(20);
    // X serves every tweet but no faces; agntdata serves faces and focus rects but only the
    // tweets with media. 15 accounts go through X, 5 through agntdata, so both are checked.
    const viaX = accounts.slice(0, 15);
    const viaAgntdata = accounts.slice(15);
    await watchAccounts(fixture, viaX, 'x');
    await watchAccounts(fixture, viaAgntdata, 'agntdata');

    const env = fixture.env({
      WORKER_X_PAGE_SIZE: '50',
      WORKER_AGNTDATA_PAGE_SIZE: '20',
      X_RATE_LIMIT_MAX: '100000',
      AGNTDATA_RATE_LIMIT_PER_MINUTE: '100000',
    });
    const workers = await startWorkers({
      env: parseWorkerEnv(env),
      concurrency: 4,
      logger: silent,
    });
    const scheduler = await startScheduler({ env: parseSchedulerEnv(env), logger: silent });
    try {
      const tick = await scheduler.tick();
      expect(tick).toMatchObject({ claimed: 20, enqueued: 20, errors: 0 });
      await waitUntil(
        async () => {
          const outcomes = await runOutcomes(fixture);
          return (outcomes.running ?? 0) === 0 && (outcomes.succeeded ?? 0) === 20
            ? outcomes
            : undefined;
        },
        40_000,
        'every run to finish',
        100,
      );
    } finally {
      await scheduler.close();
      await workers.close();
    }

    const seen = { tweets: 0, mediaLinks: 0, faces: 0, focusRects: 0 };
    for (const userId of viaX) {
      const diff = await diffWithTruth(fixture, userId, 'x');
      expect(isExact(diff), JSON.stringify(diff)).toBe(true);
      seen.tweets += diff.expected.tweets;
      seen.mediaLinks += diff.expected.mediaLinks;
      const checkpoint = await checkpointOf(fixture, 'x', userId);
      expect(checkpoint?.since_id).toBe(fixture.sandbox.truth(userId).tweets[0]?.id);
      expect(checkpoint?.cursor).toBeNull();
    }
    for (const userId of viaAgntdata) {
      const diff = await diffWithTruth(fixture, userId, 'agntdata');
      expect(isExact(diff), JSON.stringify(diff)).toBe(true);
      seen.faces += diff.expected.faces;
      seen.focusRects += diff.expected.focusRects;
      const newestWithMedia = fixture.sandbox.truth(userId).tweets.find((t) => t.media.length > 0);
      expect((await checkpointOf(fixture, 'agntdata', userId))?.since_id).toBe(newestWithMedia?.id);
    }
    // Not a vacuous match: the truth had plenty of each.
    expect(seen.tweets).toBeGreaterThan(1_000);
    expect(seen.mediaLinks).toBeGreaterThan(100);
    expect(seen.faces).toBeGreaterThan(20);
    expect(seen.focusRects).toBeGreaterThan(20);
    const [{ failures }] = (
      await fixture.pool.query<{ failures: string }>(
        'SELECT count(*) AS failures FROM crawl_failures',
      )
    ).rows as [{ failures: string }];
    expect(Number(failures)).toBe(0);

    // Every page job finished: nothing left waiting, active or failed in either queue.
    const redis = createRedisConnection({ url: fixture.redisUrl, role: 'producer' });
    try {
      const statuses = await queueStatus({ connection: redis, prefix: fixture.prefix });
      expect(statuses.map((s) => s.name).sort()).toEqual([
        'crawl.agntdata.default',
        'crawl.x.default',
      ]);
      for (const status of statuses) {
        expect(status).toMatchObject({ waiting: 0, active: 0, delayed: 0, failed: 0 });
        expect(status.completed).toBeGreaterThan(0);
      }
    } finally {
      await redis.quit();
    }
  });
});

describe('BullMQ crawl, the next run', () => {
  it('asks with since_id = the stored checkpoint on every page and stores only what is new', async () => {
    const testDb2 = await createTestDatabase('worker_next');
    const next = await createCrawlFixture({
      databaseUrl: testDb2.url,
      redisUrl: TEST_REDIS_URL,
      prefix: testRedisPrefix('next'),
      dropDatabase: () => testDb2.drop(),
      sandbox: {
        seed: 'worker-next',
        accounts: 4,
        specialAccounts: false,
        tweetsPerAccount: 60,
        // Everyone tweets steadily, so new tweets appear when the clock moves.
        activity: 'steady',
        frozen: true,
        xRateLimit: 100_000,
      },
    });
    const env = next.env({ WORKER_X_PAGE_SIZE: '20', X_RATE_LIMIT_MAX: '100000' });
    const workers = await startWorkers({
      env: parseWorkerEnv(env),
      concurrency: 2,
      logger: silent,
    });
    const scheduler = await startScheduler({ env: parseSchedulerEnv(env), logger: silent });
    try {
      const accounts = next.sandbox.accounts().map((account) => account.id);
      await watchAccounts(next, accounts, 'x');
      const runsDone = (count: number) =>
        waitUntil(
          async () => ((await runOutcomes(next)).succeeded === count ? true : undefined),
          40_000,
          `${count} runs to succeed`,
        );
      expect((await scheduler.tick()).enqueued).toBe(4);
      await runsDone(4);
      const checkpoints = new Map<string, string>();
      for (const userId of accounts) {
        const since = (await checkpointOf(next, 'x', userId))?.since_id;
        expect(since).toBe(next.sandbox.truth(userId).tweets[0]?.id);
        checkpoints.set(userId, since as string);
      }

      // A day passes in the sandbox: every account has new tweets.
      next.sandbox.clock.advance(24 * 3_600_000);
      const grown = accounts.map((userId) => next.sandbox.truth(userId).tweets.length - 60);
      expect(grown.every((count) => count > 0)).toBe(true);
      next.sandbox.clearRequests();
      await next.pool.query(`UPDATE watch_targets SET next_due_at = now() - interval '1s'`);
      const tick = await scheduler.tick();
      expect(tick.enqueued).toBe(4);
      await runsDone(8);

      const kinds = (
        await next.pool.query<{ kind: string; n: string }>(
          `SELECT kind, count(*) AS n FROM crawl_runs GROUP BY kind ORDER BY kind`,
        )
      ).rows.map((row) => [row.kind, Number(row.n)]);
      expect(kinds).toEqual([
        ['backfill', 4],
        ['incremental', 4],
      ]);
      const requests = next.sandbox.requests().filter((entry) => entry.provider === 'x');
      expect(requests.length).toBeGreaterThan(0);
      for (const userId of accounts) {
        const own = requests.filter(
          (entry) => entry.endpoint.includes(userId) || entry.params.user_id === userId,
        );
        expect(own.length).toBeGreaterThan(0);
        // Every page of the window carries the checkpoint as since_id...
        expect(own.every((entry) => entry.params.since_id === checkpoints.get(userId))).toBe(true);
        // ...and only the new tweets' pages are fetched (20 a page).
        const newTweets = grown[accounts.indexOf(userId)] as number;
        expect(own.length).toBeLessThanOrEqual(Math.ceil(newTweets / 20) + 1);
        expect(isExact(await diffWithTruth(next, userId, 'x'))).toBe(true);
        expect((await checkpointOf(next, 'x', userId))?.since_id).toBe(
          next.sandbox.truth(userId).tweets[0]?.id,
        );
      }
    } finally {
      await scheduler.close();
      await workers.close();
      await next.close();
    }
  });
});
