import { crawlQueueName, createRedisConnection } from '@birdfeed/jobs';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSchedulerEnv } from '../apps/scheduler/src/env.ts';
import { startScheduler } from '../apps/scheduler/src/main.ts';
import {
  type AppProcess,
  type CrawlFixture,
  checkpointOf,
  createCrawlFixture,
  diffWithTruth,
  isExact,
  runOutcomes,
  spawnApp,
  waitUntil,
  watchAccounts,
} from '../apps/worker/test/harness.ts';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';
import { TEST_REDIS_URL, testRedisPrefix } from './support/redis.ts';

/**
 * Worker processes killed and stopped for real: `birdfeed worker` runs as a child process,
 * receives SIGKILL or SIGTERM in the middle of multi-page windows, and a fresh process picks
 * up where it left off.
 */

const silent = pino({ level: 'silent' });
let redis: Redis;
const children: AppProcess[] = [];

beforeAll(() => {
  redis = createRedisConnection({ url: TEST_REDIS_URL, role: 'producer' });
});
/** SIGKILLs every worker a test started that is still running (a failed test's leftovers). */
async function killChildren() {
  for (const app of children) {
    if (app.child.exitCode === null && app.child.signalCode === null) app.child.kill('SIGKILL');
  }
  await Promise.all(children.splice(0).map((app) => app.exited));
}
afterAll(async () => {
  await killChildren();
  await redis.quit();
});

async function setup(label: string, tweets: number, accounts: number) {
  const testDb: TestDatabase = await createTestDatabase(label);
  const fixture = await createCrawlFixture({
    databaseUrl: testDb.url,
    redisUrl: TEST_REDIS_URL,
    prefix: testRedisPrefix(label),
    dropDatabase: () => testDb.drop(),
    sandbox: {
      seed: label,
      accounts,
      specialAccounts: false,
      tweetsPerAccount: tweets,
      frozen: true,
      xRateLimit: 100_000,
      // Some short and empty pages, like the real API.
      shortPageRate: 0.05,
      emptyPageRate: 0.02,
    },
  });
  const userIds = fixture.sandbox.accounts().map((account) => account.id);
  await watchAccounts(fixture, userIds, 'x');
  const queue = new Queue(crawlQueueName('x'), { connection: redis, prefix: fixture.prefix });
  return { fixture, userIds, queue };
}

/**
 * A job's lock is renewed every lockMs / 2; if the worker's event loop lags by more than that
 * (a loaded machine), the lock expires under a live worker and the job counts as stalled. So
 * the lock is only as short as a test needs: the SIGKILL test wants a killed worker's jobs
 * taken again within seconds; the SIGTERM test asserts that nothing stalls and uses a long one.
 */
function workerEnv(fixture: CrawlFixture, lockMs = 3000) {
  return fixture.env({
    X_RATE_LIMIT_MAX: '100000',
    WORKER_X_PAGE_SIZE: '10',
    WORKER_LOCK_DURATION_MS: String(lockMs),
    WORKER_STALLED_INTERVAL_MS: '500',
    LOG_LEVEL: 'info',
  });
}

/** Deadlines of the waits below: a loaded machine starts node + tsx + the CLI in seconds. */
const START_MS = 45_000;
const FINISH_MS = 60_000;

async function enqueueEverything(fixture: CrawlFixture) {
  const scheduler = await startScheduler({
    env: parseSchedulerEnv(workerEnv(fixture)),
    logger: silent,
  });
  try {
    return await scheduler.tick();
  } finally {
    await scheduler.close();
  }
}

async function windowPagesWritten(fixture: CrawlFixture): Promise<number> {
  const rows = (
    await fixture.pool.query<{ n: string }>('SELECT coalesce(sum(pages), 0) AS n FROM crawl_runs')
  ).rows;
  return Number(rows[0]?.n ?? 0);
}

async function expectTruthAndNothingDoubled(fixture: CrawlFixture, userIds: string[]) {
  for (const userId of userIds) {
    const diff = await diffWithTruth(fixture, userId, 'x');
    expect(isExact(diff), JSON.stringify(diff)).toBe(true);
    const checkpoint = await checkpointOf(fixture, 'x', userId);
    expect(checkpoint?.since_id).toBe(fixture.sandbox.truth(userId).tweets[0]?.id);
    expect(checkpoint?.cursor).toBeNull();
    expect(checkpoint?.window_newest_id).toBeNull();
  }
  // Every page was written once: one raw page per page counted in a run, no request URL
  // (user + cursor) written twice.
  const [pages] = (
    await fixture.pool.query<{ raw: string; counted: string; dup: string }>(
      `SELECT (SELECT count(*) FROM raw_pages) AS raw,
              (SELECT coalesce(sum(pages), 0) FROM crawl_runs) AS counted,
              (SELECT count(*) FROM (SELECT request_url FROM raw_pages
                 GROUP BY request_url HAVING count(*) > 1) d) AS dup`,
    )
  ).rows as [{ raw: string; counted: string; dup: string }];
  expect(Number(pages.dup)).toBe(0);
  expect(Number(pages.raw)).toBe(Number(pages.counted));
  expect(await runOutcomes(fixture)).toEqual({ succeeded: userIds.length });
}

