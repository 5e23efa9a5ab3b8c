import { crawlQueueName, createRedisConnection } from '@birdfeed/jobs';
import { type Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSchedulerEnv } from '../apps/scheduler/src/env.ts';
import { startScheduler } from '../apps/scheduler/src/main.ts';
import { parseWorkerEnv } from '../apps/worker/src/env.ts';
import { startWorkers } from '../apps/worker/src/main.ts';
import {
  type AppProcess,
  type CrawlFixture,
  createCrawlFixture,
  diffWithTruth,
  isExact,
  runOutcomes,
  spawnApp,
  waitUntil,
  watchAccounts,
} from '../apps/worker/test/harness.ts';
import { createTestDatabase } from './support/postgres.ts';
import { TEST_REDIS_URL, testRedisPrefix } from './support/redis.ts';

/**
 * The provider's budget against a time-scaled sandbox: X's 15-minute window passes in about
 * two seconds, so windows open and close within a test.
 */

const silent = pino({ level: 'silent' });
const WINDOW_SANDBOX_MS = 15 * 60_000;
const TIME_SCALE = 450; // 15 minutes of sandbox time = 2 s of wall time
const WINDOW_WALL_MS = WINDOW_SANDBOX_MS / TIME_SCALE;

let redis: Redis;
const children: AppProcess[] = [];

beforeAll(() => {
  redis = createRedisConnection({ url: TEST_REDIS_URL, role: 'producer' });
});
/** SIGKILLs every worker process a test started that is still running (a failed test's). */
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

async function setup(
  label: string,
  accounts: number,
  tweets: number,
  xRateLimit: number,
  accountStatus?: 'active' | 'suspended',
) {
  const testDb = await createTestDatabase(label);
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
      // The clock runs (windows must reset) but nobody tweets meanwhile: the truth holds still.
      activity: 'silent',
      timeScale: TIME_SCALE,
      xRateLimit,
      xRateLimitWindowMs: WINDOW_SANDBOX_MS,
      shortPageRate: 0,
      emptyPageRate: 0,
      ...(accountStatus === undefined ? {} : { accountStatus }),
    },
  });
  const userIds = fixture.sandbox.accounts().map((account) => account.id);
  await watchAccounts(fixture, userIds, 'x');
  const queue = new Queue(crawlQueueName('x'), { connection: redis, prefix: fixture.prefix });
  return { fixture, userIds, queue };
}

async function enqueueEverything(env: Record<string, string>) {
  const scheduler = await startScheduler({ env: parseSchedulerEnv(env), logger: silent });
  try {
    return await scheduler.tick();
  } finally {
    await scheduler.close();
  }
}

async function allSucceeded(fixture: CrawlFixture, count: number, timeoutMs: number) {
  await waitUntil(
    async () => {
      const outcomes = await runOutcomes(fixture);
      return (outcomes.succeeded ?? 0) === count ? true : undefined;
    },
    timeoutMs,
    'every run to succeed',
    100,
  );
}

async function expectTruth(fixture: CrawlFixture, userIds: string[]) {
  for (const userId of userIds) {
    const diff = await diffWithTruth(fixture, userId, 'x');
    expect(isExact(diff), JSON.stringify(diff)).toBe(true);
  }
}

