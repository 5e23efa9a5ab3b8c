import { crawlQueueName, createRedisConnection, queueStatus } from '@birdfeed/jobs';
import { type Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseSchedulerEnv } from '../apps/scheduler/src/env.ts';
import { startScheduler } from '../apps/scheduler/src/main.ts';
import { parseWorkerEnv } from '../apps/worker/src/env.ts';
import { type RunningWorkers, startWorkers } from '../apps/worker/src/main.ts';
import {
  type CrawlFixture,
  createCrawlFixture,
  diffWithTruth,
  isExact,
  runOutcomes,
  waitUntil,
  watchAccounts,
} from '../apps/worker/test/harness.ts';
import { createTestDatabase } from './support/postgres.ts';
import { TEST_REDIS_URL, testRedisPrefix } from './support/redis.ts';

/**
 * What the provider can throw at a worker, end to end through the sandbox: a rejected
 * credential, unreadable accounts, an invalid body, a run of 5xx.
 */

const silent = pino({ level: 'silent' });
let redis: Redis;
let fixture: CrawlFixture;
let queue: Queue;
let workers: RunningWorkers | undefined;

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'info' },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { logger, lines };
}

beforeAll(() => {
  redis = createRedisConnection({ url: TEST_REDIS_URL, role: 'producer' });
});
afterAll(async () => {
  await redis.quit();
});
afterEach(async () => {
  await workers?.close();
  workers = undefined;
  await queue?.obliterate({ force: true }).catch(() => {});
  await queue?.close();
  await fixture?.close();
});

async function setup(label: string, sandbox: Parameters<typeof createCrawlFixture>[0]['sandbox']) {
  const testDb = await createTestDatabase(label);
  fixture = await createCrawlFixture({
    databaseUrl: testDb.url,
    redisUrl: TEST_REDIS_URL,
    prefix: testRedisPrefix(label),
    dropDatabase: () => testDb.drop(),
    sandbox: {
      seed: label,
      specialAccounts: false,
      frozen: true,
      xRateLimit: 100_000,
      shortPageRate: 0,
      emptyPageRate: 0,
      ...sandbox,
    },
  });
  queue = new Queue(crawlQueueName('x'), { connection: redis, prefix: fixture.prefix });
  const userIds = fixture.sandbox.accounts().map((account) => account.id);
  await watchAccounts(fixture, userIds, 'x');
  return userIds;
}

async function tick(env: Record<string, string>) {
  const scheduler = await startScheduler({ env: parseSchedulerEnv(env), logger: silent });
  try {
    return await scheduler.tick();
  } finally {
    await scheduler.close();
  }
}