describe('worker process signals', () => {
  it('SIGKILL in the middle of multi-page windows: a restarted worker finishes, nothing lost or doubled', async () => {
    const { fixture, userIds, queue } = await setup('kill', 250, 3);
    try {
      expect((await enqueueEverything(fixture)).enqueued).toBe(3);
      const first = spawnApp('worker', ['--concurrency', '2'], workerEnv(fixture));
      children.push(first);
      // Kill it once a few pages are in and pages are still in flight.
      await waitUntil(
        async () => ((await windowPagesWritten(fixture)) >= 8 ? true : undefined),
        START_MS,
        'the first worker to write some pages',
        5,
      );
      first.child.kill('SIGKILL');
      expect(await first.exited).toBe('SIGKILL');
      const atKill = await queue.getJobCounts('active', 'waiting', 'prioritized', 'completed');
      // The windows were cut in the middle: jobs were still held by the dead worker.
      expect(atKill.active).toBeGreaterThan(0);
      const cursors = await Promise.all(userIds.map((id) => checkpointOf(fixture, 'x', id)));
      expect(cursors.some((checkpoint) => checkpoint?.cursor !== null)).toBe(true);

      const second = spawnApp('worker', ['--concurrency', '2'], workerEnv(fixture));
      children.push(second);
      await waitUntil(
        async () => {
          const outcomes = await runOutcomes(fixture);
          return (outcomes.succeeded ?? 0) === userIds.length ? true : undefined;
        },
        FINISH_MS,
        'the restarted worker to finish every run',
        100,
      );
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
      expect(second.output()).toMatch(/stalled/);
      await expectTruthAndNothingDoubled(fixture, userIds);
      const after = await queue.getJobCounts('active', 'waiting', 'prioritized', 'failed');
      expect(after).toMatchObject({ active: 0, waiting: 0, prioritized: 0, failed: 0 });
    } finally {
      await killChildren();
      await queue.obliterate({ force: true }).catch(() => {});
      await queue.close();
      await fixture.close();
    }
  }, 180_000);

  it('SIGTERM finishes the pages in flight, releases them and exits 0', async () => {
    const { fixture, userIds, queue } = await setup('term', 250, 3);
    try {
      expect((await enqueueEverything(fixture)).enqueued).toBe(3);
      const worker = spawnApp('worker', ['--concurrency', '2'], workerEnv(fixture, 30_000));
      children.push(worker);
      const inFlight = await waitUntil(
        async () => {
          if ((await windowPagesWritten(fixture)) < 5) return undefined;
          const active = await queue.getJobs(['active']);
          return active.length > 0 ? active.map((job) => job.id as string) : undefined;
        },
        START_MS,
        'pages in flight',
        5,
      );
      worker.child.kill('SIGTERM');
      expect(await worker.exited).toBe(0);
      expect(worker.output()).toMatch(/finishing the pages in flight/);
      expect(worker.output()).toMatch(/worker stopped cleanly/);
      // The jobs that were running at the signal completed; none was left locked and active
      // (which is what a SIGKILL leaves behind).
      const counts = await queue.getJobCounts('active');
      expect(counts.active).toBe(0);
      for (const id of inFlight) {
        expect(await queue.getJobState(id)).toBe('completed');
      }
      // The rest of the work is still queued, and a new worker finishes it.
      const rest = await queue.getJobCounts('waiting', 'prioritized', 'delayed');
      expect((rest.waiting ?? 0) + (rest.prioritized ?? 0) + (rest.delayed ?? 0)).toBeGreaterThan(
        0,
      );
      // A job left locked by the first worker would show up here as stalled once its 30 s lock
      // expired (and counts.active above would not be 0).
      const next = spawnApp('worker', ['--concurrency', '2'], workerEnv(fixture, 30_000));
      children.push(next);
      await waitUntil(
        async () => {
          const outcomes = await runOutcomes(fixture);
          return (outcomes.succeeded ?? 0) === userIds.length ? true : undefined;
        },
        FINISH_MS,
        'the next worker to finish',
        100,
      );
      next.child.kill('SIGTERM');
      expect(await next.exited).toBe(0);
      // No stall happened: nothing was cut short.
      expect(next.output()).not.toMatch(/stalled/);
      await expectTruthAndNothingDoubled(fixture, userIds);
    } finally {
      await killChildren();
      await queue.obliterate({ force: true }).catch(() => {});
      await queue.close();
      await fixture.close();
    }
  }, 180_000);
});