describe('rate limits', () => {
  it('a 429 storm: no failed job, the same jobs run again after the reset and complete', async () => {
    const { fixture, userIds, queue } = await setup('storm', 3, 40, 1500);
    const env = fixture.env({
      WORKER_X_PAGE_SIZE: '10',
      X_RATE_LIMIT_MAX: '1500',
      X_RATE_LIMIT_WINDOW_MS: String(WINDOW_WALL_MS),
    });
    const workers = await startWorkers({
      env: parseWorkerEnv(env),
      concurrency: 2,
      logger: silent,
    });
    try {
      // The next four X requests get a 429 (with X's real body and an exhausted window).
      fixture.sandbox.faults.add('429*4@x');
      const started = Date.now();
      expect((await enqueueEverything(env)).enqueued).toBe(3);
      await allSucceeded(fixture, 3, 45_000);
      const elapsed = Date.now() - started;

      const stats = fixture.sandbox.stats();
      expect(stats.faults.total).toBe(4);
      // A 429 pauses the queue until the provider's reset: the crawl cannot end sooner.
      expect(elapsed).toBeGreaterThanOrEqual(WINDOW_WALL_MS * 0.9);
      expect(await queue.getJobCounts('failed')).toEqual({ failed: 0 });
      const failures = await fixture.pool.query('SELECT 1 FROM crawl_failures');
      expect(failures.rowCount).toBe(0);
      // The jobs hit by a 429 were started again but never counted a failed attempt.
      const jobs = (await queue.getJobs(['completed'])) as Job[];
      const rerun = jobs.filter((job) => job.attemptsStarted > 1);
      expect(rerun.length).toBeGreaterThan(0);
      expect(rerun.reduce((sum, job) => sum + job.attemptsStarted - 1, 0)).toBe(4);
      expect(rerun.every((job) => job.attemptsMade === 1)).toBe(true);
      await expectTruth(fixture, userIds);
    } finally {
      await workers.close();
      await queue.obliterate({ force: true }).catch(() => {});
      await queue.close();
      await fixture.close();
    }
  }, 120_000);

  it('two worker processes sharing a credential whose limit equals the limiter: zero 429s', async () => {
    const limit = 8;
    const { fixture, userIds, queue } = await setup('shared', 4, 50, limit);
    const env = fixture.env({
      WORKER_X_PAGE_SIZE: '10',
      X_RATE_LIMIT_MAX: String(limit),
      X_RATE_LIMIT_WINDOW_MS: String(WINDOW_WALL_MS),
      LOG_LEVEL: 'debug',
    });
    try {
      const a = spawnApp('worker', ['--concurrency', '3'], env);
      const b = spawnApp('worker', ['--concurrency', '3'], env);
      children.push(a, b);
      await waitUntil(
        () =>
          /worker ready/.test(a.output()) && /worker ready/.test(b.output()) ? true : undefined,
        // node + tsx + the CLI, twice at once, on a possibly loaded machine.
        45_000,
        'both workers to start',
      );
      expect((await enqueueEverything(env)).enqueued).toBe(4);
      await allSucceeded(fixture, 4, 60_000);
      a.child.kill('SIGTERM');
      b.child.kill('SIGTERM');
      expect(await a.exited).toBe(0);
      expect(await b.exited).toBe(0);

      const stats = fixture.sandbox.stats();
      // ~24 pages at 8 per window: the budget was the bound, and it was never overrun.
      expect(stats.requests.total).toBeGreaterThan(2 * limit);
      expect(stats.rate_limited.total).toBe(0);
      // Both processes took pages.
      const pagesBy = (app: AppProcess) =>
        app
          .output()
          .split('\n')
          .filter((l) => l.includes('page done')).length;
      expect(pagesBy(a)).toBeGreaterThan(0);
      expect(pagesBy(b)).toBeGreaterThan(0);
      expect(pagesBy(a) + pagesBy(b)).toBe(stats.requests.total);
      // Each log line names its provider once (a child logger bound to it doubled the key).
      const requestLines = a
        .output()
        .split('\n')
        .filter((l) => l.includes('"msg":"provider request"'));
      expect(requestLines.length).toBeGreaterThan(0);
      for (const line of requestLines) expect(line.split('"provider":').length, line).toBe(2);
      await expectTruth(fixture, userIds);
    } finally {
      await killChildren();
      await queue.obliterate({ force: true }).catch(() => {});
      await queue.close();
      await fixture.close();
    }
  }, 180_000);

  it('a 503 that spent the window (remaining 0): the retry waits for the reset, zero 429s, no failed job', async () => {
    // One request per window: the page's first request is the window's last, and a 503.
    const { fixture, userIds, queue } = await setup('spent503', 1, 5, 1);
    const env = fixture.env({
      WORKER_X_PAGE_SIZE: '10',
      X_RATE_LIMIT_MAX: '1500',
      X_RATE_LIMIT_WINDOW_MS: String(WINDOW_WALL_MS),
      // Without a hold, the retry would go out 50-100 ms later, into the spent window.
      WORKER_BACKOFF_BASE_MS: '50',
    });
    const workers = await startWorkers({
      env: parseWorkerEnv(env),
      concurrency: 1,
      logger: silent,
    });
    try {
      fixture.sandbox.faults.add('503*1@x');
      expect((await enqueueEverything(env)).enqueued).toBe(1);
      await allSucceeded(fixture, 1, 30_000);

      const requests = fixture.sandbox.requests().filter((entry) => entry.provider === 'x');
      expect(requests.map((entry) => entry.status)).toEqual([503, 200]);
      expect(fixture.sandbox.stats().rate_limited.total).toBe(0);
      // The sandbox's window opened with the 503 and reset a window later (its header says
      // so, rounded up to the second): the next request came no sooner.
      const [spent, next] = requests.map((entry) => Date.parse(entry.at));
      expect((next ?? 0) - (spent ?? 0)).toBeGreaterThanOrEqual(WINDOW_WALL_MS);
      // The 503 was one failed attempt, retried as any 5xx is; nothing failed for good.
      const jobs = (await queue.getJobs(['completed'])) as Job[];
      expect(jobs.map((job) => job.attemptsMade)).toEqual([2]);
      expect(await queue.getJobCounts('failed')).toEqual({ failed: 0 });
      expect((await fixture.pool.query('SELECT 1 FROM crawl_failures')).rowCount).toBe(0);
      await expectTruth(fixture, userIds);
    } finally {
      await workers.close();
      await queue.obliterate({ force: true }).catch(() => {});
      await queue.close();
      await fixture.close();
    }
  }, 60_000);

  it('an unreadable account whose answer spent the window: the next page waits for the reset, zero 429s', async () => {
    // Both accounts suspended, one request per window: the crawl step closes the first run
    // itself (no error reaches the worker), and the second account's request must still wait.
    const { fixture, queue } = await setup('spentsuspended', 2, 5, 1, 'suspended');
    const env = fixture.env({
      WORKER_X_PAGE_SIZE: '10',
      X_RATE_LIMIT_MAX: '1500',
      X_RATE_LIMIT_WINDOW_MS: String(WINDOW_WALL_MS),
    });
    const lines: string[] = [];
    const workers = await startWorkers({
      env: parseWorkerEnv(env),
      concurrency: 1,
      logger: pino({ level: 'info' }, { write: (line: string) => lines.push(line) }),
    });
    try {
      expect((await enqueueEverything(env)).enqueued).toBe(2);
      await waitUntil(
        async () => ((await runOutcomes(fixture)).unavailable === 2 ? true : undefined),
        30_000,
        'both runs to end unavailable',
        100,
      );
      const requests = fixture.sandbox.requests().filter((entry) => entry.provider === 'x');
      expect(requests.map((entry) => entry.status)).not.toContain(429);
      expect(requests).toHaveLength(2);
      expect(fixture.sandbox.stats().rate_limited.total).toBe(0);
      const [first, second] = requests.map((entry) => Date.parse(entry.at));
      expect((second ?? 0) - (first ?? 0)).toBeGreaterThanOrEqual(WINDOW_WALL_MS);
      expect(await queue.getJobCounts('failed')).toEqual({ failed: 0 });
      // The crawl step's own lines name the target once: a key twice in one JSON object is
      // refused by some log pipelines (the job's logger bound them, and the step added them).
      const marked = lines.filter((l) => l.includes('account unavailable, target marked'));
      expect(marked).toHaveLength(2);
      for (const line of marked) {
        for (const key of ['provider', 'userId', 'runId', 'jobId']) {
          expect(line.split(`"${key}":`).length, `${key} in ${line}`).toBe(2);
        }
      }
    } finally {
      await workers.close();
      await queue.obliterate({ force: true }).catch(() => {});
      await queue.close();
      await fixture.close();
    }
  }, 60_000);
});