describe('provider errors through the worker', () => {
  it('a credential no header can carry: the queue pauses at once, loudly, nothing retried or sent', async () => {
    await setup('unsendable', { accounts: 3, tweetsPerAccount: 30 });
    const log = capture();
    const token = `${fixture.sandbox.xBearerTokens[0]}\r`;
    // The env check refuses this token (test/env.test.ts); a caller that builds the env itself
    // (the demo, the bench, a test) still gets a worker that stops instead of retrying forever.
    const env = { ...parseWorkerEnv(fixture.env()), X_BEARER_TOKEN: token };
    workers = await startWorkers({ env, providers: ['x'], concurrency: 3, logger: log.logger });
    expect((await tick(fixture.env())).enqueued).toBe(3);
    await waitUntil(async () => ((await queue.isPaused()) ? true : undefined), 30_000, 'pause');
    await new Promise((resolve) => setTimeout(resolve, 300));
    await workers.close();
    workers = undefined;

    const loud = log.lines.filter((line) => line.level === 60);
    expect(loud).toHaveLength(1);
    expect(String(loud[0]?.msg)).toMatch(
      /CANNOT SEND THE X CREDENTIAL \(.*invalid authorization header.*\).*Fix the credential \(X_BEARER_TOKEN\)/,
    );
    expect(log.lines.some((line) => /will retry/.test(String(line.msg)))).toBe(false);
    expect(JSON.stringify(log.lines)).not.toContain(token.trim());
    expect(fixture.sandbox.requests()).toHaveLength(0);
    const status = (await queueStatus({ connection: redis, prefix: fixture.prefix })).find(
      (queueState) => queueState.name === 'crawl.x.default',
    );
    expect(status).toMatchObject({ paused: true, waiting: 3, failed: 0 });
  });

  it('401: the queue pauses with one loud error and no job lost; a worker with the right token resumes it', async () => {
    const userIds = await setup('unauth', { accounts: 3, tweetsPerAccount: 30 });
    const bad = capture();
    const badEnv = fixture.env({ X_BEARER_TOKEN: 'not-the-token', WORKER_X_PAGE_SIZE: '10' });
    workers = await startWorkers({
      env: parseWorkerEnv(badEnv),
      concurrency: 3,
      logger: bad.logger,
    });
    expect((await tick(badEnv)).enqueued).toBe(3);
    await waitUntil(async () => ((await queue.isPaused()) ? true : undefined), 30_000, 'pause');
    await new Promise((resolve) => setTimeout(resolve, 300));
    await workers.close();
    workers = undefined;

    const loud = bad.lines.filter((line) => line.level === 60);
    expect(loud).toHaveLength(1);
    expect(String(loud[0]?.msg)).toMatch(/REJECTED THE CREDENTIAL/);
    expect(JSON.stringify(bad.lines)).not.toContain('not-the-token');
    const status = (await queueStatus({ connection: redis, prefix: fixture.prefix })).find(
      (queueState) => queueState.name === 'crawl.x.default',
    );
    expect(status).toMatchObject({ paused: true, waiting: 3, failed: 0 });
    expect(status?.pauseReason).toMatch(/^unauthorized/);
    expect(await runOutcomes(fixture)).toEqual({ running: 3 });

    const good = capture();
    workers = await startWorkers({
      env: parseWorkerEnv(fixture.env({ WORKER_X_PAGE_SIZE: '10' })),
      concurrency: 3,
      logger: good.logger,
    });
    await waitUntil(
      async () => ((await runOutcomes(fixture)).succeeded === 3 ? true : undefined),
      30_000,
      'the runs to finish after the resume',
    );
    expect(
      good.lines.some((line) => line.msg === 'resumed a queue paused for its credential'),
    ).toBe(true);
    for (const userId of userIds) {
      expect(isExact(await diffWithTruth(fixture, userId, 'x'))).toBe(true);
    }
  });

  it('suspended and protected accounts: target marked, run closed, no retry', async () => {
    const userIds = await setup('unavailable', {
      accounts: 3,
      tweetsPerAccount: 30,
      accountStatus: (index) => (index === 1 ? 'suspended' : index === 2 ? 'protected' : 'active'),
    });
    const env = fixture.env({ WORKER_X_PAGE_SIZE: '10' });
    workers = await startWorkers({ env: parseWorkerEnv(env), concurrency: 3, logger: silent });
    expect((await tick(env)).enqueued).toBe(3);
    await waitUntil(
      async () => ((await runOutcomes(fixture)).running ?? 0) === 0 || undefined,
      30_000,
      'runs to end',
    );
    expect(await runOutcomes(fixture)).toEqual({ succeeded: 1, unavailable: 2 });
    const states = (
      await fixture.pool.query<{ user_id: string; state: string }>(
        'SELECT user_id::text AS user_id, state FROM watch_targets ORDER BY user_id',
      )
    ).rows;
    expect(Object.fromEntries(states.map((row) => [row.user_id, row.state]))).toEqual({
      [userIds[0] as string]: 'active',
      [userIds[1] as string]: 'suspended',
      [userIds[2] as string]: 'protected',
    });
    // One request each for the unreadable accounts: no retry loop.
    const requests = fixture.sandbox.requests().filter((entry) => entry.provider === 'x');
    expect(
      requests.filter(
        (entry) =>
          entry.params.user_id === userIds[1] || entry.endpoint.includes(userIds[1] as string),
      ),
    ).toHaveLength(1);
    expect(await queue.getJobCounts('failed')).toEqual({ failed: 0 });
    // Marked targets are not scheduled again.
    await fixture.pool.query(`UPDATE watch_targets SET next_due_at = now() - interval '1s'`);
    expect((await tick(env)).claimed).toBe(1);
  });

  it('an invalid body: the job fails once, the raw body is kept, crawl_failures has it, the run failed', async () => {
    const [userId] = await setup('invalid', { accounts: 1, tweetsPerAccount: 30 });
    fixture.sandbox.faults.add('malformed*1@x');
    const env = fixture.env({ WORKER_X_PAGE_SIZE: '10' });
    workers = await startWorkers({ env: parseWorkerEnv(env), concurrency: 1, logger: silent });
    const { enqueued } = await tick(env);
    expect(enqueued).toBe(1);
    const failures = await waitUntil(
      async () => {
        const rows = (
          await fixture.pool.query<{
            error_name: string;
            job_id: string | null;
            attempt: number;
            raw_page_id: string | null;
            status: number | null;
          }>('SELECT error_name, job_id, attempt, raw_page_id::text, status FROM crawl_failures')
        ).rows;
        return rows.length > 0 && rows[0]?.job_id !== null ? rows : undefined;
      },
      30_000,
      'the failure to be recorded',
    );
    expect(failures).toHaveLength(1);
    // The provider answered 200 with a body we refuse: the failure says 200, as its raw page.
    expect(failures[0]).toMatchObject({
      error_name: 'InvalidResponseError',
      attempt: 1,
      status: 200,
    });
    expect(failures[0]?.job_id).toMatch(new RegExp(`^x\\.${userId}\\.\\d+\\.0$`));
    expect(failures[0]?.raw_page_id).not.toBeNull();
    const failedJobs = (await queue.getJobs(['failed'])) as Job[];
    expect(failedJobs).toHaveLength(1);
    expect(failedJobs[0]?.attemptsMade).toBe(1);
    expect(await runOutcomes(fixture)).toEqual({ failed: 1 });
    // Nothing half-written: no tweet of the bad page was stored.
    const tweets = await fixture.pool.query('SELECT 1 FROM tweets');
    expect(tweets.rowCount).toBe(0);
    // The next run (a new tick) reads the account fully.
    await fixture.pool.query(`UPDATE watch_targets SET next_due_at = now() - interval '1s'`);
    expect((await tick(env)).enqueued).toBe(1);
    await waitUntil(
      async () => ((await runOutcomes(fixture)).succeeded === 1 ? true : undefined),
      30_000,
      'the next run',
    );
    expect(isExact(await diffWithTruth(fixture, userId as string, 'x'))).toBe(true);
  });

  it('5xx: retried with backoff until the page goes through, no failure recorded', async () => {
    const [userId] = await setup('fivexx', { accounts: 1, tweetsPerAccount: 30 });
    fixture.sandbox.faults.add('503*3@x');
    const env = fixture.env({ WORKER_X_PAGE_SIZE: '10', WORKER_BACKOFF_BASE_MS: '50' });
    const log = capture();
    workers = await startWorkers({ env: parseWorkerEnv(env), concurrency: 1, logger: log.logger });
    expect((await tick(env)).enqueued).toBe(1);
    await waitUntil(
      async () => ((await runOutcomes(fixture)).succeeded === 1 ? true : undefined),
      30_000,
      'the run to succeed',
    );
    const completed = (await queue.getJobs(['completed'])) as Job[];
    // The first page failed three times, then completed.
    expect(completed.find((job) => job.data.page === 0)?.attemptsMade).toBe(4);
    // One warning per failed attempt (the job's, naming the status), not one more per request.
    const warnings = log.lines.filter((line) => line.level === 40);
    expect(warnings.map((line) => line.msg)).toEqual(
      Array(3).fill('page failed, will retry with backoff'),
    );
    expect(JSON.stringify(warnings)).toContain('503');
    const failedRequests = log.lines.filter((line) => line.msg === 'provider request failed');
    expect(failedRequests.map((line) => [line.level, line.status])).toEqual(
      Array(3).fill([30, 503]),
    );
    expect((await fixture.pool.query('SELECT 1 FROM crawl_failures')).rowCount).toBe(0);
    expect(isExact(await diffWithTruth(fixture, userId as string, 'x'))).toBe(true);
  });
});
