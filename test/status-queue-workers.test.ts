import {
  createRedisConnection,
  enqueueFirstPage,
  openCrawlQueue,
  queueStatus,
} from '@birdfeed/jobs';
import type { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CrawlWorker, createCrawlWorker } from '../apps/worker/src/crawl-worker.ts';
import { deleteRedisPrefix } from '../apps/worker/test/harness.ts';
import { TEST_REDIS_URL, testRedisPrefix } from './support/redis.ts';

/**
 * `birdfeed status` must tell a queue that nobody works on: the workers birdfeed starts (the real
 * createCrawlWorker, over real Redis) are counted per queue and per prefix, and jobs waiting with
 * none connected are flagged.
 */

let redis: Redis;
const prefix = testRedisPrefix('status-workers');
const otherPrefix = testRedisPrefix('status-workers-other');
const workers: CrawlWorker[] = [];

function startWorker(onPrefix: string): Promise<CrawlWorker> {
  return createCrawlWorker({
    connection: redis,
    prefix: onPrefix,
    provider: 'x',
    limiter: { max: 900, windowMs: 60_000 },
    // Never reached: the queue stays paused while a worker is connected.
    step: async () => {
      throw new Error('no page should run in this test');
    },
    onFinalFailure: async () => {},
    logger: pino({ level: 'silent' }),
    concurrency: 1,
  }).then((worker) => {
    workers.push(worker);
    return worker;
  });
}

beforeAll(() => {
  redis = createRedisConnection({ url: TEST_REDIS_URL, role: 'worker' });
});

afterAll(async () => {
  await Promise.allSettled(workers.map((worker) => worker.close()));
  await deleteRedisPrefix(TEST_REDIS_URL, prefix);
  await deleteRedisPrefix(TEST_REDIS_URL, otherPrefix);
  await redis.quit();
});

async function xQueue(onPrefix: string) {
  const statuses = await queueStatus({ connection: redis, prefix: onPrefix });
  const x = statuses.find((status) => status.name === 'crawl.x.default');
  expect(x, JSON.stringify(statuses)).toBeDefined();
  return x as NonNullable<typeof x>;
}

describe('queue status: workers', () => {
  it('counts the workers connected to each queue, and flags jobs waiting with none', async () => {
    const queue = await openCrawlQueue({ connection: redis, prefix, provider: 'x' });
    try {
      // Paused, so the workers started below keep the job waiting instead of running it.
      await queue.pause();
      await enqueueFirstPage(queue, {
        provider: 'x',
        userId: '1',
        runId: '1',
        kind: 'incremental',
        page: 0,
      });
      expect(await xQueue(prefix)).toMatchObject({
        waiting: 1,
        workers: 0,
        waitingWithoutWorker: true,
        limiter: { max: null },
      });

      const first = await startWorker(prefix);
      await first.worker.waitUntilReady();
      // A worker on the same queue name under another prefix is another deployment's.
      const elsewhere = await startWorker(otherPrefix);
      await elsewhere.worker.waitUntilReady();
      const second = await startWorker(prefix);
      await second.worker.waitUntilReady();
      await expect.poll(async () => (await xQueue(prefix)).workers).toBe(2);
      expect(await xQueue(prefix)).toMatchObject({
        waiting: 1,
        waitingWithoutWorker: false,
        // Written by the workers when they started.
        limiter: { max: 900, windowMs: 60_000 },
      });
      expect((await xQueue(otherPrefix)).workers).toBe(1);

      await first.close();
      await second.close();
      await expect.poll(async () => (await xQueue(prefix)).workers).toBe(0);
      expect((await xQueue(prefix)).waitingWithoutWorker).toBe(true);
      expect((await xQueue(otherPrefix)).workers).toBe(1);
    } finally {
      await queue.close();
    }
  });
});
